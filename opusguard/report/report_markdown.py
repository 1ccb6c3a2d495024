"""`report --format markdown`: for a pull-request comment or a wiki page."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TextIO

from opusguard.base.sanitize import markdown_cell as cell
from opusguard.base.tiers import UNRESOLVED
from opusguard.report.pricing import CostDiff, Report, group_costs, group_key, spend_by_tier
from opusguard.report.report_common import (
    FOLD_CONFIGURED,
    configured_line,
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


def _table(head: list[str], rows: Sequence[Sequence[object]], right: Collection[int] = frozenset()) -> list[str]:
    lines = [
        "| " + " | ".join(head) + " |",
        "| " + " | ".join("---:" if i in right else "---" for i in range(len(head))) + " |",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def _notes(report: Report) -> list[str]:
    return [f"> {cell(line)}" + "  " for line in report.assumptions]


def render_report_markdown(report: Report, out: TextIO, *, group_by: str) -> None:
    lines = ["## opusguard report", "", cell(headline(report)), "", *_notes(report), ""]
    lines.append(f"**{cell(saving_line(report))}**" + (" (assumed traffic)" if report.assumed else ""))
    lines += ["", cell(tests_line(report))]
    lines += ["", "### Spend by tier", ""]
    lines += _table(
        ["tier", "today", "under the policy"],
        [[t, money(a), money(b)] for t, (a, b) in spend_by_tier(report).items() if a or b],
        {1, 2},
    )
    lines += ["", f"### Call sites by {group_by}", ""]
    rows = []
    costs_by_group: dict[str, list] = {}
    for cost in report.costs:
        costs_by_group.setdefault(group_key(cost.site, group_by), []).append(cost)
    for group in group_costs(report, group_by):
        rows.append(
            [
                f"{group_by} {group.key}",
                f"{group.sites} site(s)",
                "",
                "",
                "",
                "",
                money(group.today),
                money(group.policy),
            ]
        )
        for cost in costs_by_group[group.key]:
            site = cost.site
            rows.append(
                [
                    site.where,
                    sends(site),
                    site.tier or UNRESOLVED,
                    task_label(site),
                    policy_state(site),
                    literal_at(site),
                    cost_cell(cost, "today"),
                    cost_cell(cost, "policy"),
                ]
            )
    lines += _table(
        ["site", "sends", "tier", "task", "policy", "model written at", "today", "under the policy"], rows, {6, 7}
    )
    if report.top_opus:
        lines += ["", "### Top Opus call sites by spend", ""]
        lines += _table(
            ["#", "site", "task", "model", f"per {report.period}"],
            [
                [i, c.site.where, task_label(c.site), c.priced_today.model, money(c.priced_today.cost)]
                for i, c in enumerate(report.top_opus, start=1)
            ],
            {4},
        )
    lines += ["", "### Opus that is probably over-provisioned", "", "_Advice, not a rule: it never fails the run._", ""]
    if not report.advice:
        lines.append("None: no Opus call site carries the signals of routine work.")
    for rank, advice in enumerate(report.advice, start=1):
        today = advice.cost.today
        lines.append(
            f"{rank}. **{cell(advice.cost.site.where)}** score {advice.score}: {money(today.cost if today else None)} today, "
            f"{money(advice.suggested_cost)} on {advice.suggested_tier}"
        )
        lines += [f"   - {cell(reason)}" for reason in advice.reasons]
        lines += [f"   - against: {cell(reason)}" for reason in advice.against]
    unresolved = [c.site for c in report.costs if c.site.tier is None]
    if unresolved:
        lines += ["", "### Models known only at run time (not priced)", ""]
        lines += [f"- {cell(s.where)}: {cell('; '.join(s.unresolved))}" for s in unresolved]
    lines += _configured(report)
    out.write("\n".join(lines) + "\n")


def _configured(report: Report) -> list[str]:
    """Models named in config files: an inventory, priced only where a call site reads them.
    A long one (a catalog of models) is folded, so a PR comment stays readable."""
    if not report.configured:
        return []
    summary = configured_line(report) + "."
    table = _table(
        ["written at", "keys", "model", "tier", "read by"],
        [
            [f"{c.path}:{c.line}", c.keys, c.model, c.tier, ", ".join(r.where for r in c.read_by) or "-"]
            for c in report.configured
        ],
    )
    lines = ["", "### Models named in config files", ""]
    if len(report.configured) <= FOLD_CONFIGURED:
        return lines + [cell(summary), "", *table]
    return lines + ["<details>", f"<summary>{cell(summary)}</summary>", "", *table, "", "</details>"]


def render_diff_markdown(diff: CostDiff, out: TextIO) -> None:
    head = diff.head
    period = head.period
    lines = [
        f"## opusguard: Claude model cost change against `{cell(diff.ref)}`",
        "",
        f"**Spend per {period}: {money(diff.base.today)} → {money(head.today)} ({signed_money(diff.delta)})**; "
        f"under the policy {money(diff.base.policy)} → {money(head.policy)} ({signed_money(diff.policy_delta)}).",
        "",
        *_notes(head),
        "",
    ]
    if not diff.changes:
        lines.append("No call site added, removed or moved to another tier.")
    else:
        rows = []
        for change in diff.changes:
            site = change.cost.site
            before = (
                f"{change.base.site.tier or 'unresolved'} {change.base.today.model if change.base.today else ''}"
                if change.base
                else "–"
            )
            after = (
                f"{change.head.site.tier or 'unresolved'} {change.head.today.model if change.head.today else ''}"
                if change.head
                else "–"
            )
            rows.append(
                [change.kind, site.where, task_label(site), before.strip(), after.strip(), signed_money(change.delta)]
            )
        lines += _table(["change", "site", "task", "before", "after", f"per {period}"], rows, {5})
    lines += [
        "",
        f"Tests (not in the totals): {money(diff.base.tests_today)} → {money(head.tests_today)} "
        f"({signed_money(diff.tests_delta)}).",
    ]
    out.write("\n".join(lines) + "\n")
