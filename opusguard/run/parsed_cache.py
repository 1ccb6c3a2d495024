"""Objects built from YAML files (the model catalog, a policy), kept between runs.

Importing PyYAML and parsing policies/models.yaml took a tenth of a warm run. A
built object is stored as data (records of plain types, see Catalog.to_data and
PolicyData) in the facts cache folder together with a stamp (absolute path, size,
st_mtime_ns) of every file it was built from, and is reused while the tool
(its version and code) is the same and every stamp still holds. Entries are
written and read through FactsCache (tagged, decoded by type, temp file renamed
into place); one that cannot be read, or is not ours, is ignored and rewritten.
Only objects that were built are stored: a file with an error is parsed again
on every run, so its message keeps its file:line. The parsers take the stamps
(base/stamps.py) as they read; this shell module is the only one that stores
anything.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import GenericAlias
from typing import Any, TypeVar

from opusguard import __version__
from opusguard.base.digest import code_digest, hexdigest
from opusguard.base.stamps import Stamp, file_stamp, stamp_holds
from opusguard.policy import catalog as catalog_module
from opusguard.policy import tasks as tasks_module
from opusguard.policy.catalog import Catalog, CatalogData, shipped_catalog_path
from opusguard.policy.tasks import Policy, PolicyData, parse_policy, policy_roots

_T = TypeVar("_T")


def _build() -> str:
    """This build of opusguard: its version, and its code (the same version may come from two commits)."""
    return f"{__version__}+{code_digest()}"


class ParsedCache:
    """Built objects by identity: a tuple of strings naming what was loaded and how."""

    def __init__(self, directory: Path):
        from opusguard.run.cache import FactsCache  # only runs with a cache pay for it

        self.store = FactsCache(directory, key_salt="")

    def _name(self, identity: tuple[str, ...]) -> str:
        digest = hexdigest(repr((_build(), identity)).encode(), 16)
        return f"parsed-{identity[0]}-{digest}"

    def get(self, identity: tuple[str, ...], kind: type[_T]) -> _T | None:
        """The value stored for `identity`, decoded as `kind` (records of plain types),
        if all its files are unchanged; else None."""
        # tuple[str, tuple[str, ...], tuple[Stamp, ...], kind]: made at run time (for msgspec), which mypy cannot check
        shape: Any = GenericAlias(tuple, (str, tuple[str, ...], tuple[Stamp, ...], kind))
        entry: tuple[str, tuple[str, ...], tuple[Stamp, ...], _T] | None = self.store.read(self._name(identity), shape)
        if entry is None:  # missing, of another shape (an older format), or not ours
            return None
        version, stored_identity, stamps, value = entry
        fresh = version == _build() and stored_identity == identity and all(map(stamp_holds, stamps))
        return value if fresh else None

    def put(self, identity: tuple[str, ...], stamps: Sequence[Stamp], value: object) -> None:
        """Store `value` (records of plain types), built from the files in `stamps`
        (taken before they were read)."""
        self.store.write(self._name(identity), (_build(), identity, tuple(stamps), value))


def load_catalog_cached(path: str | Path | None, cache_dir: Path) -> Catalog:
    """catalog.load_catalog, built by an earlier run while its file is unchanged (and
    then PyYAML is not imported)."""
    path = Path(path) if path else shipped_catalog_path()
    cache = ParsedCache(cache_dir)
    identity = ("catalog", str(path), os.path.abspath(path))
    cached = cache.get(identity, CatalogData)
    if isinstance(cached, CatalogData):
        return Catalog.from_data(cached)
    try:
        # The catalog module's own file too: the stored records are defined there.
        stamps = [file_stamp(path), file_stamp(catalog_module.__file__)]
    except OSError:
        return catalog_module.read_catalog(path)  # not cached; a missing catalog gets its CatalogError from the parse
    catalog = catalog_module.read_catalog(path)  # not _load_cached: its copy may predate an edit of the file
    cache.put(identity, stamps, catalog.to_data())
    return catalog


def load_policy_cached(path: str | Path, catalog: Catalog, cache_dir: Path, *, root: Path | None = None) -> Policy:
    """tasks.load_policy, built by an earlier run while none of its files changed (and
    then PyYAML is not imported)."""
    roots = policy_roots(path, root)
    cache = ParsedCache(cache_dir)
    # The policy is checked against the catalog (tiers, pins, default tiers), so
    # another catalog is another entry; and against its roots (includes inside them).
    identity = ("policy", str(path), os.path.abspath(path), catalog.source_path or "", catalog.digest(), *roots)
    cached = cache.get(identity, PolicyData)
    if isinstance(cached, PolicyData):
        policy = Policy(
            path=cached.path,
            version=cached.version,
            router=cached.router,
            tiers=cached.tiers,
            tasks=cached.tasks,
            positions=cached.positions,
            roots=cached.roots,
        )
        policy.catalog = catalog.with_overrides(cached.overrides)  # as finish() makes it
        return policy
    try:
        # The modules' own files too: the stored records are defined there.
        code_stamps = [file_stamp(tasks_module.__file__), file_stamp(catalog_module.__file__)]
    except OSError:
        code_stamps = None
    policy, loader = parse_policy(path, catalog, roots)
    if code_stamps is not None:
        # Stored without its catalog (the caller has it) but with the policy's own models.
        stored = PolicyData(
            policy.path,
            policy.version,
            policy.router,
            policy.tiers,
            policy.tasks,
            policy.positions,
            tuple(loader.overrides),
            policy.roots,
        )
        cache.put(identity, [*loader.stamps, *code_stamps], stored)
    return policy
