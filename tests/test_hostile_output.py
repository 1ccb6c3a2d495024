"""Hostile input: what a scanned repository, its file names and the user's files can
make opusguard print, and that every bad input ends in one line, never a traceback.

The sanitiser is tested in memory (hypothesis); everything else through the
installed console script, as a user runs it."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from opusguard.base.sanitize import (
    github_data,
    github_property,
    html_href,
    html_text,
    json_safe,
    markdown_cell,
    printable,
    printable_lines,
    rich_text,
    valid_unicode,
)
from tests.conftest import OPUS, OPUSGUARD, run_cli

# What no output may carry from the data: C0 and C1 controls, DEL, bidi controls, surrogates.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
SGR = re.compile(r"\x1b\[[0-9;]*m")  # the colour codes rich itself writes

# Any text, surrogates (a non-UTF-8 file name) and control characters included.
any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60)
nasty = st.sampled_from(
    [
        "\x1b]0;pwned\x07",
        "\x1b[2J",
        "[/x]",
        "[link=https://evil.example]x",
        "\u202e",
        "\udcff",
        "javascript:alert(1)",
        "|`*_",
        "%0A::error::",
        "\r\n",
        "<!--",
        "&amp;",
        "\x9b31m",
    ]
)
hostile_text = st.lists(st.one_of(any_text, nasty), max_size=5).map("".join)

CALL = "client.messages.create(model={}, max_tokens=5, messages=[])\n"
HOSTILE_APP = (
    "import os\nimport anthropic\nclient = anthropic.Anthropic()\n"
    + CALL.format(f'"{OPUS}"')
    + CALL.format('os.getenv("[/x]")')
    + CALL.format('os.getenv("\\x1b]0;title\\x07")')
    + 'X = "\x1b[2J"  # a raw escape in the source\n'
)
# A config file whose name and key (YAML escapes: ESC, BEL) the report lists among its configured models.
HOSTILE_CONFIG = "javascript:cfg<!--|x.yaml"
HOSTILE_NAMES = ["e\x1b[2Jvil.py", "[link=file:x]a.py", "[bold red]b.py", "javascript:alert(1)<!--.py", "r\u202etxt.py"]


# --- the sanitiser, in memory ------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_printable_leaves_no_control_bidi_or_surrogate_character(text):
    shown = printable(text)
    assert not UNSAFE.search(shown)
    shown.encode("utf-8")  # always encodable
    if text.isascii() and text.isprintable():
        assert shown == text


@settings(max_examples=200, deadline=None)
@given(hostile_text)
def test_printable_lines_keeps_the_lines_and_escapes_the_rest(text):
    shown = printable_lines(text)
    assert shown.count("\n") == text.count("\n")
    assert not UNSAFE.search(shown.replace("\n", "").replace("\r", ""))


def test_a_file_name_byte_is_shown_as_the_byte():
    assert printable(os.fsdecode(b"bad\xff.py")) == "bad\\xff.py"
    assert printable("a\x1b[2Jb\x07") == "a\\x1b[2Jb\\x07"
    assert printable("\u202e") == "\\u202e"
    assert valid_unicode(os.fsdecode(b"bad\xff.py")) == "bad\\xff.py"


@settings(max_examples=200, deadline=None)
@given(hostile_text, st.sampled_from(["", "bold", "bold red", "dim"]))
def test_rich_text_shows_the_text_and_never_reads_markup(text, style):
    from rich.console import Console

    out = io.StringIO()
    console = Console(
        file=out, force_terminal=True, color_system="truecolor", soft_wrap=True, width=10_000, highlight=False
    )
    console.print(rich_text(text, style=style))
    written = SGR.sub("", out.getvalue())
    assert written == printable(text) + "\n"  # markup, links and emoji codes shown as written
    assert "\x1b]8;" not in out.getvalue()  # no hyperlink


@settings(max_examples=200, deadline=None)
@given(hostile_text)
def test_html_text_is_inert(text):
    shown = html_text(text)
    assert not set("<>\"'") & set(shown)
    assert not UNSAFE.search(shown)
    assert unescape(shown) == printable(text)


@settings(max_examples=300, deadline=None)
@given(hostile_text, st.integers(min_value=1, max_value=10**6))
def test_html_links_are_relative_paths(path, line):
    href = unescape(html_href(path, line))
    assert urlsplit(href).scheme == "" and urlsplit(href).netloc == ""
    assert not UNSAFE.search(href) and not set("<>\"' ") & set(href)
    assert href.endswith(f"#L{line}") and href.count("#") == 1


def test_a_link_keeps_the_users_base_and_the_files_bytes():
    assert (
        html_href("src/a b.py", 3, "https://github.com/o/r/blob/abc/")
        == "https://github.com/o/r/blob/abc/src/a%20b.py#L3"
    )
    assert html_href("javascript:alert(1)<!--.py", 1) == "javascript%3Aalert%281%29%3C%21--.py#L1"
    assert html_href(os.fsdecode(b"bad\xff.py"), 2) == "bad%FF.py#L2"
    assert html_href("//evil.example/x.py", 1) == ".//evil.example/x.py#L1"


@settings(max_examples=200, deadline=None)
@given(hostile_text)
def test_markdown_cells_stay_one_cell(text):
    shown = markdown_cell(text)
    assert "\n" not in shown and not UNSAFE.search(shown)
    unescaped = re.sub(r"\\.", "", shown)  # what is left once every backslash escape is taken out
    assert not set("|`*_<>[]\\") & set(unescaped)


@settings(max_examples=200, deadline=None)
@given(hostile_text)
def test_github_values_cannot_end_the_command_or_the_line(text):
    data, prop = github_data(text), github_property(text)
    assert not UNSAFE.search(data) and not UNSAFE.search(prop)
    assert ":" not in prop and "," not in prop


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        hostile_text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
        max_leaves=8,
    )
)
def test_json_documents_are_always_encodable(document):
    safe = json_safe(document)
    text = json.dumps(safe, ensure_ascii=False)
    text.encode("utf-8")
    assert json.loads(text) == safe


def test_json_safe_keeps_text_without_surrogates_exactly():
    document = {"path": "ü/\x1b[2J.py", "n": [1, 2.5, None, True]}
    assert json_safe(document) == document


def test_hostile_plain_text_still_does_not_import_rich():
    code = (
        "import io, sys\n"
        "from opusguard.rules.findings import Finding, RunSummary\n"
        "from opusguard.output import render\n"
        "f = Finding(rule='OG101', name='n', path='e\\x1b[2J.py', line=1, column=3, message='[/x] \\u202e',"
        " source_line='\\x1b]0;t\\x07 = 1')\n"
        "out = io.StringIO()\n"
        "render('text', [f], RunSummary(), out=out, statistics=True)\n"
        "assert '\\x1b' not in out.getvalue(), out.getvalue()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_caret_stays_under_the_span_when_the_line_has_escapes():
    from opusguard.output.check_text import finding_lines
    from opusguard.rules.findings import Finding

    source = 'X = "\x1b[2J"; M = "claude-opus-4-1-20250805"'
    column = source.index("claude") + 1
    f = Finding(
        rule="OG101",
        name="n",
        path="a.py",
        line=1,
        column=column,
        end_line=1,
        end_column=column + len("claude-opus-4-1-20250805"),
        message="m",
        source_line=source,
    )
    _, code, caret = ("".join(text for text, _ in line) for line in finding_lines(f))
    assert "\\x1b[2J" in code and "\x1b" not in code
    assert caret.index("^") == code.index("claude") and caret.count("^") == len("claude-opus-4-1-20250805")


def test_colored_text_and_report_output_carry_no_data_escape(tmp_path):
    """The rich paths (a terminal): rendered in memory with colour forced."""
    from opusguard.output.check_text import render_text
    from opusguard.rules.findings import Finding, RunSummary

    f = Finding(
        rule="OG101",
        name="n",
        path="[link=https://evil.example]a.py",
        line=1,
        column=1,
        message="[/x] \x1b]0;t\x07",
        source_line="[bold]x\x1b[2J",
    )
    out = io.StringIO()
    render_text([f], RunSummary(), out, color=True, statistics=True)
    written = out.getvalue()
    assert "\x1b]" not in written and "\x1b[2J" not in written
    assert "[link=https://evil.example]a.py" in SGR.sub("", written)


# --- the user's path: the console script over a hostile tree -----------------------


@pytest.fixture
def hostile_tree(tmp_path):
    for name in ["app.py", *HOSTILE_NAMES]:
        (tmp_path / name).write_text(HOSTILE_APP, encoding="utf-8")
    (tmp_path / os.fsdecode(b"bad\xff.py")).write_text(HOSTILE_APP, encoding="utf-8")
    (tmp_path / HOSTILE_CONFIG).write_text(f'"\\e]0;title\\a<script>|[/x]": "{OPUS}"\n', encoding="utf-8")
    return tmp_path


def _run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The console script, bytes out (the test decodes what it must)."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("CI", None)
    return subprocess.run([str(OPUSGUARD), *args], cwd=cwd, capture_output=True, env=full_env, timeout=120)


def _assert_clean(result: subprocess.CompletedProcess, codes=(0, 1)) -> str:
    assert result.returncode in codes, result.stderr.decode("utf-8", "replace")
    assert b"Traceback" not in result.stderr
    for stream in (result.stdout, result.stderr):
        text = stream.decode("utf-8")  # valid UTF-8, whatever the file names
        # Line breaks and tabs are the format's own; nothing else from C0/C1 is.
        assert not UNSAFE.search(text.replace("\n", "").replace("\t", "")), text
    return result.stdout.decode("utf-8")


@pytest.mark.parametrize(
    "args",
    [
        ("check", "--no-cache", "--select", "OG1"),
        ("check", "--no-cache", "--format", "github"),
        ("check", "--no-cache", "--statistics"),
        ("report", "--no-cache"),
        ("report", "--no-cache", "--format", "markdown"),
        ("report", "--no-cache", "--format", "html"),
        ("fix", "--codemod", "--diff", "--no-cache"),
    ],
    ids=lambda args: " ".join(args[:4]),
)
def test_human_formats_show_hostile_names_and_strings_escaped(hostile_tree, args):
    out = _assert_clean(_run(*args, ".", cwd=hostile_tree))
    if "markdown" in args:  # markdown source: the backslash and the bracket escaped, shown as above
        assert "e\\\\x1b\\[2Jvil.py" in out and "bad\\\\xff.py" in out
    else:
        assert "e\\x1b[2Jvil.py" in out and "bad\\xff.py" in out
    if args[0] == "report" and "--format" not in args:
        assert "[/x]" in out and "[link=file:x]a.py" in out  # shown as written, not read as markup
    if args[0] == "report":  # the configured model's key, its escapes shown as escapes
        assert ("\\\\x1b\\]0;title\\\\x07" if "markdown" in args else "\\x1b]0;title\\x07") in out


def test_the_html_report_links_only_to_relative_paths(hostile_tree):
    html = _assert_clean(_run("report", "--no-cache", "--format", "html", ".", cwd=hostile_tree))
    hrefs = [unescape(h) for h in re.findall(r'href="([^"]*)"', html)]
    assert hrefs and all(urlsplit(h).scheme == "" for h in hrefs)
    assert "javascript%3Aalert%281%29%3C%21--.py#L4" in hrefs and "bad%FF.py#L4" in hrefs
    assert "javascript%3Acfg%3C%21--%7Cx.yaml#L1" in hrefs  # a config file's link, in the configured table
    configured = html.split('<table id="configured">', 1)[1].split("</table>", 1)[0]
    assert "&lt;script&gt;|[/x]" in configured and "<script" not in html
    assert "<!--" not in html.split("<body>", 1)[1]


def test_a_javascript_link_base_is_refused(hostile_tree):
    result = run_cli(
        "report", "--no-cache", "--format", "html", "--link-base", "javascript:alert(1)//", ".", cwd=hostile_tree
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--link-base" in result.stderr


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_machine_formats_keep_the_data_and_never_crash(hostile_tree, fmt):
    document = json.loads(_assert_clean(_run("check", "--no-cache", "--format", fmt, ".", cwd=hostile_tree)))
    text = json.dumps(document)
    if fmt == "json":
        paths = {f["path"] for f in document["findings"]}
        assert {"e\x1b[2Jvil.py", "bad\\xff.py", "[link=file:x]a.py"} <= paths  # exact, or a valid stand-in
    else:
        uris = {
            loc["physicalLocation"]["artifactLocation"]["uri"]
            for result in document["runs"][0]["results"]
            for loc in result["locations"]
        }
        assert {"bad%FF.py", "e%1B%5B2Jvil.py", "javascript%3Aalert%281%29%3C%21--.py"} <= uris
    assert "\\udcff" not in text


def test_report_json_and_a_baseline_of_a_non_utf8_file_name(hostile_tree):
    json.loads(_assert_clean(_run("report", "--no-cache", "--format", "json", ".", cwd=hostile_tree)))
    _assert_clean(_run("check", "--no-cache", "--write-baseline", "baseline.json", ".", cwd=hostile_tree), codes=(0,))
    _assert_clean(_run("check", "--no-cache", "--baseline", "baseline.json", ".", cwd=hostile_tree), codes=(0,))


def _run_on_terminal(*args: str, cwd: Path) -> tuple[int, str]:
    """The console script with stdout on a pseudo-terminal (colour on, as a user sees it)."""
    master, slave = os.openpty()
    try:
        env = {**os.environ, "TERM": "xterm-256color"}
        for name in ("NO_COLOR", "CI"):
            env.pop(name, None)
        proc = subprocess.run(
            [str(OPUSGUARD), *args], cwd=cwd, stdout=slave, stderr=subprocess.PIPE, env=env, timeout=120
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end is closed: all read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    assert b"Traceback" not in proc.stderr
    return proc.returncode, b"".join(chunks).decode("utf-8")


needs_pty = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")


@needs_pty
def test_a_diff_on_a_terminal_escapes_the_code_and_piped_stays_exact(hostile_tree):
    piped = _run("fix", "--codemod", "--diff", "--no-cache", "app.py", cwd=hostile_tree)
    assert piped.returncode == 0 and b"--- a/app.py" in piped.stdout
    code, shown = _run_on_terminal("fix", "--codemod", "--diff", "--no-cache", ".", cwd=hostile_tree)
    assert code == 0 and "route(" in shown
    assert "\x1b" not in shown and "--- a/e\\x1b[2Jvil.py" in shown


@needs_pty
@pytest.mark.parametrize(
    "args", [("check", "--no-cache", "--select", "OG1"), ("report", "--no-cache")], ids=["check", "report"]
)
def test_colour_on_a_terminal_carries_no_escape_from_the_data(hostile_tree, args):
    code, shown = _run_on_terminal(*args, ".", cwd=hostile_tree)
    assert code in (0, 1)
    assert "\x1b[" in shown  # colour is on: rich's own codes
    assert "\x1b]" not in shown and "\x1b[2J" not in shown and "\x07" not in shown  # no title, hyperlink, clear
    plain = SGR.sub("", shown)
    assert "e\\x1b[2Jvil.py" in plain and "[link=file:x]a.py" in plain


def test_policy_show_prints_owner_markup_as_text(tmp_path):
    (tmp_path / "opusguard.yaml").write_text(
        'version: 1\ntasks:\n  t:\n    tier: haiku\n    owner: "[link=https://evil.example]o[/link]\\e[2J"\n',
        encoding="utf-8",
    )
    out = _assert_clean(_run("policy", "show", cwd=tmp_path), codes=(0,))
    assert "[link=https://evil.example]o[/link]\\x1b[2J" in out


# --- every error: one line, exit 2 --------------------------------------------------

APP = {
    "app.py": f'import anthropic\nanthropic.Anthropic().messages.create(model="{OPUS}", max_tokens=5, messages=[])\n'
}


def _files(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        target = root / rel
        if rel.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")


ERRORS = [
    # (id, files, args, what the one line says)
    (
        "list-key-in-tasks",
        {"p.yaml": "version: 1\ntasks:\n  [a, b]: {tier: haiku}\n"},
        ["check", "--policy", "p.yaml", "app.py"],
        "p.yaml:3:3: a key must be a plain word",
    ),
    (
        "list-key-in-tiers",
        {"p.yaml": "version: 1\ntiers:\n  [x]: y\n"},
        ["check", "--policy", "p.yaml", "app.py"],
        "p.yaml:3:3: a key must be a plain word",
    ),
    (
        "mapping-key-top",
        {"p.yaml": "version: 1\n? {a: 1}\n: 2\n"},
        ["check", "--policy", "p.yaml", "app.py"],
        "p.yaml:2:3: a key must be a plain word",
    ),
    (
        "unhashable-model-entry",
        {"p.yaml": "version: 1\nmodels:\n  - {? [a]: 1}\n"},
        ["check", "--policy", "p.yaml", "app.py"],
        "p.yaml:3:5: invalid model entry",
    ),
    (
        "bad-model-price",
        {"p.yaml": "version: 1\nmodels:\n  - {id: x, tier: haiku, price: {input: 1, output: 2, cache_read: [1]}}\n"},
        ["check", "--policy", "p.yaml", "app.py"],
        "p.yaml:3:5: model x: price needs numeric",
    ),
    (
        "opus-declared-haiku",
        {"p.yaml": f"version: 1\nmodels:\n  - id: {OPUS}\n    tier: haiku\n"},
        ["check", "--policy", "p.yaml", "app.py"],
        f"p.yaml:3:5: models: '{OPUS}' is opus-tier in the model catalog, not haiku",
    ),
    (
        "opus-alias-declared-haiku",
        {"p.yaml": "version: 1\nmodels:\n  - {id: acme, tier: haiku, aliases: [claude-opus-4-1]}\n"},
        ["check", "--policy", "p.yaml", "app.py"],
        "'claude-opus-4-1' is opus-tier",
    ),
    (
        "include-of-a-device",
        {"p.yaml": "version: 1\ninclude: [/dev/zero]\n"},
        ["check", "--policy", "p.yaml", "app.py"],
        "p.yaml:2:11: include '/dev/zero' is outside the project",
    ),
    ("folder-named-opusguard-yaml", {"opusguard.yaml/": ""}, ["check", "."], "opusguard.yaml:1:1: is not a file"),
    (
        "folder-named-opusguard-yaml-fix",
        {"opusguard.yaml/": ""},
        ["fix", "--codemod", "."],
        "opusguard.yaml:1:1: is not a file",
    ),
    ("folder-as-policy", {"d/": ""}, ["check", "--policy", "d", "."], "Invalid value for '--policy'"),
    ("folder-as-config", {"d/": ""}, ["check", "--config", "d", "."], "Invalid value for '--config'"),
    (
        "baseline-into-missing-folder",
        {},
        ["check", "--write-baseline", "nodir/b.json", "."],
        "nodir/b.json: cannot write baseline: No such file or directory",
    ),
    (
        "corrupt-baseline",
        {"b.json": "{\n  oops"},
        ["check", "--baseline", "b.json", "."],
        "b.json:2: not a baseline file",
    ),
    (
        "binary-task-map",
        {"tm.yaml": b"\xff\xfe"},
        ["fix", "--codemod", "--diff", "--task-map", "tm.yaml", "."],
        "tm.yaml:1: task map is not UTF-8",
    ),
    (
        "bad-yaml-task-map",
        {"tm.yaml": "a: [1"},
        ["fix", "--codemod", "--diff", "--task-map", "tm.yaml", "."],
        "tm.yaml:1:6: invalid YAML",
    ),
    (
        "task-map-bad-name",
        {"tm.yaml": '"app.py:2": "x\\e[2J"\n'},
        ["fix", "--codemod", "--diff", "--task-map", "tm.yaml", "."],
        "task name 'x\\x1b[2J' must be",
    ),
    ("bad-task-name", {}, ["fix", "--codemod", "--diff", "--task", 'a b"c', "."], "--task 'a b\"c'"),
    (
        "binary-prices",
        {"pr.yaml": b"\xff"},
        ["report", "--prices", "pr.yaml", "."],
        "pr.yaml:1: prices file is not UTF-8",
    ),
    (
        "prices-of-wrong-type",
        {"pr.yaml": "prices:\n  opus: {input: 1, output: 2, cache_read: [1]}\n"},
        ["report", "--prices", "pr.yaml", "."],
        "pr.yaml:2: price for opus",
    ),
    (
        "negative-price",
        {"pr.yaml": "prices:\n  opus: {input: -1, output: 2}\n"},
        ["report", "--prices", "pr.yaml", "."],
        "pr.yaml:2: price for opus: a price is a finite number",
    ),
    (
        "nan-price",
        {"pr.yaml": "prices:\n  opus: {input: .nan, output: 2}\n"},
        ["report", "--prices", "pr.yaml", "."],
        "a price is a finite number",
    ),
    (
        "usage-period-not-a-word",
        {"u.json": '[{"task": "t", "calls": 1, "mean_input_tokens": 1, "mean_output_tokens": 1, "period": [1]}]'},
        ["report", "--usage", "u.json", "."],
        "u.json:1: period must be a word",
    ),
    ("unknown-select-code", {}, ["check", "--select", "OG9", "."], "select: unknown rule code or prefix 'OG9'"),
    (
        "escape-as-select-code",
        {},
        ["check", "--ignore", "\x1b[2J", "."],
        "ignore: unknown rule code or prefix '\\x1b[2J'",
    ),
    ("empty-stdin-filename", {}, ["check", "--stdin-filename", "", "."], "--stdin-filename needs"),
    (
        "init-where-nothing-can-be-written",
        {},
        ["init", "--policy-path", "/proc/nope/p.yaml"],
        "/proc/nope/p.yaml: cannot write",
    ),
    (
        "sync-into-a-file",
        {"p.yaml": "version: 1\nrouter: appfile.x:route\n", "appfile": ""},
        ["policy", "sync", "--policy", "p.yaml"],
        "appfile/x_table.py: cannot write",
    ),
    ("unknown-option", {}, ["check", "--bogus"], "No such option '--bogus'"),
]


@pytest.mark.parametrize(("files", "args", "says"), [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS])
def test_every_bad_input_is_one_line_and_exit_2(tmp_path, files, args, says):
    _files(tmp_path, {**APP, **files})
    result = run_cli(*args, cwd=tmp_path, stdin="")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("opusguard: error: "), result.stderr
    assert says in result.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", [("check",), ("check", "--format", "json"), ("report",)])
def test_output_to_a_full_disk_is_one_line_and_exit_2(tmp_path, args):
    _files(tmp_path, APP)
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [str(OPUSGUARD), *args, "--no-cache", "."],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2
    assert result.stderr == "opusguard: error: cannot write the output: No space left on device\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_an_error_with_stderr_on_a_full_disk_still_exits_2(tmp_path):
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [str(OPUSGUARD), "check", "--policy", "missing.yaml", "."],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=full,
            timeout=120,
        )
    assert result.returncode == 2


@pytest.mark.parametrize(
    "args",
    [
        ("check",),
        ("check", "--format", "json"),
        ("report",),
        ("report", "--format", "markdown"),
        ("fix", "--codemod", "--diff"),
    ],
)
def test_an_ascii_terminal_gets_escapes_not_a_traceback(hostile_tree, args):
    (hostile_tree / "ü.py").write_text(HOSTILE_APP, encoding="utf-8")
    result = _run(*args, "--no-cache", ".", cwd=hostile_tree, env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode in (0, 1) and b"Traceback" not in result.stderr
    result.stdout.decode("utf-8")  # ascii, or UTF-8 where click chose it for a misconfigured stream


def test_an_unforeseen_error_is_one_line_at_the_boundary(monkeypatch, capsys):
    import gc

    from opusguard.cli import console
    from opusguard.cli import main as cli

    def broken():
        raise RuntimeError("something \x1b[2J unforeseen")

    exits: list[int] = []
    monkeypatch.setattr(cli, "main", broken)
    monkeypatch.setattr(console.os, "_exit", exits.append)
    monkeypatch.setattr(gc, "set_threshold", lambda *thresholds: None)
    monkeypatch.delenv(console.DEBUG_ENV, raising=False)
    console.main()
    err = capsys.readouterr().err
    assert exits == [2] and err.count("\n") == 1
    assert err.startswith("opusguard: error: internal error: RuntimeError: something \\x1b[2J unforeseen")


def test_fix_writes_a_policy_that_still_loads_whatever_the_file_names(hostile_tree):
    (hostile_tree / "x: y #z.py").write_text(HOSTILE_APP, encoding="utf-8")
    _assert_clean(_run("fix", "--codemod", "--no-cache", ".", cwd=hostile_tree), codes=(0,))
    validated = run_cli("policy", "validate", cwd=hostile_tree)
    # Well-formed (its new Opus tasks wait for a justification: OG104, exit 1).
    assert validated.returncode in (0, 1) and "opusguard.yaml: well-formed" in validated.stdout + validated.stderr
    policy = (hostile_tree / "opusguard.yaml").read_text(encoding="utf-8")
    descriptions = [task["description"] for task in yaml.safe_load(policy)["tasks"].values() if "description" in task]
    assert "\x1b" not in policy and "Added by opusguard fix from x: y #z.py:4." in descriptions


def test_changed_since_takes_non_utf8_names_and_never_passes_an_option_to_git(tmp_path):
    app = APP["app.py"]
    _files(tmp_path, {"app.py": app})
    git = ["git", "-c", "user.email=a@b", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "i"], cwd=tmp_path, check=True)
    (tmp_path / os.fsdecode(b"bad\xff.py")).write_text(app, encoding="utf-8")
    out = _assert_clean(_run("check", "--no-cache", "--changed-since", "HEAD", cwd=tmp_path))
    assert "bad\\xff.py:2:1: OG102" in out
    refused = run_cli("check", "--changed-since=--output=leak", ".", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr == "opusguard: error: '--output=leak' is not a git ref\n"
    assert not (tmp_path / "leak").exists()
