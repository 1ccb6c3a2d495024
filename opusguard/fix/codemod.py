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
import functools
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import libcst as cst
import yaml
from libcst.helpers import get_absolute_module_from_package_for_import
from msgspec import Struct, field
from msgspec.structs import replace

from opusguard.base.atomic import UnsafeTargetError, why_not_replaceable, write_atomic
from opusguard.base.sanitize import printable
from opusguard.base.tiers import Tier
from opusguard.facts import notebook
from opusguard.facts.extract_values import dotted
from opusguard.facts.positions import Positions
from opusguard.facts.records import Span, Str
from opusguard.resolve.project import Project
from opusguard.rules.fixplan import FixPlan, NeedsPerson, NewTask, Plan, plan_rewrites, planning_inputs
from opusguard.select.parse import parse_module_unvalidated

if TYPE_CHECKING:
    from opusguard.policy.tasks import Policy
    from opusguard.rules.findings import Finding

DEFAULT_ROUTER = "opusguard_router:route"


# --- applying ------------------------------------------------------------------------


class _ReplaceModelArgs(cst.CSTTransformer):
    """Replace the expressions at the plans' spans (each once, the innermost first)
    with their calls. (A node's position need not cover its children, a parameter's
    default for one: the whole tree is walked.)"""

    def __init__(self, positions: Positions, calls: dict[tuple[int, int, int, int], str]):
        super().__init__()
        self.positions = positions
        self.calls = calls
        self.done: set[tuple[int, int, int, int]] = set()
        self.skip: set[cst.CSTNode] = set()  # top-level statements on none of the spans' lines

    def on_visit(self, node: cst.CSTNode) -> bool:
        return node not in self.skip

    # (libcst types on_leave with a TypeVar of its own, which no override can name)
    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> cst.CSTNode:  # type: ignore[override]
        if isinstance(original_node, cst.BaseExpression):
            line, column, end_line, end_column = self.positions.range(original_node)
            span = (line, column + 1, end_line, end_column + 1)  # (a finding's columns count from 1)
            if span in self.calls and span not in self.done:
                self.done.add(span)
                return _expression(self.calls[span])
        return updated_node


@functools.lru_cache(maxsize=4096)
def _expression(text: str) -> cst.BaseExpression:
    """A plan's call as a node (nodes are immutable: one node may stand in many places)."""
    return cst.parse_expression(text)


class NameTaken(Exception):
    """The module binds the router's name to something else (`for route in ...`):
    rewritten, `route("task")` would call that."""


def rewrite_source(source: bytes, plans: list[FixPlan], *, in_router_module: bool) -> bytes:
    """`source` with the plans applied: each span replaced by its call, and the router
    imported unless this is the router module. One parse, one pass over the tree.
    Raises NameTaken where the module binds the router's name otherwise.

    The positions are the facts' own (facts/positions.py: PositionProvider's, at a
    fraction of its cost, which was a third of a fix)."""
    module = parse_module_unvalidated(source)
    if not in_router_module:
        for module_name, name in dict.fromkeys((r.import_module, r.import_name) for r in plans):
            if _binds_otherwise(module, source, module_name, name):
                raise NameTaken(name)
    positions = Positions(module)  # (keyed by node: `module` outlives the visit)
    wanted = {r.span: r.call for r in plans}
    transformer = _ReplaceModelArgs(positions, wanted)
    lines = [(span[0], span[2]) for span in wanted]
    for statement in module.body:
        # A statement's lines: from its first decorator (before its own start) to its end.
        start = min(positions.range(node)[0] for node in (statement, *getattr(statement, "decorators", ())))
        end = positions.range(statement)[2]
        if not any(low <= end and start <= high for low, high in lines):
            transformer.skip.add(statement)
    new_module = module.visit(transformer)
    if not transformer.done:
        return source
    if not in_router_module:
        for module_name, name in dict.fromkeys((r.import_module, r.import_name) for r in plans):
            new_module = add_from_import(new_module, module_name, name)
    out = new_module.bytes
    if source.endswith(b"\r") and not out.endswith(b"\r"):
        out += b"\r"  # libcst drops a file's last newline when it is a lone CR (old Mac endings)
    return out


def _binds_otherwise(module: cst.Module, source: bytes, module_name: str, name: str) -> bool:
    """Whether the module's global scope binds `name` other than by importing it from
    `module_name`: an assignment, a loop, `with`/`except ... as`, `:=`, a def, an
    import, a `global` assignment in a function. (The facts record only some of these
    as module bindings.) Scope analysis runs only where the name is written at all."""
    if re.search(rb"(?<![\w\x80-\xff])" + re.escape(name.encode()) + rb"(?![\w\x80-\xff])", source) is None:
        return False
    scopes = cst.MetadataWrapper(module, unsafe_skip_copy=True).resolve(cst.metadata.ScopeProvider)
    global_scope = scopes[module]
    assert global_scope is not None
    return not all(_imports_it(getattr(a, "node", None), module_name, name) for a in global_scope.assignments[name])


def _imports_it(node: object, module_name: str, name: str) -> bool:
    """Whether `node` is `from module_name import name` (not `... import other as name`)."""
    if (
        not isinstance(node, cst.ImportFrom)
        or node.relative
        or node.module is None
        or isinstance(node.names, cst.ImportStar)
    ):
        return False
    if dotted(node.module) != module_name:
        return False
    bound = [alias for alias in node.names if (alias.evaluated_alias or alias.evaluated_name) == name]
    return all(alias.evaluated_name == name for alias in bound)


# What libcst's AddImportsVisitor does for one `from MODULE import NAME` (no alias,
# no package context), over the module's top-level statements only: that visitor
# walks the whole tree and builds its matchers per file (30 ms a file of 20 lines).


def _skips_first(module: cst.Module) -> bool:
    """A docstring or `__strict__ = ...` first: imports never go above it."""
    if not module.body or not isinstance(module.body[0], cst.SimpleStatementLine) or len(module.body[0].body) != 1:
        return False
    first = module.body[0].body[0]
    if isinstance(first, cst.Expr):
        return isinstance(first.value, cst.SimpleString)
    return (
        isinstance(first, cst.Assign)
        and len(first.targets) == 1
        and isinstance(first.targets[0].target, cst.Name)
        and first.targets[0].target.value == "__strict__"
    )


def add_from_import(module: cst.Module, module_name: str, name: str) -> cst.Module:
    """`module` importing `name` from `module_name`: unchanged when one of the imports at
    its top already does (or imports *), else added to the first `from module_name
    import ...` there, else a new line after the imports at the top."""
    start = 1 if _skips_first(module) else 0
    body = list(module.body)
    end = _top_imports_end(body, start)
    first_from = None
    for index in range(start, end):
        statement = cast(cst.SimpleStatementLine, body[index]).body[0]  # (import lines: _top_imports_end)
        if (
            not isinstance(statement, cst.ImportFrom)
            or get_absolute_module_from_package_for_import(None, statement) != module_name
        ):
            continue
        if isinstance(statement.names, cst.ImportStar):
            return module
        if any(alias.asname is None and alias.evaluated_name == name for alias in statement.names):
            return module
        if first_from is None:
            first_from = index
    if first_from is not None:
        import_line = cast(cst.SimpleStatementLine, body[first_from])
        statement = cast(cst.ImportFrom, import_line.body[0])
        names = cast("Sequence[cst.ImportAlias]", statement.names)  # (not `*`: that returned above)
        body[first_from] = import_line.with_changes(
            body=[statement.with_changes(names=[cst.ImportAlias(name=cst.Name(name)), *names])]
        )
        return module.with_changes(body=body)
    return _add_import_line(module, body, end, f"from {module_name} import {name}")


def _top_imports_end(body: Sequence[cst.SimpleStatementLine | cst.BaseCompoundStatement], start: int) -> int:
    """The index of the first statement from `start` on that is not an import line."""
    end = start
    while (
        end < len(body)
        and isinstance(head := body[end], cst.SimpleStatementLine)
        and len(head.body) == 1
        and isinstance(head.body[0], (cst.Import, cst.ImportFrom))
    ):
        end += 1
    return end


def _add_import_line(
    module: cst.Module, body: list[cst.SimpleStatementLine | cst.BaseCompoundStatement], end: int, code: str
) -> cst.Module:
    """`module` with the import statement `code` inserted at `end` (after the imports at the top)."""
    after = body[end:]
    if after:  # at least one empty line before the first statement that is not an import
        leading = after[0].leading_lines
        if not leading:
            after[0] = after[0].with_changes(leading_lines=(cst.EmptyLine(),))
        elif leading[0].comment is not None:
            after[0] = after[0].with_changes(leading_lines=(cst.EmptyLine(), *leading))
    line = cst.parse_statement(code, config=module.config_for_parsing)
    return module.with_changes(body=[*body[:end], line, *after])


# --- the policy text -----------------------------------------------------------------


class FixError(Exception):
    """The fix cannot be done as planned; nothing was written. str() names the file."""


def _newline_of(text: str) -> str:
    first = re.search(r"\r\n|\r|\n", text)
    return first.group(0) if first else "\n"


def _emit(data: dict, indent: int, newline: str) -> str:
    """YAML for `data` from PyYAML's emitter (never by hand: names and paths may hold
    any character), each line indented by `indent` spaces."""
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=False, width=1 << 20)
    return "".join(" " * indent + line + newline for line in text.splitlines())


def task_entry(task: NewTask) -> dict:
    entry = {"tier": task.tier}
    if task.model:
        entry["model"] = task.model
    entry["description"] = f"Added by opusguard fix from {task.source}."
    return entry


def append_tasks(policy_text: str, tasks: list[NewTask]) -> str:
    """Add tasks to the policy's `tasks:` mapping, keeping every existing line as it is.

    The new entries are written by the YAML emitter; `checked_policy_text` then reads
    the result back before anything is written."""
    if not tasks:
        return policy_text
    lines = policy_text.splitlines(keepends=True)
    newline = _newline_of(policy_text)
    tasks_node = _tasks_node(policy_text)
    entries = {task.name: task_entry(task) for task in tasks}
    if tasks_node is None:
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += newline
        return "".join(lines) + "tasks:" + newline + _emit(entries, 2, newline)
    indent, insert_at = _insertion_point(lines, *tasks_node, newline)
    if insert_at > len(lines):
        insert_at = len(lines)
    if insert_at and not lines[insert_at - 1].endswith(("\n", "\r")):
        lines[insert_at - 1] += newline
    return "".join(lines[:insert_at]) + _emit(entries, indent, newline) + "".join(lines[insert_at:])


def _tasks_node(policy_text: str) -> tuple[yaml.Node, yaml.Node] | None:
    """The (key, value) nodes of the policy's top-level `tasks:` (the last one), if any."""
    root = yaml.compose(policy_text, Loader=yaml.SafeLoader) if policy_text.strip() else None
    tasks_node = None
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "tasks":
                tasks_node = (key, value)
    return tasks_node


def _insertion_point(lines: list[str], key: yaml.Node, value: yaml.Node, newline: str) -> tuple[int, int]:
    """The indent of the new entries and the line they go before: after the mapping's
    last entry, else right after `tasks:` (an empty `{}`, `null` or `~` there dropped)."""
    if isinstance(value, yaml.MappingNode) and value.value and value.flow_style:
        line = value.start_mark.line + 1
        raise FixError(
            f"line {line}: `tasks:` is written in flow style ({{...}}); write it as a block mapping "
            "or add the tasks by hand; nothing was written"
        )
    if isinstance(value, yaml.MappingNode) and value.value:
        indent = value.value[0][0].start_mark.column
        # Insert after the last line of the mapping's last entry.
        insert_at = value.value[-1][1].end_mark.line
        if value.value[-1][1].end_mark.column != 0:
            insert_at += 1
        return indent, insert_at
    lines[key.end_mark.line] = re.sub(
        # (one `\s*` where the value is absent: two side by side split a run of spaces n ways)
        r"tasks:\s*(?:(\{\}|null|~)\s*)?(\r\n|\r|\n)?$",
        lambda _: "tasks:" + newline,
        lines[key.end_mark.line],
    )
    return 2, key.end_mark.line + 1


def add_router_key(policy_text: str, router: str) -> str:
    """`router: MODULE:FUNCTION` added at the end of a policy that names none."""
    newline = _newline_of(policy_text)
    if policy_text and not policy_text.endswith(("\n", "\r")):
        policy_text += newline
    return policy_text + _emit({"router": router}, 0, newline)


def checked_policy_text(path: Path, before: str, after: str, tasks: list[NewTask]) -> Policy:
    """The policy `after` would be, or FixError: it must load and validate, keep every
    key and task of `before` as it was, and add exactly `tasks`, each sending the id
    its call sent."""
    from opusguard.policy.tasks import PolicyError, load_policy_text

    try:
        # (PyYAML's own parser, as the policy's loader: libyaml refuses escapes it takes)
        old_data = yaml.safe_load(before) or {}
        new_data = yaml.safe_load(after) or {}
        policy = load_policy_text(path, after)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FixError(
            f"{path}: the policy with the new tasks would not be valid YAML ({where}{problem}); nothing was written"
        ) from None
    except PolicyError as exc:
        raise FixError(
            f"{path}: the policy with the new tasks would not be valid ({exc.message}); nothing was written"
        ) from None
    old_tasks = dict(old_data.get("tasks") or {})
    new_tasks = dict(new_data.get("tasks") or {})
    expected = {**old_tasks, **{t.name: task_entry(t) for t in tasks}}
    rest_old = {k: v for k, v in old_data.items() if k not in ("tasks", "router")}
    rest_new = {k: v for k, v in new_data.items() if k not in ("tasks", "router")}
    clash = [t.name for t in tasks if t.name in old_tasks]
    problem = None
    if clash:
        problem = f"task '{clash[0]}' is already declared"
    elif (
        new_tasks != expected or rest_new != rest_old or (old_data.get("router") not in (None, new_data.get("router")))
    ):
        problem = "the new tasks could not be added without changing what is there"
    else:
        wrong = [t.name for t in tasks if policy.model_for(t.name) != t.sent]
        if wrong:
            problem = f"task '{wrong[0]}' would not send {next(t.sent for t in tasks if t.name == wrong[0])}"
    if problem:
        raise FixError(f"{path}: {problem}; add the tasks by hand or use another policy; nothing was written")
    return policy


# --- the whole run -------------------------------------------------------------------


class _RemoveAssignments(cst.CSTTransformer):
    """Drop module-level `NAME = "<model id>"` statements that nothing uses any more."""

    def __init__(self, names: set[str]):
        super().__init__()
        self.names = names
        self.depth = 0

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.depth += 1

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock) -> cst.BaseSuite:
        self.depth -= 1
        return updated_node

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement | cst.RemovalSentinel:
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


class FileWrite(Struct):
    shown: str  # the path as the user sees it: relative, with '/'
    target: Path  # the file written: for a symlink, the file inside the project it points at
    before: bytes | None  # None: a new file
    after: bytes


class FixResult(Struct):
    changed: dict[str, tuple[bytes, bytes]]  # path -> (before, after)
    policy_path: Path
    policy_before: str
    policy_after: str
    plan: Plan
    skipped: list[str] = field(default_factory=list)
    # Files the fix would rewrite but leaves for a person: path -> why.
    refused: dict[str, str] = field(default_factory=dict)
    # The policy, routing table and router files to write, in that order (first).
    support: list[FileWrite] = field(default_factory=list)
    targets: dict[str, Path] = field(default_factory=dict)  # changed path -> file written
    router: str = DEFAULT_ROUTER
    router_passed: list[str] = field(default_factory=list)  # names passed over for the router
    written: list[str] = field(default_factory=list)  # filled by write_fix
    written_stale: list[str] = field(default_factory=list)  # sources left alone: changed since read
    removed: set[tuple[str, int]] = field(default_factory=set)  # (path, line) of constants removed

    def writes(self) -> list[FileWrite]:
        """Every file to write, in the order written: policy, table, router, then code."""
        code = [
            FileWrite(path, self.targets.get(path, Path(path)), before, after)
            for path, (before, after) in sorted(self.changed.items())
        ]
        return [*self.support, *code]

    @property
    def created(self) -> list[str]:
        return [w.shown for w in self.support if w.before is None]

    def diff(self) -> str:
        out = []
        for write in self.writes():
            before = write.before.decode("utf-8", "replace") if write.before is not None else ""
            if write.before is None and not write.after:  # a new empty file (a package's __init__.py)
                out += ["--- /dev/null\n", f"+++ b/{write.shown}\n"]
                continue
            out += difflib.unified_diff(
                before.splitlines(keepends=True),
                write.after.decode("utf-8", "replace").splitlines(keepends=True),
                # a file name is shown escaped (a line break in it would forge diff lines)
                "/dev/null" if write.before is None else f"a/{printable(write.shown)}",
                f"b/{printable(write.shown)}",
            )
        return "".join(out)


def _router_name_problem(router: str) -> str | None:
    import keyword

    for name in (*router.split(":")[0].split("."), router.split(":")[1]):
        if keyword.iskeyword(name):
            return f"'{name}' is a Python keyword"
    return None


def _shown(path: Path, cwd: Path) -> str:
    return Path(os.path.relpath(path, cwd)).as_posix()


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _write_target(path: Path, root: Path, *, must_exist: bool = True) -> tuple[Path, str | None]:
    """The file to write for `path`, or why it is left for a person. A symlink is
    followed to its target when that is a file inside the project (`root`)."""
    target = path
    real = path.resolve()
    try:
        real.relative_to(root.resolve())
    except ValueError:
        if path.is_symlink():
            return path, "it is a symlink to a file outside the project"
        if path.parent.resolve() != Path(os.path.normpath(path.absolute().parent)):
            return path, "it lies outside the project, through a symlinked folder"
        real = path  # a file named outside the project on purpose (--policy FILE)
    if path.is_symlink():
        target = real
    reason = why_not_replaceable(target)
    if reason is None and must_exist and not target.exists():
        reason = "it no longer exists"
    return target, reason


def compute_fix(
    project: Project,
    sources: dict[str, bytes],
    *,
    policy_path: Path,
    cwd: Path,
    task_names: dict[str, str] | None = None,
    remove_unused_in: list[Path] | None = None,
    root: Path | None = None,
    exclude: Callable[[str], bool] | None = None,
    map_files: MapFiles | None = None,
) -> FixResult:
    """The whole fix, computed in memory and checked: every file to write, in order.

    `remove_unused_in`: every file of the scanned tree, searched for other uses
    before a constant is removed (--remove-unused). `root`: the project's top; a
    symlink is followed only to a file below it (default: `cwd`). `exclude`: as plan_rewrites.
    `map_files`: how the files' rewrites are run (default: one after another, here).
    Raises FixError when the fix cannot be done safely; then nothing is written."""
    root = root or cwd
    _check_router_name(project.policy)
    policy_exists, policy_before = _read_policy(policy_path)
    router, passed, reserved = planning_inputs(project.policy, policy_path)
    base_text = _base_policy_text(project.policy, policy_exists, policy_before, router)
    plan = plan_rewrites(project, task_names=task_names, reserved=reserved, exclude=exclude, router=router)
    result = FixResult({}, policy_path, policy_before, policy_before, plan, router=router, router_passed=passed)
    checked = _rewrite_files(result, sources, cwd, root, map_files or _map_here)
    rewritten = {path: after for path, (_, after) in result.changed.items()}
    if remove_unused_in is not None:
        removed = _remove_unused(project, plan, result.changed, sources, cwd, remove_unused_in)
        _target_definition_files(result, cwd, root)
        result.removed = {where for where in removed if where[0] in result.changed}
    for path, (_, after) in result.changed.items():
        if path in checked and rewritten.get(path) is after:
            continue  # parsed where it was rewritten (and --remove-unused left it alone)
        # never write something that does not parse
        parse_module_unvalidated(notebook.code_text(after).text if notebook.is_notebook(path) else after)
    if result.changed:
        new_tasks = [
            t
            for t in plan.new_tasks.values()
            if any(r.task == t.name for r in plan.rewrites if r.path in result.changed)
        ]
        result.support = _support_writes(result, base_text, new_tasks, policy_exists, cwd, root)
        if result.support and result.support[0].shown == _shown(policy_path, cwd):
            result.policy_after = result.support[0].after.decode("utf-8")
    return result


def _check_router_name(policy: Policy) -> None:
    if policy.router:
        problem = _router_name_problem(policy.router)
        if problem is not None:
            raise FixError(f"{policy.path}: router {policy.router}: {problem}; nothing was written")


def _read_policy(policy_path: Path) -> tuple[bool, str]:
    """Whether the policy file exists, and its text ('' when it does not)."""
    policy_exists = os.path.lexists(policy_path)
    try:
        return policy_exists, policy_path.read_text(encoding="utf-8") if policy_exists else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise FixError(f"{policy_path}: cannot read the policy: {getattr(exc, 'strerror', None) or exc}") from None


def _base_policy_text(policy: Policy, policy_exists: bool, policy_before: str, router: str) -> str:
    """The policy the new tasks are added to: the starter policy where there is none,
    the file with a `router:` key where it names none, else the file as it is."""
    from opusguard.policy.scaffold import starter_policy_text

    if not policy_exists:
        return starter_policy_text(router)
    if policy.router is None:
        return add_router_key(policy_before, router)
    return policy_before


def _rewrite_files(
    result: FixResult, sources: dict[str, bytes], cwd: Path, root: Path, map_files: MapFiles
) -> set[str]:
    """Rewrite each file of the plan in memory, into result.changed and result.targets;
    a file the fix cannot rewrite safely goes to result.skipped or result.refused and
    its sites to plan.needs_person, file by file in path order. The rewrites are
    independent: `map_files` may run them in other processes. Returns the files
    whose rewrite was checked to parse."""
    files = _files_to_rewrite(result, sources, cwd, root)
    router_module = result.router.split(":")[0]
    jobs = [(file.path, file.before, file.rewrites, router_module) for file in files if file.target is not None]
    outcomes = dict(zip((job[0] for job in jobs), map_files(_rewrite_job, jobs)))
    checked = set()
    for file in files:
        if file.target is None:
            _refuse(result, file)
            continue
        path, before, rewrites = file.path, file.before, file.rewrites
        if file.target in result.targets.values():
            _refuse(result, replace(file, target=None, refusal="another name of a file already rewritten"))
            continue
        after, parses = outcomes[path]
        if after is None:  # libcst refuses some odd files
            result.skipped.append(path)
        elif after == _NAME_TAKEN:  # bound where the facts record no module binding (`for route in ...`)
            _refuse(result, replace(file, target=None))
        elif isinstance(after, str):  # a notebook's cells could not take the rewrite: why
            result.plan.needs_person += [NeedsPerson(path, r.span[0], f"not rewritten: {after}") for r in rewrites]
        elif after != before:
            result.changed[path] = (before, after)
            result.targets[path] = file.target
            if parses:
                checked.add(path)
    return checked


class _FileToRewrite(Struct, frozen=True):
    path: str
    rewrites: list[FixPlan]
    target: Path | None = None  # the file to write; None: left alone
    before: bytes = b""
    # Why it is left alone, when it is: its file cannot be written safely (this),
    # or (None) the router's name means something else in it.
    refusal: str | None = None


def _files_to_rewrite(result: FixResult, sources: dict[str, bytes], cwd: Path, root: Path) -> list[_FileToRewrite]:
    """Each file of the plan, in path order: what to rewrite, or why not."""
    by_file: dict[str, list[FixPlan]] = {}
    for rewrite in result.plan.rewrites:
        by_file.setdefault(rewrite.path, []).append(rewrite)
    files = []
    for path, rewrites in sorted(by_file.items()):
        target, reason = _write_target(cwd / path, root)
        if reason is not None:
            files.append(_FileToRewrite(path, rewrites, refusal=reason))
            continue
        before = sources.get(path)
        files.append(_FileToRewrite(path, rewrites, target, before if before is not None else target.read_bytes()))
    return files


def _refuse(result: FixResult, file: _FileToRewrite) -> None:
    """The file is left alone: its sites need a person."""
    if file.refusal is None:
        function = result.router.split(":")[1]
        result.skipped.append(file.path)
        reason = f"the name '{function}' means something else in this module"
    else:
        result.refused[file.path] = file.refusal
        reason = f"the file is left alone: {file.refusal}"
    result.plan.needs_person += [NeedsPerson(file.path, r.span[0], reason) for r in file.rewrites]


# (path, its bytes, its rewrites, the router's module)
_RewriteJob = tuple[str, bytes, list[FixPlan], str]
_Rewritten = tuple[bytes | str | None, bool]  # (see _rewrite_job)
# What _rewrite_job gives for a module that binds the router's name otherwise (a str
# is why a notebook's cells could not take the rewrite; this one is no sentence).
_NAME_TAKEN = "\0the router's name is taken"
MapFiles = Callable[[Callable[[_RewriteJob], _Rewritten], list[_RewriteJob]], Iterable[_Rewritten]]


def _map_here(func: Callable[[_RewriteJob], _Rewritten], jobs: list[_RewriteJob]) -> list[_Rewritten]:
    return [func(job) for job in jobs]


def _rewrite_job(job: _RewriteJob) -> _Rewritten:
    """One file's rewrite (None when libcst refuses the file), and whether it parses."""
    path, before, rewrites, router_module = job
    try:
        after = _rewritten(path, before, rewrites, router_module)
    except NameTaken:
        return _NAME_TAKEN, False
    except (cst.ParserSyntaxError, ValueError, RecursionError):
        return None, False
    if isinstance(after, str) or after == before:
        return after, False
    return after, _parses(path, after)


def _parses(path: str, code: bytes) -> bool:
    try:
        parse_module_unvalidated(notebook.code_text(code).text if notebook.is_notebook(path) else code)
    except Exception:  # (said again, as an error, where the fix is checked: compute_fix)
        return False
    return True


def _rewritten(path: str, before: bytes, rewrites: list[FixPlan], router_module: str) -> bytes | str:
    """The file's bytes with the rewrites applied (a notebook: in its cells), or why a
    notebook's cells could not take them."""
    from opusguard.resolve.join import is_router_file

    def rewrite_file(source: bytes) -> bytes:
        return rewrite_source(source, rewrites, in_router_module=is_router_file(path, router_module))

    return notebook.rewrite_code(before, rewrite_file) if notebook.is_notebook(path) else rewrite_file(before)


def _target_definition_files(result: FixResult, cwd: Path, root: Path) -> None:
    """The file to write for each file --remove-unused changed and the rewrite did not
    (a definition's file); one that cannot be written safely is left as it is."""
    for path in [p for p in result.changed if p not in result.targets]:
        target, reason = _write_target(cwd / path, root)
        if reason is None and target not in result.targets.values():
            result.targets[path] = target
        else:
            del result.changed[path]  # only a removal: keeping the constant is harmless


def _support_writes(
    result: FixResult, base_text: str, new_tasks: list[NewTask], policy_exists: bool, cwd: Path, root: Path
) -> list[FileWrite]:
    """The policy (with the new tasks), the routing table and, when missing, the router
    module and its packages' __init__.py: checked, in the order they are written."""
    path = result.policy_path
    after_text, policy = _policy_with_tasks(result, base_text, new_tasks)
    writes = []
    if after_text != result.policy_before or not policy_exists:
        target, reason = _write_target(path, root, must_exist=False)
        if reason is not None:
            raise FixError(f"{path}: not written: {reason}; nothing was written")
        writes.append(
            FileWrite(
                _shown(path, cwd),
                target,
                result.policy_before.encode("utf-8") if policy_exists else None,
                after_text.encode("utf-8"),
            )
        )
    writes += _router_writes(result, policy, cwd)
    table = _table_write(policy, cwd)
    if table is not None:
        # The table right after the policy: until the code calls a task, a stale
        # table is harmless (OG108 says so), and the code is written last.
        writes.insert(1 if writes and writes[0].shown == _shown(path, cwd) else 0, table)
    _check_new_files(writes, root)
    return writes


def _policy_with_tasks(result: FixResult, base_text: str, new_tasks: list[NewTask]) -> tuple[str, Policy]:
    """The policy's text with the new tasks, and the policy it reads as: checked to
    declare every task the rewritten code calls."""
    path = result.policy_path
    try:
        after_text = append_tasks(base_text, new_tasks)
    except FixError as exc:
        raise FixError(f"{path}: {exc}") from None
    policy = checked_policy_text(path, base_text, after_text, new_tasks)
    used = {r.task for r in result.plan.rewrites if r.path in result.changed}
    missing = sorted(used - set(policy.tasks))
    if missing:
        raise FixError(f"{path}: task '{missing[0]}' would be called but not declared; nothing was written")
    return after_text, policy


def _router_writes(result: FixResult, policy: Policy, cwd: Path) -> list[FileWrite]:
    """The router module and its packages' missing __init__.py, when the module is missing."""
    from opusguard.policy.scaffold import render_router_module, router_parts, router_path, router_problem

    module_file = router_path(policy)
    if module_file.exists():
        return []
    base = policy_dir_of(result.policy_path)
    problem = router_problem(result.router, base)
    if problem is not None:
        raise FixError(
            f"{result.policy_path}: router {result.router}: {problem}; name another router in the policy; "
            "nothing was written"
        )
    router_module, router_function = router_parts(policy)
    parts = router_module.split(".")
    writes = []
    for depth in range(1, len(parts)):
        init = base.joinpath(*parts[:depth], "__init__.py")
        if not init.exists():
            writes.append(FileWrite(_shown(init, cwd), init, None, b""))
    text = render_router_module(router_module, router_function, result.policy_path.name)
    writes.append(FileWrite(_shown(module_file, cwd), module_file, None, text.encode("utf-8")))
    return writes


def _table_write(policy: Policy, cwd: Path) -> FileWrite | None:
    """The routing table, when its text on disk is not the policy's."""
    from opusguard.policy.scaffold import render_route_table, route_table_path, table_problem

    table = route_table_path(policy)
    problem = table_problem(table)
    if problem is not None:
        raise FixError(f"{problem}; nothing was written")
    table_text = render_route_table(policy).encode("utf-8")
    table_before = table.read_bytes() if table.exists() else None
    if table_before == table_text:
        return None
    return FileWrite(_shown(table, cwd), table, table_before, table_text)


def _check_new_files(writes: list[FileWrite], root: Path) -> None:
    """FixError unless every file to create is new and inside the project."""
    for write in writes:
        if write.before is None and os.path.lexists(write.target):
            raise FixError(f"{write.target}: already exists; nothing was written")
        if write.before is None and not _inside(write.target, root):
            raise FixError(
                f"{write.shown}: would be created outside the project ({root}); run fix from the "
                "project's top, or create the policy there with `opusguard init`; nothing was written"
            )


def policy_dir_of(policy_path: Path) -> Path:
    return policy_path.resolve().parent


def _remove_unused(
    project: Project,
    plan: Plan,
    changed: dict[str, tuple[bytes, bytes]],
    sources: dict[str, bytes],
    cwd: Path,
    tree: list[Path],
) -> set[tuple[str, int]]:
    """Remove the unused constants; returns (path, line) of each removed."""
    removed: set[tuple[str, int]] = set()
    candidates = unused_constants(plan, project)
    if not candidates:
        return removed
    # First drop imports of those constants that the rewrite left unused.
    _remove_imports(project, changed, set().union(*candidates.values()))
    texts = _tree_texts(tree, changed, cwd)
    for def_path, names in candidates.items():
        if notebook.is_notebook(def_path):  # (its constants stay: a later cell may still print them)
            continue
        unused = {name for name in names if _uses(name, texts) == 1}  # only its own definition
        if not unused:
            continue
        before = changed[def_path][0] if def_path in changed else sources.get(def_path) or (cwd / def_path).read_bytes()
        current = changed[def_path][1] if def_path in changed else before
        after = cst.parse_module(current).visit(_RemoveAssignments(unused)).bytes
        if after != before:
            changed[def_path] = (before, after)
            facts = project.files.get(def_path)
            bound = [facts.bindings.get(name) for name in unused] if facts else []
            removed |= {(def_path, value.span[0]) for value in bound if isinstance(value, Str)}
    return removed


def _remove_imports(project: Project, changed: dict[str, tuple[bytes, bytes]], names: set[str]) -> None:
    """Drop, from each changed file, its imports of `names` the rewrite left unused."""
    # libcst's codemod package takes a third of a second to import: only --remove-unused needs it.
    from libcst.codemod import CodemodContext
    from libcst.codemod.visitors import RemoveImportsVisitor

    for path, (before, after) in list(changed.items()):
        facts = project.files.get(path) if not notebook.is_notebook(path) else None
        imports = [imp for imp in facts.imports if imp.name in names and imp.local == imp.name] if facts else []
        if not imports:
            continue
        context = CodemodContext()
        for imp in imports:
            RemoveImportsVisitor.remove_unused_import(context, "." * imp.level + imp.module, imp.name)
        module = cst.parse_module(after)
        changed[path] = (before, RemoveImportsVisitor(context).transform_module(module).bytes)


def _tree_texts(tree: list[Path], changed: dict[str, tuple[bytes, bytes]], cwd: Path) -> dict[str, bytes]:
    """Every file of the scanned tree as it will be after the fix, by path."""
    texts: dict[str, bytes] = {}
    for file in tree:
        rel = file.resolve().relative_to(cwd.resolve()).as_posix() if file.is_absolute() else file.as_posix()
        texts[rel] = changed[rel][1] if rel in changed else file.read_bytes()
    return texts


def _uses(name: str, texts: dict[str, bytes]) -> int:
    """How often `name` occurs as a word in `texts`."""
    pattern = re.compile(rb"\b" + re.escape(name.encode()) + rb"\b")
    return sum(len(pattern.findall(text)) for text in texts.values())


class FixWriteError(Exception):
    """Writing stopped part-way: str() says where, what was written and what was not."""

    def __init__(self, message: str, written: list[str], not_written: list[str]):
        done = ", ".join(written) or "none"
        left = ", ".join(not_written) or "none"
        super().__init__(f"{message}; written: {done}; not written: {left}")
        self.written, self.not_written = written, not_written


def write_fix(result: FixResult, cwd: Path) -> list[str]:
    """Write the fix: the policy and routing table first, then the router, then the
    code, each file atomically, and only a source whose bytes on disk are still the
    ones analysed. Returns those left alone because they changed (stale).

    A task declared that no code calls yet is harmless; code calling an undeclared
    task is not: so a run stopped at any point leaves every task the code calls
    declared. On an error, FixWriteError names the files written and those not."""
    stale = []
    writes = list(result.support)
    for write in result.writes():
        try:
            current = write.target.read_bytes() if os.path.lexists(write.target) else None
        except OSError:
            current = b""  # unreadable: not what was analysed
        if current == write.before:
            if write not in writes:
                writes.append(write)
        elif write in result.support:  # the policy or table changed meanwhile: plan again
            raise FixWriteError(
                f"{write.shown}: changed on disk since it was read; run fix again",
                [],
                [w.shown for w in result.writes()],
            )
        else:
            stale.append(write.shown)
    for write in writes:
        reason = why_not_replaceable(write.target)
        if reason is not None:
            raise FixWriteError(f"{write.shown}: not written: {reason}", [], [w.shown for w in writes])
    for index, write in enumerate(writes):
        try:
            write.target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(write.target, write.after)
        except (OSError, KeyboardInterrupt) as exc:
            message = (
                str(exc)
                if isinstance(exc, UnsafeTargetError)
                else f"{write.shown}: {getattr(exc, 'strerror', None) or exc or 'interrupted'}"
            )
            raise FixWriteError(message, result.written, [w.shown for w in writes[index:]]) from None
        result.written.append(write.shown)
    result.written_stale = [path for path in stale if path in result.changed]
    return stale


# --- what is left after the fix ------------------------------------------------------

# Each kind of finding a fix leaves, and what a person does about it.
LEFT_KINDS = {
    "OG000": "files that could not be read or parsed (named above): fix them, then run fix again",
    "person": 'in calls listed above as needing a person: route each by hand (model=route("TASK")), '
    "or annotate the call with `# opusguard: task=NAME` once its model is one literal",
    "left-alone": "in files fix left alone (reason above): remove the reason and run fix again",
    "unused-constant": "constants no call sends any more: `opusguard fix --codemod --remove-unused` removes them",
    "data": "model ids no call sends (model catalogues, price tables, lists of supported models): keep each "
    "as data with `# opusguard: ignore[OG101]` and a reason (or per-file-ignores), or move it into policies/",
    "OG101": 'model ids sent by calls fix does not rewrite: route them by hand (model=route("TASK"))',
    "OG102": "Opus calls not routed: route them, or give their task a justification",
    "OG103": "undeclared tasks: declare each in the policy",
    "OG104": "on Opus tasks without a justification or owner (OG104): add justification, owner and "
    "review_by (with evidence), or move the task to sonnet or haiku",
    "OG105": "retired or deprecated models (also where a task pins one): move the task (or the call) to a current model",
    "OG106": "models known only at run time: annotate the call with `# opusguard: task=NAME`",
    "OG109": "model ids in config files: move the choice into the policy, or `# opusguard: ignore[OG109]` "
    "with a reason (recorded responses, fixtures)",
}


def _joined_line(project: Project, finding: Finding) -> int:
    """The finding's line in the file's facts: a notebook's findings are placed in
    their cell, its facts (and the plan) count lines of the cells' joined code."""
    facts = project.files.get(finding.path)
    if finding.cell is None or facts is None:
        return finding.line
    start = next((first for first, number in facts.cells if number == finding.cell), None)
    return finding.line if start is None else start + finding.line - 1


class _SitesAfterFix(Struct):
    """Where each finding stands once the fix is written: (path, line) sets."""

    fixed: set[tuple[str, int]]  # calls routed, literals replaced
    sent: set[tuple[str, int]]  # literals some call sends
    sent_by_person: set[tuple[str, int]]  # literals sent by a call left for a person
    person_sites: set[tuple[str, int]]  # calls left for a person
    constants: set[tuple[str, int]]  # literals sent only through rewritten arguments
    left_alone: set[str]  # files the fix does not write

    def kind(self, finding: Finding, where: tuple[str, int]) -> str:
        """The finding's key in LEFT_KINDS, else its rule's code."""
        if finding.path in self.left_alone:
            return "left-alone"
        if where in self.person_sites or where in self.sent_by_person:
            return "person"
        if finding.rule == "OG101" and where in self.constants:
            return "unused-constant"
        if finding.rule == "OG101" and where not in self.sent:
            return "data"
        return finding.rule


def _sites_after_fix(project: Project, result: FixResult, rewritten: set[tuple[str, Span]]) -> _SitesAfterFix:
    fixed = {(path, span[0]) for path, span in rewritten}
    sent, sent_by_person = set(), set()
    person_sites = {(p.path, p.line) for p in result.plan.needs_person}
    for call in project.calls:
        spans = {(m.literal_path, m.literal_span) for m in call.models}
        if any((call.path, a.span) in rewritten for a in call.call.model_args) or (spans and spans <= rewritten):
            fixed.add((call.path, call.line))
        for path, span in spans:
            sent.add((path, span[0]))
            if (call.path, call.line) in person_sites:
                sent_by_person.add((path, span[0]))
    constants = {
        (path, span[0])
        for path, span in (
            (m.literal_path, m.literal_span)
            for c in project.calls
            for m in c.models
            if any((c.path, a.span) in rewritten for a in c.call.model_args)
        )
    }
    left_alone = set(result.refused) | set(result.skipped) | set(result.written_stale)
    return _SitesAfterFix(fixed, sent, sent_by_person, person_sites, constants, left_alone)


def leftover_findings(findings: list[Finding], result: FixResult, project: Project) -> dict[str, int]:
    """The findings a fix leaves (of `findings`, found before it), counted by kind
    (a key of LEFT_KINDS, else the rule's code)."""
    written = set(result.changed) - set(result.written_stale)
    rewritten = {(r.path, r.span) for r in result.plan.rewrites if r.path in written}
    sites = _sites_after_fix(project, result, rewritten)
    counts: dict[str, int] = {}
    for finding in findings:
        where = (finding.path, _joined_line(project, finding))
        if (where in sites.fixed or where in result.removed) and finding.rule in ("OG101", "OG102", "OG105", "OG106"):
            continue
        if finding.rule == "OG108" and any(w.shown.endswith("_table.py") for w in result.support):
            continue  # the fix writes the table afresh
        kind = sites.kind(finding, where)
        counts[kind] = counts.get(kind, 0) + 1
    _count_new_tasks(counts, result, project, written)
    return counts


def _count_new_tasks(counts: dict[str, int], result: FixResult, project: Project, written: set[str]) -> None:
    """Add the findings the new tasks the written code calls will raise."""
    used = {r.task for r in result.plan.rewrites if r.path in written}
    for name, task in result.plan.new_tasks.items():
        if name not in used:
            continue
        if task.tier == Tier.OPUS:  # declared with no justification and no owner: two OG104 findings
            counts["OG104"] = counts.get("OG104", 0) + 2
        ref = project.catalog.recognize(task.sent) if task.model else None
        if ref is not None and project.catalog.lifecycle(ref, project.today) is not None:
            counts["OG105"] = counts.get("OG105", 0) + 1  # the pinned id, now in the routing table
