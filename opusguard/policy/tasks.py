"""Task policies: load and validate the policy YAML, with file:line:col errors.

Positions come from the YAML node tree (yaml.compose), so every error points at
the key or value that is wrong. Only safe loading is used. PyYAML is imported by
the functions that parse (a warm run with a cached policy never does).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Collection
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct, field

from opusguard.base.datafile import outside
from opusguard.base.stamps import Stamp, file_stamp
from opusguard.base.tiers import NAMED_TIERS, TIERS, Tier
from opusguard.policy.catalog import Catalog, CatalogEntry, entry_from_mapping, load_catalog
from opusguard.policy.config import POLICY_FILE_NAMES, find_project_root
from opusguard.policy.evidence import Evidence

if TYPE_CHECKING:
    import yaml

TOP_LEVEL_KEYS = ("version", "router", "tiers", "tasks", "include", "models")
TASK_KEYS = ("tier", "description", "justification", "owner", "review_by", "evidence", "model")
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_ROUTER = re.compile(rf"^{_DOTTED}:[A-Za-z_][A-Za-z0-9_]*$")
_TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class PolicyError(Exception):
    """str() is 'path:line:col: what is wrong (what is allowed)'."""

    def __init__(self, path: str, line: int, column: int, message: str):
        super().__init__(f"{path}:{line}:{column}: {message}")
        self.path, self.line, self.column, self.message = path, line, column, message


class Task(Struct):
    name: str
    tier: str
    description: str | None = None
    justification: str | None = None
    owner: str | None = None
    review_by: date | None = None
    evidence: str | None = None
    model: str | None = None
    source: str = ""  # the policy file the task is written in
    line: int = 1
    column: int = 1


class Policy(Struct):
    path: str | None
    version: int = 1
    router: str | None = None
    tiers: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    catalog: Catalog | None = None
    # key path -> (line, column), for findings that point into the policy
    positions: dict[tuple[str, ...], tuple[int, int]] = field(default_factory=dict)
    # real paths of the folders its includes and evidence files must be in
    roots: tuple[str, ...] = ()
    # By task name: its evidence file as read (evidence.read_evidence), or why it could not be.
    evidence: dict[str, Evidence | str] = field(default_factory=dict)

    @property
    def router_module(self) -> str | None:
        return self.router.split(":", 1)[0] if self.router else None

    @property
    def router_function(self) -> str | None:
        return self.router.split(":", 1)[1] if self.router else None

    def model_for(self, task: str) -> str | None:
        """The model a route(task) call sends: the task's pinned model, else its tier's."""
        found = self.tasks.get(task)
        if found is None:
            return None
        return found.model or self.tiers.get(found.tier)

    def line_of(self, *keys: str) -> tuple[int, int]:
        return self.positions.get(tuple(keys), (1, 1))


class PolicyData(Struct):
    """A Policy as data, without its catalog (the caller has it) but with the models
    the policy declares (for the parsed-object cache)."""

    path: str | None
    version: int
    router: str | None
    tiers: dict[str, str]
    tasks: dict[str, Task]
    positions: dict[tuple[str, ...], tuple[int, int]]
    overrides: tuple[CatalogEntry, ...]
    roots: tuple[str, ...] = ()


def discover_policy(start: Path) -> Path | None:
    """The nearest policy file walking up from `start`."""
    start = start.resolve()
    for directory in (start, *start.parents):
        for name in POLICY_FILE_NAMES:
            candidate = directory / name
            try:
                mode = candidate.stat().st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode):
                return candidate
            # a folder of that name is no policy, and no reason to run without one
            raise PolicyError(str(candidate), 1, 1, "is not a file (the policy is a YAML file)")
    return None


def empty_policy(catalog: Catalog | None = None) -> Policy:
    catalog = catalog or load_catalog()
    return Policy(path=None, tiers=_default_tiers(catalog), catalog=catalog)


def _default_tiers(catalog: Catalog) -> dict[str, str]:
    tiers: dict[str, str] = {}
    for tier in NAMED_TIERS:
        entry = catalog.latest(tier)
        if entry is not None:
            tiers[tier.value] = entry.id
    return tiers


def policy_roots(path: str | Path, root: Path | None = None) -> tuple[str, ...]:
    """The folders a policy's includes and evidence files must resolve into: the
    project's root (`root`, else the one holding the current folder) and the
    policy's own folder (a policy named with --policy may sit elsewhere)."""
    project = root if root is not None else find_project_root(Path.cwd())
    return tuple(dict.fromkeys((os.path.realpath(project), os.path.realpath(Path(path).parent))))


def load_policy(path: str | Path, catalog: Catalog | None = None, *, root: Path | None = None) -> Policy:
    """The policy at `path`, with its includes, checked against `catalog`; includes
    and evidence must lie inside `policy_roots(path, root)`. run/parsed_cache.py keeps
    one built by an earlier run while none of its files changed."""
    return parse_policy(path, catalog or load_catalog(), policy_roots(path, root))[0]


def load_policy_text(
    path: str | Path, text: str, catalog: Catalog | None = None, *, root: Path | None = None
) -> Policy:
    """The policy `path` would be if it held `text` (its includes read from disk):
    how a policy is checked before it is written."""
    loader = _PolicyLoader(catalog or load_catalog(), policy_roots(path, root))
    loader.load_file(Path(path), chain=(), text=text)
    return loader.finish(str(path))


def parse_policy(path: str | Path, catalog: Catalog, roots: tuple[str, ...]) -> tuple[Policy, _PolicyLoader]:
    """The policy and its loader (the stamps of the files it read, the models it added)."""
    loader = _PolicyLoader(catalog, roots)
    loader.load_file(Path(path), chain=())
    return loader.finish(str(path)), loader


# --- loading -------------------------------------------------------------------------


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _suggest(word: str, allowed: Collection[str]) -> str:
    import difflib  # only an error message needs it

    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(allowed)})"


class _PolicyLoader:
    def __init__(self, catalog: Catalog, roots: tuple[str, ...] = ()):
        self.catalog = catalog
        self.version = 1
        self.router: str | None = None
        self.tiers: dict[str, str] = {}
        self.tasks: dict[str, Task] = {}
        self.overrides: list[CatalogEntry] = []
        self.positions: dict[tuple[str, ...], tuple[int, int]] = {}
        self.pending_pins: list[tuple[Task, str, int, int]] = []
        self.stamps: list[Stamp] = []  # every file read, for the parsed-object cache
        self.roots = roots  # real paths of the folders includes and evidence must be in
        self.loaded: set[Path] = set()

    def error(self, path: Path, node: yaml.Node | None, message: str) -> PolicyError:
        line, column = _pos(node) if node is not None else (1, 1)
        return PolicyError(str(path), line, column, message)

    def load_file(self, path: Path, chain: tuple[Path, ...], text: str | None = None) -> None:
        import yaml

        resolved = path.resolve()
        if resolved in chain:
            cycle = " -> ".join(str(p) for p in (*chain, resolved))
            raise PolicyError(str(path), 1, 1, f"include cycle: {cycle}")
        if resolved in self.loaded:
            return  # a diamond of includes: each file is read once
        self.loaded.add(resolved)
        root = self._compose(path, text)
        if root is None:
            return
        if not isinstance(root, yaml.MappingNode):
            raise self.error(path, root, "a policy is a mapping of keys (version, router, tiers, tasks)")
        entries = self._mapping(path, root, TOP_LEVEL_KEYS)
        # In this order: included files before this file's keys, `models:` before the tiers naming its ids.
        readers: dict[str, Callable[[Path, yaml.Node], None]] = {
            "version": self._version,
            "include": lambda path, node: self._includes(path, node, (*chain, resolved)),
            "models": self._models,
            "router": self._router,
            "tiers": self._tiers,
            "tasks": self._tasks,
        }
        for key, read in readers.items():
            if key in entries:
                read(path, entries[key][1])

    def _compose(self, path: Path, text: str | None) -> yaml.Node | None:
        """The file's YAML node tree (`text`, else the file read); None when it is empty."""
        from opusguard.base.datafile import DataFileError, compose_yaml, read_data_file

        try:
            if text is None:
                self.stamps.append(file_stamp(path))  # before reading: see file_stamp
                text = read_data_file(path, "policy")
            return compose_yaml(text, path)
        except OSError as exc:
            raise PolicyError(str(path), 1, 1, f"cannot read policy: {exc.strerror or exc}") from None
        except DataFileError as exc:
            raise PolicyError(exc.path, exc.line, exc.column, exc.message) from None

    def _version(self, path: Path, node: yaml.Node) -> None:
        if node.value != "1":
            raise self.error(path, node, f"unsupported version {node.value!r} (allowed: 1)")

    def _includes(self, path: Path, node: yaml.Node, chain: tuple[Path, ...]) -> None:
        """Load each file `include:` names (relative to this one); `chain`: the files including it."""
        import yaml

        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for item in items:
            if not isinstance(item, yaml.ScalarNode) or not item.value:
                raise self.error(path, item, "include takes relative paths of policy files")
            included = path.parent / item.value
            if self.roots and outside(included, self.roots):
                # named by the policy (the scanned tree), not by the user: it stays in the project
                raise self.error(
                    path,
                    item,
                    f"include {item.value!r} is outside the project ({os.path.realpath(included)}); "
                    "an include is a file inside the project",
                )
            self.load_file(included, chain)

    def _router(self, path: Path, node: yaml.Node) -> None:
        import yaml

        value = node.value if isinstance(node, yaml.ScalarNode) else None
        if not value or not _ROUTER.match(value):
            raise self.error(path, node, f"router {value!r} is not MODULE:FUNCTION (e.g. app.routing:route)")
        self.router = value
        self.positions[("router",)] = _pos(node)

    def _mapping(
        self, path: Path, node: yaml.Node | None, allowed: Collection[str] | None
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        import yaml

        if not isinstance(node, yaml.MappingNode):
            raise self.error(path, node, "expected a mapping")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error(path, key_node, "a key must be a plain word, not a list or a mapping")
            key = key_node.value
            if allowed is not None and key not in allowed:
                raise self.error(path, key_node, f"unknown key '{key}'{_suggest(key, allowed)}")
            if key in out:
                raise self.error(path, key_node, f"duplicate key '{key}'")
            out[key] = (key_node, value_node)
        return out

    def _scalar(self, path: Path, node: yaml.Node, what: str) -> str:
        import yaml

        if not isinstance(node, yaml.ScalarNode):
            raise self.error(path, node, f"{what} must be a single value")
        return node.value

    def _tiers(self, path: Path, node: yaml.Node) -> None:
        for tier, (key_node, value_node) in self._mapping(path, node, None).items():
            if tier not in TIERS:
                raise self.error(path, key_node, f"unknown tier '{tier}'{_suggest(tier, TIERS)}")
            model = self._scalar(path, value_node, f"tiers.{tier}")
            ref = self.catalog.with_overrides(self.overrides).recognize(model)
            if ref is None:
                raise self.error(path, value_node, f"'{model}' is not a Claude model id")
            if ref.tier != tier:
                raise self.error(path, value_node, f"'{model}' is a {ref.tier} model, not {tier}")
            self.tiers[tier] = model

    def _tasks(self, path: Path, node: yaml.Node) -> None:
        for name, (key_node, value_node) in self._mapping(path, node, None).items():
            if not _TASK_NAME.match(name):
                raise self.error(path, key_node, f"task name '{name}' must be letters, digits, '-', '_' or '.'")
            if name in self.tasks:
                other = self.tasks[name]
                raise self.error(path, key_node, f"duplicate task '{name}' (also at {other.source}:{other.line})")
            fields = self._mapping(path, value_node, TASK_KEYS)
            if "tier" not in fields:
                raise self.error(path, key_node, f"task '{name}' has no tier (allowed: {', '.join(TIERS)})")
            tier_node = fields["tier"][1]
            tier = self._scalar(path, tier_node, "tier")
            if tier not in TIERS:
                raise self.error(path, tier_node, f"unknown tier '{tier}'{_suggest(tier, TIERS)}")
            task = Task(name=name, tier=tier, source=str(path), line=_pos(key_node)[0], column=_pos(key_node)[1])
            for key in ("description", "justification", "owner", "evidence", "model"):
                if key in fields:
                    value = self._scalar(path, fields[key][1], key).strip()
                    setattr(task, key, value or None)
                    self.positions[("tasks", name, key)] = _pos(fields[key][1])
            if "review_by" in fields:
                date_node = fields["review_by"][1]
                task.review_by = self._date(path, date_node)
                self.positions[("tasks", name, "review_by")] = _pos(date_node)
            if task.model is not None:
                self.pending_pins.append((task, task.model, *_pos(fields["model"][1])))
            self.positions[("tasks", name)] = _pos(key_node)
            self.tasks[name] = task

    def _date(self, path: Path, node: yaml.Node) -> date:
        value = self._scalar(path, node, "review_by")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.error(path, node, f"review_by {value!r} is not a date (YYYY-MM-DD)") from None

    def _models(self, path: Path, node: yaml.Node) -> None:
        import yaml

        if not isinstance(node, yaml.SequenceNode):
            raise self.error(path, node, "models is a list of catalog entries (id, tier, price)")
        for item in node.value:
            try:
                data = yaml.safe_load(yaml.serialize(item))
                entry = entry_from_mapping(data)
            except yaml.YAMLError as exc:
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                raise self.error(path, item, f"invalid model entry: {problem}") from None
            except (ValueError, TypeError) as exc:
                raise self.error(path, item, str(exc)) from None
            self._check_tier(path, item, entry)
            self.overrides.append(entry)

    def _check_tier(self, path: Path, node: yaml.Node, entry: CatalogEntry) -> None:
        """A `models:` entry adds models; it never moves a shipped id (or its aliases) to
        another tier, which would silence OG102 for an Opus id declared haiku."""
        for name in (entry.id, *entry.aliases):
            ref = self.catalog.recognize(str(name))
            if ref is not None and ref.tier != Tier.OTHER and ref.tier != entry.tier:
                raise self.error(
                    path,
                    node,
                    f"models: '{name}' is {ref.tier}-tier in the model catalog, not {entry.tier} "
                    "(a policy adds models; it cannot move one to another tier)",
                )

    def finish(self, display_path: str) -> Policy:
        catalog = self.catalog.with_overrides(self.overrides)
        for task, model, line, column in self.pending_pins:
            ref = catalog.recognize(model)
            if ref is None:
                raise PolicyError(task.source, line, column, f"'{model}' is not a Claude model id")
            if ref.tier != task.tier:
                raise PolicyError(
                    task.source,
                    line,
                    column,
                    f"task '{task.name}' is {task.tier}-tier but its model '{model}' is {ref.tier} "
                    "(a pinned model must be of the task's tier)",
                )
        tiers = {**_default_tiers(catalog), **self.tiers}
        return Policy(
            path=display_path,
            version=self.version,
            router=self.router,
            tiers=tiers,
            tasks=self.tasks,
            catalog=catalog,
            positions=self.positions,
            roots=self.roots,
        )
