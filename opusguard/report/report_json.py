"""`report --format json`: the report as data (schema in docs/report.md)."""

from __future__ import annotations

import json
from typing import TextIO

from opusguard.base.sanitize import json_safe
from opusguard.report.pricing import GROUP_BY, CostDiff, Priced, Report, Site, SiteCost, group_costs, spend_by_tier


def _usd(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _priced(priced: Priced | None) -> dict | None:
    if priced is None:
        return None
    return {"model": priced.model, "tier": priced.tier, "cost": _usd(priced.cost), "note": priced.note or None}


def _signals(site: Site) -> dict:
    """The call's signals, then the prompt text resolved for it and where that is written."""
    out = site.signals.as_dict()
    if site.prompts:
        out.update({part: text for part, (text, _) in site.prompts.items()})
        out["prompt_where"] = {part: where for part, (_, where) in site.prompts.items()}
    return out


def site_json(cost: SiteCost) -> dict:
    site, flow = cost.site, cost.traffic
    return {
        "path": site.path,
        "line": site.line,
        "column": site.column,
        **({"cell": site.cell} if site.cell is not None else {}),
        "callee": site.callee,
        "function": site.function,
        "sdk": site.sink,
        "tier": site.tier,
        "task": site.task,
        "task_source": site.task_source,
        "covered": site.covered,
        "models": [
            {
                "written": m.written,
                "model_id": m.model_id,
                "tier": m.tier,
                "literal": {
                    "path": m.literal_path,
                    "line": m.literal_line,
                    "column": m.literal_column,
                    **({"cell": m.literal_cell} if m.literal_cell is not None else {}),
                }
                if m.literal_path
                else None,
                "via": list(m.via),
            }
            for m in site.models
        ],
        "unresolved": list(site.unresolved),
        "signals": _signals(site),
        "traffic": None
        if flow is None
        else {
            "calls": round(flow.calls, 3),
            "input_tokens": round(flow.input_tokens),
            "output_tokens": round(flow.output_tokens),
            "cache_read_tokens": round(flow.cache_read_tokens),
            "cache_write_tokens": round(flow.cache_write_tokens),
            "batch_share": flow.batch_share,
        },
        "traffic_source": cost.traffic_source,
        "today": _priced(cost.today),
        "policy": _priced(cost.policy),
    }


def report_document(report: Report) -> dict:
    return {
        "version": 1,
        "kind": "report",
        "currency": "USD",
        "period": report.period,
        "traffic": "assumed" if report.assumed else "measured",
        "usage_file": report.usage_source,
        "assumptions": report.assumptions,
        "prices": {
            "as_of": report.prices_as_of.isoformat() if report.prices_as_of else None,
            "source": report.prices_source,
        },
        "summary": {
            "sites": len(report.costs),
            "by_tier": report.counts(),
            "today": _usd(report.today),
            "policy": _usd(report.policy),
            "saving": _usd(report.saving) if report.policy_file else None,
            "saving_percent": round(report.saving_percent, 2) if report.policy_file else None,
            "unpriced_sites": sum(1 for c in report.costs if c.today is not None and c.today.cost is None),
            "policy_file": report.policy_file,
            "skipped_files": [{"path": path, "reason": why} for path, why in report.skipped.items()],
            # Test code's sites, priced apart: in none of the figures above, nor in the lists below.
            "tests": {
                "sites": len(report.tests),
                "by_tier": report.counts(tests=True),
                "today": _usd(report.tests_today),
                "policy": _usd(report.tests_policy),
            },
        },
        "spend_by_tier": {
            tier: {"today": _usd(today), "policy": _usd(policy)}
            for tier, (today, policy) in spend_by_tier(report).items()
        },
        "groups": {
            by: [
                {
                    "key": g.key,
                    "sites": g.sites,
                    "unresolved": g.unresolved,
                    "today": _usd(g.today),
                    "policy": _usd(g.policy),
                }
                for g in group_costs(report, by)
            ]
            for by in GROUP_BY
        },
        "sites": [site_json(c) for c in report.costs],
        "test_sites": [site_json(c) for c in report.tests],
        "top_opus": [
            {
                "path": c.site.path,
                "line": c.site.line,
                "task": c.site.task,
                "model": c.priced_today.model,
                "today": _usd(c.priced_today.cost),
            }
            for c in report.top_opus
        ],
        "overprovisioned": [
            {
                "path": a.cost.site.path,
                "line": a.cost.site.line,
                "task": a.cost.site.task,
                "model": a.cost.today.model if a.cost.today else None,
                "score": a.score,
                "reasons": a.reasons,
                "against": a.against,
                "suggested_tier": a.suggested_tier,
                "today": _usd(a.cost.today.cost if a.cost.today else None),
                "on_suggested_tier": _usd(a.suggested_cost),
            }
            for a in report.advice
        ],
        "configured": [
            {
                "path": c.path,
                "line": c.line,
                "column": c.column,
                "keys": c.keys,
                "model": c.model,
                "tier": c.tier,
                "read_by": [r.where for r in c.read_by],
            }
            for c in report.configured
        ],
        "warnings": report.warnings,
    }


def _side(cost: SiteCost | None) -> dict | None:
    if cost is None:
        return None
    priced = cost.today
    return {
        "path": cost.site.path,
        "line": cost.site.line,
        **({"cell": cost.site.cell} if cost.site.cell is not None else {}),
        "tier": cost.site.tier,
        "model": priced.model if priced else None,
        "cost": _usd(priced.cost) if priced else None,
        "unresolved": list(cost.site.unresolved),
    }


def diff_document(diff: CostDiff) -> dict:
    kinds = ("added", "removed", "tier-changed", "model-changed")
    return {
        "version": 1,
        "kind": "diff",
        "currency": "USD",
        "period": diff.head.period,
        "traffic": "assumed" if diff.head.assumed else "measured",
        "base": diff.ref,
        "assumptions": diff.head.assumptions,
        "prices": {
            "as_of": diff.head.prices_as_of.isoformat() if diff.head.prices_as_of else None,
            "source": diff.head.prices_source,
        },
        "summary": {
            "base_sites": len(diff.base.costs),
            "head_sites": len(diff.head.costs),
            **{kind.replace("-", "_"): sum(1 for c in diff.changes if c.kind == kind) for kind in kinds},
            "base_today": _usd(diff.base.today),
            "head_today": _usd(diff.head.today),
            "delta": _usd(diff.delta),
            "base_policy": _usd(diff.base.policy),
            "head_policy": _usd(diff.head.policy),
            "policy_delta": _usd(diff.policy_delta),
            "base_tests_today": _usd(diff.base.tests_today),
            "head_tests_today": _usd(diff.head.tests_today),
            "tests_delta": _usd(diff.tests_delta),
        },
        "changes": [
            {
                "kind": change.kind,
                "function": change.cost.site.function,
                "callee": change.cost.site.callee,
                "task": change.cost.site.task,
                "base": _side(change.base),
                "head": _side(change.head),
                "delta": _usd(change.delta),
            }
            for change in diff.changes
        ],
        "warnings": diff.head.warnings,
    }


def render_report_json(report: Report, out: TextIO) -> None:
    out.write(json.dumps(json_safe(report_document(report)), indent=2) + "\n")


def render_diff_json(diff: CostDiff, out: TextIO) -> None:
    out.write(json.dumps(json_safe(diff_document(diff)), indent=2) + "\n")
