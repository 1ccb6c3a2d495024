"""`opusguard report` through the console script: each output format, --group-by, --prices,
--output, --diff on a temporary git repository, and the bundled example app."""

from __future__ import annotations

import json
import subprocess
from html.parser import HTMLParser

import msgspec
import pytest
from conftest import REPO, git, run_cli, settle

APP = REPO / "examples" / "support_desk"
OPUS_41 = "claude-opus-4-1-20250805"
HAIKU = "claude-haiku-4-5-20251001"
SONNET = "claude-sonnet-4-5-20250929"
CALL = "import anthropic\nclient = anthropic.Anthropic()\n"


def report(*args, cwd):
    result = run_cli("report", "--no-cache", *args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def app_json():
    return json.loads(report("--format", "json", ".", cwd=APP))


# --- the example app -----------------------------------------------------------------------


def test_example_app_inventory(app_json):
    summary = app_json["summary"]
    assert summary["by_tier"] == {"opus": 7, "sonnet": 2, "haiku": 2, "other": 1, "unresolved": 2}
    assert app_json["traffic"] == "assumed" and app_json["assumptions"][0].startswith("ASSUMED")
    assert app_json["prices"] == {"as_of": "2026-11-24", "source": "policies/models.yaml"}
    sites = {f"{s['path']}:{s['line']}": s for s in app_json["sites"]}
    classify = sites["support_desk/classify.py:14"]
    assert classify["tier"] == "opus" and classify["covered"] is False
    assert classify["models"][0]["literal"] == {"path": "support_desk/config.py", "line": 7, "column": 48}
    review = sites["support_desk/replies.py:26"]
    assert (review["task"], review["task_source"], review["covered"]) == ("contract-review", "route", True)
    draft = sites["support_desk/replies.py:18"]
    assert (draft["task"], draft["task_source"]) == ("draft-reply", "annotation")
    answer = sites["support_desk/replies.py:30"]
    assert (
        answer["tier"] is None and answer["unresolved"] == ["env var SUPPORT_ANSWER_MODEL"] and answer["today"] is None
    )
    assert summary["saving"] == pytest.approx(summary["today"] - summary["policy"])
    assert summary["saving"] > 0


def test_example_app_over_provisioning_ranking(app_json):
    flagged = [f"{a['path']}:{a['line']}" for a in app_json["overprovisioned"]]
    # ticket classification in a loop first; extraction and the yes/no bot follow
    assert flagged[0] == "support_desk/classify.py:14"
    assert set(flagged) == {
        "support_desk/classify.py:14",
        "support_desk/extract.py:12",
        "support_desk/extract.py:20",
        "support_desk/replies.py:34",
    }
    # the research agent (max_tokens=1024), the Agent SDK coder and the governed contract review are not flagged
    assert "support_desk/agents.py:14" not in flagged and "support_desk/replies.py:38" not in flagged
    assert "support_desk/replies.py:26" not in flagged
    assert app_json["overprovisioned"][0]["suggested_tier"] == "haiku"
    assert all(a["reasons"] for a in app_json["overprovisioned"])


def test_text_report_says_assumptions_and_exits_zero_with_opus(tmp_path):
    out = report(".", cwd=APP)
    assert "ASSUMED traffic, not measured" in out
    assert "prices as of 2026-11-24" in out
    assert "support_desk/classify.py:14" in out
    assert "probably over-provisioned" in out
    assert out.strip().splitlines()[-1].startswith("today $")
    assert "\x1b[" not in out  # plain when piped


def test_readme_quick_start_report_from_the_repo_root():
    """The README's first command ends with `opusguard report examples/support_desk`."""
    out = report("examples/support_desk", cwd=REPO)
    unwrapped = " ".join(out.split())  # piped, the text wraps at 100 columns
    assert unwrapped.startswith(
        "opusguard report: 14 call sites send Claude models (opus 7, sonnet 2, haiku 2, other 1, unresolved 2)"
    )
    assert "examples/support_desk/support_desk/classify.py:14  score 9" in out
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert ".venv/bin/opusguard report examples/support_desk" in readme
    assert "(docs/report-example.svg)" in readme and (REPO / "docs" / "report-example.svg").is_file()


# --- formats -----------------------------------------------------------------------------------


def test_json_schema_keys(app_json):
    assert set(app_json) == {
        "version",
        "kind",
        "currency",
        "period",
        "traffic",
        "usage_file",
        "assumptions",
        "prices",
        "summary",
        "spend_by_tier",
        "groups",
        "sites",
        "test_sites",
        "top_opus",
        "overprovisioned",
        "configured",
        "warnings",
    }
    assert set(app_json["groups"]) == {"task", "tier", "file"}
    site = app_json["sites"][0]
    assert set(site) == {
        "path",
        "line",
        "column",
        "callee",
        "function",
        "sdk",
        "tier",
        "task",
        "task_source",
        "covered",
        "models",
        "unresolved",
        "signals",
        "traffic",
        "traffic_source",
        "today",
        "policy",
    }
    assert set(app_json["summary"]) == {
        "sites",
        "by_tier",
        "today",
        "policy",
        "saving",
        "saving_percent",
        "unpriced_sites",
        "policy_file",
        "skipped_files",
        "tests",
    }
    totals = sum(g["today"] for g in app_json["groups"]["task"])
    assert totals == pytest.approx(app_json["summary"]["today"])


def test_markdown_report():
    out = report("--format", "markdown", "--group-by", "file", ".", cwd=APP)
    assert out.startswith("## opusguard report")
    assert "### Call sites by file" in out
    assert "| file support\\_desk/classify.py | 1 site(s) |" in out
    assert "> ASSUMED traffic, not measured" in out
    assert "### Opus that is probably over-provisioned" in out
    for line in out.splitlines():
        if line.startswith("| support"):
            assert line.count(" | ") == 7  # eight cells, pipes inside cells escaped


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.rows, self.bars, self.links, self.scripts, self.external = [], [], [], [], 0, []
        self.in_sites = False
        self.svg = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "sites":
            self.in_sites = True
        if tag == "tr" and self.in_sites and attrs.get("class") == "site":
            self.rows.append(attrs.get("data-tier"))
        if tag == "svg":
            self.svg += 1
        if tag == "rect" and "bar" in (attrs.get("class") or ""):
            self.bars.append((attrs["class"], float(attrs["data-value"]), float(attrs["width"])))
        if tag == "a" and self.in_sites:
            self.links.append(attrs["href"])
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            if tag != "a" and value:
                self.external.append(value)
        if tag == "link":
            self.external.append(attrs.get("href"))

    def handle_endtag(self, tag):
        if tag == "table":
            self.in_sites = False


def test_html_is_one_self_contained_page_with_chart_and_table(tmp_path):
    target = tmp_path / "report.html"
    result = run_cli("report", "--no-cache", "--format", "html", "-o", str(target), ".", cwd=APP)
    assert result.returncode == 0, result.stderr
    html = target.read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    assert page.scripts == 0 and page.external == []
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    assert page.svg == 1
    doc = json.loads(report("--format", "json", ".", cwd=APP))
    assert page.rows == [s["tier"] or "unresolved" for s in _grouped_sites(doc)]
    assert "support_desk/classify.py#L14" in page.links
    today_bars = [b for b in page.bars if "bar-today" in b[0]]
    policy_bars = [b for b in page.bars if "bar-policy" in b[0]]
    assert len(today_bars) == len(policy_bars) >= 4
    # bars by tier first: their values are the report's spend by tier
    tiers = [(t, v) for t, v in doc["spend_by_tier"].items() if v["today"] or v["policy"]]
    assert [round(b[1], 2) for b in today_bars[: len(tiers)]] == [round(v["today"], 2) for _, v in tiers]
    widest = max(b[2] for b in page.bars)
    biggest = max(b[1] for b in page.bars)
    assert all(b[2] == pytest.approx(widest * b[1] / biggest, abs=0.2) for b in page.bars)


def _grouped_sites(doc):
    """Sites in the order the html table lists them: by task group, costliest group first."""
    order = [g["key"] for g in doc["groups"]["task"]]
    key = lambda s: s["task"] or "(no task: model unresolved)"  # noqa: E731
    return sorted(doc["sites"], key=lambda s: order.index(key(s)))


def test_html_escapes_text_from_the_code(tree):
    root = tree({"a.py": CALL + 'def f():\n    return client.messages.create(model=cfg["<b>x</b>"], messages=[])\n'})
    html = report("--format", "html", ".", cwd=root)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_prices_file_and_its_errors(tree):
    root = tree(
        {
            "a.py": CALL + f'client.messages.create(model="{HAIKU}", max_tokens=100, messages=[])\n',
            "prices.yaml": f"as_of: 2027-02-01\nprices:\n  {HAIKU}: {{input: 2, output: 10}}\n",
            "bad.yaml": "prices:\n  haiku: {input: 1}\n",
        }
    )
    doc = json.loads(report("--format", "json", "--prices", "prices.yaml", "a.py", cwd=root))
    assert doc["prices"] == {"as_of": "2027-02-01", "source": "prices.yaml"}
    # 1000 calls x 2000 input tokens x $2 + 1000 x 100 output tokens x $10, per MTok (the default profile)
    assert doc["summary"]["today"] == pytest.approx(4.0 + 1.0)
    bad = run_cli("report", "--no-cache", "--prices", "bad.yaml", "a.py", cwd=root)
    assert bad.returncode == 2
    assert (
        bad.stderr.strip() == "opusguard: error: bad.yaml:2: price for haiku: price needs numeric 'input' and 'output'"
    )


def test_usage_file_through_the_cli(tree):
    root = tree(
        {
            "a.py": CALL + "def classify(t):\n"
            f'    return client.messages.create(model="{OPUS_41}", max_tokens=5, messages=[])\n',
            "usage.csv": "site,calls,mean_input_tokens,mean_output_tokens\na.py:4,1000,2000,10\n",
        }
    )
    doc = json.loads(report("--format", "json", "--usage", "usage.csv", "a.py", cwd=root))
    assert doc["traffic"] == "measured" and doc["usage_file"] == "usage.csv"
    # 1000 x 2000 x $15 + 1000 x 10 x $75 per MTok = $30.75; under the policy Sonnet 4.5: $6 + $0.15
    assert doc["summary"]["today"] == pytest.approx(30.75)
    assert doc["summary"]["policy"] == pytest.approx(6.15)
    text = report("--usage", "usage.csv", "a.py", cwd=root)
    assert "ASSUMED" not in text and "traffic measured: usage.csv" in text


# --- --diff REF ---------------------------------------------------------------------------------


def test_diff_against_a_ref_in_a_temporary_repository(tree):
    root = tree(
        {
            "app/__init__.py": "",
            "app/work.py": CALL
            + (
                "def classify(t):\n"
                f'    return client.messages.create(model="{OPUS_41}", max_tokens=10, messages=[])\n'
                "def summarize(t):\n"
                f'    return client.messages.create(model="{SONNET}", max_tokens=500, messages=[])\n'
                "def old(t):\n"
                f'    return client.messages.create(model="{SONNET}", max_tokens=500, messages=[])\n'
            ),
        }
    )
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    (root / "app" / "work.py").write_text(
        CALL
        + (
            "\n"  # every line moves down: sites are matched by function, not line
            "def classify(t):\n"
            f'    return client.messages.create(model="{HAIKU}", max_tokens=10, messages=[])\n'
            "def summarize(t):\n"
            f'    return client.messages.create(model="{SONNET}", max_tokens=500, messages=[])\n'
            "def review(doc):\n"
            f'    return client.messages.create(model="{OPUS_41}", max_tokens=1000, messages=[])\n'
        )
    )
    doc = json.loads(report("--diff", "HEAD", "--format", "json", ".", cwd=root))
    assert doc["kind"] == "diff" and doc["base"] == "HEAD"
    kinds = {(c["kind"], c["function"]) for c in doc["changes"]}
    assert kinds == {("tier-changed", "classify"), ("added", "review"), ("removed", "old")}
    moved = next(c for c in doc["changes"] if c["kind"] == "tier-changed")
    assert (moved["base"]["tier"], moved["head"]["tier"], moved["head"]["line"]) == ("opus", "haiku", 5)
    # default profile (1000 calls, 2000 input tokens; output = max_tokens), per MTok:
    # classify: Opus 4.1 $30 + $0.75 -> Haiku 4.5 $2 + $0.05; review: +$30 + $75; old: -($6 + $7.50)
    expect = (2.05 - 30.75) + (30 + 75) - (6 + 7.5)
    assert doc["summary"]["delta"] == pytest.approx(expect)
    assert moved["delta"] == pytest.approx(2.05 - 30.75)
    markdown = report("--diff", "HEAD", "--format", "markdown", ".", cwd=root)
    assert markdown.startswith("## opusguard: Claude model cost change against `HEAD`")
    assert "| tier-changed | app/work.py:5 |" in markdown
    assert "(+$62.80)" in markdown  # the expected delta above
    # the working tree and the index are untouched
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout
    assert status.strip() == "M app/work.py"


def test_diff_with_the_cache_leaves_only_the_working_trees_files_in_the_verdict_index(tree):
    # The export of REF shares the working tree's cache; its throw-away paths must
    # not pile up in the verdict index that lives there.
    root = tree({"app/__init__.py": "", "app/work.py": CALL + f'client.messages.create(model="{OPUS_41}")\n'})
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    (root / "app" / "work.py").write_text(CALL + f'client.messages.create(model="{HAIKU}")\n')
    settle(root / "app")  # (files changed just now get no verdict)
    for _ in range(2):
        result = run_cli("report", "--diff", "HEAD", "--format", "json", ".", cwd=root)
        assert result.returncode == 0, result.stderr
    (index,) = (root / ".opusguard_cache").glob("verdicts-*")
    from opusguard.run.cache import _FORMAT, _TAG_BYTES
    from opusguard.run.discover import Listing, ListingKey

    payload = index.read_bytes()[len(_FORMAT) + _TAG_BYTES :]  # past the format header and the tag
    entries, listings = msgspec.msgpack.decode(
        payload, type=tuple[dict[str, tuple[int, int, str]], dict[ListingKey, Listing]]
    )
    assert entries and all(key.startswith(str(root)) for key in entries)
    assert all(cwd.startswith(str(root)) for cwd, *_ in listings)  # walks too


def test_diff_outside_a_repository_or_with_a_bad_ref_is_exit_2(tree):
    root = tree({"a.py": CALL})
    result = run_cli("report", "--no-cache", "--diff", "HEAD", ".", cwd=root)
    assert result.returncode == 2 and "not a git repository" in result.stderr
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    result = run_cli("report", "--no-cache", "--diff", "no-such-ref", ".", cwd=root)
    assert result.returncode == 2 and result.stderr.startswith("opusguard: error: git rev-parse")
