"""Paths as the contract shows them: relative to the current directory, with '/'.

The one home of that rule, below every module that prints a path (it imports
nothing of opusguard).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol


def display_path(path: str | Path, cwd: Path) -> str:
    """Relative to cwd with '/', as the contract reports paths."""
    # Fast path for what discovery yields (absolute paths below cwd): no resolve(),
    # which costs a system call per path component and file.
    text, base = os.path.normpath(path), os.fspath(cwd)
    if os.path.isabs(text) and text.startswith(base + os.sep) and os.sep == "/":
        return text[len(base) + 1 :]
    path = Path(path)
    try:
        return path.resolve().relative_to(cwd.resolve()).as_posix()
    except ValueError:
        try:
            return Path(os.path.relpath(path, cwd)).as_posix()
        except ValueError:  # another drive on Windows
            return path.as_posix()


class Tree(Protocol):
    """What planning a fix asks of the project's folder (is a router's file free?): the
    disk for the shell, the given sources for core.analyze."""

    def exists(self, path: Path) -> bool: ...

    def lexists(self, path: Path) -> bool: ...

    def is_file(self, path: Path) -> bool: ...

    def is_dir(self, path: Path) -> bool: ...


class DiskTree:
    def exists(self, path: Path) -> bool:
        return os.path.exists(path)

    def lexists(self, path: Path) -> bool:
        return os.path.lexists(path)

    def is_file(self, path: Path) -> bool:
        return os.path.isfile(path)

    def is_dir(self, path: Path) -> bool:
        return os.path.isdir(path)


DISK = DiskTree()


class MemoryTree:
    """The files `rel_paths` under `root`, and the folders that hold them."""

    def __init__(self, root: Path, rel_paths: Iterable[str]):
        self.files = {os.path.normpath(root / rel) for rel in rel_paths}
        self.dirs = {os.path.dirname(path) for path in self.files}
        for folder in list(self.dirs):
            while folder != (parent := os.path.dirname(folder)):
                self.dirs.add(parent)
                folder = parent

    def exists(self, path: Path) -> bool:
        return self.is_file(path) or self.is_dir(path)

    def lexists(self, path: Path) -> bool:
        return self.exists(path)

    def is_file(self, path: Path) -> bool:
        return os.path.normpath(path) in self.files

    def is_dir(self, path: Path) -> bool:
        return os.path.normpath(path) in self.dirs
