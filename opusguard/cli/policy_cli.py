"""`opusguard policy validate|show|sync` and `opusguard init`."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from opusguard.policy.tasks import Policy


def _fail(message: str) -> NoReturn:
    from opusguard.base.sanitize import printable

    click.echo(f"opusguard: error: {printable(message)}", err=True)
    sys.exit(2)


def _load(policy_file: Path | None) -> Policy:
    from opusguard.policy.evidence import read_evidence
    from opusguard.policy.tasks import PolicyError, discover_policy, load_policy

    try:
        path = policy_file or discover_policy(Path.cwd())
        if path is None:
            _fail("no policy file found (opusguard.yaml); create one with `opusguard init`")
        policy = load_policy(path)
    except PolicyError as exc:
        _fail(str(exc))
    read_evidence(policy)
    return policy


policy_option = click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Policy file (default: nearest opusguard.yaml).",
)


@click.group("policy")
def policy_group() -> None:
    """Validate, show and sync the task policy."""


@policy_group.command("validate")
@click.argument("policy_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def validate_command(policy_file: Path | None) -> None:
    """Check a policy file; exit 2 with file:line:col on the first error."""
    from opusguard.base.sanitize import printable
    from opusguard.policy.evidence import EvidenceError, task_evidence

    policy = _load(policy_file)
    problems = []
    for task in policy.tasks.values():
        if task.evidence:
            try:
                task_evidence(policy, task)
            except EvidenceError as exc:
                problems.append(f"{task.source}:{task.line}:{task.column}: task '{task.name}': {exc}")
    for problem in problems:
        click.echo(f"opusguard: error: {printable(problem)}", err=True)
    if problems:
        sys.exit(2)
    # The governance `opusguard check` reports as OG104, from the same code.
    from opusguard.base.paths import display_path
    from opusguard.rules.og104_opus_governance import governance_findings

    governance = [
        f"{display_path(task.source, Path.cwd())}:{task.line}:{task.column}: OG104 {message}"
        for task, message in governance_findings(policy, date.today())
    ]
    for line in governance:
        click.echo(printable(line))
    if governance:
        noun = "problem" if len(governance) == 1 else "problems"
        click.echo(
            f"{printable(policy.path)}: well-formed, but {len(governance)} governance {noun} (OG104, as `opusguard check` reports)"
        )
        sys.exit(1)
    click.echo(f"{printable(policy.path)}: valid ({len(policy.tasks)} tasks, router {policy.router or 'not set'})")


@policy_group.command("show")
@policy_option
def show_command(policy_file: Path | None) -> None:
    """A table of tasks: tier, model, owner, review date, evidence verdict, price."""
    from rich.console import Console
    from rich.table import Table

    from opusguard.base.sanitize import rich_text
    from opusguard.base.tiers import TIERS
    from opusguard.policy.evidence import EvidenceError, task_evidence

    policy = _load(policy_file)
    today = date.today()
    table = Table(title=rich_text(f"{policy.path}  (router {policy.router or 'not set'})"))
    for column in ("task", "tier", "model", "owner", "review by", "evidence", "$/Mtok in/out"):
        table.add_column(column)
    catalog = policy.catalog
    assert catalog is not None  # (load_policy gives every policy its catalog)
    for task in sorted(policy.tasks.values(), key=lambda t: (TIERS.index(t.tier), t.name)):
        model = policy.model_for(task.name) or ""
        price = catalog.price(model) or catalog.price(task.tier)
        verdict = ""
        if task.evidence:
            try:
                evidence = task_evidence(policy, task)
                passing = evidence.cheapest_passing()
                verdict = f"{passing} clears {evidence.bar:g}" if passing else f"no tier clears {evidence.bar:g}"
            except EvidenceError:
                verdict = "unreadable"
        review = str(task.review_by or "")
        if task.review_by and task.review_by < today:
            review += " (overdue)"
        cells = (
            task.name,
            task.tier,
            model,
            task.owner or "",
            review,
            verdict,
            f"{price.input:g} / {price.output:g}" if price else "",
        )
        table.add_row(*(rich_text(cell) for cell in cells))
    Console(no_color=not sys.stdout.isatty(), width=None if sys.stdout.isatty() else 200).print(table)


@policy_group.command("sync")
@policy_option
def sync_command(policy_file: Path | None) -> None:
    """Regenerate the routing table from the policy."""
    from opusguard.base.sanitize import printable
    from opusguard.policy.scaffold import ScaffoldError, write_route_table

    policy = _load(policy_file)
    if not policy.router:
        _fail(f"{policy.path}: the policy has no router (router: MODULE:FUNCTION)")
    try:
        path = write_route_table(policy)
    except ScaffoldError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{exc.filename or policy.path}: cannot write: {exc.strerror or exc}")
    click.echo(f"wrote {printable(path)}")


@click.command("init")
@click.option("--policy-path", default="opusguard.yaml", show_default=True, help="Where to write the policy.")
@click.option(
    "--router",
    default=None,
    help="MODULE:FUNCTION of the router to create [default: app.routing:route, or the first free of model_routing:route, opusguard_routing:route].",
)
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def init_command(policy_path: str, router: str | None, force: bool) -> None:
    """Write a starter policy, a dependency-free router and its routing table."""
    from opusguard.base.sanitize import printable
    from opusguard.policy.scaffold import ScaffoldError, scaffold_project
    from opusguard.policy.tasks import _ROUTER

    if router is not None and not _ROUTER.match(router):
        _fail(f"--router {router!r} is not MODULE:FUNCTION (e.g. app.routing:route)")
    try:
        written, router, passed = scaffold_project(Path.cwd(), policy_name=policy_path, router=router, force=force)
    except ScaffoldError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{exc.filename or policy_path}: not written: {exc.strerror or exc}")
    if passed:
        click.echo(f"router: {router} ({'; '.join(passed)}; choose another with --router MODULE:FUNCTION)")
    for path in written:
        click.echo(f"wrote {printable(os.path.relpath(path) if path.is_absolute() else path)}")
    function = router.split(":")[1]
    click.echo(f'next: declare your tasks in the policy, route calls with {function}("task"), run `opusguard check`')
