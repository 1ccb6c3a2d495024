"""Wording shared by the report's renderers: money, what a site sends, its policy state."""

from __future__ import annotations

from opusguard.facts.notebook import location
from opusguard.report.pricing import Report, Site, SiteCost, TaskSource


def money(value: float | None) -> str:
    if value is None:
        return "n/a"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if 0 < value < 0.01:
        return f"{sign}${value:.4f}"
    return f"{sign}${value:,.2f}"


def signed_money(value: float) -> str:
    return ("+" if value > 0 else "") + money(value)


def sends(site: Site) -> str:
    """The model(s) a site sends, or where an unknown model comes from."""
    if site.models:
        models = ", ".join(dict.fromkeys(m.written for m in site.models))
        if site.unresolved:
            models += " (or: " + "; ".join(site.unresolved) + ")"
        return models
    return "unresolved: " + "; ".join(site.unresolved)


def literal_at(site: Site) -> str:
    """file:line of each model literal the site sends (for a routed call, the policy's task)."""
    places = [location(m.literal_path, m.literal_cell, m.literal_line) for m in site.models if m.literal_path]
    return ", ".join(dict.fromkeys(places))


def policy_state(site: Site) -> str:
    if site.covered:
        return f"covered ({site.task_source})"
    if site.task_source in (TaskSource.ANNOTATION, TaskSource.ROUTE):
        return f"task '{site.task}' not declared"
    return "not covered"


def task_label(site: Site) -> str:
    if site.task is None:
        return "-"
    return site.task if site.task_source != TaskSource.DERIVED else f"{site.task} (derived)"


def cost_cell(cost: SiteCost, which: str) -> str:
    priced = cost.today if which == "today" else cost.policy
    if priced is None:
        return "not priced"
    return money(priced.cost)


def headline(report: Report) -> str:
    counts = report.counts()
    tiers = ", ".join(f"{tier} {n}" for tier, n in counts.items() if n)
    when = report.prices_as_of.isoformat() if report.prices_as_of else "undated"
    tests = f"; {len(report.tests)} more in test code, priced apart" if report.tests else ""
    return (
        f"{len(report.costs)} call sites send Claude models ({tiers or 'none'}){tests}; "
        f"USD per {report.period}, prices as of {when} ({report.prices_source})"
    )


def tests_line(report: Report) -> str:
    """The test code's sites, priced apart: never in the totals, the ranking or the advice."""
    if not report.tests:
        return "tests: no call site in test code"
    counts = report.counts(tests=True)
    tiers = ", ".join(f"{tier} {n}" for tier, n in counts.items() if n)
    return (
        f"tests: {len(report.tests)} call site(s) in test code ({tiers}): {money(report.tests_today)} per "
        f"{report.period} today, {money(report.tests_policy)} under the policy; not in the totals"
    )


def saving_line(report: Report) -> str:
    if report.policy_file is None:
        return (
            f"today {money(report.today)} per {report.period}; no policy file, so nothing to compare against "
            "(`opusguard init` writes one)"
        )
    return (
        f"today {money(report.today)} per {report.period}; under the policy {money(report.policy)}; "
        f"saving {money(report.saving)} ({report.saving_percent:.0f}%)"
    )


FOLD_CONFIGURED = (
    20  # more models named in config files than this (a catalog of models): markdown and html fold the table
)


def configured_line(report: Report) -> str:
    """What the list of models named in config files is, and how many of them a call reads."""
    files = len({c.path for c in report.configured})
    read = sum(1 for c in report.configured if c.read_by)
    return (
        f"{len(report.configured)} model(s) named in {files} config file(s), {read} of them read by a call site; "
        "they are not call sites: a value is priced only where a call reads it"
    )
