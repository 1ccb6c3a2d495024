"""The one way opusguard writes a file: whole or not at all, and only over a plain file.

Every write (a rewritten source, the policy, the routing table, the router, a
baseline, a cache entry) goes through `write_atomic`: the bytes go to a temp file
in the same folder, which is then renamed over the target. A rename replaces
whatever is at the target, so the target is checked first (`why_not_replaceable`)
and these are refused, never replaced:

- a symlink (the rename would put a copy where the link was; the file it points
  at would keep the old text),
- anything that is not a regular file: a folder, a FIFO, a socket, a device,
- a file we may not write (read-only: its owner asked for it to stay as it is),
- a file with more than one hard link (a rename would split the link: the other
  names would keep the old text while the user believes both changed),
- a file owned by another user or group we cannot give it back to (a rename
  would make it ours).

A replaced file keeps its permission bits, owner and group. A new file gets the
mode a plain `open()` would give it: 0666 less the umask (a temp file is 0600).
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path


class UnsafeTargetError(OSError):
    """The target is not a plain file opusguard may replace; str() says which and why."""


def why_not_replaceable(path: str | Path) -> str | None:
    """Why a rename over `path` would lose something, or None when it is safe (or absent)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return _why_not_creatable(path)
    reason = _why_not_plain(st) or _why_not_ours(path, st)
    if reason is not None:
        return reason
    parent = os.path.dirname(os.fspath(path)) or "."
    if not os.access(parent, os.W_OK | os.X_OK):
        return "its folder is not writable"
    return None


def _why_not_creatable(path: str | Path) -> str | None:
    """Why a new file at `path` could not be made, or None."""
    folder = Path(os.path.abspath(path)).parent
    while not folder.exists() and folder != folder.parent:  # folders still to be made
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        return f"{'its folder' if folder == Path(os.path.abspath(path)).parent else folder} is not writable"
    return None


def _why_not_plain(st: os.stat_result) -> str | None:
    """Why what `st` describes is not a regular file, or None."""
    if stat.S_ISLNK(st.st_mode):
        return "it is a symlink"
    if stat.S_ISDIR(st.st_mode):
        return "it is a folder"
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device"
        return f"it is {kind}, not a regular file"
    return None


def _why_not_ours(path: str | Path, st: os.stat_result) -> str | None:
    """Why a rewrite of the regular file `path` would change more than its text, or None."""
    if not st.st_mode & 0o222 or not os.access(path, os.W_OK):
        return "it is read-only"
    if st.st_nlink > 1:
        return f"it has {st.st_nlink} hard links (a rewrite would split them)"
    euid = os.geteuid() if hasattr(os, "geteuid") else None
    if euid not in (None, 0):
        if st.st_uid != euid:
            return "it belongs to another user (a rewrite would make it yours)"
        if st.st_gid != os.getegid() and st.st_gid not in os.getgroups():
            return "its group is not one of yours (a rewrite would change it)"
    return None


@functools.cache
def current_umask() -> int:
    """The process umask (read once), without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no other way to read it: set, then put it back at once
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Replace (or create) `path` with `data` in one rename. Text is written as
    UTF-8 exactly as given (no newline translation).

    Raises UnsafeTargetError (an OSError) when `path` is not safe to replace."""
    import tempfile  # only runs that write pay for it

    path = Path(path)
    reason = why_not_replaceable(path)
    if reason is not None:
        raise UnsafeTargetError(f"{path}: not written: {reason}")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        existing = os.lstat(path)
    except FileNotFoundError:
        existing = None
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        if existing is None:
            os.chmod(tmp, 0o666 & ~current_umask())
        else:
            created = os.lstat(tmp)
            if hasattr(os, "chown") and (created.st_uid, created.st_gid) != (existing.st_uid, existing.st_gid):
                os.chown(tmp, existing.st_uid, existing.st_gid)
            os.chmod(tmp, stat.S_IMODE(existing.st_mode))  # after chown, which may clear set-id bits
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
