"""`report --format text`: rich tables in a terminal, plain text when piped."""

from __future__ import annotations

from typing import TextIO

from rich.table import Table
from rich.text import Text

from opusguard.report import CostDiff, Report, group_costs, group_key, spend_by_tier
from opusguard.reporters.report_common import (
    cost_cell,
    headline,
    literal_at,
    money,
    policy_state,
    saving_line,
    sends,
    signed_money,
    task_label,
)
from opusguard.reporters.text import _console

TIER_STYLE = {"opus": "bold red", "sonnet": "yellow", "haiku": "green", "other": "dim", None: "magenta"}


def _assumptions(console, report: Report) -> None:
    for line in report.assumptions:
        style = "bold yellow" if line.startswith("ASSUMED") else "dim"
        console.print(Text(f"note: {line}", style=style))


def render_report_text(report: Report, out: TextIO, *, group_by: str, color: bool | None) -> None:
    console = _console(out, color)
    console.print(Text(f"opusguard report: {headline(report)}", style="bold"))
    _assumptions(console, report)
    console.print()

    inventory = Table(title=f"call sites by {group_by}", title_justify="left", show_edge=False)
    for name, justify in (("site", "left"), ("sends", "left"), ("tier", "left"), ("task", "left"),
                          ("policy", "left"), ("model written at", "left"), ("today", "right"), ("under the policy", "right")):
        inventory.add_column(name, justify=justify)
    groups = {g.key: g for g in group_costs(report, group_by)}
    by_group: dict[str, list] = {}
    for cost in report.costs:
        by_group.setdefault(group_key(cost.site, group_by), []).append(cost)
    for key, group in groups.items():
        inventory.add_row(Text(f"{group_by} {key}", style="bold"), "", "", "", "", "", money(group.today), money(group.policy))
        for cost in by_group[key]:
            site = cost.site
            inventory.add_row(
                f"  {site.where}",
                sends(site),
                Text(site.tier or "unresolved", style=TIER_STYLE.get(site.tier, "")),
                task_label(site),
                policy_state(site),
                literal_at(site),
                cost_cell(cost, "today"),
                cost_cell(cost, "policy") + (f" ({cost.policy.tier})" if cost.policy and cost.policy.tier != site.tier else ""),
            )
        inventory.add_section()
    console.print(inventory)
    console.print()

    tiers = Table("tier", "today", "under the policy", title="spend by tier", title_justify="left", show_edge=False)
    for tier, (today, policy) in spend_by_tier(report).items():
        if today or policy:
            tiers.add_row(Text(tier, style=TIER_STYLE[tier]), money(today), money(policy))
    console.print(tiers)
    console.print()

    if report.top_opus:
        top = Table("#", "site", "task", "model", f"per {report.period}", title="top Opus call sites by spend",
                    title_justify="left", show_edge=False)
        for rank, cost in enumerate(report.top_opus, start=1):
            top.add_row(str(rank), cost.site.where, task_label(cost.site), cost.today.model, money(cost.today.cost))
        console.print(top)
        console.print()

    console.print(Text("Opus that is probably over-provisioned (advice, not a rule):", style="bold"))
    if not report.advice:
        console.print("  none: no Opus call site carries the signals of routine work")
    for rank, advice in enumerate(report.advice, start=1):
        site, today = advice.cost.site, advice.cost.today
        console.print(
            Text(f"{rank:>3}. {site.where}", style="bold")
            + Text(f"  score {advice.score}; {money(today.cost if today else None)} today, "
                   f"{money(advice.suggested_cost)} on {advice.suggested_tier}")
        )
        for reason in advice.reasons:
            console.print(f"       + {reason}")
        for reason in advice.against:
            console.print(Text(f"       - {reason}", style="dim"))
    console.print()
    unresolved = [c.site for c in report.costs if c.site.tier is None]
    if unresolved:
        console.print(Text(f"{len(unresolved)} site(s) with a model known only at run time (not priced):", style="bold"))
        for site in unresolved:
            console.print(f"  {site.where}: {'; '.join(site.unresolved)}")
        console.print()
    _configured(console, report)
    console.print(Text(saving_line(report) + (" (ASSUMED traffic)" if report.assumed else ""), style="bold"))


def _configured(console, report: Report) -> None:
    """Models named in config files: an inventory, priced only where a call site reads them."""
    if not report.configured:
        return
    files = len({c.path for c in report.configured})
    console.print(Text(f"{len(report.configured)} model(s) named in {files} config file(s) "
                       "(not call sites; priced only where a call reads them):", style="bold"))
    for item in report.configured:
        read = f"  read by {', '.join(item.read_by)}" if item.read_by else ""
        console.print(Text(f"  {item.path}:{item.line}  {item.model} ({item.tier})  {item.keys}{read}"))
    console.print()


def render_diff_text(diff: CostDiff, out: TextIO, *, color: bool | None) -> None:
    console = _console(out, color)
    head = diff.head
    console.print(Text(f"opusguard report --diff {diff.ref}: call sites and cost per {head.period}, "
                       f"{diff.ref} -> working tree", style="bold"))
    _assumptions(console, head)
    table = Table("change", "site", "before", "after", f"per {head.period}", show_edge=False)
    for change in diff.changes:
        where = (change.head or change.base).site.where
        before = f"{change.base.site.tier or 'unresolved'} {change.base.today.model if change.base.today else ''}".strip() if change.base else "-"
        after = f"{change.head.site.tier or 'unresolved'} {change.head.today.model if change.head.today else ''}".strip() if change.head else "-"
        table.add_row(change.kind, where, before, after, signed_money(change.delta))
    if diff.changes:
        console.print(table)
    else:
        console.print("no call site added, removed or moved to another tier")
    console.print(Text(
        f"spend today {money(diff.base.today)} -> {money(head.today)} ({signed_money(diff.delta)} per {head.period}); "
        f"under the policy {money(diff.base.policy)} -> {money(head.policy)} ({signed_money(diff.policy_delta)})"
        + (" (ASSUMED traffic)" if head.assumed else ""),
        style="bold",
    ))
