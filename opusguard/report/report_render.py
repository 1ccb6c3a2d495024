"""Pick the report's renderer for --format (text, json, markdown, html)."""

from __future__ import annotations

from typing import TextIO

from opusguard.report.pricing import CostDiff, Report


def render_report(
    fmt: str, report: Report, *, out: TextIO, group_by: str = "task", link_base: str = "", color: bool | None = None
) -> None:
    if fmt == "json":
        from opusguard.report.report_json import render_report_json

        render_report_json(report, out)
    elif fmt == "markdown":
        from opusguard.report.report_markdown import render_report_markdown

        render_report_markdown(report, out, group_by=group_by)
    elif fmt == "html":
        from opusguard.report.report_html import render_report_html

        render_report_html(report, out, group_by=group_by, link_base=link_base)
    else:
        from opusguard.report.report_text import render_report_text

        render_report_text(report, out, group_by=group_by, color=color)


def render_diff(fmt: str, diff: CostDiff, *, out: TextIO, color: bool | None = None) -> None:
    if fmt == "json":
        from opusguard.report.report_json import render_diff_json

        render_diff_json(diff, out)
    elif fmt == "markdown":
        from opusguard.report.report_markdown import render_diff_markdown

        render_diff_markdown(diff, out)
    elif fmt == "html":
        from opusguard.report.report_html import render_diff_html

        render_diff_html(diff, out)
    else:
        from opusguard.report.report_text import render_diff_text

        render_diff_text(diff, out, color=color)
