"""The report fits its medium: text wraps to the terminal's width (100 columns when piped),
and the html page never overflows a desktop or a phone screen: tables scroll in their own
box, small bars stay visible, cut names stay unique and "N more" says what was left out.

The page is checked in a real browser (Debian's chromium, driven by Playwright; .ci/run
installs chromium where it is missing). `python tests/test_report_layout.py` rewrites the
screenshots in docs/ from the example app."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import OPUSGUARD, REPO, run_cli  # noqa: E402

APP = REPO / "examples" / "support_desk"
HEADER = "import anthropic\nclient = anthropic.Anthropic()\n"
LONG_DIR = "app/customer_conversation_summaries_for_the_regional_support_centres"


ENV_VAR = "SUMMARY_MODEL_FOR_THE_REGIONAL_CENTRE_EMEA_NORTH"


def wide_project() -> dict[str, str]:
    """Long paths, twelve long task names alike in their first 40 characters, an
    expensive call and one that costs almost nothing; models named in config files
    under long keys, one read by a call."""
    calls = [
        f"def summarize_customer_conversation_for_the_regional_centre_{region}():\n"
        f"    return client.messages.create(model={f'os.getenv({ENV_VAR!r})' if i == 0 else repr('claude-sonnet-4-5-20250929')}, "
        f"max_tokens={100 * (i + 1)}, messages=[])\n"
        for i, region in enumerate(
            [
                "emea_north",
                "emea_south",
                "apac_east",
                "apac_west",
                "americas_north",
                "americas_south",
                "africa",
                "oceania",
                "nordics",
                "iberia",
                "benelux",
                "dach",
            ]
        )
    ]
    calls.append(
        "def write_the_whole_book():\n"
        '    return client.messages.create(model="claude-opus-4-1-20250805", max_tokens=64000, messages=[])\n'
    )
    calls.append(
        "def is_spam():\n"
        '    return client.messages.count_tokens(model="claude-haiku-4-5-20251001", messages=[])\n'
        "def ping():\n"
        '    return client.messages.create(model="claude-3-haiku-20240307", max_tokens=1, messages=[])\n'
    )
    return {
        "pyproject.toml": "[project]\nname = 'wide'\n",
        f"{LONG_DIR}/__init__.py": "",
        f"{LONG_DIR}/summaries_written_by_a_model_for_every_region_of_the_world.py": "import os\n"
        + HEADER
        + "".join(calls),
        ".env.example": f"{ENV_VAR}=claude-sonnet-4-5-20250929\n",
        f"{LONG_DIR}/deployment_settings_for_every_regional_support_centre.yaml": "".join(
            f"summaries_for_the_regional_support_centre_{region}:\n  model_used_for_the_nightly_summaries: claude-haiku-4-5-20251001\n"
            for region in ("emea_north", "emea_south", "apac_east")
        ),
    }


def env_without_columns(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "CI")}
    return {**env, "NO_COLOR": "1", **extra}


# --- text ----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["app", "wide"])
def test_piped_text_is_at_most_100_columns(where, tree):
    cwd = APP if where == "app" else tree(wide_project())
    result = subprocess.run(
        [str(OPUSGUARD), "report", "--no-cache", "."],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env_without_columns(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert max(len(line) for line in lines) >= 90  # it uses the width it has
    # nothing is cut: every site's file:line is there, whole
    assert result.stdout.count("summaries_written_by_a_model") >= 1 or where == "app"


def test_columns_sets_the_width(tree):
    root = tree(wide_project())
    result = subprocess.run(
        [str(OPUSGUARD), "report", "--no-cache", "."],
        cwd=root,
        capture_output=True,
        text=True,
        env=env_without_columns(COLUMNS="72"),
        timeout=120,
    )
    assert max(len(line) for line in result.stdout.splitlines()) <= 72


def test_a_terminal_gets_its_own_width():
    """Run in a pseudo-terminal 80 columns wide: rich output, no line wider than 80."""
    import fcntl
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "CI")}
    process = subprocess.Popen(
        [str(OPUSGUARD), "report", "--no-cache", "."],
        cwd=APP,
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env={**env, "TERM": "xterm"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(leader)
    text = b"".join(chunks).decode("utf-8", "replace")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07", "", text).replace("\r", "")
    assert "\x1b[" in text  # it did see a terminal
    assert "today $489.70 per month" in plain
    assert max(len(line) for line in plain.splitlines()) <= 80


# --- html, as markup ---------------------------------------------------------------------------


class _Chart(HTMLParser):
    def __init__(self):
        super().__init__()
        self.labels: list[tuple[str, str]] = []  # (shown, full name in its title)
        self.bars: list[tuple[str, float, float]] = []
        self.values: list[str] = []
        self._label: list[str] | None = None
        self._title = False
        self._value = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "text" and attrs.get("class") == "label":
            self._label = ["", ""]
        elif tag == "text" and attrs.get("class") == "value":
            self._value = True
        elif tag == "title" and self._label is not None:
            self._title = True
        elif tag == "rect" and "bar" in (attrs.get("class") or ""):
            self.bars.append((attrs["class"], float(attrs["data-value"]), float(attrs["width"])))

    def handle_endtag(self, tag):
        if tag == "title":
            self._title = False
        elif tag == "text" and self._label is not None:
            self.labels.append((self._label[0], self._label[1]))
            self._label = None
        elif tag == "text":
            self._value = False

    def handle_data(self, data):
        if self._label is not None:
            self._label[1 if self._title else 0] += data
        elif self._value:
            self.values.append(data)


def test_chart_names_are_cut_uniquely_with_the_whole_name_in_a_tooltip(tree):
    root = tree(wide_project())
    html = run_cli("report", "--no-cache", "--format", "html", ".", cwd=root).stdout
    chart = _Chart()
    chart.feed(html.split("<figure")[1].split("</figure>")[0])
    shown = [s for s, _ in chart.labels]
    assert len(shown) == len(set(shown))  # no two alike
    assert all(len(s) <= 28 for s in shown)
    task_labels = [(s, full) for s, full in chart.labels if full.startswith("summarize-customer")]
    assert len(task_labels) >= 9 and all(s != full and s.endswith(full[-1]) for s, full in task_labels)


def test_chart_keeps_small_bars_visible_and_says_how_many_more(tree):
    root = tree(wide_project())
    html = run_cli("report", "--no-cache", "--format", "html", ".", cwd=root).stdout
    doc = json.loads(run_cli("report", "--no-cache", "--format", "json", ".", cwd=root).stdout)
    chart = _Chart()
    chart.feed(html.split("<figure")[1].split("</figure>")[0])
    assert all(width >= 2 for _, value, width in chart.bars if value > 0)
    assert any(value > 0 and width == 2 for _, value, width in chart.bars)  # one that a linear scale would lose
    assert all(width == 0 for _, value, width in chart.bars if value == 0)
    tasks = doc["groups"]["task"]
    assert len(tasks) == 15
    more = [full for _, full in chart.labels if full.endswith("more tasks")]
    assert more == ["5 more tasks"]
    rest = sum(g["today"] for g in tasks[10:])
    assert f"${rest:,.2f}" in chart.values


def test_short_labels():
    from opusguard.report.report_html import short_labels

    names = ["short", "a" * 40 + "1", "a" * 40 + "2", "b" * 40, "c" * 20 + "X" + "c" * 20, "c" * 20 + "Y" + "c" * 20]
    cut = short_labels(names, 12)
    assert cut[0] == "short" and cut[3] == "b" * 11 + "…"
    assert len(set(cut)) == len(cut) and all(len(c) <= 12 for c in cut)
    assert cut[1].endswith("1") and cut[2].endswith("2")
    assert short_labels(["abc…", "abcdef"], 4) == ["abc…", "ab…f"]  # a cut never equals a whole name


# --- html, in a browser ----------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = {1280: 900, 390: 844}
MEASURE = """() => {
  const page = document.documentElement;
  const boxes = [...document.querySelectorAll('table, svg')].map(el => {
    const box = el.closest('.scroll');
    return {what: el.id || el.tagName, boxed: !!box,
            right: box ? box.getBoundingClientRect().right : el.getBoundingClientRect().right};
  });
  return {scroll: page.scrollWidth, client: page.clientWidth, boxes};
}"""


def _browser(playwright):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it")
        pytest.skip("no chromium here (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)


def render_pages(targets: dict[str, Path], shots: dict[int, Path] | None = None) -> dict:
    """Open each page at each width; measure it (and screenshot the first page when asked)."""
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as playwright:
        browser = _browser(playwright)  # headless, with a fresh profile of its own
        try:
            for name, path in targets.items():
                for width, height in WIDTHS.items():
                    page = browser.new_page(viewport={"width": width, "height": height})
                    page.goto(path.as_uri())
                    out[(name, width)] = page.evaluate(MEASURE)
                    if shots and name == next(iter(targets)):
                        page.screenshot(path=str(shots[width]))
                    page.close()
        finally:
            browser.close()
    return out


def _html(cwd: Path, target: Path) -> Path:
    result = subprocess.run(
        [str(OPUSGUARD), "report", "--no-cache", "--format", "html", "-o", str(target), "."],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env_without_columns(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return target


def test_html_report_never_overflows_a_desktop_or_a_phone(tree, tmp_path):
    pytest.importorskip("playwright", reason="pip install -e '.[test]' brings it")
    wide = tree(wide_project())
    pages = {"app": _html(APP, tmp_path / "app.html"), "wide": _html(wide, tmp_path / "wide.html")}
    assert '<table id="configured">' in pages["wide"].read_text(encoding="utf-8")  # measured with the others
    measured = render_pages(pages)
    for (name, width), m in measured.items():
        assert m["scroll"] <= m["client"], f"{name} at {width} px: the page scrolls sideways"
        for box in m["boxes"]:
            assert box["boxed"], f"{name} at {width} px: {box['what']} is not in a scrolling box"
            assert box["right"] <= m["client"], f"{name} at {width} px: {box['what']} reaches past the page"


def write_screenshots() -> None:
    """docs/report-1280.png and docs/report-390.png: the example app's html report (`pngquant` them after)."""
    with tempfile.TemporaryDirectory() as tmp:
        page = _html(APP, Path(tmp) / "report.html")
        shots = {width: REPO / "docs" / f"report-{width}.png" for width in WIDTHS}
        render_pages({"app": page}, shots)
    for path in shots.values():
        print(path.relative_to(REPO), path.stat().st_size, "bytes")


if __name__ == "__main__":
    write_screenshots()
