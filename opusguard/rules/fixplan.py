"""Fix plans: what `opusguard fix --codemod` does at each site, from the joined facts
alone (no libcst, no file read). The one home of task naming: the rules attach each
site's plan to its finding, `fix` applies the plans, `report` names each site's task
as `fix` would.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from msgspec import Struct, field

from opusguard.base.paths import DISK, Tree
from opusguard.base.tiers import TIERS
from opusguard.facts.configfiles import is_config_path
from opusguard.facts.records import Attr, Name, Span, Str, Subscript
from opusguard.facts.sinks import MODEL_KEYWORDS
from opusguard.policy.scaffold import (
    ROUTER_CHOICES,
    ScaffoldError,
    _comment_out_opus_block,
    choose_router,
    starter_policy_path,
)
from opusguard.policy.tasks import Policy
from opusguard.resolve.project import Project, ResolvedCall, ResolvedModel
from opusguard.rules.findings import FixPlan


def planning_inputs(policy: Policy, policy_path: Path, tree: Tree = DISK) -> tuple[str, list[str], frozenset[str]]:
    """The router the rewritten sites call, the routers passed over for it (when the
    policy names none), and the task names a derived task may not take (those of the
    starter policy `fix` creates when there is no policy file). ScaffoldError when no
    router name is free."""
    router = policy.router
    passed: list[str] = []
    reserved: frozenset[str] = frozenset()
    if router is None:
        router, passed = choose_router(policy_path.parent, tree)
    if not tree.lexists(policy_path):
        reserved = starter_task_names()
    return router, passed, reserved


@functools.cache  # (the shipped file: read once a process)
def starter_task_names() -> frozenset[str]:
    """The tasks of the starter policy `fix` creates where there is none. Read from the
    shipped file's text, whose `tasks:` entries are keys two spaces in: a warm `check`
    never imports yaml (tests/test_fixplan.py holds this to what yaml reads)."""
    text = _comment_out_opus_block(starter_policy_path().read_text(encoding="utf-8"))
    block = re.search(r"^tasks:[ \t]*\n((?:[ \t].*\n|#.*\n|[ \t]*\n)*)", text + "\n", re.MULTILINE)
    return frozenset(re.findall(r"^  ([^\s#][^:\n]*):[ \t]*$", block.group(1), re.MULTILINE)) if block else frozenset()


def fix_plan(path: str, span: Span, task: str, router: str) -> FixPlan:
    module, function = router.split(":")
    return FixPlan(path, span, task, f"{function}({python_string(task)})", module, function)


def python_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class NeedsPerson(Struct, frozen=True):
    path: str
    line: int
    reason: str


class NewTask(Struct):
    name: str
    tier: str
    model: str | None  # pinned id when it differs from the tier's model
    source: str  # path:line of the call it came from
    sent: str = ""  # the id the call sent: what route(name) must return


class Plan(Struct):
    rewrites: list[FixPlan] = field(default_factory=list)
    needs_person: list[NeedsPerson] = field(default_factory=list)
    new_tasks: dict[str, NewTask] = field(default_factory=dict)
    left_tests: set[str] = field(default_factory=set)  # test files not rewritten (no --include-tests)


# --- task names ----------------------------------------------------------------------


def derive_task_name(call: ResolvedCall) -> str:
    """kebab-case of the enclosing function or method, else of the module."""
    base = call.call.function.split(".")[-1] if call.call.function else Path(call.path).stem
    base = re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", base).lower()
    base = re.sub(r"[^a-z0-9]+", "-", base).strip("-")
    return base or "task"


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    index = 2
    while f"{name}-{index}" in taken:
        index += 1
    return f"{name}-{index}"


# --- planning ------------------------------------------------------------------------


def plan_rewrites(
    project: Project,
    *,
    task_names: dict[str, str] | None = None,
    reserved: set[str] | frozenset[str] = frozenset(),
    exclude: Callable[[str], bool] | None = None,
    router: str | None = None,
) -> Plan:
    """What to rewrite, from the joined facts. `task_names` maps 'path:line' to a task;
    `reserved`: names a derived task may not take (tasks of a policy about to be created).
    `exclude(path)`: files left alone (test code), neither rewritten nor a source of tasks.
    `router`: MODULE:FUNCTION the rewritten sites call (default: the policy's, else the
    first `init` would choose)."""
    planning = _Planning(
        project, router or project.policy.router or ROUTER_CHOICES[0], task_names or {}, reserved, exclude
    )
    for call in project.calls:
        if call.is_router_call or not call.models or planning.left_as_test(call.path):
            continue
        reason = _why_not_rewritable(call)
        if reason is not None and _definitions_rewritable(call):
            # Callers, env vars or subclasses may override the value: keep that
            # freedom by routing each literal where it is defined instead.
            planning.route_definitions(call, reason)
        elif reason is not None:
            planning.plan.needs_person.append(NeedsPerson(call.path, call.line, reason))
        else:
            planning.route_call(call)
    return planning.plan


class _Planning:
    """One run of plan_rewrites: the plan so far and the task names it has taken."""

    def __init__(
        self,
        project: Project,
        router: str,
        task_names: dict[str, str],
        reserved: set[str] | frozenset[str],
        exclude: Callable[[str], bool] | None,
    ):
        self.plan = Plan()
        self.project = project
        self.policy = project.policy
        self.router = router
        self.task_names = task_names
        self.exclude = exclude
        self.taken = set(self.policy.tasks) | set(reserved)
        # Calls in the same function sending the same id share one derived task.
        self.derived: dict[tuple[str, str], str] = {}
        self.defined: set[tuple[str, Span]] = set()  # literals routed where they are defined

    def left_as_test(self, path: str) -> bool:
        """Whether `path` is test code left alone (then noted in the plan)."""
        if self.exclude is not None and self.exclude(path):
            self.plan.left_tests.add(path)
            return True
        return False

    def route_definitions(self, call: ResolvedCall, reason: str) -> None:
        """Route each literal the call sends where it is defined."""
        for model in call.models:
            key = (model.literal_path, model.literal_span)
            if key in self.defined or self.left_as_test(model.literal_path):
                continue
            task = _definition_task(call, model, self.policy, self.taken, self.derived)
            if task is None:
                self.plan.needs_person.append(NeedsPerson(call.path, call.line, reason))
                break
            self.defined.add(key)
            where = self.project.where(model.literal_path, model.literal_span[0])
            _add_task(self.plan, self.policy, self.taken, task, model, where)
            self.plan.rewrites.append(fix_plan(model.literal_path, model.literal_span, task, self.router))

    def route_call(self, call: ResolvedCall) -> None:
        """Route the call's model argument, unless its task would send another model."""
        policy, plan = self.policy, self.plan
        model = call.models[0]
        written = model.ref.written
        arg = next(a for a in call.call.model_args if a.key in MODEL_KEYWORDS or a.key.isdigit())
        task = self._call_task(call, model)
        if task not in policy.tasks and task not in plan.new_tasks:
            _add_task(plan, policy, self.taken, task, model, self.project.where(call.path, call.line))
        elif task in policy.tasks and policy.model_for(task) != written:
            plan.needs_person.append(
                NeedsPerson(
                    call.path,
                    call.line,
                    f"task '{task}' sends {policy.model_for(task)}, this call sends {written}: rewriting would change the model",
                )
            )
            return
        plan.rewrites.append(fix_plan(call.path, arg.span, task, self.router))

    def _call_task(self, call: ResolvedCall, model: ResolvedModel) -> str:
        """The task named for the call (--task-map, --task, annotation), else the policy's
        task sending its model, else one derived from the enclosing function."""
        task = self.task_names.get(f"{call.path}:{call.line}") or call.annotated_task
        if task is None:
            task = _policy_task_sending(self.policy, model)
        if task is None:
            derived_key = (derive_task_name(call), model.ref.written)
            if derived_key not in self.derived:
                self.derived[derived_key] = _unique(derived_key[0], self.taken)
            task = self.derived[derived_key]
        return task


def _policy_task_sending(policy: Policy, model: ResolvedModel) -> str | None:
    """The first of the policy's tasks that sends the model, at its tier."""
    written = model.ref.written
    return next(
        (name for name, t in policy.tasks.items() if policy.model_for(name) == written and t.tier == model.ref.tier),
        None,
    )


def _add_task(plan: Plan, policy: Policy, taken: set[str], task: str, model: ResolvedModel, source: str) -> None:
    if task in policy.tasks or task in plan.new_tasks:
        return
    written = model.ref.written
    pin = None if policy.tiers.get(model.ref.tier) == written else written
    plan.new_tasks[task] = NewTask(task, model.ref.tier, pin, source, written)
    taken.add(task)


def _definitions_rewritable(call: ResolvedCall) -> bool:
    """Every model the call may send is a whole literal the router can return."""
    return (
        not call.unresolved
        and bool(call.models)
        and all(not m.ref.partial and m.ref.provider != "alias" and "concatenation" not in m.via for m in call.models)
        and not any(is_config_path(m.literal_path) for m in call.models)  # (a config file is not code to rewrite)
    )


def _definition_task(
    call: ResolvedCall, model: ResolvedModel, policy: Policy, taken: set[str], derived: dict[tuple[str, str], str]
) -> str | None:
    """A task for a literal routed where it is defined: named after what holds it."""
    written = model.ref.written
    existing = _policy_task_sending(policy, model)
    if existing is not None:
        return existing
    # The innermost name holding the literal: SMART_MODEL, Models.OPUS, Agent.MODEL.
    steps = [step.removesuffix(" (subclass)") for step in model.via]
    holders = [step for step in steps if re.fullmatch(r"[A-Za-z_][\w.]*", step)]
    parts = holders[-1].split(".") if holders else []
    # Class.ATTR keeps its class; module.NAME keeps just the name.
    parts = parts[-2:] if len(parts) > 1 and parts[-2][:1].isupper() else parts[-1:]
    base = "-".join(parts) if parts else derive_task_name(call)
    base = re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", base).lower()
    base = re.sub(r"[^a-z0-9]+", "-", base).strip("-") or "task"
    key = (base, written)
    if key not in derived:
        derived[key] = _unique(base, taken)
    return derived[key]


def _why_not_rewritable(call: ResolvedCall) -> str | None:
    if call.unresolved:
        return "part of its model is only known at run time: " + "; ".join(dict.fromkeys(call.unresolved))
    if len({(m.ref.written) for m in call.models}) > 1:
        return "it may send several models: " + ", ".join(sorted({m.ref.written for m in call.models}))
    model = call.models[0]
    if is_config_path(model.literal_path):
        return f"its model is read from {model.literal_path}:{model.literal_span[0]}; route the call, or change the value there"
    if model.ref.partial:
        return f"its model is built at run time from '{model.ref.written}…'"
    if "concatenation" in model.via:
        return f"its model '{model.ref.written}' is joined from several strings"
    if model.ref.provider == "alias":
        return f"the Agent SDK alias '{model.ref.written}' is not a model id the router returns"
    args = [a for a in call.call.model_args if a.key in MODEL_KEYWORDS or a.key.isdigit()]
    if len(args) != 1:
        return "its model is inside a request payload" if not args else "it takes more than one model argument"
    overridable = [
        step for step in model.via if step.startswith(("env ", "default of ")) or step.endswith("(subclass)")
    ]
    if overridable:
        return f"its model can be overridden ({overridable[0]}); rewrite where the value is defined"
    if not isinstance(args[0].value, (Str, Name, Attr, Subscript)):
        return "its model argument is an expression the codemod does not rewrite"
    return None


# --- plans on findings -----------------------------------------------------------


def _inside(inner: Span, outer: Span) -> bool:
    return (inner[0], inner[1]) >= (outer[0], outer[1]) and (inner[2], inner[3]) <= (outer[2], outer[3])


def plans_by_call(project: Project, plan: Plan) -> dict[tuple[str, Span], list[FixPlan]]:
    """The edits that route each call, by (path, call span): those inside the call (its
    model argument), else those at the literals it sends where they are defined, the
    highest tier first. The first edit's task is the call's task."""
    at = {(r.path, r.span): r for r in plan.rewrites}
    in_file: dict[str, list[FixPlan]] = {}
    for r in at.values():
        in_file.setdefault(r.path, []).append(r)
    out: dict[tuple[str, Span], list[FixPlan]] = {}
    for call in project.calls:
        edits = [r for r in in_file.get(call.path, ()) if _inside(r.span, call.call.span)]
        if not edits:
            ranked = sorted(call.models, key=lambda m: TIERS.index(m.ref.tier))
            edits = [at[key] for key in dict.fromkeys((m.literal_path, m.literal_span) for m in ranked) if key in at]
        if edits:
            out[(call.path, call.call.span)] = edits
    return out


def site_tasks(project: Project, exclude: Callable[[str], bool] | None = None) -> dict[tuple[str, Span], str]:
    """Each call's task as `fix --codemod` names it (test code left alone), by (path, call span)."""
    plan = plan_rewrites(project, exclude=exclude)
    return {key: edits[0].task for key, edits in plans_by_call(project, plan).items()}


def default_plan(project: Project, policy_path: Path, exclude: Callable[[str], bool] | None, tree: Tree) -> Plan | None:
    """The plan of `fix --codemod` run with no option (`exclude`: the test code it leaves
    alone; `tree`: where routers may be free); None when it could not choose a router."""
    try:
        router, _, reserved = planning_inputs(project.policy, policy_path, tree)
    except ScaffoldError:
        return None
    return plan_rewrites(project, reserved=reserved, exclude=exclude, router=router)


def attach_plans(findings: Iterable, project: Project, plan: Plan) -> None:
    """Give each OG101 and OG102 finding the edits `fix --codemod` makes for it: a call
    (OG102) the edits that route it; a literal (OG101) the edit that replaces it or the
    argument holding it."""
    by_call = plans_by_call(project, plan)
    in_file: dict[str, list[FixPlan]] = {}
    for r in plan.rewrites:
        in_file.setdefault(r.path, []).append(r)
    for finding in findings:
        if finding.rule == "OG102":
            span = (finding.line, finding.column, finding.end_line, finding.end_column)
            finding.fix = list(by_call.get((finding.path, span), ()))
        elif finding.rule == "OG101":
            at = (finding.line, finding.column, finding.line, finding.column)
            finding.fix = [r for r in in_file.get(finding.path, ()) if _inside(at, r.span)]
