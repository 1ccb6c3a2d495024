"""Running a report: the engine's analysis -> inventory -> priced Report, and --diff REF.

The report reads the analysis `check` builds (engine.analyze); nothing is parsed
for it a second time. --diff analyses the tree of REF exported to a temporary
folder, sharing the content-addressed facts cache, so files unchanged since REF
are not parsed again either.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from msgspec import Struct

from opusguard import core
from opusguard.base.paths import display_path
from opusguard.policy.config import Settings, load_settings, match_tests
from opusguard.report.pricing import (
    CostDiff,
    Report,
    Site,
    build_inventory,
    configured_models,
    diff_reports,
    load_assumptions,
    price_book,
    price_report,
)
from opusguard.report.usage import Traffic, Usage, load_usage
from opusguard.run import engine
from opusguard.run.gitutil import export_tree


class ReportInputs(Struct):
    usage_file: Path | None = None
    prices_file: Path | None = None


def _price(analysis: core.Analysis, inputs: ReportInputs, usage: Usage | None) -> Callable[..., Report]:
    project = analysis.project
    assumptions = load_assumptions()
    prices = price_book(project.catalog, inputs.prices_file)

    def price(sites: list[Site], overrides: dict[int, tuple[Traffic | None, str]] | None = None) -> Report:
        return price_report(sites, project.policy, prices, assumptions, usage, traffic_override=overrides)

    return price


def make_report(
    settings: Settings, options: engine.RunOptions, inputs: ReportInputs, *, cwd: Path
) -> tuple[Report, core.Analysis]:
    usage = load_usage(inputs.usage_file) if inputs.usage_file else None
    analysis = engine.analyze(settings, options, cwd=cwd)
    report = _price(analysis, inputs, usage)(build_inventory(analysis.project, match_tests(settings, cwd)))
    report.configured = configured_models(analysis.project)
    report.skipped = dict(analysis.summary.skipped)
    if report.policy_file is not None:
        report.policy_file = display_path(report.policy_file, cwd)
    if report.skipped:
        noun = "file" if len(report.skipped) == 1 else "files"
        named = ", ".join(f"{path} ({why})" for path, why in report.skipped.items())
        them = "it" if len(report.skipped) == 1 else "them"
        report.assumptions.append(
            f"{len(report.skipped)} {noun} not read whole, so call sites in {them} may be missing: {named}"
        )
    if report.policy_file is None:
        report.assumptions.append(
            "no policy file (opusguard.yaml): nothing to compare against, so no saving is claimed; "
            "`opusguard init` writes one"
        )
    return report, analysis


def make_diff(
    ref: str,
    settings: Settings,
    options: engine.RunOptions,
    inputs: ReportInputs,
    *,
    cwd: Path,
    config_file: Path | None,
    overrides: dict,
    config_start: Path,
) -> tuple[CostDiff, core.Analysis]:
    """The working tree's report against the code (and policy) at REF, priced alike."""
    head, analysis = make_report(settings, options, inputs, cwd=cwd)
    usage = load_usage(inputs.usage_file) if inputs.usage_file else None
    with tempfile.TemporaryDirectory(prefix="opusguard-diff-") as tmp:
        base_cwd = export_tree(ref, cwd, Path(tmp))
        base_cwd.mkdir(parents=True, exist_ok=True)
        start = base_cwd / os.path.relpath(config_start.resolve(), cwd.resolve())
        base_settings = load_settings(start if start.exists() else base_cwd, config_file, overrides)
        # A folder the pull request adds does not exist at REF: nothing was there.
        paths = [p for p in options.paths if (base_cwd / p).exists()] if options.paths else ["."]
        # The working tree's cache serves the export too (keys are content hashes).
        base_options = engine.RunOptions(
            paths=paths,
            jobs=options.jobs,
            use_cache=options.use_cache,
            today=options.today,
            remember_verdicts=False,
            cache_dir=settings.cache_dir,
        )
        base_analysis = engine.analyze(base_settings, base_options, cwd=base_cwd) if paths else analysis
        base_sites = build_inventory(base_analysis.project, match_tests(base_settings, base_cwd)) if paths else []
        price_base = _price(base_analysis, inputs, usage)
        diff = diff_reports(ref, base_sites, head, price_base)
    return diff, analysis
