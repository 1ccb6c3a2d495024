"""The cross-file join: symbolic values in per-file facts -> the models calls send.

Evaluation is a small abstract interpreter over facts.Value trees. A value
evaluates to a list of results: a string literal (with where it is written and
the chain of names it came through), a module, a class, a container (dict or
sequence literal) to subscript into, or an unresolved origin. It never guesses:
what cannot be known statically stays unresolved, with where it comes from.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from msgspec import Struct
from msgspec.structs import replace

from opusguard.facts.records import (
    Attr,
    CallFact,
    CallV,
    Concat,
    DictV,
    Env,
    FileFacts,
    ImportFact,
    LiteralFact,
    ModelArg,
    Name,
    Num,
    OneOf,
    Param,
    SelfAttr,
    SeqV,
    Span,
    Str,
    Subscript,
    Unknown,
    Value,
    dotted_name,
)
from opusguard.facts.sinks import CLAUDE_ONLY_SINKS
from opusguard.resolve.project import Project, ResolvedCall, ResolvedLiteral, ResolvedModel

if TYPE_CHECKING:
    from opusguard.facts.configfiles import ConfigView
    from opusguard.policy.catalog import Catalog, ModelRef
    from opusguard.policy.tasks import Policy

MAX_DEPTH = 24


# --- results of evaluation -----------------------------------------------------------


class Lit(Struct, frozen=True):
    text: str
    path: str
    span: Span
    via: tuple[str, ...] = ()
    partial: bool = False  # only a fixed prefix is known (f"claude-opus-4-{x}")


class Unres(Struct, frozen=True):
    origin: str


class ModRef(Struct, frozen=True):
    name: str  # dotted module name
    path: str | None  # its file when it is in the tree


class ClsRef(Struct, frozen=True):
    path: str
    qualname: str


class Container(Struct, frozen=True):
    value: DictV | SeqV
    path: str
    via: tuple[str, ...] = ()


class Routed(Struct, frozen=True):
    """The value is `route("task")`: the policy decides the model."""

    task: str


class FileRef(Struct, frozen=True):
    """A file opened by a literal path (`open("config.yaml")`, `Path("c.toml")`)."""

    written: str  # the path as written in code
    near: str  # the code file it is written in
    beside_code: bool = False  # built from __file__: relative to the code's folder only


class ConfigRef(Struct, frozen=True):
    """What a loader read from a committed config file, at `keys` (configfiles.py)."""

    path: str
    keys: tuple[str | int, ...] = ()
    via: tuple[str, ...] = ()
    missing: str = ""  # why there is nothing to read ("no committed file there"): unresolved


Result = Lit | Unres | ModRef | ClsRef | Container | Routed | FileRef | ConfigRef


def _with_via(results: list[Result], step: str) -> list[Result]:
    out: list[Result] = []
    for r in results:
        if isinstance(r, (Lit, Container, ConfigRef)):
            out.append(replace(r, via=(step, *r.via)))
        else:
            out.append(r)
    return out


# --- module naming -------------------------------------------------------------------


def module_names_for_path(path: str) -> list[str]:
    """Every dotted name a file may be imported as: each suffix of its path."""
    parts = path.replace("\\", "/").split("/")
    if not parts[-1].endswith((".py", ".pyi")):
        return []
    stem = parts[-1].rsplit(".", 1)[0]
    parts = [p for p in parts[:-1] if p not in ("", ".")]
    if stem != "__init__":
        parts.append(stem)
    names = []
    for start in range(len(parts)):
        segment = parts[start:]
        if all(p.isidentifier() for p in segment):
            names.append(".".join(segment))
    return names


def _directory(path: str) -> str:
    return os.path.dirname(path.replace("\\", "/"))


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a.split("/"), b.split("/")):
        if x != y:
            break
        n += 1
    return n


# --- the resolver --------------------------------------------------------------------


def with_name_parsed(facts: FileFacts, named: FileFacts, name: str) -> FileFacts:
    """`facts`, with `name` no longer among what was cut, and what `named` (the facts
    of the file's statements that bind it) says of it: its module-level binding,
    its value in each class, and what those values may read (the parameters of a
    function the first selection left out, imports in a function, source lines)."""
    cut = {
        "cut_names": facts.cut_names - {name},
        "cut_attributes": {cls: rest for cls, cut in facts.cut_attributes.items() if (rest := cut - {name})},
    }
    if named.parse_error is not None:
        return replace(facts, **cut)
    bindings = facts.bindings
    if name in named.bindings:
        bindings = {**bindings, name: named.bindings[name]}
    classes = dict(facts.classes)
    for qualname, cls in named.classes.items():
        known = classes.get(qualname)
        if known is not None and name in cls.attrs:
            classes[qualname] = replace(known, attrs={**known.attrs, name: cls.attrs[name]})
    functions = dict(facts.functions)
    for qualname, params in named.functions.items():
        if not functions.get(qualname):  # (a function left out is recorded without its parameters)
            functions[qualname] = params
    imports = facts.imports + [imp for imp in named.imports if imp not in facts.imports]
    lines = {**named.lines, **facts.lines}
    return replace(facts, bindings=bindings, classes=classes, functions=functions, imports=imports, lines=lines, **cut)


class _BasesSpelled:
    """A file's class bases by the name they are spelled with (`Base`, `mod.Base`), and
    the other local names of each imported or aliased name (`from m import Base as
    B`, `Alias = Base`): which bases may name a class called `name` (_find_subclasses)."""

    def __init__(self, facts: FileFacts) -> None:
        # spelled name -> (class index, base index, class name, base), in the order written
        self.bases: dict[str, list[tuple[int, int, str, Value]]] = {}
        for class_index, cls in enumerate(facts.classes.values()):
            for base_index, base in enumerate(cls.bases):
                spelled = base.attr if isinstance(base, Attr) else base.id if isinstance(base, Name) else None
                if spelled is not None:
                    self.bases.setdefault(spelled, []).append((class_index, base_index, cls.name, base))
        self.aliases: dict[str, set[str]] = {}  # a name -> the local names it is known by too
        for imp in facts.imports:
            if imp.name is not None:
                self.aliases.setdefault(imp.name, set()).add(imp.local)
        for bound, value in facts.bindings.items():  # Alias = Base
            target = value.id if isinstance(value, Name) else value.attr if isinstance(value, Attr) else None
            if target is not None:
                self.aliases.setdefault(target, set()).add(bound)

    def named(self, name: str) -> list[tuple[str, Value]]:
        """(class name, base) of each base spelled `name` or one of its aliases, in the order written."""
        if name not in self.bases and name not in self.aliases:
            return []  # (most files, for most names)
        found = list(self.bases.get(name, ()))
        for alias in self.aliases.get(name, ()):
            if alias != name:
                found += self.bases.get(alias, ())
        found.sort(key=lambda entry: entry[:2])
        return [(class_name, base) for _, _, class_name, base in found]


class Resolver:
    def __init__(
        self,
        files: dict[str, FileFacts],
        catalog: Catalog,
        find_module: Callable[[str], FileFacts | None] | None,
        router: tuple[str | None, str] = (None, "route"),
        facts_naming: Callable[[str, str], FileFacts | None] | None = None,
        configs: ConfigView | None = None,
    ) -> None:
        self.router_module, self.router_function = router
        self.configs = configs  # the run's .env / YAML / TOML / JSON files (configfiles.ConfigView)
        self.facts_naming = facts_naming  # (path, name) -> the facts of the file's statements binding it
        self.files = dict(files)
        self.catalog = catalog
        self.find_module = find_module
        self.index: dict[str, list[str]] = {}
        for path in self.files:
            self._index(path)
        self._looked_up: set[str] = set()
        self._memo: dict[tuple[str, Value], list[Result]] = {}
        self._stack: set[tuple[str, Value]] = set()
        # Names being looked up, to stop at a circular re-export (a imports X from b, b from a).
        self._names_in_progress: set[tuple[str, str]] = set()
        # (path, class) -> its direct subclasses, filled per class name on demand
        self._subclasses: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._subclasses_named: set[str] = set()
        self._bases: dict[str, tuple[FileFacts, _BasesSpelled]] = {}  # path -> (its facts, their index)

    def _index(self, path: str) -> None:
        for name in module_names_for_path(path):
            self.index.setdefault(name, []).append(path)

    # -- modules --

    def module_path(self, name: str, near: str) -> str | None:
        candidates = self.index.get(name)
        if not candidates and self.find_module is not None and name not in self._looked_up:
            self._looked_up.add(name)
            facts = self.find_module(name)
            if facts is not None:
                self.files.setdefault(facts.path, facts)
                self._index(facts.path)
                # Its path may be relative to a folder below the package root.
                if facts.path not in self.index.setdefault(name, []):
                    self.index[name].append(facts.path)
                candidates = self.index.get(name)
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        # Ambiguous (src/ layouts, same-named modules): the one nearest the importer.
        return max(candidates, key=lambda c: (_shared_prefix(_directory(c), _directory(near)), -len(c)))

    def relative_module_path(self, module: str, level: int, importer: str) -> str | None:
        base = _directory(importer)
        for _ in range(level - 1):
            base = _directory(base)
        rel = "/".join(p for p in (base, module.replace(".", "/")) if p)
        for candidate in (f"{rel}.py", f"{rel}/__init__.py", f"{rel}.pyi"):
            if candidate in self.files:
                return candidate
        return None

    def import_target(self, module: str, level: int, importer: str) -> tuple[str | None, str]:
        """(file of the imported module or None, its best dotted name)."""
        if level:
            path = self.relative_module_path(module, level, importer)
            if path is not None:
                names = module_names_for_path(path)
                return path, names[-1] if names else module
            return None, module
        return self.module_path(module, importer), module

    # -- names --

    def lookup_name(self, path: str, name: str) -> list[Result]:
        key = (path, name)
        if key in self._names_in_progress:
            return [Unres(f"circular import of {name}")]
        if len(self._names_in_progress) > MAX_DEPTH:
            return [Unres("reference chain too long")]
        self._names_in_progress.add(key)
        try:
            return self._lookup_name(path, name)
        finally:
            self._names_in_progress.discard(key)

    def _lookup_name(self, path: str, name: str) -> list[Result]:
        facts = self.facts_with_name(path, name)
        if facts is None:
            return [Unres(f"name {name}")]
        if name in facts.bindings:
            return self.eval(facts.bindings[name], path)
        if name in facts.classes:
            return [ClsRef(path, name)]
        imp = next((imp for imp in reversed(facts.imports) if imp.local == name), None)  # the last import wins
        if imp is not None:
            return self._lookup_import(imp, path)
        found = self._lookup_star_imports(facts, name, path)
        if found is not None:
            return found
        if name in facts.functions:
            return []  # a function object is not a model
        return [Unres(f"name {name}")]

    def _lookup_import(self, imp: ImportFact, path: str) -> list[Result]:
        """What an import binds in the importing file at `path`."""
        if imp.name is None:
            module = _bound_module(imp)
            return [ModRef(module, self.module_path(module, path))]
        target, module_name = self.import_target(imp.module, imp.level, path)
        if target is None:
            return self._imported_submodule(imp, path)
        if target == path:
            return [Unres(f"name {imp.local}")]
        found = self.lookup_export(target, imp.name)
        if found is not None:
            return _with_via(found, f"{module_name}.{imp.name}")
        sub_name = f"{module_name}.{imp.name}"
        sub = self.module_path(sub_name, path) or self.relative_module_path(imp.name, 1, target)
        if sub is not None:
            return [ModRef(sub_name, sub)]
        return [Unres(f"name {imp.name} of {module_name}")]

    def _imported_submodule(self, imp: ImportFact, path: str) -> list[Result]:
        """`from pkg import config` where pkg is no file of the tree: config may be a module."""
        assert imp.name is not None  # the caller's test
        sub_name = f"{imp.module}.{imp.name}" if imp.module else imp.name
        sub = self.relative_module_path(sub_name, imp.level, path) if imp.level else self.module_path(sub_name, path)
        if sub is not None:
            return [ModRef(sub_name, sub)]
        return [Unres(f"name {imp.name} imported from {'.' * imp.level}{imp.module}")]

    def _lookup_star_imports(self, facts: FileFacts, name: str, path: str) -> list[Result] | None:
        """A name one of the file's `from x import *` brings; None when none does."""
        for imp in facts.imports:
            if imp.name == "*":
                target, _ = self.import_target(imp.module, imp.level, path)
                if target is not None and target != path:
                    found = self.lookup_export(target, name)
                    if found is not None:
                        return found
        return None

    def lookup_export(self, path: str, name: str) -> list[Result] | None:
        """A name as another module exports it; None when that module does not define it."""
        facts = self.facts_with_name(path, name)
        if facts is None:
            return None
        if name in facts.bindings or name in facts.classes or any(imp.local == name for imp in facts.imports):
            return self.lookup_name(path, name)
        if name in facts.functions:
            return []
        for imp in facts.imports:
            if imp.name == "*":
                return self.lookup_name(path, name)
        return None

    # -- classes --

    def facts_with_attribute(self, path: str, qualname: str, attr: str) -> FileFacts | None:
        """The file's facts, with `attr`'s values parsed now if class `qualname` assigns it in code that was cut."""
        facts = self.files.get(path)
        if facts is not None and attr in facts.cut_attributes.get(qualname, ()):
            return self._with_name_parsed(path, facts, attr)
        return facts

    def facts_with_name(self, path: str, name: str) -> FileFacts | None:
        """The file's facts, with `name`'s values parsed now if it is bound in a statement that was cut."""
        facts = self.files.get(path)
        if facts is not None and name in facts.cut_names:
            return self._with_name_parsed(path, facts, name)
        return facts

    def _with_name_parsed(self, path: str, facts: FileFacts, name: str) -> FileFacts:
        """The file's facts, with what the statements that bind `name` (or assign the
        attribute) say of it, parsed now."""
        if self.facts_naming is not None:
            named = self.facts_naming(path, name)
            if named is not None:
                self.files[path] = facts = with_name_parsed(facts, named, name)
        return facts

    def class_attr(self, path: str, qualname: str, attr: str, seen: frozenset = frozenset()) -> list[Result] | None:
        key = (path, qualname)
        if key in seen:
            return None
        facts = self.facts_with_attribute(path, qualname, attr)
        cls = facts.classes.get(qualname) if facts else None
        if cls is None:
            return None
        if attr in cls.attrs:
            return _with_via(self.eval(cls.attrs[attr], path), f"{qualname}.{attr}")
        nested = f"{qualname}.{attr}"
        if facts is not None and nested in facts.classes:
            return [ClsRef(path, nested)]
        for base in cls.bases:
            for result in self.eval(base, path):
                if isinstance(result, ClsRef):
                    found = self.class_attr(result.path, result.qualname, attr, seen | {key})
                    if found is not None:
                        return found
        return None

    def subclass_overrides(self, path: str, qualname: str, attr: str) -> list[Result]:
        """Values subclasses (anywhere in the tree) give the attribute: self.X may be any of them."""
        self._find_subclasses(qualname)
        out: list[Result] = []
        pending = list(self._subclasses.get((path, qualname), ()))
        visited: set[tuple[str, str]] = set()
        while pending:
            sub = pending.pop()
            if sub in visited:
                continue
            visited.add(sub)
            facts = self.facts_with_attribute(sub[0], sub[1], attr)
            assert facts is not None  # subclasses are found in self.files
            cls = facts.classes[sub[1]]
            if attr in cls.attrs:
                out.extend(_with_via(self.eval(cls.attrs[attr], sub[0]), f"{sub[1]}.{attr} (subclass)"))
            self._find_subclasses(sub[1])
            pending.extend(self._subclasses.get(sub, ()))
        return out

    def _find_subclasses(self, qualname: str) -> None:
        """Record the classes whose bases may name a class called like `qualname`.

        Only bases spelled with that name (or imported under another name) are
        evaluated: evaluating every base of every class loads half the imports of
        a large tree."""
        name = qualname.rsplit(".", 1)[-1]
        if name in self._subclasses_named:
            return
        self._subclasses_named.add(name)
        for file_path, facts in list(self.files.items()):
            for cls, base in self._bases_spelled(file_path, facts).named(name):
                for result in self.eval(base, file_path):
                    if isinstance(result, ClsRef):
                        self._subclasses.setdefault((result.path, result.qualname), []).append((file_path, cls))

    def _bases_spelled(self, path: str, facts: FileFacts) -> _BasesSpelled:
        """The file's class bases by the name they are spelled with, made once per
        version of its facts (a name parsed on demand may add an import or alias)."""
        known = self._bases.get(path)
        if known is None or known[0] is not facts:
            known = self._bases[path] = (facts, _BasesSpelled(facts))
        return known[1]

    # -- evaluation --

    def eval(self, value: Value, path: str) -> list[Result]:
        key = (path, value)
        if key in self._memo:
            return self._memo[key]
        if key in self._stack:
            return [Unres("circular reference")]
        if len(self._stack) > MAX_DEPTH:
            return [Unres("reference chain too long")]
        self._stack.add(key)
        try:
            results = self._eval(value, path)
        finally:
            self._stack.discard(key)
        self._memo[key] = results
        return results

    def _eval(self, value: Value, path: str) -> list[Result]:
        evaluate = _EVALUATORS.get(type(value))  # one method per kind of Value, below the class
        return evaluate(self, value, path) if evaluate is not None else [Unres("unknown value")]

    def _eval_str(self, value: Str, path: str) -> list[Result]:
        return [Lit(value.text, path, value.span)]

    def _eval_num(self, value: Num, path: str) -> list[Result]:
        return []

    def _eval_name(self, value: Name, path: str) -> list[Result]:
        if value.id == "__file__":  # the code file itself: paths beside it (configfiles.py)
            return [FileRef(os.path.basename(path), path, beside_code=True)]
        return _with_via(self.lookup_name(path, value.id), value.id)

    def _eval_self_attr(self, value: SelfAttr, path: str) -> list[Result]:
        found = self.class_attr(path, value.cls_name, value.attr) or []
        overrides = self.subclass_overrides(path, value.cls_name, value.attr)
        if not found and not overrides:
            return [Unres(f"attribute self.{value.attr} of {value.cls_name}")]
        return [*found, *overrides]

    def _eval_env(self, value: Env, path: str) -> list[Result]:
        if value.default is None:
            return self._env_from_config(value.var, path)
        return _with_via(self.eval(value.default, path), f"env {value.var} (default)")

    def _eval_param(self, value: Param, path: str) -> list[Result]:
        if value.default is None:
            return [Unres(f"parameter '{value.name}' of {value.function}()")]
        return _with_via(self.eval(value.default, path), f"default of {value.function}({value.name}=)")

    def _eval_container(self, value: DictV | SeqV, path: str) -> list[Result]:
        return [Container(value, path)]

    def _eval_one_of(self, value: OneOf, path: str) -> list[Result]:
        out: list[Result] = []
        for option in value.options:
            out.extend(self.eval(option, path))
        return out

    def _eval_unknown(self, value: Unknown, path: str) -> list[Result]:
        return [Unres(value.origin)]

    def _eval_attr(self, value: Attr, path: str) -> list[Result]:
        out: list[Result] = []
        for base in self.eval(value.base, path):
            if isinstance(base, ModRef):
                out.extend(self._module_attr(base, value.attr, path))
            elif isinstance(base, ClsRef):
                found = self.class_attr(base.path, base.qualname, value.attr)
                out.extend(found if found is not None else [Unres(f"attribute {base.qualname}.{value.attr}")])
            elif isinstance(base, Lit):
                if value.attr == "value":  # Enum member .value
                    out.append(base)
            elif isinstance(base, FileRef) and value.attr == "parent":
                out.append(_parent(base))
            elif isinstance(base, Unres):
                out.append(Unres(f"{base.origin}.{value.attr}"))
        return out

    def _module_attr(self, module: ModRef, attr: str, near: str) -> list[Result]:
        if module.path is not None:
            found = self.lookup_export(module.path, attr)
            if found is not None:
                return _with_via(found, f"{module.name}.{attr}")
        sub = f"{module.name}.{attr}"
        sub_path = self.module_path(sub, near)
        if sub_path is not None or module.path is None:
            return [ModRef(sub, sub_path)]
        return [Unres(f"{module.name}.{attr}")]

    def _eval_subscript(self, value: Subscript, path: str) -> list[Result]:
        out: list[Result] = []
        for base in self.eval(value.base, path):
            if isinstance(base, Container):
                item = _container_item(base.value, value.key)
                if item is not None:
                    out.extend(_with_via(self.eval(item, base.path), f"[{value.key!r}]"))
                else:
                    out.append(Unres(f"key {value.key!r} not in the literal"))
            elif isinstance(base, ClsRef) and isinstance(value.key, str):  # Enum["MEMBER"]
                found = self.class_attr(base.path, base.qualname, value.key)
                if found is not None:
                    out.extend(found)
            elif isinstance(base, ConfigRef):
                out.append(self._config_item(base, value.key))
            elif isinstance(base, Unres):
                out.append(Unres(f"{base.origin}[{value.key!r}]"))
        return out

    # -- config files (configfiles.py) --

    def _env_from_config(self, var: str, path: str) -> list[Result]:
        """An env var with no default: the value the nearest committed .env file gives it."""
        found = self.configs.env_values(path, var) if self.configs is not None else []
        if not found:
            return [Unres(f"env var {var}")]
        return [Lit(value.text, facts.path, value.span, (f"env {var}",)) for facts, value in found]

    def _config_item(self, ref: ConfigRef, key: str | int) -> Result:
        from opusguard.facts.configfiles import keys_text, lookup

        keys = (*ref.keys, key)
        if ref.missing:
            return ConfigRef(ref.path, keys, ref.via, ref.missing)
        assert self.configs is not None  # a ConfigRef is only made from the run's config files
        facts = self.configs.read_shown(ref.path)
        found = lookup(facts, keys) if facts is not None else False
        if found is True:
            return ConfigRef(ref.path, keys, ref.via)
        if found is False:
            return Unres(f"config key {keys_text(keys)} of {ref.path} (no Claude model there)")
        return Lit(found.text, ref.path, found.span, (*ref.via, keys_text(keys)))

    def _config_call(self, value: CallV, path: str) -> list[Result] | None:
        """`open(PATH)`, `Path(PATH)`, `.open()` / `.read_text()` on those, and a loader
        (yaml.safe_load, json.load, tomllib.load ...) given one; None for other calls."""
        from opusguard.facts.configfiles import FILE_METHODS, LOADERS, OPENERS

        func = value.func
        if isinstance(func, Attr) and func.attr in FILE_METHODS:  # Path(...).open(), .resolve(), f.read() ...
            return self._files_in(func.base, path)
        if isinstance(func, Attr) and func.attr == "joinpath":  # also `a / "b"` (extract_values.py)
            return self._joined(self.eval(func.base, path), value.args, path)
        if not value.args:
            return None
        name = self._qualified_callee(func, path)
        if name in OPENERS:
            return self._opened(value.args[0], path)
        if name in ("os.path.abspath", "os.path.realpath", "os.path.normpath"):
            return self._files_in(value.args[0], path)
        if name == "os.path.dirname":
            return [_parent(r) for r in self.eval(value.args[0], path) if isinstance(r, FileRef)] or None
        if name == "os.path.join":
            return self._joined(self.eval(value.args[0], path), value.args[1:], path)
        if name in LOADERS and self.configs is not None:
            return self._loaded(value.args[0], path)
        return None

    def _files_in(self, value: Value, path: str) -> list[Result] | None:
        """The known files a value is, None when it is none."""
        files: list[Result] = [r for r in self.eval(value, path) if isinstance(r, FileRef)]
        return files or None

    def _opened(self, value: Value, path: str) -> list[Result] | None:
        """The files `open(value)` / `Path(value)` opens: a literal path, or a known file."""
        opened: list[Result] = []
        for result in self.eval(value, path):
            if isinstance(result, Lit) and not result.partial:
                opened.append(FileRef(result.text, path))
            elif isinstance(result, FileRef):
                opened.append(result)
        return opened or None

    def _loaded(self, value: Value, path: str) -> list[Result] | None:
        """What a loader reads from the committed config files `value` names."""
        assert self.configs is not None  # the caller's test
        out: list[Result] = []
        for loaded in self.eval(value, path):
            if not isinstance(loaded, FileRef):
                continue
            found = self.configs.named_file(loaded.near, loaded.written, beside_code=loaded.beside_code)
            if not found:
                out.append(ConfigRef(loaded.written, missing="no committed config file there"))
            for facts in found:
                if facts.error is not None:
                    out.append(ConfigRef(facts.path, missing=f"line {facts.error_line}: {facts.error}"))
                else:
                    out.append(ConfigRef(facts.path))
        return out or None

    def _joined(self, bases: list[Result], parts: tuple[Value, ...], path: str) -> list[Result] | None:
        """A file path joined from one that is known and literal parts."""
        out: list[Result] = []
        for base in bases:
            if isinstance(base, Lit) and not base.partial:
                base = FileRef(base.text, path)
            if not isinstance(base, FileRef):
                continue
            texts = [base.written]
            for part in parts:
                lits = [r for r in self.eval(part, path) if isinstance(r, Lit) and not r.partial]
                if len(lits) != 1:
                    return None
                texts.append(lits[0].text)
            out.append(FileRef(os.path.join(*texts), base.near, base.beside_code))
        return out or None

    def _qualified_callee(self, func: Value, path: str) -> str | None:
        """`open`, `yaml.safe_load`, `json.load` ... as imported in the file (a name
        bound or defined in it is not the builtin)."""
        facts = self.files.get(path)
        if facts is None:
            return None
        if isinstance(func, Name):
            for imp in reversed(facts.imports):
                if imp.local == func.id:
                    return f"{imp.module}.{imp.name}" if imp.name and not imp.level else None
            if func.id in facts.bindings or func.id in facts.functions or func.id in facts.classes:
                return None
            return func.id
        if isinstance(func, Attr) and isinstance(func.base, Name):
            for imp in reversed(facts.imports):
                if imp.local == func.base.id and imp.name is None:
                    return f"{_bound_module(imp)}.{func.attr}"
            return f"{func.base.id}.{func.attr}" if func.base.id == "os" else None
        if isinstance(func, Attr) and isinstance(func.base, Attr):
            inner = self._qualified_callee(func.base, path)
            return f"{inner}.{func.attr}" if inner else None
        return None

    def _eval_concat(self, value: Concat, path: str) -> list[Result]:
        texts: list[str] = []
        first_span: Span | None = None
        literal_path = path
        via: tuple[str, ...] = ()
        for part in value.parts:
            results = self.eval(part, path)
            lits = [r for r in results if isinstance(r, Lit) and not r.partial]
            if len(results) == 1 and len(lits) == 1:
                texts.append(lits[0].text)
                if first_span is None:
                    first_span, literal_path, via = lits[0].span, lits[0].path, lits[0].via
                continue
            prefix = "".join(texts)
            if prefix and first_span is not None:
                return [Lit(prefix, literal_path, first_span, via, partial=True)]
            unresolved: list[Result] = [r for r in results if isinstance(r, Unres)]
            return unresolved or [Unres("computed string")]
        if first_span is None:
            return []
        # The span is the first piece's: the id is not written whole anywhere.
        return [Lit("".join(texts), literal_path, first_span, (*via, "concatenation"))]

    def is_router_callee(self, callee: Value, path: str) -> bool:
        if not isinstance(callee, (Name, Attr)) or dotted_name(callee).split(".")[-1] != self.router_function:
            return False
        if is_router_file(path, self.router_module) and isinstance(callee, Name):
            return True
        target = self.callee_target(callee, path)
        return target is not None and target[1] == self.router_function and self.router_module in target[0]

    def _eval_call(self, value: CallV, path: str) -> list[Result]:
        if value.args and isinstance(value.args[0], Str) and self.is_router_callee(value.func, path):
            return [Routed(value.args[0].text)]
        if isinstance(value.func, Attr) and value.func.attr in _CASE_AND_SPACE and not value.args:
            # "CLAUDE-SONNET-4-5".lower(): the literal, as the call makes it.
            change = _CASE_AND_SPACE[value.func.attr]
            return [
                replace(r, text=change(r.text)) if isinstance(r, Lit) else r for r in self.eval(value.func.base, path)
            ]
        from_config = self._config_call(value, path)
        if from_config is not None:
            return from_config
        return self._call_result(value, path)

    def _call_result(self, value: CallV, path: str) -> list[Result]:
        """What calling the callee gives: an enum member looked up by value, an instance."""
        out: list[Result] = []
        for func in self.eval(value.func, path):
            if isinstance(func, ClsRef) and value.args:
                facts = self.files.get(func.path)
                cls = facts.classes.get(func.qualname) if facts else None
                if cls is not None and cls.is_enum:  # Models("claude-...") looks a member up by value
                    for arg in self.eval(value.args[0], path):
                        if isinstance(arg, Lit):
                            out.append(arg)
                    continue
            if isinstance(func, Unres):
                out.append(Unres(f"call to {func.origin.removeprefix('name ')}()"))
            elif isinstance(func, ClsRef):
                # An instance: its attributes are the class's (dataclass and pydantic
                # defaults, self.X assignments), which is what `Config().model` reads.
                out.append(func)
        return out or [Unres("call result")]

    # -- calls to the router --

    def callee_target(self, value: Value, path: str) -> tuple[list[str], str] | None:
        """(module names the callee is defined in, its name), through imports."""
        facts = self.files.get(path)
        if facts is None:
            return None
        if isinstance(value, Name):
            if value.id in facts.functions or value.id in facts.bindings:
                return module_names_for_path(path), value.id
            for imp in reversed(facts.imports):
                if imp.local == value.id and imp.name is not None:
                    target, module_name = self.import_target(imp.module, imp.level, path)
                    names = module_names_for_path(target) if target else [module_name]
                    return names, imp.name
            return None
        if isinstance(value, Attr) and isinstance(value.base, (Name, Attr)):
            for base in self.eval(value.base, path):
                if isinstance(base, ModRef):
                    names = module_names_for_path(base.path) if base.path else [base.name]
                    return names, value.attr
        return None


_EVALUATORS: dict[type, Callable[[Resolver, Any, str], list[Result]]] = {
    Str: Resolver._eval_str,
    Num: Resolver._eval_num,
    Name: Resolver._eval_name,
    Attr: Resolver._eval_attr,
    SelfAttr: Resolver._eval_self_attr,
    Subscript: Resolver._eval_subscript,
    Env: Resolver._eval_env,
    Param: Resolver._eval_param,
    Concat: Resolver._eval_concat,
    DictV: Resolver._eval_container,
    SeqV: Resolver._eval_container,
    OneOf: Resolver._eval_one_of,
    CallV: Resolver._eval_call,
    Unknown: Resolver._eval_unknown,
}


def _bound_module(imp: ImportFact) -> str:
    """The module a plain import binds: `import a.b.c` binds the package `a`, `import a.b as c` binds a.b."""
    return imp.local if imp.local == imp.module.split(".")[0] else imp.module


def _parent(ref: FileRef) -> FileRef:
    """`.parent` / os.path.dirname() of a known path."""
    written = ref.written.rstrip("/")
    if written in ("", ".") or os.path.basename(written) == "..":
        return FileRef(os.path.join(written or ".", ".."), ref.near, ref.beside_code)
    return FileRef(os.path.dirname(written) or ".", ref.near, ref.beside_code)


_CASE_AND_SPACE: dict[str, Callable[[str], str]] = {"lower": str.lower, "casefold": str.casefold, "strip": str.strip}


def _container_item(container: DictV | SeqV, key: str | int) -> Value | None:
    if isinstance(container, DictV):
        for item_key, item in reversed(container.items):
            if item_key == key:
                return item
        return None
    if isinstance(key, int) and -len(container.items) <= key < len(container.items):
        return container.items[key]
    return None


# --- building the project ------------------------------------------------------------


def is_router_file(path: str, router_module: str | None) -> bool:
    """The router module itself, or its generated table (`<router module>_table`)."""
    if not router_module:
        return False
    names = module_names_for_path(path)
    return router_module in names or f"{router_module}_table" in names


def build_project(
    files: dict[str, FileFacts],
    *,
    policy: Policy,
    catalog: Catalog,
    today: date,
    find_module: Callable[[str], FileFacts | None] | None = None,
    facts_naming: Callable[[str, str], FileFacts | None] | None = None,
    configs: ConfigView | None = None,
) -> Project:
    """The literals that name a Claude model and the calls that send one, in every
    file; then the call sites of helpers that pass a model on.

    `configs`: the run's config files (configfiles.ConfigView), or None."""
    router = (policy.router_module, policy.router_function or "route")
    resolver = Resolver(files, catalog, find_module, router, facts_naming, configs)
    join = _Join(files, resolver, catalog, router)
    calls: list[ResolvedCall] = []
    literals: list[ResolvedLiteral] = []
    # File by file, literals then calls: in a reference cycle, what the resolver
    # memoizes depends on what it met first.
    for path, facts in files.items():
        literals.extend(join.model_literals(path, facts))
        calls.extend(join.model_calls(path, facts))
    calls.extend(_HelperCalls(join, calls).find())
    literals.extend(join.alias_literals.values())
    literals.sort(key=lambda lit: (lit.path, lit.literal.span))
    return Project(
        files=files,
        calls=calls,
        literals=literals,
        policy=policy,
        catalog=catalog,
        today=today,
        modules=_module_index(files),
        configs=configs.inventory() if configs is not None else {},
    )


class _Join:
    """One file's facts -> its model literals and the calls that send a model, with the
    resolver of the whole tree."""

    def __init__(
        self, files: dict[str, FileFacts], resolver: Resolver, catalog: Catalog, router: tuple[str | None, str]
    ) -> None:
        self.files = files
        self.resolver = resolver
        self.catalog = catalog
        self.router_module, self.router_function = router
        # Short aliases ("opus") where a call takes them, kept as literals of their file.
        self.alias_literals: dict[tuple[str, Span], ResolvedLiteral] = {}

    # -- literals --

    def model_literals(self, path: str, facts: FileFacts) -> list[ResolvedLiteral]:
        """The file's literals that name a Claude model (an f-string's as the id it builds)."""
        in_router = is_router_file(path, self.router_module)
        out: list[ResolvedLiteral] = []
        for literal in facts.literals:
            if literal.value is not None:
                built = _built_literal(self.resolver, literal, path)
                if built is None:
                    continue
                literal = built
            ref = self.catalog.recognize(literal.text)
            if ref is None and literal.value is not None:
                ref = self.catalog.recognize_prefix(literal.text)
            if ref is not None:
                out.append(ResolvedLiteral(path, literal, ref, in_router))
        return out

    def recognize(self, result: Lit, short_alias: bool) -> ModelRef | None:
        """The model a literal names (by its prefix when partial), or a short alias
        ("opus") where the call takes one, then kept as a literal of its file."""
        if result.partial:
            return self.catalog.recognize_prefix(result.text)
        ref = self.catalog.recognize(result.text)
        if ref is None and short_alias:
            ref = self.catalog.recognize_short_alias(result.text)
            if ref is not None:
                self._add_alias_literal(result, ref)
        return ref

    def _add_alias_literal(self, result: Lit, ref: ModelRef) -> None:
        key = (result.path, result.span)
        if key not in self.alias_literals and result.path in self.files:
            self.alias_literals[key] = ResolvedLiteral(
                result.path,
                LiteralFact(result.text, result.span, "Claude Agent SDK model alias"),
                ref,
                is_router_file(result.path, self.router_module),
            )

    # -- calls --

    def model_calls(self, path: str, facts: FileFacts) -> list[ResolvedCall]:
        """The file's calls that send a model, are Claude calls, route, or carry a task."""
        routed_args = self._routed_args(path, facts)
        out: list[ResolvedCall] = []
        for call in facts.calls:
            if call.span in routed_args:
                continue  # `model=route("task")`: the outer call is the routed one, not counted twice
            resolved = self._resolve_call(path, facts, call, routed_args)
            if resolved.models or resolved.is_claude or resolved.is_router_call or resolved.annotated_task:
                out.append(resolved)
        return out

    def is_router(self, callee: str, callee_value: Value, path: str) -> bool:
        return callee.split(".")[-1] == self.router_function and self.resolver.is_router_callee(callee_value, path)

    def _routed_args(self, path: str, facts: FileFacts) -> dict[Span, str]:
        """The task of each model argument that is a `route("task")` call, by its span."""
        routed: dict[Span, str] = {}
        for call in facts.calls:
            for arg in call.model_args:
                value = arg.value
                if (
                    isinstance(value, CallV)
                    and value.args
                    and isinstance(value.args[0], Str)
                    and isinstance(value.func, (Name, Attr))
                    and self.is_router(dotted_name(value.func), value.func, path)
                ):
                    routed[arg.span] = value.args[0].text
        return routed

    def _resolve_call(self, path: str, facts: FileFacts, call: CallFact, routed_args: dict[Span, str]) -> ResolvedCall:
        resolved = ResolvedCall(path=path, call=call)
        annotation = facts.annotations.get(call.span[0])
        if annotation is not None:
            resolved.annotated_task = annotation.task
        if call.first_arg is not None and self.is_router(call.callee, call.callee_value, path):
            _mark_routed(resolved, call.first_arg.text)
        known: set[tuple[str, str, Span]] = set()
        for arg in call.model_args:
            if arg.key.startswith("~"):
                continue  # an argument a helper may pass on (see _HelperCalls)
            if arg.span in routed_args:
                _mark_routed(resolved, routed_args[arg.span])
                continue
            for result in self.resolver.eval(arg.value, path):
                self._add_result(resolved, result, arg.accepts_short_alias, known)
        self._settle(resolved, path)
        return resolved

    def _add_result(
        self, resolved: ResolvedCall, result: Result, short_alias: bool, known: set[tuple[str, str, Span]]
    ) -> None:
        """What one value of a model argument tells of the call."""
        if isinstance(result, Lit):
            ref = self.recognize(result, short_alias)
            if ref is not None:
                _add_model(resolved, ref, result, result.via, known)
        elif isinstance(result, Unres):
            resolved.unresolved.append(result.origin)
        elif isinstance(result, Routed):  # a default routed where it is defined
            resolved.routed_tasks.append(result.task)
        elif isinstance(result, ConfigRef):  # nothing to read, or a whole table
            keys = "".join(f"[{k!r}]" for k in result.keys)
            resolved.unresolved.append(
                f"config key {keys} of {result.path}: {result.missing}"
                if result.missing
                else f"config table {result.path}{keys}"
            )

    def _settle(self, resolved: ResolvedCall, path: str) -> None:
        """Once every argument is read: the route, whether it is a Claude call, its prompt."""
        call = resolved.call
        if resolved.routed_tasks and not resolved.models and not resolved.is_router_call:
            resolved.is_router_call = True
            resolved.route_task = resolved.routed_tasks[0]
        if resolved.models or (call.sink in CLAUDE_ONLY_SINKS):
            resolved.is_claude = True
        if not resolved.is_claude:
            resolved.unresolved = []
        elif call.prompts:
            resolved.prompts = prompt_texts(self.resolver, call.prompts, path)


def _mark_routed(resolved: ResolvedCall, task: str) -> None:
    """The call goes through the router for `task`: a Claude call whose model the policy picks."""
    resolved.is_router_call = True
    resolved.route_task = task
    resolved.is_claude = True


def _add_model(
    resolved: ResolvedCall, ref: ModelRef, result: Lit, via: tuple[str, ...], known: set[tuple[str, str, Span]]
) -> None:
    """A model the call may send, once per model and literal (`known`: those already added)."""
    key = (ref.model_id, result.path, result.span)
    if key not in known:
        known.add(key)
        resolved.models.append(ResolvedModel(ref, result.path, result.span, via))


def _module_index(files: dict[str, FileFacts]) -> dict[str, str]:
    """Each file by its longest dotted module name."""
    modules = {}
    for path in files:
        names = module_names_for_path(path)
        if names:
            modules[names[0]] = path
    return modules


# --- the prompt a call sends, as far as it is written in code ---------------------------

PROMPT_CHARS = 600  # of each part: enough for the report's signals and an excerpt


def prompt_texts(resolver: Resolver, prompts: list[tuple[str, Value]], path: str) -> list[tuple[str, str, str]]:
    """(part, where, text) of the system prompt and user messages a call sends: string
    literals, f-strings and `.format` templates (placeholders as "{…}"), through local
    and module constants in any file. An assistant turn is not the prompt."""
    parts = _PromptParts(resolver)
    for part, value in prompts:
        parts.add(value, path, "user" if part == "messages" else part, 0)
    # An f-string's text is as written: its escapes are still backslashes.
    return [(role, where, text.replace("\\n", "\n").replace("\\t", " ")) for role, where, text in parts.out]


class _PromptParts:
    """The (role, where, text) parts a prompt's values hold, in `out`: a few, not deep."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.out: list[tuple[str, str, str]] = []

    def add(self, value: Value, path: str, role: str, depth: int) -> None:
        if depth > 8 or len(self.out) > 8:
            return
        if isinstance(value, DictV):
            self._add_message(value, path, role, depth)
        elif isinstance(value, SeqV):
            for item in value.items:
                self.add(item, path, role, depth + 1)
        elif isinstance(value, OneOf):
            for option in value.options:
                self.add(option, path, role, depth + 1)
        else:
            self._add_text(value, path, role, depth)

    def _add_message(self, value: DictV, path: str, role: str, depth: int) -> None:
        """A message dict: its content, unless an assistant turn or a tool result."""
        fields = dict(value.items)
        if "role" in fields:
            said = _one_text(self.resolver, fields["role"], path)
            if said in ("system", "developer"):
                role = "system"
            elif said != "user":
                return  # an assistant turn, a tool result
        for key in ("content", "text"):
            if key in fields:
                self.add(fields[key], path, role, depth + 1)

    def _add_text(self, value: Value, path: str, role: str, depth: int) -> None:
        """A template written here, or the text a name resolves to."""
        text = _template_text(self.resolver, value, path, 0)
        if text is not None:
            if text.strip():
                self.out.append((role, _where(_template_name(value), role), text[:PROMPT_CHARS]))
            return
        if not isinstance(value, (Name, Attr, Subscript, SelfAttr, Param, Env)):
            return
        label = dotted_name(value, "?") if isinstance(value, (Name, Attr)) else ""
        for result in self.resolver.eval(value, path):
            if isinstance(result, Container):
                self.add(result.value, result.path, role, depth + 1)
            elif isinstance(result, Lit) and not result.partial and result.text.strip():
                self.out.append((role, _where(label if label != "?" else "", role), result.text[:PROMPT_CHARS]))


def _template_name(value: Value) -> str:
    """The name a template is read from (`PROMPT` of `PROMPT.format(...)`), else ""."""
    base: Value = value
    while isinstance(base, CallV) and isinstance(base.func, Attr) and base.func.attr in _TEMPLATE_METHODS:
        base = base.func.base
    return dotted_name(base, "?") if isinstance(base, (Name, Attr)) else ""


def _where(label: str, role: str) -> str:
    """Where a prompt part is written, as the report says it."""
    return f"template {label}" if label else ("system prompt" if role == "system" else "user message")


def _template_text(resolver: Resolver, value: Value, path: str, depth: int) -> str | None:
    """A template's text, "{…}" where a part is not known; None when it is no template."""
    if depth > 6:
        return None
    if isinstance(value, Str):
        return value.text
    if isinstance(value, Concat):
        texts = []
        for part in value.parts:
            text = _template_text(resolver, part, path, depth + 1)
            if text is None:
                text = _one_text(resolver, part, path)
            texts.append(text if text is not None else "{…}")
        return "".join(texts) if any(t != "{…}" for t in texts) else None
    if isinstance(value, CallV) and isinstance(value.func, Attr) and value.func.attr in _TEMPLATE_METHODS:
        base = value.func.base
        text = _template_text(resolver, base, path, depth + 1)
        return text if text is not None else _one_text(resolver, base, path)
    return None


_TEMPLATE_METHODS = frozenset({"format", "format_map", "strip", "replace", "substitute", "safe_substitute"})


def _one_text(resolver: Resolver, value: Value, path: str) -> str | None:
    """The one string a value resolves to, else None."""
    if isinstance(value, Str):
        return value.text
    results = resolver.eval(value, path)
    if len(results) == 1 and isinstance(results[0], Lit) and not results[0].partial:
        return results[0].text
    return None


def _built_literal(resolver: Resolver, literal: LiteralFact, path: str) -> LiteralFact | None:
    """An f-string's literal as the id it builds (f"claude-opus-4-{VERSION}" with
    VERSION = "1" is claude-opus-4-1), or its fixed start when the rest is unknown
    (then `value` stays set: the version is unknown); None when it builds no one id."""
    assert literal.value is not None  # the caller's test
    results = resolver.eval(literal.value, path)
    if len(results) != 1 or not isinstance(results[0], Lit):
        return None
    result = results[0]
    if result.partial:
        return replace(literal, text=result.text)
    via = " via " + " -> ".join(step for step in result.via if step != "concatenation") if len(result.via) > 1 else ""
    context = f"built by {literal.text}{via}"
    return replace(literal, text=result.text, context=context, value=None)


# --- helpers that pass a model on ----------------------------------------------------


class _Forward(Struct, frozen=True):
    """What a helper's parameter reaches: a model-taking call of this kind."""

    claude_only: bool
    short_alias: bool


class _HelperCalls:
    """Call sites of helpers whose parameter reaches a model-taking call, as calls.

    `def make_options(model): return ClaudeAgentOptions(model=model)` makes each
    `make_options("opus")` a call that sends "opus", wherever it is; a call site
    that passes its own parameter on makes its function a helper too (any depth;
    each helper parameter is followed once). find() returns the new calls; models
    found at call sites already listed are added to them."""

    def __init__(self, join: _Join, calls: list[ResolvedCall]) -> None:
        self.join = join
        self.resolver = join.resolver
        # (file, function, parameter) of each helper parameter to follow, and those already met
        self.pending: list[tuple[tuple[str, str, str], _Forward]] = []
        self.seen: set[tuple[str, str, str]] = set()
        self.existing = {(c.path, c.call.span): c for c in calls}
        self.new: dict[tuple[str, Span], ResolvedCall] = {}

    def find(self) -> list[ResolvedCall]:
        self._add_direct_helpers()
        if not self.pending:
            return []
        calls_by_name = self._model_calls_by_name()
        while self.pending:
            helper, forward = self.pending.pop()
            self._follow(helper, forward, calls_by_name)
        return [c for c in self.new.values() if c.models or (c.is_claude and c.unresolved)]

    def _add_helper(self, key: tuple[str, str, str], forward: _Forward) -> None:
        if key not in self.seen:
            self.seen.add(key)
            self.pending.append((key, forward))

    def _add_direct_helpers(self) -> None:
        """The parameters model-taking calls read as they are (`model=model`)."""
        for path, facts in self.join.files.items():
            for call in facts.calls:
                forward = _Forward(call.sink in CLAUDE_ONLY_SINKS, False)
                for arg in call.model_args:
                    if arg.key.startswith("~"):
                        continue
                    for param in _params_in(arg.value):
                        self._add_helper(
                            (path, param.function, param.name), replace(forward, short_alias=arg.accepts_short_alias)
                        )

    def _model_calls_by_name(self) -> dict[str, list[tuple[str, CallFact]]]:
        """Calls that pass a model argument (maybe to a helper), by the callee's last name."""
        by_name: dict[str, list[tuple[str, CallFact]]] = {}
        for path, facts in list(self.resolver.files.items()):
            for call in facts.calls:
                if call.model_args:
                    by_name.setdefault(call.callee.rsplit(".", 1)[-1], []).append((path, call))
        return by_name

    def _follow(
        self,
        helper: tuple[str, str, str],
        forward: _Forward,
        calls_by_name: dict[str, list[tuple[str, CallFact]]],
    ) -> None:
        """Every call of the helper that gives the parameter a value."""
        helper_path, qualname, param_name = helper
        helper_facts = self.resolver.files.get(helper_path)
        params = helper_facts.functions.get(qualname, ()) if helper_facts else ()
        if param_name not in params:
            return
        for path, call in calls_by_name.get(qualname.rsplit(".", 1)[-1], ()):
            target = _callee_function(self.resolver, call.callee_value, path)
            if target is None or target[:2] != (helper_path, qualname):
                continue
            position = str(params.index(param_name) - (1 if target[2] else 0))
            given = _argument_for(call, param_name, position)
            if given is not None:
                self._call_site(path, call, self._values_given(given.value, path, forward), helper, forward)

    def _values_given(self, value: Value, path: str, forward: _Forward) -> list[Value]:
        """The values a call site gives: its function's own parameter makes that function a
        helper too, and is a value only through its default."""
        values: list[Value] = []
        for option in value.options if isinstance(value, OneOf) else (value,):
            if isinstance(option, Param):
                self._add_helper((path, option.function, option.name), forward)
                if option.default is not None:
                    values.append(option)
            else:
                values.append(option)
        return values

    def _call_site(
        self, path: str, call: CallFact, values: list[Value], helper: tuple[str, str, str], forward: _Forward
    ) -> None:
        """The models the values name, on the call that gives them to the helper."""
        if not values:
            return  # a hop: its own callers are the call sites
        _, qualname, param_name = helper
        resolved = self._resolved(path, call)
        step = f"{qualname}({param_name}=)"
        known = {(m.ref.model_id, m.literal_path, m.literal_span) for m in resolved.models}
        for value in values:
            for result in self.resolver.eval(value, path):
                if isinstance(result, Lit):
                    ref = self.join.recognize(result, forward.short_alias)
                    if ref is not None:
                        _add_model(resolved, ref, result, (step, *result.via), known)
                elif isinstance(result, Unres) and forward.claude_only:
                    resolved.unresolved.append(f"{result.origin}, passed to {qualname}()")
        if resolved.models or forward.claude_only:
            resolved.is_claude = True

    def _resolved(self, path: str, call: CallFact) -> ResolvedCall:
        """The call as the project lists it, new if it is not there yet."""
        key = (path, call.span)
        resolved = self.existing.get(key) or self.new.get(key)
        if resolved is None:
            resolved = ResolvedCall(path=path, call=call)
            annotation = (
                self.resolver.files[path].annotations.get(call.span[0]) if path in self.resolver.files else None
            )
            if annotation is not None:
                resolved.annotated_task = annotation.task
            self.new[key] = resolved
        return resolved


def _argument_for(call: CallFact, name: str, position: str) -> ModelArg | None:
    """The model argument a call gives a parameter: by keyword, else by position."""
    return next((a for a in call.model_args if a.key.lstrip("~") == name), None) or next(
        (a for a in call.model_args if a.key.lstrip("~") == position), None
    )


def _params_in(value: Value) -> list[Param]:
    """The parameters a model argument may come from (`model`, `model or DEFAULT`)."""
    if isinstance(value, Param):
        return [value]
    if isinstance(value, OneOf):
        return [p for option in value.options for p in _params_in(option)]
    return []


def _callee_function(resolver: Resolver, callee: Value, path: str) -> tuple[str, str, bool] | None:
    """(file, qualified name, called as a bound method) of the function a call calls.

    Read from imports alone: evaluating the callee (`agent.run`) could parse whole
    files (cut names) or load modules outside the tree, for every call of a common name."""
    facts = resolver.files.get(path)
    if facts is None:
        return None
    if isinstance(callee, SelfAttr):
        qualname = f"{callee.cls_name}.{callee.attr}"
        return (path, qualname, True) if qualname in facts.functions else None
    if isinstance(callee, Name):
        return _function_named(resolver, facts, callee.id, path)
    if isinstance(callee, Attr) and isinstance(callee.base, Name):
        return _module_function(resolver, facts, callee.base.id, callee.attr, path)
    return None


def _function_named(resolver: Resolver, facts: FileFacts, name: str, path: str) -> tuple[str, str, bool] | None:
    """`name()` in the file at `path`: a function of it, or one it imports from a file of the tree."""
    if name in facts.functions:
        return path, name, False
    for imp in reversed(facts.imports):
        if imp.local == name and imp.name not in (None, "*"):
            target = _module_in_tree(resolver, imp.module, imp.level, path)
            if target is not None and imp.name in resolver.files[target].functions:
                return target, imp.name, False
            return None
    return None


def _module_function(
    resolver: Resolver, facts: FileFacts, module_local: str, attr: str, path: str
) -> tuple[str, str, bool] | None:
    """`module.attr()` for a module the file at `path` imports as `module_local`."""
    for imp in reversed(facts.imports):
        if imp.local != module_local or imp.name == "*":
            continue
        if imp.name is None:  # import a.b as c; import a
            module = _bound_module(imp)
        else:  # from pkg import module
            module = f"{imp.module}.{imp.name}" if imp.module else imp.name
        target = _module_in_tree(resolver, module, imp.level, path)
        if target is not None and attr in resolver.files[target].functions:
            return target, attr, False
        return None
    return None


def _module_in_tree(resolver: Resolver, module: str, level: int, importer: str) -> str | None:
    """The file of a module among those already read (nothing is loaded for this)."""
    if level:
        return resolver.relative_module_path(module, level, importer)
    if module not in resolver.index:
        return None
    return resolver.module_path(module, importer)
