"""Paths as the contract shows them: relative to the current directory, with '/'.

The one home of that rule, below every module that prints a path (it imports
nothing of opusguard).
"""

from __future__ import annotations

import os
from pathlib import Path


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
