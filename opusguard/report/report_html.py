"""`report --format html`: one self-contained page (inline CSS and SVG; no script, nothing fetched).

The chart is an inline SVG of spend by tier and by task, today against the
policy; `spend_chart_svg` is also what docs/report-example.svg is exported from.
Every piece of text from the code or the policy is escaped (opusguard.base.sanitize);
links to files are relative paths, percent-encoded, after the user's --link-base. The page fits a
phone as well as a desktop: tables scroll inside their own box, the chart
scales down (then scrolls in its box), long names are cut (uniquely, the whole name in a tooltip).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from opusguard.base.sanitize import html_href
from opusguard.base.sanitize import html_text as escape
from opusguard.base.tiers import UNRESOLVED
from opusguard.facts.notebook import location
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

TODAY_COLOR, POLICY_COLOR = "#b4442f", "#3f7f5f"
MAX_TASK_ROWS = 10
LABEL_CHARS = 28
MIN_BAR = 2.0  # px: a non-zero value is never drawn as nothing

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #1d1d1f;
       overflow-wrap: break-word; }
@media (max-width: 600px) { body { margin: 1rem; } }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.scroll { overflow-x: auto; max-width: 100%; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; min-width: 600px; height: auto; }
.scroll table { overflow-wrap: normal; }
.note { background: #fff6dd; border-left: 4px solid #d9a400; padding: .4rem .8rem; margin: .3rem 0; }
.saving { font-size: 1.1rem; font-weight: 600; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.group td { background: #f3f3f5; font-weight: 600; }
.tier-opus { color: #b4442f; font-weight: 600; } .tier-sonnet { color: #9a6b00; }
.tier-haiku { color: #2f7d4f; } .tier-unresolved { color: #7a3fa0; }
code { font-size: .92em; }
"""


def _tier_span(tier: str | None) -> str:
    name = tier or UNRESOLVED
    return f'<span class="tier-{escape(name)}">{escape(name)}</span>'


def _link(path: str, line: int, link_base: str, cell: int | None = None) -> str:
    """`path:line` linked to that line; in a notebook `nb.ipynb:cell 3:2`, linked to the
    notebook (a rendered notebook has no line anchors, and the line is inside the cell)."""
    href = html_href(path, None if cell is not None else line, link_base)
    return f'<a href="{href}">{escape(location(path, cell, line))}</a>'


def short_labels(labels: Sequence[str], limit: int = LABEL_CHARS) -> list[str]:
    """Each label cut to at most `limit` characters, no two alike: a cut keeps the start
    and, where that is not enough to tell it from the others, as much of the end as it takes."""
    out = {i: label for i, label in enumerate(labels) if len(label) <= limit}
    taken = set(out.values())
    pending = [i for i in range(len(labels)) if i not in out]
    for tail in range(limit - 1):
        if not pending:
            break
        head = limit - 1 - tail
        candidates = {i: labels[i][:head] + "…" + (labels[i][-tail:] if tail else "") for i in pending}
        seen: dict[str, int] = {}
        for cut in candidates.values():
            seen[cut] = seen.get(cut, 0) + 1
        for i, cut in candidates.items():
            if seen[cut] == 1 and cut not in taken:
                out[i] = cut
                taken.add(cut)
        pending = [i for i in pending if i not in out]
    for number, i in enumerate(pending, start=1):  # alike at both ends: numbered
        suffix = f"…#{number}"
        out[i] = labels[i][: limit - len(suffix)] + suffix
    return [out[i] for i in range(len(labels))]


def spend_chart_svg(report: Report, *, width: int = 760) -> str:
    """Horizontal bars: each tier, then the costliest tasks (the rest summed on an
    "N more tasks" row); today above, the policy below. A bar is at least MIN_BAR
    wide when its value is not zero, and every bar carries its value."""
    rows: list[tuple[str, str, float, float, bool]] = []  # (section, label, today, policy, priced)
    for tier, (today, policy) in spend_by_tier(report).items():
        if today or policy:
            rows.append(("tier", tier, today, policy, True))
    groups = group_costs(report, "task")
    for group in groups[:MAX_TASK_ROWS]:
        rows.append(("task", group.key, group.today, group.policy, group.unresolved < group.sites))
    rest = groups[MAX_TASK_ROWS:]
    if rest:
        rows.append(
            (
                "task",
                f"{len(rest)} more task{'s' if len(rest) > 1 else ''}",
                sum(g.today for g in rest),
                sum(g.policy for g in rest),
                True,
            )
        )
    labels = dict(zip(range(len(rows)), short_labels([r[1] for r in rows])))
    label_w, value_w, bar_h, gap, top = 190, 90, 11, 10, 46
    plot_w = width - label_w - value_w - 20
    scale = max([max(r[2], r[3]) for r in rows] + [1e-9])
    height = top + sum(2 * bar_h + gap for _ in rows) + 2 * 24 + 10
    title = f"Spend per {report.period} by tier and by task: today vs under the policy (USD)"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        f'<text x="10" y="18" font-size="14" font-weight="600">{escape(title)}</text>',
        f'<rect x="10" y="28" width="10" height="10" fill="{TODAY_COLOR}"/><text x="24" y="37">today</text>',
        f'<rect x="80" y="28" width="10" height="10" fill="{POLICY_COLOR}"/><text x="94" y="37">under the policy</text>',
    ]
    if report.assumed:
        parts.append(
            f'<text x="{width - 10}" y="37" text-anchor="end" fill="#9a6b00">assumed traffic, not measured</text>'
        )
    y = top
    section = None
    for index, (kind, label, today, policy, priced) in enumerate(rows):
        if kind != section:
            section = kind
            y += 18
            parts.append(f'<text x="10" y="{y - 4}" font-weight="600" fill="#555">by {kind}</text>')
        parts.append(
            f'<text class="label" x="{label_w - 8}" y="{y + bar_h + 4}" text-anchor="end">'
            f"<title>{escape(label)}</title>{escape(labels[index])}</text>"
        )
        for offset, value, color, name in ((0, today, TODAY_COLOR, "today"), (bar_h, policy, POLICY_COLOR, "policy")):
            bar = plot_w * value / scale if value > 0 else 0.0
            bar = max(bar, MIN_BAR) if value > 0 else 0.0
            shown = money(value) if priced else "not priced"
            parts.append(
                f'<rect class="bar bar-{name}" x="{label_w}" y="{y + offset}" width="{bar:.1f}" height="{bar_h - 1}" '
                f'fill="{color}" data-value="{value:.2f}"><title>{escape(label)} {name}: {escape(shown)}</title></rect>'
            )
            parts.append(
                f'<text class="value" x="{label_w + bar + 4:.1f}" y="{y + offset + bar_h - 2}" font-size="10">'
                f"{escape(shown)}</text>"
            )
        y += 2 * bar_h + gap
    parts.append("</svg>")
    return "\n".join(parts)


def _page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _notes(report: Report) -> list[str]:
    return [f'<p class="note">{escape(line)}</p>' for line in report.assumptions]


def render_report_html(report: Report, out: TextIO, *, group_by: str, link_base: str = "") -> None:
    body = [
        "<h1>opusguard report</h1>",
        f"<p>{escape(headline(report))}</p>",
        *_notes(report),
        f'<p class="saving">{escape(saving_line(report))}{" (assumed traffic)" if report.assumed else ""}</p>',
        f'<p id="tests-line">{escape(tests_line(report))}</p>',
        '<figure id="chart" class="scroll">',
        spend_chart_svg(report),
        "</figure>",
        f"<h2>Call sites by {escape(group_by)}</h2>",
        '<div class="scroll">',
        '<table id="sites">',
        "<thead><tr><th>site</th><th>sends</th><th>tier</th><th>task</th><th>policy</th><th>model written at</th>"
        '<th class="num">today</th><th class="num">under the policy</th></tr></thead>',
        "<tbody>",
    ]
    by_group: dict[str, list] = {}
    for cost in report.costs:
        by_group.setdefault(group_key(cost.site, group_by), []).append(cost)
    for group in group_costs(report, group_by):
        body.append(
            f'<tr class="group"><td colspan="6">{escape(group_by)} {escape(group.key)} ({group.sites} site(s))</td>'
            f'<td class="num">{escape(money(group.today))}</td><td class="num">{escape(money(group.policy))}</td></tr>'
        )
        for cost in by_group[group.key]:
            site = cost.site
            literals = ", ".join(
                _link(m.literal_path, m.literal_line, link_base, m.literal_cell) for m in site.models if m.literal_path
            ) or escape(literal_at(site))
            body.append(
                f'<tr class="site" data-tier="{escape(site.tier or UNRESOLVED)}">'
                f"<td>{_link(site.path, site.line, link_base, site.cell)}</td><td><code>{escape(sends(site))}</code></td>"
                f"<td>{_tier_span(site.tier)}</td><td>{escape(task_label(site))}</td>"
                f"<td>{escape(policy_state(site))}</td><td>{literals}</td>"
                f'<td class="num">{escape(cost_cell(cost, "today"))}</td><td class="num">{escape(cost_cell(cost, "policy"))}</td></tr>'
            )
    body += ["</tbody>", "</table>", "</div>"]
    body += _test_sites(report, link_base)
    if report.top_opus:
        body += [
            "<h2>Top Opus call sites by spend</h2>",
            '<div class="scroll">',
            '<table id="top-opus">',
            f'<thead><tr><th>#</th><th>site</th><th>task</th><th>model</th><th class="num">per {escape(report.period)}</th></tr></thead><tbody>',
        ]
        for rank, cost in enumerate(report.top_opus, start=1):
            body.append(
                f"<tr><td>{rank}</td><td>{_link(cost.site.path, cost.site.line, link_base, cost.site.cell)}</td>"
                f"<td>{escape(task_label(cost.site))}</td><td><code>{escape(cost.priced_today.model)}</code></td>"
                f'<td class="num">{escape(money(cost.priced_today.cost))}</td></tr>'
            )
        body += ["</tbody></table>", "</div>"]
    body += [
        "<h2>Opus that is probably over-provisioned</h2>",
        "<p>Advice, not a rule: it never fails the run.</p>",
        '<ol id="overprovisioned">',
    ]
    for advice in report.advice:
        today = advice.cost.today
        reasons = "".join(f"<li>{escape(r)}</li>" for r in advice.reasons)
        reasons += "".join(f"<li>against: {escape(r)}</li>" for r in advice.against)
        body.append(
            f"<li>{_link(advice.cost.site.path, advice.cost.site.line, link_base, advice.cost.site.cell)} score {advice.score}: "
            f"{escape(money(today.cost if today else None))} today, {escape(money(advice.suggested_cost))} on "
            f"{escape(advice.suggested_tier)}<ul>{reasons}</ul></li>"
        )
    body.append("</ol>")
    unresolved = [c.site for c in report.costs if c.site.tier is None]
    if unresolved:
        body += ["<h2>Models known only at run time (not priced)</h2>", "<ul>"]
        body += [
            f"<li>{_link(s.path, s.line, link_base, s.cell)}: {escape('; '.join(s.unresolved))}</li>"
            for s in unresolved
        ]
        body.append("</ul>")
    body += _configured(report, link_base)
    out.write(_page("opusguard report", body))


def _configured(report: Report, link_base: str) -> list[str]:
    """Models named in config files: an inventory, priced only where a call site reads them.
    A long one (a catalog of models) is folded."""
    if not report.configured:
        return []
    folded = len(report.configured) > FOLD_CONFIGURED
    summary = escape(configured_line(report)) + "."
    body = [
        "<h2>Models named in config files</h2>",
        f"<details><summary>{summary}</summary>" if folded else f"<p>{summary}</p>",
        '<div class="scroll">',
        '<table id="configured"><thead><tr><th>written at</th><th>keys</th><th>model</th><th>tier</th>'
        "<th>read by</th></tr></thead><tbody>",
    ]
    for item in report.configured:
        readers = ", ".join(_link(r.path, r.line, link_base, r.cell) for r in item.read_by) or "-"
        body.append(
            f'<tr data-tier="{escape(item.tier)}"><td>{_link(item.path, item.line, link_base)}</td>'
            f"<td><code>{escape(item.keys)}</code></td><td><code>{escape(item.model)}</code></td>"
            f"<td>{_tier_span(item.tier)}</td><td>{readers}</td></tr>"
        )
    body += ["</tbody></table>", "</div>", *(["</details>"] if folded else [])]
    return body


def _test_sites(report: Report, link_base: str) -> list[str]:
    """Test code's sites, folded away: priced apart, in none of the totals."""
    if not report.tests:
        return []
    body = [
        "<details>",
        f"<summary>{len(report.tests)} call site(s) in test code, priced apart (not in the totals)</summary>",
        '<div class="scroll">',
        '<table id="test-sites"><thead><tr><th>site</th><th>sends</th><th>tier</th><th>task</th>'
        '<th class="num">today</th><th class="num">under the policy</th></tr></thead><tbody>',
    ]
    for cost in sorted(report.tests, key=lambda c: (-((c.today.cost or 0.0) if c.today else 0.0), c.site.where)):
        site = cost.site
        body.append(
            f"<tr><td>{_link(site.path, site.line, link_base, site.cell)}</td><td><code>{escape(sends(site))}</code></td>"
            f"<td>{_tier_span(site.tier)}</td><td>{escape(task_label(site))}</td>"
            f'<td class="num">{escape(cost_cell(cost, "today"))}</td><td class="num">{escape(cost_cell(cost, "policy"))}</td></tr>'
        )
    body += ["</tbody></table>", "</div>", "</details>"]
    return body


def render_diff_html(diff: CostDiff, out: TextIO) -> None:
    head = diff.head
    body = [
        f"<h1>opusguard: Claude model cost change against {escape(diff.ref)}</h1>",
        f'<p class="saving">Spend per {escape(head.period)}: {escape(money(diff.base.today))} → {escape(money(head.today))} '
        f"({escape(signed_money(diff.delta))}); under the policy {escape(money(diff.base.policy))} → "
        f"{escape(money(head.policy))} ({escape(signed_money(diff.policy_delta))})</p>",
        f"<p>Tests (not in the totals): {escape(money(diff.base.tests_today))} → {escape(money(head.tests_today))} "
        f"({escape(signed_money(diff.tests_delta))})</p>",
        *_notes(head),
        '<div class="scroll">',
        '<table id="changes"><thead><tr><th>change</th><th>site</th><th>before</th><th>after</th>'
        f'<th class="num">per {escape(head.period)}</th></tr></thead><tbody>',
    ]
    for change in diff.changes:
        site = change.cost.site
        before = (
            f"{change.base.site.tier or 'unresolved'} {change.base.today.model if change.base.today else ''}"
            if change.base
            else "-"
        )
        after = (
            f"{change.head.site.tier or 'unresolved'} {change.head.today.model if change.head.today else ''}"
            if change.head
            else "-"
        )
        body.append(
            f"<tr><td>{escape(change.kind)}</td><td>{escape(site.where)}</td><td>{escape(before)}</td>"
            f'<td>{escape(after)}</td><td class="num">{escape(signed_money(change.delta))}</td></tr>'
        )
    body += ["</tbody></table>", "</div>"]
    out.write(_page(f"opusguard cost change against {diff.ref}", body))
