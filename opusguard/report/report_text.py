"""`report --format text`: rich tables in a terminal, plain text when piped.

Either way it fits its medium: the terminal's width, or PIPED_WIDTH columns when
piped or written to a file ($COLUMNS overrides both); long cells wrap.
"""

from __future__ import annotations

import os
from typing import TextIO, cast

from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from opusguard.base.sanitize import rich_text as _t
from opusguard.base.sanitize import use_color
from opusguard.base.tiers import UNRESOLVED, Tier
from opusguard.report.pricing import CostDiff, Report, Site, group_costs, group_key, spend_by_tier
from opusguard.report.report_common import (
    cost_cell,
    headline,
    literal_at,
    money,
    policy_state,
    saving_line,
    sends,
    signed_money,
    task_label,
    tests_line,
)

PIPED_WIDTH = 100

TIER_STYLE: dict[str | None, str] = {
    Tier.OPUS: "bold red",
    Tier.SONNET: "yellow",
    Tier.HAIKU: "green",
    Tier.OTHER: "dim",
    None: "magenta",
}


def report_width(out: TextIO) -> int:
    """$COLUMNS, else the terminal's width, else PIPED_WIDTH."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) >= 40:
        return int(columns)
    try:
        if out.isatty() and os.get_terminal_size(out.fileno()).columns >= 40:  # (a new pty says 0)
            return os.get_terminal_size(out.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass
    return PIPED_WIDTH


def _console(out: TextIO, color: bool | None) -> Console:
    if color is None:
        color = use_color(out)
    return Console(
        file=out,
        force_terminal=bool(color),
        no_color=not color,
        highlight=False,
        width=report_width(out),
        soft_wrap=False,
    )


class _PlainLines:
    """A text stream for plain output that drops the spaces rich pads lines with."""

    def __init__(self, out: TextIO):
        self.out, self.pending = out, ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self.out.write(line.rstrip() + "\n")
        return len(text)

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return self.out.isatty()

    def fileno(self) -> int:
        return self.out.fileno()


def _assumptions(console: Console, report: Report) -> None:
    for line in report.assumptions:
        style = "bold yellow" if line.startswith("ASSUMED") else "dim"
        console.print(_t(f"note: {line}", style=style))


def render_report_text(report: Report, out: TextIO, *, group_by: str, color: bool | None) -> None:
    console = _console(out if color or (color is None and use_color(out)) else cast(TextIO, _PlainLines(out)), color)
    console.print(_t(f"opusguard report: {headline(report)}", style="bold"))
    _assumptions(console, report)
    console.print()
    console.print(_inventory(report, group_by))
    console.print()
    _tier_spend(console, report)
    _top_opus(console, report)
    _advice(console, report)
    _unresolved(console, report)
    _configured(console, report)
    console.print(_t(tests_line(report)))
    console.print(_t(saving_line(report) + (" (ASSUMED traffic)" if report.assumed else ""), style="bold"))


def _inventory(report: Report, group_by: str) -> Table:
    """Three columns, whatever the width: what a site is and sends wraps inside the first."""
    inventory = Table(title=f"call sites by {group_by}", title_justify="left", show_edge=False)
    inventory.add_column("site: tier, task, policy / model sent (where it is written)", overflow="fold", ratio=1)
    inventory.add_column("today", justify="right", no_wrap=True)
    inventory.add_column("under the policy", justify="right", no_wrap=True)
    groups = {g.key: g for g in group_costs(report, group_by)}
    by_group: dict[str, list] = {}
    for cost in report.costs:
        by_group.setdefault(group_key(cost.site, group_by), []).append(cost)
    for key, group in groups.items():
        inventory.add_row(_t(f"{group_by} {key}", style="bold"), money(group.today), money(group.policy))
        for cost in by_group[key]:
            inventory.add_row(
                _site_cell(cost.site),
                cost_cell(cost, "today"),
                cost_cell(cost, "policy")
                + (f" ({cost.policy.tier})" if cost.policy and cost.policy.tier != cost.site.tier else ""),
            )
        inventory.add_section()
    return inventory


def _site_cell(site: Site) -> Group:
    """Where the site is, its tier, task and policy; below, dimmed, what it sends."""
    literal = literal_at(site)
    head = (
        _t(f"{site.where}  ")
        + _t(site.tier or UNRESOLVED, style=TIER_STYLE.get(site.tier, ""))
        + _t(f", {task_label(site)}, {policy_state(site)}")
    )
    detail = _t(sends(site) + (f" ({literal})" if literal else ""), style="dim")
    return Group(Padding(head, (0, 0, 0, 2)), Padding(detail, (0, 0, 0, 4)))


def _tier_spend(console: Console, report: Report) -> None:
    tiers = Table("tier", "today", "under the policy", title="spend by tier", title_justify="left", show_edge=False)
    for tier, (today, policy) in spend_by_tier(report).items():
        if today or policy:
            tiers.add_row(Text(tier, style=TIER_STYLE[tier]), money(today), money(policy))
    console.print(tiers)
    console.print()


def _top_opus(console: Console, report: Report) -> None:
    if not report.top_opus:
        return
    top = Table(title="top Opus call sites by spend", title_justify="left", show_edge=False)
    top.add_column("#", no_wrap=True)
    top.add_column("site", no_wrap=True)
    top.add_column("task", overflow="fold")
    top.add_column("model", overflow="fold")
    top.add_column(f"per {report.period}", justify="right", no_wrap=True)
    for rank, cost in enumerate(report.top_opus, start=1):
        top.add_row(
            str(rank),
            _t(cost.site.where),
            _t(task_label(cost.site)),
            _t(cost.priced_today.model),
            money(cost.priced_today.cost),
        )
    console.print(top)
    console.print()


def _advice(console: Console, report: Report) -> None:
    console.print(Text("Opus that is probably over-provisioned (advice, not a rule):", style="bold"))
    if not report.advice:
        console.print("  none: no Opus call site carries the signals of routine work")
    for rank, advice in enumerate(report.advice, start=1):
        site, priced = advice.cost.site, advice.cost.today
        console.print(
            _t(f"{rank:>3}. {site.where}", style="bold")
            + _t(
                f"  score {advice.score}; {money(priced.cost if priced else None)} today, "
                f"{money(advice.suggested_cost)} on {advice.suggested_tier}"
            )
        )
        for reason in advice.reasons:
            console.print(_t(f"       + {reason}"))
        for reason in advice.against:
            console.print(_t(f"       - {reason}", style="dim"))
    console.print()


def _unresolved(console: Console, report: Report) -> None:
    unresolved = [c.site for c in report.costs if c.site.tier is None]
    if not unresolved:
        return
    console.print(Text(f"{len(unresolved)} site(s) with a model known only at run time (not priced):", style="bold"))
    for site in unresolved:
        console.print(_t(f"  {site.where}: {'; '.join(site.unresolved)}"))
    console.print()


def _configured(console: Console, report: Report) -> None:
    """Models named in config files: an inventory, priced only where a call site reads them."""
    if not report.configured:
        return
    files = len({c.path for c in report.configured})
    console.print(
        Text(
            f"{len(report.configured)} model(s) named in {files} config file(s) "
            "(not call sites; priced only where a call reads them):",
            style="bold",
        )
    )
    for item in report.configured:
        read = f"  read by {', '.join(r.where for r in item.read_by)}" if item.read_by else ""
        console.print(_t(f"  {item.path}:{item.line}  {item.model} ({item.tier})  {item.keys}{read}"))
    console.print()


def render_diff_text(diff: CostDiff, out: TextIO, *, color: bool | None) -> None:
    console = _console(out if color or (color is None and use_color(out)) else cast(TextIO, _PlainLines(out)), color)
    head = diff.head
    console.print(
        _t(
            f"opusguard report --diff {diff.ref}: call sites and cost per {head.period}, {diff.ref} -> working tree",
            style="bold",
        )
    )
    _assumptions(console, head)
    table = Table("change", "site", "before", "after", f"per {head.period}", show_edge=False)
    for change in diff.changes:
        where = change.cost.site.where
        before = (
            f"{change.base.site.tier or 'unresolved'} {change.base.today.model if change.base.today else ''}".strip()
            if change.base
            else "-"
        )
        after = (
            f"{change.head.site.tier or 'unresolved'} {change.head.today.model if change.head.today else ''}".strip()
            if change.head
            else "-"
        )
        table.add_row(change.kind, _t(where), _t(before), _t(after), signed_money(change.delta))
    if diff.changes:
        console.print(table)
    else:
        console.print("no call site added, removed or moved to another tier")
    console.print(
        _t(
            f"spend today {money(diff.base.today)} -> {money(head.today)} ({signed_money(diff.delta)} per {head.period}); "
            f"under the policy {money(diff.base.policy)} -> {money(head.policy)} ({signed_money(diff.policy_delta)})"
            + (" (ASSUMED traffic)" if head.assumed else ""),
            style="bold",
        )
    )
    console.print(
        f"tests (not in the totals): {money(diff.base.tests_today)} -> {money(head.tests_today)} "
        f"({signed_money(diff.tests_delta)})"
    )
