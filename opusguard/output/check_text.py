"""`check --format text`: findings grouped by file with the offending line, then a summary.

Rich styling in a terminal; plain text (no ANSI codes, grep-friendly) when piped,
with --no-color, or when NO_COLOR is set.

The output is built as lines of styled spans and written either straight to the
stream or through rich. Plain output is what pre-commit and CI read, and it does
not import rich: that import was a fifth of a warm check. Columns are padded
here rather than laid out by rich's Table, so both paths print the same text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TextIO

from opusguard.base.sanitize import printable, use_color
from opusguard.base.tiers import TIERS, UNRESOLVED
from opusguard.facts.notebook import location
from opusguard.rules.findings import Finding, RunSummary, Severity

if TYPE_CHECKING:
    from rich.console import Console

# A span is text and the rich style to show it in ("" for none); a line is spans.
Span = tuple[str, str]
Line = list[Span]


def _console(out: TextIO, color: bool | None) -> Console:
    from rich.console import Console

    if color is None:
        color = use_color(out)
    return Console(
        file=out,
        force_terminal=bool(color),
        no_color=not color,
        highlight=False,
        soft_wrap=True,
        width=None if color else 10_000,
    )


def _source_and_caret(finding: Finding) -> tuple[str, str]:
    """The finding's source line (printable) and a caret line under its span.

    The caret is measured on the printable text, so an escaped control character
    before the span (shown as four characters) does not shift it."""
    line = finding.source_line.replace("\t", " ")
    start = max(finding.column - 1, 0)
    end = finding.end_column - 1 if finding.end_line == finding.line and finding.end_column else len(line)
    end = max(min(end, len(line)), start + 1)
    before, span = printable(line[:start]), printable(line[start:end])
    return printable(line), " " * len(before) + "^" * max(len(span), 1)


def finding_lines(f: Finding) -> list[Line]:
    """The finding's head line and, when its source is known, the line with a caret under it."""
    lines: list[Line] = [
        [
            (f"{printable(location(f.path, f.cell, f.line, f.column))}: ", "bold"),
            (f.rule, "bold red" if f.severity == Severity.ERROR else "bold yellow"),
            (f" {printable(f.message)}", ""),
        ]
    ]
    if f.source_line:
        number = f"{f.line:>5} | "
        source, caret = _source_and_caret(f)
        lines.append([(number, "blue"), (source, "")])
        lines.append([(" " * (len(number) - 2) + "| ", "blue"), (caret, "red")])
    return lines


def table_lines(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, right: Sequence[int] = (), title: str = ""
) -> list[Line]:
    """Columns padded to their widest cell, two spaces apart, no trailing spaces.

    Columns whose index is in `right` are right-aligned (counts)."""
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]

    def cells(row: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(row, widths))
        ]
        return "  ".join(padded).rstrip()

    lines: list[Line] = [[(title, "bold")]] if title else []
    lines.append([(cells(header), "bold")])
    lines.extend([(cells(row), "")] for row in rows)
    return lines


def summary_lines(findings: list[Finding], summary: RunSummary) -> list[Line]:
    lines: list[Line] = []
    if findings:
        names = {f.rule: f.name for f in findings}
        counts = Counter(f.rule for f in findings)
        rows = [(f"{rule} {names[rule]}", str(count)) for rule, count in sorted(counts.items())]
        lines += table_lines(("rule", "findings"), rows, right=(1,))
    if summary.no_policy:
        lines.append(
            [
                (
                    "no policy file (opusguard.yaml) here or above: no task is declared, so no Opus call is justified; "
                    "`opusguard init` writes a starter policy and a router",
                    "yellow",
                )
            ]
        )
    calls = summary.model_calls
    lines.append([("model calls: " + ", ".join(f"{tier} {calls.get(tier, 0)}" for tier in (*TIERS, UNRESOLVED)), "")])
    noun = "finding" if len(findings) == 1 else "findings"
    verdict = f"{len(findings)} {noun}" if findings else "no findings"
    files = "file" if summary.files_scanned == 1 else "files"
    took = seconds(summary.elapsed_seconds)
    scope = (
        f" (the whole project, as {', '.join(summary.policy_files_named)} may change any finding)"
        if summary.policy_files_named
        else ""
    )
    lines.append(
        [(f"checked {summary.files_scanned:,} {files}{scope} in {took}: {verdict}{skipped_note(summary.skipped)}", "")]
    )
    return lines


def skipped_note(skipped: dict[str, str]) -> str:
    """'; N files not read whole ...': the files whose calls may be missed, each named."""
    if not skipped:
        return ""
    noun, them = ("file", "it") if len(skipped) == 1 else ("files", "them")
    named = ", ".join(f"{path} ({why})" for path, why in skipped.items())
    return f"; {len(skipped)} {noun} not read whole, calls in {them} may be missed: {named}"


def seconds(elapsed: float) -> str:
    # A cached check takes milliseconds; "0.0 s" would say it took nothing.
    if elapsed >= 1:
        return f"{elapsed:.1f} s"
    return f"{elapsed:.2f} s" if elapsed >= 0.01 else f"{elapsed:.3f} s"


def statistics_lines(findings: list[Finding], summary: RunSummary) -> list[Line]:
    rules = Counter((f.rule, f.name) for f in findings)
    by_rule = sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))
    models = sorted(summary.models.items(), key=lambda kv: (-kv[1], kv[0]))
    return [
        *table_lines(
            ("count", "rule", "name"),
            [(str(n), rule, name) for (rule, name), n in by_rule],
            right=(0,),
            title="findings by rule",
        ),
        [],
        *table_lines(
            ("tier", "model calls"),
            [(tier, str(n)) for tier, n in summary.model_calls.items()],
            right=(1,),
            title="model calls by tier",
        ),
        [],
        *table_lines(
            ("count", "model"),
            [(str(n), model) for model, n in models],
            right=(0,),
            title="model ids written in code",
        ),
        [],
    ]


def text_lines(findings: list[Finding], summary: RunSummary, *, statistics: bool) -> list[Line]:
    lines: list[Line] = []
    path = None
    for f in findings:
        if path is not None and f.path != path:
            lines.append([])
        path = f.path
        lines += finding_lines(f)
    if findings:
        lines.append([])
    if statistics:
        lines += statistics_lines(findings, summary)
    lines += summary_lines(findings, summary)
    return lines


def render_text(
    findings: list[Finding], summary: RunSummary, out: TextIO, *, color: bool | None, statistics: bool
) -> None:
    lines = text_lines(findings, summary, statistics=statistics)
    if color is None:
        color = use_color(out)
    if not color:
        out.write("".join("".join(text for text, _ in line) + "\n" for line in lines))
        return
    from rich.text import Text

    console = _console(out, color)
    for line in lines:
        console.print(Text.assemble(*line))
