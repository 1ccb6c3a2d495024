"""Stamps of the files an object was built from (absolute path, size, st_mtime_ns):
the parsers take them while they read, so that run/parsed_cache.py can keep what
they built for as long as every stamp holds."""

from __future__ import annotations

import os
from pathlib import Path

Stamp = tuple[str, int, int]  # absolute path, size, st_mtime_ns


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
