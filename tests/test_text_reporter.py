import io
import re
import subprocess
import sys

from opusguard.output.check_text import render_text, seconds
from opusguard.rules.findings import Finding, RunSummary

BOT = Finding(
    rule="OG102",
    name="unjustified-opus",
    path="app/bot.py",
    line=4,
    column=7,
    end_line=4,
    end_column=31,
    message="call sends Opus",
    source_line="r = client.messages.create(model=M)",
)
CONFIG = Finding(
    rule="OG101",
    name="hardcoded-model",
    path="app/config.py",
    line=2,
    column=6,
    end_line=2,
    end_column=16,
    message="model is hard-coded",
    severity="warning",
    source_line="\tM = 'claude-x'",
    model="claude-x",
)
SUMMARY = RunSummary(
    files_scanned=1234,
    model_calls={"opus": 1, "sonnet": 0, "haiku": 2, "other": 0, "unresolved": 0},
    models={"claude-x": 1, "claude-opus-4-1": 3},
    elapsed_seconds=0.0042,
)


def render(findings, *, color=False, statistics=False):
    out = io.StringIO()
    render_text(findings, SUMMARY, out, color=color, statistics=statistics)
    return out.getvalue()


def test_plain_output_groups_findings_by_file_then_sums_up():
    assert render([BOT, CONFIG]) == (
        "app/bot.py:4:7: OG102 call sends Opus\n"
        "    4 | r = client.messages.create(model=M)\n"
        "      |       ^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "\n"
        "app/config.py:2:6: OG101 model is hard-coded\n"
        "    2 |  M = 'claude-x'\n"  # the tab shown as one space, so the caret still lines up
        "      |      ^^^^^^^^^^\n"
        "\n"
        "rule                    findings\n"
        "OG101 hardcoded-model          1\n"
        "OG102 unjustified-opus         1\n"
        "model calls: opus 1, sonnet 0, haiku 2, other 0, unresolved 0\n"
        "checked 1,234 files in 0.004 s: 2 findings\n"
    )


def test_plain_output_without_findings_is_the_summary():
    assert render([]) == (
        "model calls: opus 1, sonnet 0, haiku 2, other 0, unresolved 0\nchecked 1,234 files in 0.004 s: no findings\n"
    )


def test_statistics_are_aligned_columns_without_trailing_spaces():
    out = render([BOT], statistics=True)
    assert (
        "findings by rule\n"
        "count  rule   name\n"
        "    1  OG102  unjustified-opus\n"
        "\n"
        "model calls by tier\n"
        "tier        model calls\n"
        "opus                  1\n"
        "sonnet                0\n"
    ) in out
    assert "model ids written in code\ncount  model\n    3  claude-opus-4-1\n    1  claude-x\n" in out
    assert all(line == line.rstrip() for line in out.splitlines())


def test_color_output_has_the_same_text_as_plain():
    colored = render([BOT, CONFIG], color=True, statistics=True)
    assert "\x1b[" in colored
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == render([BOT, CONFIG], statistics=True)


def test_seconds_keep_two_significant_places_under_a_second():
    assert [seconds(s) for s in (0.0042, 0.076, 0.5, 1.94, 61.0)] == ["0.004 s", "0.08 s", "0.50 s", "1.9 s", "61.0 s"]


def test_plain_output_does_not_import_rich():
    # Plain text is what pre-commit and CI read; importing rich was a fifth of a warm check.
    code = (
        "import io, sys\n"
        "from opusguard.rules.findings import Finding, RunSummary\n"
        "from opusguard.output import render\n"
        "f = Finding(rule='OG101', name='n', path='a.py', line=1, column=1, message='m', source_line='x')\n"
        "render('text', [f], RunSummary(), out=io.StringIO(), statistics=True)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
