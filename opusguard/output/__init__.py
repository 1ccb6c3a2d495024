"""Reporters: what the commands print.

`check_*.py` format check's findings and run summary (text, json, sarif, github):
`render` below picks one. `report_*.py` render the cost report (text, json,
markdown, html): `report_render.render_report` picks one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from msgspec import Struct

from opusguard.rules.findings import Finding, RunSummary, Severity

DOCS_URL = "https://github.com/opusguard/opusguard/blob/main/docs/rules/{code}.md"


class RuleMeta(Struct, frozen=True):
    code: str
    name: str
    summary: str
    help_uri: str
    default_level: Severity = Severity.ERROR


def rule_metadata() -> dict[str, RuleMeta]:
    from opusguard.rules import all_rules

    meta = {}
    for rule in all_rules():
        doc = (rule.__doc__ or "").strip().splitlines()
        summary = next((line.strip() for line in doc[1:] if line.strip()), rule.name)
        meta[rule.code] = RuleMeta(rule.code, rule.name, summary, DOCS_URL.format(code=rule.code), rule.severity)
    meta["OG100"] = RuleMeta(
        "OG100",
        "unused-ignore",
        "A suppression comment that suppresses nothing.",
        DOCS_URL.format(code="OG100"),
        Severity.WARNING,
    )
    return meta


def render(
    fmt: str,
    findings: list[Finding],
    summary: RunSummary,
    *,
    out: TextIO,
    color: bool | None = None,
    statistics: bool = False,
    rules: Mapping[str, RuleMeta] | None = None,
    tool_version: str = "",
) -> None:
    if fmt == "json":
        from opusguard.output.check_json import render_json

        render_json(findings, summary, out)
    elif fmt == "sarif":
        from opusguard.output.check_sarif import render_sarif

        render_sarif(findings, out, rules or {}, tool_version)
    elif fmt == "github":
        from opusguard.output.check_github import render_github

        render_github(findings, out)
    else:
        from opusguard.output.check_text import render_text

        render_text(findings, summary, out, color=color, statistics=statistics)
