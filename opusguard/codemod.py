"""`opusguard fix --codemod`: move hard-coded models onto the policy's router.

Reads the same analysis as `check` (the plan comes from resolved calls and the
spans in the facts); only the files it rewrites are parsed again, with libcst,
so formatting and comments outside the rewritten arguments stay byte-identical.

Behaviour is preserved by construction: each rewritten call sends exactly the id
it sent before, because its task pins that id (`model:`) whenever it differs
from what the task's tier means today. Sites where that cannot be guaranteed by
rewriting at the call (several possible models, a value built at run time, an
env-var, parameter or class-attribute default a caller may override, the Agent
SDK's bare aliases) are left alone and listed as needing a person.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
import yaml
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.metadata import MetadataWrapper, PositionProvider

from opusguard.baseline import write_atomic
from opusguard.facts import Attr, Name, Span, Str, Subscript
from opusguard.project import Project, ResolvedCall
from opusguard.sanitize import printable
from opusguard.sinks import MODEL_KEYWORDS

DEFAULT_ROUTER = "opusguard_router:route"


@dataclass(frozen=True)
class Rewrite:
    path: str
    span: Span  # the model argument's value expression
    task: str


@dataclass(frozen=True)
class NeedsPerson:
    path: str
    line: int
    reason: str


@dataclass
class NewTask:
    name: str
    tier: str
    model: str | None  # pinned id when it differs from the tier's model
    source: str  # path:line of the call it came from


@dataclass
class Plan:
    rewrites: list[Rewrite] = field(default_factory=list)
    needs_person: list[NeedsPerson] = field(default_factory=list)
    new_tasks: dict[str, NewTask] = field(default_factory=dict)


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


def plan_rewrites(project: Project, *, task_names: dict[str, str] | None = None) -> Plan:
    """What to rewrite, from the joined facts. `task_names` maps 'path:line' to a task."""
    plan = Plan()
    policy = project.policy
    taken = set(policy.tasks)
    task_names = task_names or {}
    # Calls in the same function sending the same id share one derived task.
    derived: dict[tuple[str, str], str] = {}
    plan_defined: set[tuple[str, Span]] = set()
    for call in project.calls:
        if call.is_router_call or not call.models:
            continue
        reason = _why_not_rewritable(call)
        if reason is not None and _definitions_rewritable(call):
            # Callers, env vars or subclasses may override the value: keep that
            # freedom by routing each literal where it is defined instead.
            for model in call.models:
                key = (model.literal_path, model.literal_span)
                if key in plan_defined:
                    continue
                task = _definition_task(call, model, policy, taken, derived)
                if task is None:
                    plan.needs_person.append(NeedsPerson(call.path, call.line, reason))
                    break
                plan_defined.add(key)
                _add_task(plan, policy, taken, task, model, f"{model.literal_path}:{model.literal_span[0]}")
                plan.rewrites.append(Rewrite(model.literal_path, model.literal_span, task))
            continue
        if reason is not None:
            plan.needs_person.append(NeedsPerson(call.path, call.line, reason))
            continue
        model = call.models[0]
        written = model.ref.written
        arg = next(a for a in call.call.model_args if a.key in MODEL_KEYWORDS or a.key.isdigit())
        task = task_names.get(f"{call.path}:{call.line}") or call.annotated_task
        if task is None:
            task = next(
                (name for name, t in policy.tasks.items() if policy.model_for(name) == written and t.tier == model.ref.tier),
                None,
            )
        if task is None:
            key = (derive_task_name(call), written)
            if key not in derived:
                derived[key] = _unique(key[0], taken)
            task = derived[key]
        if task not in policy.tasks and task not in plan.new_tasks:
            _add_task(plan, policy, taken, task, model, f"{call.path}:{call.line}")
        elif task in policy.tasks and policy.model_for(task) != written:
            plan.needs_person.append(NeedsPerson(
                call.path, call.line,
                f"task '{task}' sends {policy.model_for(task)}, this call sends {written}: rewriting would change the model",
            ))
            continue
        plan.rewrites.append(Rewrite(call.path, arg.span, task))
    return plan


def _add_task(plan: Plan, policy, taken: set[str], task: str, model, source: str) -> None:
    if task in policy.tasks or task in plan.new_tasks:
        return
    written = model.ref.written
    pin = None if policy.tiers.get(model.ref.tier) == written else written
    plan.new_tasks[task] = NewTask(task, model.ref.tier, pin, source)
    taken.add(task)


def _definitions_rewritable(call: ResolvedCall) -> bool:
    """Every model the call may send is a whole literal the router can return."""
    return (
        not call.unresolved
        and bool(call.models)
        and all(not m.ref.partial and m.ref.provider != "alias" and "concatenation" not in m.via for m in call.models)
    )


def _definition_task(call: ResolvedCall, model, policy, taken: set[str], derived) -> str | None:
    """A task for a literal routed where it is defined: named after what holds it."""
    written = model.ref.written
    existing = next(
        (name for name, t in policy.tasks.items() if policy.model_for(name) == written and t.tier == model.ref.tier), None
    )
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
    if model.ref.partial:
        return f"its model is built at run time from '{model.ref.written}…'"
    if "concatenation" in model.via:
        return f"its model '{model.ref.written}' is joined from several strings"
    if model.ref.provider == "alias":
        return f"the Agent SDK alias '{model.ref.written}' is not a model id the router returns"
    args = [a for a in call.call.model_args if a.key in MODEL_KEYWORDS or a.key.isdigit()]
    if len(args) != 1:
        return "its model is inside a request payload" if not args else "it takes more than one model argument"
    overridable = [step for step in model.via if step.startswith(("env ", "default of ")) or step.endswith("(subclass)")]
    if overridable:
        return f"its model can be overridden ({overridable[0]}); rewrite where the value is defined"
    if not isinstance(args[0].value, (Str, Name, Attr, Subscript)):
        return "its model argument is an expression the codemod does not rewrite"
    return None


# --- applying ------------------------------------------------------------------------


class _ReplaceModelArgs(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, targets: dict[tuple[int, int, int, int], str], function: str):
        super().__init__()
        self.targets = targets
        self.function = function
        self.done: set[tuple[int, int, int, int]] = set()

    def on_leave(self, original_node, updated_node):
        if isinstance(original_node, cst.BaseExpression):
            pos = self.get_metadata(PositionProvider, original_node, None)
            if pos is not None:
                span = (pos.start.line, pos.start.column + 1, pos.end.line, pos.end.column + 1)
                task = self.targets.get(span)
                if task is not None and span not in self.done:
                    self.done.add(span)
                    return cst.Call(
                        func=cst.Name(self.function),
                        args=[cst.Arg(cst.SimpleString(_python_string(task)))],
                    )
        return updated_node


def _python_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rewrite_source(source: bytes, rewrites: list[Rewrite], router: str, *, in_router_module: bool) -> bytes:
    module_name, function = router.split(":")
    module = cst.parse_module(source)
    wrapper = MetadataWrapper(module)
    transformer = _ReplaceModelArgs({r.span: r.task for r in rewrites}, function)
    new_module = wrapper.visit(transformer)
    if not transformer.done:
        return source
    if not in_router_module:
        context = CodemodContext()
        AddImportsVisitor.add_needed_import(context, module_name, function)
        new_module = AddImportsVisitor(context).transform_module(new_module)
    return new_module.bytes


# --- the policy text -----------------------------------------------------------------


def _yaml_scalar(text: str) -> str:
    """`text` as a YAML value on one line: plain if it reads back as itself, else quoted.

    It holds a file name, which may carry ': ', ' #', quotes or control characters."""
    text = printable(text)
    try:
        if yaml.safe_load(f"k: {text}") == {"k": text}:
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def append_tasks(policy_text: str, tasks: list[NewTask]) -> str:
    """Add tasks to the policy's `tasks:` mapping, keeping every existing line as it is."""
    if not tasks:
        return policy_text
    lines = policy_text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    block = []
    for task in tasks:
        block.append(f"  {task.name}:{newline}")
        block.append(f"    tier: {task.tier}{newline}")
        if task.model:
            block.append(f"    model: {task.model}{newline}")
        block.append(f"    description: {_yaml_scalar(f'Added by opusguard fix from {task.source}.')}{newline}")
    root = yaml.compose(policy_text, Loader=yaml.SafeLoader) if policy_text.strip() else None
    tasks_node = None
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "tasks":
                tasks_node = (key, value)
    if tasks_node is None:
        if lines and not lines[-1].endswith(("\n", "\r\n")):
            lines[-1] += newline
        return "".join(lines) + f"tasks:{newline}" + "".join(block)
    key, value = tasks_node
    if isinstance(value, yaml.MappingNode) and value.value:
        # Insert after the last line of the mapping's last entry.
        insert_at = value.value[-1][1].end_mark.line
        if value.value[-1][1].end_mark.column != 0:
            insert_at += 1
    else:
        insert_at = key.end_mark.line + 1
        lines[key.end_mark.line] = re.sub(r"tasks:\s*(\{\}|null|~)?\s*(\r?\n)?$", "tasks:" + newline, lines[key.end_mark.line])
    if insert_at > len(lines):
        insert_at = len(lines)
    if insert_at and not lines[insert_at - 1].endswith(("\n", "\r\n")):
        lines[insert_at - 1] += newline
    return "".join(lines[:insert_at] + block + lines[insert_at:])


# --- the whole run -------------------------------------------------------------------


class _RemoveAssignments(cst.CSTTransformer):
    """Drop module-level `NAME = "<model id>"` statements that nothing uses any more."""

    def __init__(self, names: set[str]):
        super().__init__()
        self.names = names
        self.depth = 0

    def visit_IndentedBlock(self, node) -> None:
        self.depth += 1

    def leave_IndentedBlock(self, original_node, updated_node):
        self.depth -= 1
        return updated_node

    def leave_SimpleStatementLine(self, original_node, updated_node):
        if self.depth == 0 and len(updated_node.body) == 1:
            statement = updated_node.body[0]
            targets = []
            if isinstance(statement, cst.Assign) and len(statement.targets) == 1:
                targets = [statement.targets[0].target]
            elif isinstance(statement, cst.AnnAssign):
                targets = [statement.target]
            if targets and isinstance(targets[0], cst.Name) and targets[0].value in self.names:
                return cst.RemoveFromParent()
        return updated_node


def unused_constants(plan: Plan, project: Project) -> dict[str, set[str]]:
    """Module constants holding a model id whose every call site the plan rewrites."""
    rewritten_calls = {(r.path, r.span) for r in plan.rewrites}
    out: dict[str, set[str]] = {}
    for call in project.calls:
        for model in call.models:
            facts = project.files.get(model.literal_path)
            if facts is None:
                continue
            for name, value in facts.bindings.items():
                if isinstance(value, Str) and value.span == model.literal_span:
                    if any((call.path, a.span) in rewritten_calls for a in call.call.model_args):
                        out.setdefault(model.literal_path, set()).add(name)
    return out


@dataclass
class FixResult:
    changed: dict[str, tuple[bytes, bytes]]  # path -> (before, after)
    policy_path: Path
    policy_before: str
    policy_after: str
    plan: Plan
    skipped: list[str] = field(default_factory=list)

    def diff(self) -> str:
        out = []
        for path, (before, after) in sorted(self.changed.items()):
            out += difflib.unified_diff(
                before.decode("utf-8", "replace").splitlines(keepends=True),
                after.decode("utf-8", "replace").splitlines(keepends=True),
                # a file name is shown escaped (a line break in it would forge diff lines)
                f"a/{printable(path)}", f"b/{printable(path)}",
            )
        if self.policy_before != self.policy_after:
            name = self.policy_path.name
            out += difflib.unified_diff(
                self.policy_before.splitlines(keepends=True), self.policy_after.splitlines(keepends=True),
                f"a/{name}", f"b/{name}",
            )
        return "".join(out)


def compute_fix(project: Project, sources: dict[str, bytes], *, policy_path: Path, cwd: Path,
                task_names: dict[str, str] | None = None, remove_unused_in: list[Path] | None = None) -> FixResult:
    """The rewrite, computed in memory. `remove_unused_in`: every file of the scanned tree,
    searched for other uses before a constant is removed (--remove-unused)."""
    from opusguard.resolve import is_router_file

    plan = plan_rewrites(project, task_names=task_names)
    router = project.policy.router or DEFAULT_ROUTER
    by_file: dict[str, list[Rewrite]] = {}
    for rewrite in plan.rewrites:
        by_file.setdefault(rewrite.path, []).append(rewrite)
    changed: dict[str, tuple[bytes, bytes]] = {}
    skipped = []
    function = router.split(":")[1]
    for path, rewrites in sorted(by_file.items()):
        facts = project.files.get(path)
        if facts is not None and _binds_other(facts, function, router.split(":")[0]):
            skipped.append(path)
            plan.needs_person += [NeedsPerson(path, r.span[0], f"the name '{function}' means something else in this module") for r in rewrites]
            continue
        before = sources.get(path)
        if before is None:
            before = (cwd / path).read_bytes()
        try:
            after = rewrite_source(before, rewrites, router, in_router_module=is_router_file(path, router.split(":")[0]))
        except (cst.ParserSyntaxError, ValueError, RecursionError):  # libcst refuses some odd files
            skipped.append(path)
            continue
        if after != before:
            changed[path] = (before, after)
    if remove_unused_in is not None:
        _remove_unused(project, plan, changed, sources, cwd, remove_unused_in)
    policy_before = policy_path.read_text(encoding="utf-8") if policy_path.exists() else ""
    if not policy_before:
        policy_before_text = f"version: 1\nrouter: {router}\n"
    else:
        policy_before_text = policy_before
    new_tasks = [t for t in plan.new_tasks.values() if any(r.task == t.name for r in plan.rewrites if r.path in changed)]
    policy_after = append_tasks(policy_before_text, new_tasks) if new_tasks else policy_before
    return FixResult(changed, policy_path, policy_before, policy_after, plan, skipped)


def _remove_unused(project, plan, changed, sources, cwd: Path, tree: list[Path]) -> None:
    candidates = unused_constants(plan, project)
    if not candidates:
        return
    # First drop imports of those constants that the rewrite left unused.
    names = set().union(*candidates.values())
    for path, (before, after) in list(changed.items()):
        facts = project.files.get(path)
        imports = [imp for imp in facts.imports if imp.name in names and imp.local == imp.name] if facts else []
        if not imports:
            continue
        context = CodemodContext()
        for imp in imports:
            RemoveImportsVisitor.remove_unused_import(context, "." * imp.level + imp.module, imp.name)
        module = cst.parse_module(after)
        changed[path] = (before, RemoveImportsVisitor(context).transform_module(module).bytes)
    texts: dict[str, bytes] = {}
    for path in tree:
        rel = path.resolve().relative_to(cwd.resolve()).as_posix() if path.is_absolute() else path.as_posix()
        texts[rel] = changed[rel][1] if rel in changed else path.read_bytes()
    for def_path, names in candidates.items():
        unused = set()
        for name in names:
            pattern = re.compile(rb"\b" + re.escape(name.encode()) + rb"\b")
            uses = sum(len(pattern.findall(text)) for text in texts.values())
            if uses == 1:  # only its own definition
                unused.add(name)
        if not unused:
            continue
        before = changed[def_path][0] if def_path in changed else sources.get(def_path) or (cwd / def_path).read_bytes()
        current = changed[def_path][1] if def_path in changed else before
        after = cst.parse_module(current).visit(_RemoveAssignments(unused)).bytes
        if after != before:
            changed[def_path] = (before, after)


def _binds_other(facts, name: str, router_module: str) -> bool:
    """Whether `name` is already bound in the module to something other than the router."""
    if name in facts.bindings or name in facts.functions or name in facts.classes:
        return True
    return any(imp.local == name and not (imp.module == router_module and imp.name == name) for imp in facts.imports)


def write_fix(result: FixResult, cwd: Path) -> list[str]:
    """Write every changed file atomically, only if it is still what was analysed."""
    from opusguard.policy import load_policy
    from opusguard.scaffold import ensure_router

    stale = []
    for path, (before, after) in result.changed.items():
        target = cwd / path
        if target.read_bytes() != before:
            stale.append(path)
            continue
        cst.parse_module(after)  # never write something that does not parse
        _write_bytes_atomic(target, after)
    if result.policy_after != result.policy_before:
        write_atomic(result.policy_path, result.policy_after)
    if result.changed or result.policy_after != result.policy_before:
        ensure_router(load_policy(result.policy_path))
    return stale


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
