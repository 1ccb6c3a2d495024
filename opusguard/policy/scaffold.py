"""`opusguard init` and `opusguard policy sync`: the files a project routes through.

The router module is plain Python with no dependencies; the task -> model table
it reads is generated from the policy into `<router module>_table.py`, with a
digest of what it was generated from so `check` (OG108) can tell when it is stale.
"""

from __future__ import annotations

import json
import keyword
import os
import re
import sys
from pathlib import Path

from opusguard.base.atomic import why_not_replaceable, write_atomic
from opusguard.base.paths import DISK, Tree
from opusguard.policy.catalog import shipped_catalog_path
from opusguard.policy.tasks import Policy

_DIGEST = re.compile(r'^POLICY_DIGEST = "([0-9a-f]*)"', re.MULTILINE)


class ScaffoldError(Exception):
    """One line: which file and why it was not written."""


def starter_policy_path() -> Path:
    return shipped_catalog_path().parent / "starter.yaml"


def policy_dir(policy: Policy) -> Path:
    return Path(policy.path).parent if policy.path else Path.cwd()


# The router is created where the first of these is free (`init` without --router,
# `fix` without a policy): `app.routing` unless that would shadow or overwrite something.
ROUTER_CHOICES = ("app.routing:route", "model_routing:route", "opusguard_routing:route")
# Folders that end the search for a router module upwards: the project's top.
_TOP_MARKERS = (".git", ".hg", "pyproject.toml", "setup.py", "setup.cfg")


def _search_bases(start: Path) -> list[Path]:
    """`start` and its parents up to the project's top (a folder with a repository or
    packaging marker, or the current folder); only `start` if neither is above it."""
    cwd = Path.cwd().resolve()
    bases = []
    for base in (start, *start.parents):
        bases.append(base)
        if base == cwd or any((base / marker).exists() for marker in _TOP_MARKERS):
            return bases
    return [start]


def router_parts(policy: Policy) -> tuple[str, str]:
    """The policy's router module and function (callers check that it names one)."""
    if policy.router_module is None or policy.router_function is None:
        raise ScaffoldError(f"{policy.path}: the policy has no router (router: MODULE:FUNCTION)")
    return policy.router_module, policy.router_function


def router_path(policy: Policy) -> Path:
    """The router module's file: looked up from the policy's folder upwards (a policy
    may live in a config/ folder below the package root), never above the project's
    top; the policy's folder if none."""
    relative = Path(*router_parts(policy)[0].split(".")).with_suffix(".py")
    start = policy_dir(policy).resolve()
    for base in _search_bases(start):
        if (base / relative).is_file():
            return base / relative
    return start / relative


def router_problem(router: str, root: Path, tree: Tree = DISK) -> str | None:
    """Why the router `router` (MODULE:FUNCTION) cannot be created under `root`:
    not Python names, or it would shadow a module. None when it can."""
    module, _, function = router.partition(":")
    parts = module.split(".")
    for name in (*parts, function):
        if not name.isidentifier():
            return f"'{name}' is not a Python name"
        if keyword.iskeyword(name):
            return f"'{name}' is a Python keyword"
    table = parts[-1] + "_table"
    for top in {parts[0], table} if len(parts) == 1 else {parts[0]}:
        if top in sys.stdlib_module_names:
            return f"a module '{top}' would shadow the standard library's"
    folder = root
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        names = (part, table) if last else (part,)
        for name in names:
            shown = os.path.relpath(folder / name, Path.cwd())
            if last and tree.is_dir(folder / name):
                return f"{shown}/ is a package: a module {shown}.py beside it would never be imported"
            if not last and tree.is_file(folder / f"{name}.py"):
                return f"{shown}.py exists: a package {shown}/ beside it would shadow it"
        folder = folder / part
    return None


def choose_router(root: Path, tree: Tree = DISK) -> tuple[str, list[str]]:
    """The first of ROUTER_CHOICES that is free under `root` (in `tree`), and why each before it was not."""
    passed: list[str] = []
    for router in ROUTER_CHOICES:
        module_file = root.joinpath(*router.split(":")[0].split(".")).with_suffix(".py")
        problem = router_problem(router, root, tree)
        if problem is None and tree.exists(module_file):
            problem = f"{os.path.relpath(module_file, Path.cwd())} already exists"
        if problem is None:
            return router, passed
        passed.append(f"not {router}: {problem}")
    raise ScaffoldError(
        f"{root}: no free name for the router ({'; '.join(passed)}); choose one with --router MODULE:FUNCTION"
    )


def route_table_path(policy: Policy) -> Path:
    module_file = router_path(policy)
    return module_file.with_name(f"{module_file.stem}_table.py")


def task_models(policy: Policy) -> dict[str, str | None]:
    return {name: policy.model_for(name) for name in sorted(policy.tasks)}


def policy_digest(policy: Policy) -> str:
    """Digest of what the table holds, so editing comments does not make it stale."""
    import hashlib  # (here: `check` imports this module for its router names and must not load OpenSSL)

    material = json.dumps(task_models(policy), sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _safe_name(name: str) -> str:
    """A file name as it may appear in generated code: in a comment, a docstring, an f-string."""
    return re.sub(r"[^\w.\-/ ]", "_", name)


_GENERATED = re.compile(r"# Generated from .* by `opusguard policy sync`")


def is_generated_table(path: Path) -> bool:
    """Whether the file at `path` is a routing table opusguard wrote (so it may replace it)."""
    try:
        with open(path, encoding="utf-8") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return bool(_GENERATED.match(first))


def render_route_table(policy: Policy) -> str:
    policy_name = _safe_name(Path(policy.path).name) if policy.path else "the policy"
    lines = [
        f"# Generated from {policy_name} by `opusguard policy sync`; edit the policy, not this file.",
        f'POLICY_DIGEST = "{policy_digest(policy)}"',
        "TASK_MODELS = {",
    ]
    lines += [f"    {json.dumps(task)}: {json.dumps(model)}," for task, model in task_models(policy).items()]
    lines.append("}")
    return "\n".join(lines) + "\n"


def table_digest(path: Path) -> str | None:
    try:
        match = _DIGEST.search(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    return match.group(1) if match else None


def table_problem(path: Path) -> str | None:
    """Why the routing table at `path` may not be (re)written, or None."""
    if path.exists() and not path.is_symlink() and path.is_file() and not is_generated_table(path):
        return (
            f"{path}: not written: it was not generated by opusguard (no '# Generated from' header); "
            "move it away or name another router in the policy"
        )
    reason = why_not_replaceable(path)
    return f"{path}: not written: {reason}" if reason else None


def write_route_table(policy: Policy, path: Path | None = None) -> Path:
    target = path or route_table_path(policy)
    problem = table_problem(target)
    if problem is not None:
        raise ScaffoldError(problem)
    _write(target, render_route_table(policy))
    return target


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    except OSError as exc:
        raise ScaffoldError(f"{path}: cannot write: {exc.strerror or exc}") from None


def render_router_module(router_module: str, function: str, policy_name: str) -> str:
    table_module = router_module.rsplit(".", 1)[-1] + "_table"
    table_import = (
        f"from .{table_module} import TASK_MODELS"
        if "." in router_module
        else f"from {table_module} import TASK_MODELS"
    )
    return f'''"""The central model router: which Claude model each task gets.

Generated by `opusguard init`. The table is generated from {policy_name} by
`opusguard policy sync`: change a task's tier or model there, not here.
Standard library only, so it runs wherever the application runs.
"""

from __future__ import annotations

{table_import}


class UnknownTaskError(KeyError):
    """A task the policy does not declare."""


def {function}(task: str) -> str:
    """The model id the policy gives `task`."""
    try:
        return TASK_MODELS[task]
    except KeyError:
        raise UnknownTaskError(
            f"task {{task!r}} is not declared in {policy_name}; declare it and run `opusguard policy sync`"
        ) from None
'''


def write_new(path: Path, text: str, force: bool) -> Path:
    if os.path.lexists(path) and not force:
        raise ScaffoldError(f"{path}: already exists (use --force to overwrite)")
    reason = why_not_replaceable(path) if path.parent.is_dir() else None
    if reason is not None:
        raise ScaffoldError(f"{path}: not written: {reason}")
    _write(path, text)
    return path


def ensure_router(policy: Policy, force: bool = False, module_file: Path | None = None) -> list[Path]:
    """The router module (if missing, or forced) and a fresh table beside it."""
    written = []
    module_file = module_file or router_path(policy)
    if force or not module_file.exists():
        policy_name = _safe_name(Path(policy.path).name) if policy.path else "opusguard.yaml"
        router_module, router_function = router_parts(policy)
        written.append(
            write_new(module_file, render_router_module(router_module, router_function, policy_name), force=True)
        )
        if "." in router_module:
            package_init = module_file.parent / "__init__.py"
            if not package_init.exists():
                written.append(write_new(package_init, "", force=False))
    written.append(write_route_table(policy, module_file.with_name(f"{module_file.stem}_table.py")))
    return written


def starter_policy_text(router: str) -> str:
    """The policy `init` writes: the shipped starter with `router` and no Opus task."""
    import yaml

    starter = starter_policy_path().read_text(encoding="utf-8")
    line = yaml.safe_dump({"router": router}, default_flow_style=False).strip()
    text = re.sub(r"^router: .*$", lambda _: line, starter, count=1, flags=re.MULTILINE)
    return _comment_out_opus_block(text)


def scaffold_project(
    root: Path, *, policy_name: str = "opusguard.yaml", router: str | None = None, force: bool = False
) -> tuple[list[Path], str, list[str]]:
    """Write a starter policy, a router module and its table into `root`.

    Without `router`, the first free name of ROUTER_CHOICES. Returns the files
    written, the router, and why the names before it were passed over."""
    from opusguard.policy.tasks import load_policy

    passed: list[str] = []
    if router is None:
        router, passed = choose_router(root)
    else:
        problem = router_problem(router, root)
        if problem is not None:
            raise ScaffoldError(f"--router {router}: {problem}; choose another with --router MODULE:FUNCTION")
    policy_file = root / policy_name
    text = starter_policy_text(router)
    module_file = root.joinpath(*router.split(":")[0].split(".")).with_suffix(".py")
    table_file = module_file.with_name(f"{module_file.stem}_table.py")
    targets = [policy_file, module_file, table_file]
    for path in targets:
        if os.path.lexists(path) and not force:
            raise ScaffoldError(f"{path}: already exists (use --force to overwrite)")
        reason = why_not_replaceable(path) if path.parent.is_dir() else None
        if reason is not None:
            raise ScaffoldError(f"{path}: not written: {reason}")
    if force:
        problem = table_problem(table_file)
        if problem is not None:
            raise ScaffoldError(problem)
    written = [write_new(policy_file, text, force)]
    written += ensure_router(load_policy(policy_file), force=force, module_file=module_file)
    return written, router, passed


def _comment_out_opus_block(text: str) -> str:
    """A new project starts with no Opus task: each one needs a person's reasons (OG104).

    The starter's Opus block stays in the file, commented out, as the template to
    fill in when an eval shows a task needs Opus.
    """
    out, in_block = [], False
    for line in text.splitlines():
        if line.strip().startswith("# --- Opus"):
            in_block = True
            out.append(line)
            out.append("  # Uncomment a task when its eval shows Sonnet falls short, and fill in the TODOs.")
            continue
        if in_block and line.strip() and not line.lstrip().startswith("#"):
            line = "  # " + line[2:] if line.startswith("  ") else "# " + line
        out.append(line)
    return "\n".join(out) + "\n"
