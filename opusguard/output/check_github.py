"""`check --format github`: workflow commands that annotate a pull request."""

from __future__ import annotations

from typing import TextIO

from opusguard.base.sanitize import github_data as _escape_data
from opusguard.base.sanitize import github_property as _escape_property
from opusguard.rules.findings import Finding, Severity


def github_line(finding: Finding) -> str:
    level = "warning" if finding.severity == Severity.WARNING else "error"
    props = [
        f"file={_escape_property(finding.path)}",
        f"line={finding.line}",
        f"col={finding.column}",
    ]
    if finding.end_line is not None:
        props.append(f"endLine={finding.end_line}")
    if finding.end_column is not None and finding.end_line == finding.line:
        props.append(f"endColumn={finding.end_column}")
    props.append(f"title={_escape_property(f'{finding.rule} {finding.name}')}")
    # In a notebook the line is inside a cell, which the message names.
    message = finding.message if finding.cell is None else f"cell {finding.cell}: {finding.message}"
    return f"::{level} {','.join(props)}::{_escape_data(message)}"


def render_github(findings: list[Finding], out: TextIO) -> None:
    for finding in findings:
        out.write(github_line(finding) + "\n")
