"""--format text: findings grouped by file with the offending line, then a summary.

Rich styling in a terminal; plain text (no ANSI codes, grep-friendly) when piped,
with --no-color, or when NO_COLOR is set.
"""

from __future__ import annotations

import os
from collections import Counter
from itertools import groupby
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from opusguard.findings import Finding, RunSummary


def _console(out: TextIO, color: bool | None) -> Console:
    if color is None:
        color = out.isatty() and not os.environ.get("NO_COLOR")
    return Console(
        file=out,
        force_terminal=bool(color),
        no_color=not color,
        highlight=False,
        soft_wrap=True,
        width=None if color else 10_000,
    )


def _caret(finding: Finding) -> str:
    line = finding.source_line
    if not line:
        return ""
    start = max(finding.column - 1, 0)
    end = finding.end_column - 1 if finding.end_line == finding.line and finding.end_column else len(line)
    end = max(min(end, len(line)), start + 1)
    return " " * start + "^" * (end - start)


def render_text(findings: list[Finding], summary: RunSummary, out: TextIO, *, color: bool | None, statistics: bool) -> None:
    console = _console(out, color)
    for path, group in groupby(findings, key=lambda f: f.path):
        for f in group:
            head = Text()
            head.append(f"{f.path}:{f.line}:{f.column}: ", style="bold")
            head.append(f.rule, style="bold red" if f.severity == "error" else "bold yellow")
            head.append(f" {f.message}")
            console.print(head)
            if f.source_line:
                number = f"{f.line:>5} | "
                console.print(Text(number, style="blue") + Text(f.source_line.replace("\t", " ")))
                console.print(Text(" " * (len(number) - 2) + "| ", style="blue") + Text(_caret(f), style="red"))
        console.print()
    if statistics:
        _print_statistics(console, findings, summary)
    by_rule = Counter(f.rule for f in findings)
    if findings:
        table = Table(title=None, show_edge=False, box=None if not console.is_terminal else None)
        table.add_column("rule")
        table.add_column("findings", justify="right")
        for rule, count in sorted(by_rule.items()):
            name = next(f.name for f in findings if f.rule == rule)
            table.add_row(f"{rule} {name}", str(count))
        console.print(table)
    calls = summary.model_calls
    console.print(
        "model calls: "
        + ", ".join(f"{tier} {calls.get(tier, 0)}" for tier in ("opus", "sonnet", "haiku", "other", "unresolved"))
    )
    noun = "finding" if len(findings) == 1 else "findings"
    verdict = f"{len(findings)} {noun}" if findings else "no findings"
    console.print(f"checked {summary.files_scanned:,} files in {summary.elapsed_seconds:.1f} s: {verdict}")


def _print_statistics(console: Console, findings: list[Finding], summary: RunSummary) -> None:
    rules = Counter((f.rule, f.name) for f in findings)
    table = Table("count", "rule", "name", show_edge=False, box=None, title="findings by rule")
    for (rule, name), count in sorted(rules.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(str(count), rule, name)
    console.print(table)
    tiers = Table("tier", "model calls", show_edge=False, box=None, title="model calls by tier")
    for tier, count in summary.model_calls.items():
        tiers.add_row(tier, str(count))
    console.print(tiers)
    models = Table("count", "model", show_edge=False, box=None, title="model ids written in code")
    for model, count in sorted(summary.models.items(), key=lambda kv: (-kv[1], kv[0])):
        models.add_row(str(count), model)
    console.print(models)
    console.print()
