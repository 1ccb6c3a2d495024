"""Command line: parse options, call the engine, pick a reporter. Nothing else lives here."""

from __future__ import annotations

import atexit
import functools
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import click

from opusguard import __version__
from opusguard.base.tiers import Tier

if TYPE_CHECKING:
    from rich.console import Console

    from opusguard.core import Analysis
    from opusguard.fix.codemod import FixResult
    from opusguard.policy.config import Settings
    from opusguard.run.engine import RunOptions
    from opusguard.run.workers import ExtractionProcess

_P = ParamSpec("_P")
_R = TypeVar("_R")
_F = TypeVar("_F", bound=Callable[..., object])

# Errors that mean "your input is wrong" (exit 2), as one line each.
EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _user_errors() -> tuple[type[Exception], ...]:
    from opusguard.base.atomic import UnsafeTargetError
    from opusguard.output.baseline import BaselineError
    from opusguard.policy.catalog import CatalogError
    from opusguard.policy.config import ConfigError
    from opusguard.policy.tasks import PolicyError
    from opusguard.report.usage import UsageError
    from opusguard.run.discover import DiscoveryError
    from opusguard.run.gitutil import GitError

    return (
        BaselineError,
        CatalogError,
        ConfigError,
        DiscoveryError,
        GitError,
        PolicyError,
        UsageError,
        UnsafeTargetError,
    )


def fail(message: str) -> NoReturn:
    from opusguard.base.sanitize import printable

    click.echo(f"opusguard: error: {printable(message)}", err=True)
    sys.exit(EXIT_ERROR)


def warn(message: str) -> None:
    from opusguard.base.sanitize import printable

    click.echo(f"opusguard: warning: {printable(message)}", err=True)


def handle_user_errors(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn a bad config, policy or baseline into one line on stderr and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except _user_errors() as exc:
            fail(str(exc))

    return wrapper


def _codes(value: str | None, option: str) -> list[str] | None:
    if value is None:
        return None
    from opusguard.policy.config import parse_selectors

    return parse_selectors([code for code in value.split(",") if code.strip()], option)


def common_options(func: _F) -> _F:
    """Options every analysing command takes (the contract's common options)."""
    options = [
        click.argument("paths", nargs=-1, type=click.Path(path_type=str)),
        click.option(
            "--policy",
            "policy",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Policy YAML file (default: nearest opusguard.yaml).",
        ),
        click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="pyproject.toml (or opusguard.toml) to read instead of discovering one.",
        ),
        click.option("--select", help="Comma-separated rule codes or prefixes to enable (replaces the default set)."),
        click.option("--extend-select", help="Rule codes to enable on top of the selection."),
        click.option("--ignore", help="Comma-separated rule codes or prefixes to disable."),
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(min=0),
            default=0,
            show_default="all cores",
            help="Worker processes for parsing.",
        ),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the facts cache."),
        click.option("--stdin-filename", help="Read the source from stdin and check it as this file."),
        click.option("--changed-since", metavar="REF", help="Only files changed against this git ref."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(
    config_file: Path | None,
    policy: Path | None,
    select: str | None,
    extend_select: str | None,
    ignore: str | None,
    baseline: Path | None = None,
    paths: Sequence[str] = (),
) -> Settings:
    from opusguard.policy.config import load_settings

    overrides = {
        "policy": policy,
        "select": _codes(select, "--select"),
        "extend_select": _codes(extend_select, "--extend-select"),
        "ignore": _codes(ignore, "--ignore"),
        "baseline": baseline,
    }
    overrides = {key: value for key, value in overrides.items() if value is not None}
    return load_settings(_config_start(paths), config_file, overrides)


def _config_start(paths: Sequence[str]) -> Path:
    """Where config discovery starts: the folder checked (like ruff, the nearest config wins)."""
    if paths:
        first = Path(paths[0])
        start = first if first.is_dir() else first.parent
        if start.exists():
            return start.resolve()
    return Path.cwd()


def _early_extraction(
    settings: Settings, jobs: int, no_cache: bool, stdin_filename: str | None, changed_since: str | None
) -> ExtractionProcess | None:
    """For a cold check of a tree, the process that will parse, started now: it
    imports libcst while this one is still importing the rest (workers.py)."""
    if stdin_filename or changed_since or jobs == 1:
        return None
    if not no_cache and settings.cache_dir.is_dir():
        return None  # perhaps warm: the engine decides once it has read the verdict index
    from opusguard.run.workers import start_extraction

    return start_extraction(jobs)


def _run_options(
    paths: Sequence[str],
    jobs: int,
    no_cache: bool,
    stdin_filename: str | None,
    changed_since: str | None,
    *,
    show_progress: bool,
) -> RunOptions:
    from opusguard.run.engine import RunOptions

    stdin = None
    if stdin_filename:
        stdin = (stdin_filename, sys.stdin.buffer.read())
    explicit = None
    if changed_since:
        from opusguard.run.gitutil import changed_files

        changed = changed_files(changed_since, Path.cwd())
        explicit = [path for path in changed if not paths or _under_any(path, paths)]
    return RunOptions(
        paths=list(paths),
        jobs=jobs,
        use_cache=not no_cache,
        stdin=stdin,
        explicit_files=explicit,
        progress=_progress_bar() if show_progress else None,
    )


def _under_any(path: Path, paths: Sequence[str]) -> bool:
    resolved = path.resolve()
    for name in paths:
        root = Path(name).resolve()
        if resolved == root or root in resolved.parents:
            return True
    return False


def _progress_bar() -> Callable[[int, int], None] | None:
    """A rich progress bar on stderr for long runs in a terminal; nothing otherwise."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return None
    from rich.progress import Progress

    state: dict = {}

    def update(done: int, total: int) -> None:
        if total < 2000:
            return
        if "progress" not in state:
            # Redrawn from here, not by rich's refresh thread: the run may fork its
            # extraction process while the bar is up, and a fork with another thread
            # running can deadlock the child (Python 3.12 warns of it).
            progress = Progress(transient=True, console=_stderr_console(), auto_refresh=False)
            progress.start()
            # Interrupted (Ctrl-C) or failed before the end: still clear the bar and show the cursor again.
            atexit.register(progress.stop)
            state["progress"] = progress
            state["task"] = progress.add_task("reading", total=total)
            state["drawn"] = time.monotonic()
        progress = state["progress"]
        progress.update(state["task"], completed=done)
        if done >= total:
            progress.stop()
        elif time.monotonic() - state["drawn"] >= 0.1:  # about as often as rich's own thread would
            progress.refresh()
            state["drawn"] = time.monotonic()

    return update


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


class _OneLineUsageError(click.ClickException):
    """A usage error (a bad option value, a folder where a file goes) as one line, exit 2."""

    exit_code = EXIT_ERROR

    def show(self, file: IO[Any] | None = None) -> None:
        from opusguard.base.sanitize import printable

        click.echo(f"opusguard: error: {printable(self.format_message())}", err=True)


def _one_line(error: click.UsageError) -> click.ClickException:
    if type(error).__name__ == "NoArgsIsHelpError":  # `opusguard policy`: the help is the answer
        return error
    where = f" (see `{error.ctx.command_path} --help`)" if error.ctx is not None else ""
    return _OneLineUsageError(error.format_message() + where)


class _Commands(click.Group):
    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as error:
            raise _one_line(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        # Ctrl-C exits 130, as shells expect: click's 1 would read as "findings".
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("\nAborted!", err=True)
            sys.exit(130)
        except click.UsageError as error:  # a subcommand's options are parsed in here
            raise _one_line(error) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="opusguard")
def main() -> None:
    """Keep Opus for the work that needs it."""


@main.command()
@common_options
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]), default="text", show_default=True
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Report only findings not recorded in this baseline.",
)
@click.option(
    "--write-baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Record today's findings as the baseline and exit 0.",
)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--statistics", is_flag=True, help="Counts per rule, per tier and per model.")
@click.option(
    "--report-unused-ignores", is_flag=True, help="Report `# opusguard: ignore` comments that suppress nothing (OG100)."
)
@click.option("--no-color", is_flag=True, help="Plain text output.")
@handle_user_errors
def check(
    paths: tuple[str, ...],
    policy: Path | None,
    config_file: Path | None,
    select: str | None,
    extend_select: str | None,
    ignore: str | None,
    jobs: int,
    no_cache: bool,
    stdin_filename: str | None,
    changed_since: str | None,
    fmt: str,
    baseline: Path | None,
    write_baseline: Path | None,
    exit_zero: bool,
    statistics: bool,
    report_unused_ignores: bool,
    no_color: bool,
) -> None:
    """Lint PATHS (default: .) for hard-coded Claude models and unjustified Opus."""
    _check_stdin_filename(stdin_filename)
    settings = _settings(config_file, policy, select, extend_select, ignore, baseline, paths)
    extraction = _early_extraction(settings, jobs, no_cache, stdin_filename, changed_since)
    from opusguard.output import render, rule_metadata
    from opusguard.run import engine

    options = _run_options(paths, jobs, no_cache, stdin_filename, changed_since, show_progress=fmt == "text")
    options.extraction = extraction
    result = engine.check(settings, options, cwd=Path.cwd())
    engine.print_warnings(result.analysis.warnings)
    findings = result.findings
    if report_unused_ignores:
        findings = sorted(findings + result.unused_ignores, key=lambda f: f.sort_key())

    if write_baseline:
        from opusguard.output.baseline import write_baseline as save_baseline

        save_baseline(write_baseline, findings)
        from opusguard.base.sanitize import printable

        click.echo(f"opusguard: wrote {len(findings)} finding(s) to {printable(write_baseline)}", err=True)
        return
    if settings.baseline:
        from opusguard.output.baseline import load_baseline

        new, _known, stale = load_baseline(settings.baseline).split(findings)
        for entry in stale:
            warn(
                f"{settings.baseline}: stale entry {entry.rule} in {entry.path} "
                "(fixed; rewrite the baseline with --write-baseline)"
            )
        findings = new

    render(
        fmt,
        findings,
        result.summary,
        out=sys.stdout,
        color=False if no_color else None,
        statistics=statistics,
        rules=rule_metadata(),
        tool_version=__version__,
    )
    if _say_what_was_missing(result.analysis, paths):
        sys.exit(EXIT_ERROR)
    if findings and not exit_zero:
        sys.exit(EXIT_FINDINGS)


def _say_what_was_missing(analysis: Analysis, paths: Sequence[str]) -> bool:
    """A warning, after the output, when no file was checked (then True: exit 2)."""
    if analysis.summary.nothing_found:
        click.echo(
            f"opusguard: warning: no Python file to check in {', '.join(paths) or '.'} "
            "(a wrong path, or every file excluded by include, exclude, extend-exclude or .gitignore)",
            err=True,
        )
        return True
    return False


def _register_subcommands() -> None:
    """Commands that live in their own modules (policy, init)."""
    from opusguard.cli.policy_cli import init_command, policy_group

    main.add_command(policy_group)
    main.add_command(init_command)


_register_subcommands()


@main.command("fix")
@common_options
@click.option("--codemod", is_flag=True, required=True, help="Rewrite hard-coded models to call the policy's router.")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff and write nothing.")
@click.option("--task", "task_name", help="Name every new task this (a single call site, usually).")
@click.option(
    "--task-map", type=click.Path(dir_okay=False, path_type=Path), help="YAML/JSON mapping 'path:line' to a task name."
)
@click.option(
    "--remove-unused",
    is_flag=True,
    help="Remove model constants that nothing in the scanned tree uses after the rewrite.",
)
@click.option("--include-tests", is_flag=True, help="Rewrite test code too (the `tests` globs; left alone by default).")
@handle_user_errors
def fix(
    paths: tuple[str, ...],
    policy: Path | None,
    config_file: Path | None,
    select: str | None,
    extend_select: str | None,
    ignore: str | None,
    jobs: int,
    no_cache: bool,
    stdin_filename: str | None,
    changed_since: str | None,
    codemod: bool,
    show_diff: bool,
    task_name: str | None,
    task_map: Path | None,
    remove_unused: bool,
    include_tests: bool,
) -> None:
    """Move call sites that hard-code a Claude model onto route("TASK"), keeping every request's model."""
    from opusguard.fix.codemod import FixError, compute_fix
    from opusguard.policy.config import find_project_root, match_tests
    from opusguard.policy.scaffold import ScaffoldError
    from opusguard.policy.tasks import _TASK_NAME, POLICY_FILE_NAMES
    from opusguard.run import engine
    from opusguard.run.workers import parallel_map

    if stdin_filename:
        fail("fix does not read stdin; name the files to rewrite")
    if task_name is not None and not _TASK_NAME.match(task_name):  # it is written into code and the policy
        fail(f"--task {task_name!r}: a task name is letters, digits, '-', '_' or '.'")
    settings = _settings(config_file, policy, select, extend_select, ignore, None, paths)
    options = _run_options(paths, jobs, no_cache, None, changed_since, show_progress=False)
    options.read_candidates = True  # it rewrites them
    options.widen_for_policy_files = False
    analysis = engine.analyze(settings, options, cwd=Path.cwd())
    engine.print_warnings(analysis.warnings)
    for path, why in analysis.summary.skipped.items():
        warn(f"{path}: not considered ({why}): its call sites are not rewritten")
    policy_path = (
        Path(analysis.project.policy.path) if analysis.project.policy.path else settings.root / POLICY_FILE_NAMES[0]
    )
    names = _task_map(task_map)
    if task_name:
        names.update({f"{c.path}:{c.line}": task_name for c in analysis.project.calls})
    tree = None
    if remove_unused:
        from opusguard.run.discover import discover_files

        tree = list(discover_files(list(paths) or ["."], settings, cwd=Path.cwd()))
    try:
        result = compute_fix(
            analysis.project,
            analysis.sources,
            policy_path=policy_path,
            cwd=Path.cwd(),
            task_names=names,
            remove_unused_in=tree,
            root=find_project_root(Path.cwd()),
            exclude=None if include_tests else match_tests(settings, Path.cwd()),
            map_files=functools.partial(parallel_map, jobs=jobs),
        )
    except (FixError, ScaffoldError) as exc:
        fail(str(exc))
    _show_or_write_fix(result, show_diff)
    _fix_summary(result, analysis, settings, show_diff)
    if _say_what_was_missing(analysis, paths):
        sys.exit(EXIT_ERROR)


def _show_or_write_fix(result: FixResult, show_diff: bool) -> None:
    """Print the fix as a diff (--diff), else write it and name the files left stale."""
    from opusguard.fix.codemod import FixWriteError, write_fix

    if show_diff:
        text = result.diff()
        if sys.stdout.isatty():  # piped, the patch stays exact (`| git apply`); on a terminal, nothing acts
            from opusguard.base.sanitize import printable_lines

            text = printable_lines(text)
        click.echo(text, nl=False)
        return
    try:
        stale = write_fix(result, Path.cwd())
    except FixWriteError as exc:
        fail(str(exc))
    for path in stale:
        warn(f"{path}: changed on disk since it was read; left alone")


def _fix_summary(result: FixResult, analysis: Analysis, settings: Settings, show_diff: bool) -> None:
    """What the fix did, and every finding it leaves, by kind, with what to do."""
    from opusguard import core
    from opusguard.base.sanitize import printable
    from opusguard.fix.codemod import LEFT_KINDS, leftover_findings
    from opusguard.policy.config import match_tests, selected_rules

    plan = result.plan
    used = {r.task for r in plan.rewrites if r.path in result.changed}
    by_tier: dict[str, int] = {}
    for task in plan.new_tasks.values():
        if task.name in used:
            by_tier[task.tier] = by_tier.get(task.tier, 0) + 1
    for item in plan.needs_person:
        click.echo(
            printable(f"{analysis.project.where(item.path, item.line)}: needs a person: {item.reason}"), err=True
        )
    for path in result.skipped:
        warn(f"{path}: left untouched")
    if result.created:
        verb = "would create" if show_diff else "created"
        passed = f" ({'; '.join(result.router_passed)})" if result.router_passed else ""
        layout = "the layout of `opusguard init`, " if result.policy_before == "" and result.policy_after else ""
        click.echo(
            f"{verb} {', '.join(printable(p) for p in result.created)}: {layout}router {result.router}{passed}",
            err=True,
        )
    tiers = ", ".join(f"{n} {t}" for t, n in sorted(by_tier.items())) or "none"
    verb = "would change" if show_diff else "changed"
    opus_tasks = {name for name, task in plan.new_tasks.items() if task.tier == Tier.OPUS}
    opus_sites = sum(1 for r in plan.rewrites if r.task in opus_tasks and r.path in result.changed)
    click.echo(
        f"{verb} {len(result.changed)} file(s): {len([r for r in plan.rewrites if r.path in result.changed])} call site(s) routed; "
        f"tasks added: {tiers}; {opus_sites} Opus site(s) now wait for a decision (OG104: justify or move down); "
        f"{len(plan.needs_person)} site(s) need a person"
        + (f"; {len(analysis.summary.skipped)} file(s) not considered" if analysis.summary.skipped else ""),
        err=True,
    )
    if plan.left_tests:
        click.echo(
            f"left {len(plan.left_tests)} test file(s) alone (the `tests` globs); --include-tests rewrites them too",
            err=True,
        )
    from opusguard.base.paths import DISK

    every, defaults = core.default_codes()
    findings = core.run_rules(
        analysis,
        settings,
        select_codes=selected_rules(settings, every, defaults),
        tree=DISK,
        is_test=match_tests(settings, analysis.project.cwd),
    ).findings
    left = leftover_findings(findings, result, analysis.project)
    if left:
        total = sum(left.values())
        click.echo(f"{'would be ' if show_diff else ''}left after the fix: {total} finding(s)", err=True)
        for kind, count in sorted(left.items(), key=lambda item: -item[1]):
            advice = LEFT_KINDS.get(kind, f"`opusguard rule {kind}` says what to do")
            click.echo(f"  {count} {advice}", err=True)


@main.command("report")
@common_options
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "markdown", "html"]), default="text", show_default=True
)
@click.option(
    "--usage",
    "usage_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Measured traffic per task or path:line (CSV, JSON or JSON Lines; see docs/report.md).",
)
@click.option(
    "--prices",
    "prices_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML/JSON prices per model id or tier, over the catalog's.",
)
@click.option(
    "--group-by",
    type=click.Choice(["task", "tier", "file"]),
    default="task",
    show_default=True,
    help="How the inventory is grouped.",
)
@click.option(
    "--diff",
    "diff_ref",
    metavar="REF",
    help="Compare with the code at this git ref: sites added, removed, moved tier, and the cost delta.",
)
@click.option(
    "--link-base",
    default="",
    help="Prefix of the links to file:line in html output (e.g. https://github.com/ORG/REPO/blob/SHA/).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this file instead of stdout.",
)
@click.option("--no-color", is_flag=True, help="Plain text output.")
@handle_user_errors
def report(
    paths: tuple[str, ...],
    policy: Path | None,
    config_file: Path | None,
    select: str | None,
    extend_select: str | None,
    ignore: str | None,
    jobs: int,
    no_cache: bool,
    stdin_filename: str | None,
    changed_since: str | None,
    fmt: str,
    usage_file: Path | None,
    prices_file: Path | None,
    group_by: str,
    diff_ref: str | None,
    link_base: str,
    output: Path | None,
    no_color: bool,
) -> None:
    """Inventory and cost: every model use, its tier and task, and spend today vs under the policy."""
    from opusguard.cli.report_run import ReportInputs, make_diff, make_report
    from opusguard.report.report_render import render_diff, render_report
    from opusguard.run import engine

    _check_stdin_filename(stdin_filename)
    if link_base:
        from urllib.parse import urlsplit

        if urlsplit(link_base).scheme.lower() not in ("", "http", "https"):
            fail(f"--link-base {link_base!r}: links go to an http(s) URL or a relative path")
    if diff_ref and (stdin_filename or changed_since):
        fail("--diff compares whole trees; it does not combine with --stdin-filename or --changed-since")
    settings = _settings(config_file, policy, select, extend_select, ignore, None, paths)
    options = _run_options(paths, jobs, no_cache, stdin_filename, changed_since, show_progress=fmt == "text")
    inputs = ReportInputs(usage_file=usage_file, prices_file=prices_file)
    color = False if no_color or output else None
    if diff_ref:
        overrides = {"policy": policy} if policy else {}
        diff, analysis = make_diff(
            diff_ref,
            settings,
            options,
            inputs,
            cwd=Path.cwd(),
            config_file=config_file,
            overrides=overrides,
            config_start=_config_start(paths),
        )
        engine.print_warnings([*analysis.warnings, *diff.head.warnings])
        render = functools.partial(render_diff, fmt, diff, color=color)
    else:
        result, analysis = make_report(settings, options, inputs, cwd=Path.cwd())
        engine.print_warnings([*analysis.warnings, *result.warnings])
        render = functools.partial(render_report, fmt, result, group_by=group_by, link_base=link_base, color=color)
    if output is None:
        render(out=sys.stdout)
    else:
        try:
            with open(output, "w", encoding="utf-8") as out:
                render(out=out)
        except OSError as exc:
            fail(f"{output}: cannot write: {exc.strerror or exc}")
        sites = len(diff.changes) if diff_ref else len(result.costs)
        what = "changed call site(s)" if diff_ref else "call site(s)"
        click.echo(f"opusguard: wrote the {fmt} report to {output} ({sites} {what})", err=True)
    if _say_what_was_missing(analysis, paths):
        sys.exit(EXIT_ERROR)


def _check_stdin_filename(name: str | None) -> None:
    if name is not None and not name.strip():
        fail("--stdin-filename needs the name of the file the source on stdin stands for")


def _task_map(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    from opusguard.base.datafile import DataFileError, load_yaml, read_data_file
    from opusguard.policy.tasks import _TASK_NAME

    try:
        text = read_data_file(path, "task map")
        data, _ = load_yaml(text, path)
    except DataFileError as exc:
        fail(str(exc))
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        fail(f"{path}:1: a task map maps 'path:line' to a task name")
    for name in data.values():
        if not _TASK_NAME.match(name):
            line = next((n for n, text_line in enumerate(text.splitlines(), 1) if name in text_line), 1)
            fail(f"{path}:{line}: task name {name!r} must be letters, digits, '-', '_' or '.'")
    return dict(data)


@main.command("rule")
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every rule.")
def rule_command(code: str | None, show_all: bool) -> None:
    """Print a rule's documentation (like `ruff rule`)."""
    from opusguard.rules import all_rules, rules_by_code
    from opusguard.rules.ruledocs import render_page

    if show_all or not code:
        for rule in all_rules():
            state = "" if rule.default_enabled else " (opt-in)"
            click.echo(f"{rule.code}  {rule.name}{state}")
        return
    chosen = rules_by_code().get(code.upper())
    if chosen is None:
        fail(f"unknown rule code {code!r}; `opusguard rule --all` lists them")
    click.echo(render_page(chosen), nl=False)
