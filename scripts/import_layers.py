"""The import graph of a package: its cycles and its floors.

    python scripts/import_layers.py [PACKAGE_DIR] [--top-level] [--floors] [--packages]

Reads every module of PACKAGE_DIR (default: opusguard/) with `ast` (nothing is
imported or run) and follows its imports of the package's own modules, those inside
functions included unless --top-level is given (a lazy import still ties two modules
together), those under `if TYPE_CHECKING:` left out (they tie nothing at run time). Prints each cycle (a group of modules that import each other, directly or
not) and the number of floors: modules that import nothing of the package stand on
floor 0, and every other module one floor above the highest module it imports (a
cycle counts as one module). --floors lists the modules of each floor.
--packages does the same for the sub-packages (a module at the top is a unit of its
own): their layers, and each import that closes a cycle between them.
Exits 1 when there is a cycle.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.stmt) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(body: list[ast.stmt], top_level: bool) -> Iterator[ast.stmt]:
    """The statements that run, leaving out `if TYPE_CHECKING:` blocks (imports for
    annotations only tie nothing at run time); with top_level, not those in functions."""
    for node in body:
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from _runtime_nodes(node.orelse, top_level)
            continue
        yield node
        if top_level and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                yield from _runtime_nodes([child], top_level)


def imports_of(tree: ast.Module, name: str, is_package: bool, modules: set[str], top_level: bool) -> set[str]:
    """The package's modules that module `name` imports."""
    nodes = list(_runtime_nodes(tree.body, top_level))
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            # `from pkg import mod` imports the module pkg.mod when there is one
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import a.b.c` of a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph(root: Path, top_level: bool) -> dict[str, set[str]]:
    files = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    modules = set(files)
    edges: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_bytes(), filename=str(path))
        edges[name] = imports_of(tree, name, path.name == "__init__.py", modules, top_level)
    # A package's __init__ runs before any of its modules: importing `pkg.mod` imports `pkg`
    # too, but that edge is Python's, not the code's, and is left out.
    return edges


def package_of(module: str) -> str:
    """`pkg.sub.mod` -> `pkg.sub`; a module at the top (`pkg.mod`, `pkg`) stands for itself."""
    parts = module.split(".")
    return ".".join(parts[:2])


def package_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, targets in edges.items():
        unit = package_of(module)
        out.setdefault(unit, set()).update(package_of(t) for t in targets if package_of(t) != unit)
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}  # the order modules are reached in
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [_reach(start, edges, index, low, stack, on_stack)]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    work.append(_reach(child, edges, index, low, stack, on_stack))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = _pop_component(node, stack, on_stack)
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def _reach(
    node: str,
    edges: dict[str, set[str]],
    index: dict[str, int],
    low: dict[str, int],
    stack: list[str],
    on_stack: set[str],
) -> tuple[str, Iterator[str]]:
    """Number a module reached for the first time and put it on the stack; (it, its imports to visit)."""
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    return node, iter(sorted(edges[node]))


def _pop_component(node: str, stack: list[str], on_stack: set[str]) -> list[str]:
    """The modules on the stack down to `node`, its component, taken off it."""
    component = []
    while True:
        member = stack.pop()
        on_stack.discard(member)
        component.append(member)
        if member == node:
            return component


def floors(edges: dict[str, set[str]], groups: list[list[str]]) -> dict[str, int]:
    """Floor of each module; the modules of one cycle share a floor."""
    group_of = {m: tuple(g) for g in groups for m in g}
    unit = {m: group_of.get(m, (m,)) for m in edges}
    floor: dict[tuple[str, ...], int] = {}

    def floor_of(u: tuple[str, ...]) -> int:
        if u in floor:
            return floor[u]
        pending = [u]
        while pending:  # iterative depth-first, so a deep graph needs no deep recursion
            current = pending[-1]
            below = {unit[t] for m in current for t in edges[m]} - {current}
            missing = [b for b in below if b not in floor]
            if missing:
                pending.extend(missing)
                continue
            pending.pop()
            floor[current] = 1 + max((floor[b] for b in below), default=-1)
        return floor[u]

    return {m: floor_of(unit[m]) for m in edges}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", nargs="?", default=str(Path(__file__).resolve().parent.parent / "opusguard"))
    parser.add_argument("--top-level", action="store_true", help="only imports at a module's top level")
    parser.add_argument("--floors", action="store_true", help="list the modules of each floor")
    parser.add_argument("--packages", action="store_true", help="the graph of the sub-packages")
    args = parser.parse_args(argv)
    root = Path(args.package).resolve()
    edges = graph(root, args.top_level)
    if args.packages:
        return report_packages(edges)
    groups = cycles(edges)
    by_module = floors(edges, groups)
    count = 1 + max(by_module.values(), default=-1)
    kind = "top-level imports" if args.top_level else "all imports (lazy ones too)"
    print(f"{root.name}: {len(edges)} modules, {sum(map(len, edges.values()))} imports ({kind})")
    print(f"cycles: {len(groups)}")
    top = edges if args.top_level else graph(root, True)
    for group in groups:
        print("  " + " <-> ".join(group))
        for module in group:  # the imports that close it: one of them has to go
            for target in sorted(edges[module] & set(group)):
                print(f"    {module} -> {target}" + ("" if target in top[module] else "  (inside a function)"))
    print(f"floors: {count}")
    if args.floors:
        for level in range(count):
            print(f"  {level}: " + " ".join(sorted(m for m, f in by_module.items() if f == level)))
    return 1 if groups else 0


def report_packages(edges: dict[str, set[str]]) -> int:
    packages = package_graph(edges)
    groups = cycles(packages)
    by_package = floors(packages, groups)
    count = 1 + max(by_package.values(), default=-1)
    print(f"{len(packages)} packages and top-level modules, {sum(map(len, packages.values()))} imports between them")
    print(f"cycles: {len(groups)}")
    for group in groups:
        print("  " + " <-> ".join(group))
        for module, targets in sorted(edges.items()):
            for target in sorted(targets):
                if (
                    package_of(module) in group
                    and package_of(target) in group
                    and package_of(module) != package_of(target)
                ):
                    print(f"    {module} -> {target}")
    print(f"layers: {count}")
    for level in range(count):
        print(f"  {level}: " + " ".join(sorted(p for p, f in by_package.items() if f == level)))
    return 1 if groups else 0


if __name__ == "__main__":
    sys.exit(main())
