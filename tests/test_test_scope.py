"""Test code is a scope of its own: `check` checks it like any code, `report` prices it on
a "tests" line out of the production totals and the advice (every format), and
`fix --codemod` leaves it alone unless --include-tests. The globs are `tests` in
[tool.opusguard] (default: tests/, test_*.py, *_test.py, conftest.py)."""

from __future__ import annotations

import json

import pytest
from conftest import git, run_cli

OPUS = "claude-opus-4-1-20250805"
SONNET = "claude-sonnet-4-5-20250929"
HEADER = "import anthropic\nclient = anthropic.Anthropic()\n"

# Production: one Opus call writing long answers (not advice material).
APP = {
    "pyproject.toml": "[project]\nname = 'app'\n",
    "app/__init__.py": "",
    "app/answer.py": HEADER
    + (f'def answer(question):\n    return client.messages.create(model="{SONNET}", max_tokens=1000, messages=[])\n'),
}
# Test code in each default shape; the health check (max_tokens=1) is what the
# over-provisioning ranking put first on real code, and a long-output test dominated the bill.
TESTS = {
    "tests/test_health.py": HEADER
    + (
        "def test_health_check():\n"
        f'    client.messages.create(model="{OPUS}", max_tokens=1, temperature=0, messages=[])\n'
    ),
    "tests/integration/test_long.py": HEADER
    + (f'def test_long_answer():\n    client.messages.create(model="{OPUS}", max_tokens=64000, messages=[])\n'),
    "app/test_answer.py": HEADER
    + (f'def test_answer():\n    client.messages.create(model="{SONNET}", max_tokens=10, messages=[])\n'),
    "app/answer_test.py": HEADER
    + (f'def test_it():\n    client.messages.create(model="{SONNET}", max_tokens=10, messages=[])\n'),
    "conftest.py": HEADER
    + (f'def classify_fixture():\n    return client.messages.create(model="{OPUS}", max_tokens=5, messages=[])\n'),
}
TEST_FILES = {
    "tests/test_health.py",
    "tests/integration/test_long.py",
    "app/test_answer.py",
    "app/answer_test.py",
    "conftest.py",
}


def report_json(root, *args):
    result = run_cli("report", "--no-cache", "--format", "json", *args, cwd=root)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def report_text(root, fmt, *args):
    result = run_cli("report", "--no-cache", "--format", fmt, *args, ".", cwd=root)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def project(tree):
    return tree({**APP, **TESTS})


def test_report_prices_test_code_apart_from_production(project):
    doc = report_json(project, ".")
    summary = doc["summary"]
    assert [s["path"] for s in doc["sites"]] == ["app/answer.py"]
    assert summary["sites"] == 1 and summary["by_tier"]["sonnet"] == 1 and summary["by_tier"]["opus"] == 0
    assert {s["path"] for s in doc["test_sites"]} == TEST_FILES
    tests = summary["tests"]
    assert tests["sites"] == 5 and tests["by_tier"]["opus"] == 3 and tests["by_tier"]["sonnet"] == 2
    # the totals are production's alone; the tests line has the rest
    production = sum(s["today"]["cost"] for s in doc["sites"])
    assert summary["today"] == pytest.approx(production)
    assert tests["today"] == pytest.approx(sum(s["today"]["cost"] for s in doc["test_sites"]))
    assert tests["today"] > summary["today"]  # the 64k-token test alone costs more than the app
    assert sum(g["today"] for g in doc["groups"]["task"]) == pytest.approx(summary["today"])
    assert sum(v["today"] for v in doc["spend_by_tier"].values()) == pytest.approx(summary["today"])
    # no test in the ranking or the advice: the health check is not "over-provisioned Opus"
    assert doc["top_opus"] == [] and doc["overprovisioned"] == []


def test_check_still_checks_test_code(project):
    result = run_cli("check", "--no-cache", "--format", "json", ".", cwd=project)
    paths = {f["path"] for f in json.loads(result.stdout)["findings"] if f["rule"] == "OG102"}
    assert paths == {"tests/test_health.py", "tests/integration/test_long.py", "conftest.py"}


def test_every_format_has_the_tests_line(project):
    text = " ".join(report_text(project, "text").split())
    assert "tests: 5 call site(s) in test code (opus 3, sonnet 2):" in text and "not in the totals" in text
    assert "1 call sites send Claude models (sonnet 1); 5 more in test code, priced apart" in text
    assert "tests/test_health.py" not in text  # listed nowhere in the text: one line says it all
    markdown = report_text(project, "markdown")
    assert "tests: 5 call site(s) in test code (opus 3, sonnet 2)" in markdown
    assert "tests/test\\_health.py" not in markdown.split("### Opus that is probably over-provisioned")[1]
    html = report_text(project, "html")
    assert '<p id="tests-line">tests: 5 call site(s) in test code (opus 3, sonnet 2)' in html
    assert '<table id="test-sites">' in html and "<details>" in html
    over = html.split('<ol id="overprovisioned">')[1].split("</ol>")[0]
    assert "test_health" not in over


def test_the_tests_key_sets_the_globs(tree):
    root = tree(
        {
            **APP,
            **TESTS,
            "qa/check_live.py": TESTS["tests/test_health.py"],
            "pyproject.toml": '[tool.opusguard]\ntests = ["qa/"]\n',
        }
    )
    doc = report_json(root, ".")
    assert {s["path"] for s in doc["test_sites"]} == {"qa/check_live.py"}
    assert "tests/test_health.py" in {s["path"] for s in doc["sites"]}
    off = tree({"pyproject.toml": "[tool.opusguard]\ntests = []\n"})
    assert report_json(off, ".")["summary"]["tests"]["sites"] == 0
    assert {s["path"] for s in report_json(off, ".")["sites"]} >= {"tests/test_health.py", "conftest.py"}


def test_a_bad_tests_key_is_a_config_error(tree):
    root = tree({**APP, "pyproject.toml": "[tool.opusguard]\n\ntests = 3\n"})
    result = run_cli("report", "--no-cache", ".", cwd=root)
    assert result.returncode == 2
    assert "pyproject.toml:3: 'tests' must be a list of strings" in result.stderr


def test_globs_are_matched_from_the_project_root(tree):
    """A project kept in a folder called tests/ is not all test code."""
    root = tree({f"tests/project/{k}": v for k, v in {**APP, **TESTS}.items()})
    doc = report_json(root / "tests" / "project", ".")
    assert [s["path"] for s in doc["sites"]] == ["app/answer.py"] and len(doc["test_sites"]) == 5


def test_a_task_row_of_measured_usage_is_not_shared_with_tests(tree):
    routed = HEADER + "from router import route\n"
    root = tree(
        {
            "pyproject.toml": "[project]\nname = 'x'\n",
            "opusguard.yaml": f"version: 1\nrouter: router:route\ntiers:\n  sonnet: {SONNET}\n"
            "tasks:\n  answer:\n    tier: sonnet\n",
            "router.py": "def route(task):\n    return task\n",
            "app.py": routed + 'client.messages.create(model=route("answer"), max_tokens=100, messages=[])\n',
            "tests/test_app.py": routed
            + 'client.messages.create(model=route("answer"), max_tokens=100, messages=[])\n',
            "usage.csv": "task,calls,mean_input_tokens,mean_output_tokens\nanswer,1000,1000,100\n",
        }
    )
    doc = report_json(root, "--usage", "usage.csv", ".")
    (site,) = doc["sites"]
    assert site["traffic_source"] == "usage (task)" and site["traffic"]["calls"] == 1000
    (test,) = doc["test_sites"]
    assert test["traffic"] is None and doc["summary"]["tests"]["today"] == 0


def test_fix_leaves_test_code_alone_and_says_so(project):
    result = run_cli("fix", "--codemod", "--diff", "--no-cache", ".", cwd=project)
    assert result.returncode == 0, result.stderr
    touched = {line[6:] for line in result.stdout.splitlines() if line.startswith("+++ b/")}
    assert touched == {"app/answer.py", "opusguard.yaml", "app/routing.py", "app/routing_table.py"}  # (the router: new)
    policy = result.stdout.split("+++ b/opusguard.yaml")[1].split("\n--- ")[0]  # (the router's diff follows)
    added = [line[1:].strip() for line in policy.splitlines() if line.startswith("+  ") and line.endswith(":")]
    # (with no policy, fix writes init's starter policy, whose example tasks come first)
    assert added[-1].startswith("answer") and not any(name.startswith("test") for name in added)
    assert "tier: opus" not in policy.split("  " + added[-1])[1]  # no test-named task, none on Opus
    assert "left 5 test file(s) alone" in result.stderr and "--include-tests" in result.stderr
    # nothing was written
    assert (project / "tests" / "test_health.py").read_text() == TESTS["tests/test_health.py"]


def test_fix_include_tests_rewrites_them_too(project):
    result = run_cli("fix", "--codemod", "--include-tests", "--no-cache", ".", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "route(" in (project / "tests" / "test_health.py").read_text()
    assert "test file(s) alone" not in result.stderr
    assert "test-health-check" in (project / "opusguard.yaml").read_text()


def test_report_names_tasks_as_the_default_fix_would(project):
    """The derived task of a production site is the one `fix --codemod` (tests left alone) gives it."""
    doc = report_json(project, ".")
    result = run_cli("fix", "--codemod", "--diff", "--no-cache", ".", cwd=project)
    policy = result.stdout.split("+++ b/opusguard.yaml")[1]
    assert f"  {doc['sites'][0]['task']}:" in policy


def test_diff_compares_production_and_gives_the_tests_delta(tree):
    root = tree(APP)
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    (root / "tests").mkdir()
    (root / "tests" / "test_health.py").write_text(TESTS["tests/test_health.py"])
    result = run_cli("report", "--no-cache", "--diff", "HEAD", "--format", "json", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["changes"] == [] and doc["summary"]["delta"] == 0
    assert doc["summary"]["base_tests_today"] == 0 and doc["summary"]["tests_delta"] > 0
    text = run_cli("report", "--no-cache", "--diff", "HEAD", ".", cwd=root).stdout
    assert "tests (not in the totals): $0.00 -> $" in text
