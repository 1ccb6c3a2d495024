"""Objects built from YAML files (the model catalog, a policy), kept between runs.

Importing PyYAML and parsing policies/models.yaml took a tenth of a warm run. A
built object is stored as data (records of plain types, see Catalog.to_data and
policy.py) in the facts cache folder together with a stamp (absolute path, size,
st_mtime_ns) of every file it was built from, and is reused while the tool
version is the same and every stamp still holds. Entries are written and read
through FactsCache (tagged, decoded by type, temp file renamed into place); one
that cannot be read, or is not ours, is ignored and rewritten. Only objects that
were built are stored: a file with an error is parsed again on every run, so its
message keeps its file:line.

This module imports nothing heavy: the parsers import it to stamp files whether
or not a cache is used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import GenericAlias
from typing import Any, TypeVar

from opusguard import __version__
from opusguard.digest import hexdigest

Stamp = tuple[str, int, int]  # absolute path, size, st_mtime_ns
_T = TypeVar("_T")


def file_stamp(path: str | Path) -> Stamp:
    """A file's stamp; raises OSError.

    Taken before the file is read, so an edit made while it is read leaves a stamp
    that no longer holds, and the next run parses again.
    """
    stat = os.stat(path)
    return os.path.abspath(path), stat.st_size, stat.st_mtime_ns


def stamp_holds(stamp: Stamp) -> bool:
    path, size, mtime_ns = stamp
    try:
        stat = os.stat(path)
    except OSError:
        return False
    return stat.st_size == size and stat.st_mtime_ns == mtime_ns


class ParsedCache:
    """Built objects by identity: a tuple of strings naming what was loaded and how."""

    def __init__(self, directory: Path):
        from opusguard.cache import FactsCache  # only runs with a cache pay for it

        self.store = FactsCache(directory, key_salt="")

    def _name(self, identity: tuple[str, ...]) -> str:
        digest = hexdigest(repr((__version__, identity)).encode(), 16)
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
        fresh = version == __version__ and stored_identity == identity and all(map(stamp_holds, stamps))
        return value if fresh else None

    def put(self, identity: tuple[str, ...], stamps: Sequence[Stamp], value: object) -> None:
        """Store `value` (records of plain types), built from the files in `stamps`
        (taken before they were read)."""
        self.store.write(self._name(identity), (__version__, identity, tuple(stamps), value))
