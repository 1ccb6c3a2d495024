"""Which files to check: walk the given paths, honour .gitignore and excludes.

A file or folder named explicitly on the command line is always checked, like
ruff; excludes apply to what the walk finds below it.

A warm run may reuse the last walk's list (`listings`, kept in the verdict
index): it holds while every folder walked and every ignore file read has the
same modification time (and size) as then. Adding, removing or renaming a
file changes its folder's time; editing a file does not, and does not need to:
the list holds names, and the pre-filter looks at each file's own size and time.
A change in the same tick of a coarse clock as the walk would not show in the
times, so a folder changed within two seconds before the walk is listed again
(its entries compared), and a walk that read an ignore file that recent is not
kept.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from msgspec import Struct

from opusguard.policy.config import Settings, file_excludes

if TYPE_CHECKING:
    import pathspec


class DiscoveryError(Exception):
    """A path named on the command line does not exist."""


# A change this close to a run may not show in a coarse clock's times (1 s on
# some file systems, a scheduler tick on Linux): a second write in the same tick,
# of the same size, leaves size and mtime as they were. So a file changed this
# recently gets no verdict (the next run reads it again, as git re-reads "racily
# clean" files), and discovery lists such a folder again (below).
SETTLED_NS = 2_000_000_000

# What a walk depended on, beside exact times: the path was not there, or was there.
_ABSENT, _PRESENT = -1, -2


# What a walk is kept under: (cwd, paths, root, include, exclude, extend-exclude).
ListingKey = tuple[str, tuple[str, ...], str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]


class Listing(Struct):
    """A walk's result and what it depended on: (path, mtime_ns, size, entries).

    For a folder walked: its time, size -1, and for a folder changed just before
    the walk its entries, (name, is a folder). For an ignore file read: its time
    and size. For a file looked for (`.gitignore` above the tree, `.git`):
    _ABSENT or _PRESENT."""

    files: list[str]
    depends_on: list[tuple[str, int, int, frozenset[tuple[str, bool | None]] | None]]

    @classmethod
    def kept(cls, files: list[str], depends_on: list, taken_ns: int) -> "Listing | None":
        """The walk as kept for the next run; None if an ignore file changed just before it."""
        settled = taken_ns - SETTLED_NS
        kept_depends: list[tuple[str, int, int, frozenset | None]] = []
        for path, mtime_ns, size, entries in depends_on:
            if entries is None and mtime_ns >= settled:
                return None
            kept_depends.append((path, mtime_ns, size, entries if mtime_ns >= settled else None))
        return cls(files, kept_depends)

    def still_holds(self) -> bool:
        for path, mtime_ns, size, entries in self.depends_on:
            try:
                stat = os.stat(path)
            except OSError:
                if mtime_ns != _ABSENT:
                    return False
                continue
            if mtime_ns == _PRESENT:
                continue
            if stat.st_mtime_ns != mtime_ns or (size != -1 and stat.st_size != size):
                return False
            if entries is not None:
                try:
                    with os.scandir(path) as listed:
                        if _entries(listed) != entries:
                            return False
                except OSError:
                    return False
        return True


# What a walk depended on: (path, mtime_ns, size, entries), as Listing.depends_on keeps it.
_Dependency = tuple[str, int, int, frozenset[tuple[str, bool | None]] | None]


def _entries(entries: Iterable[os.DirEntry[str]]) -> frozenset[tuple[str, bool | None]]:
    """(name, is a folder) of a folder's entries: what a walk of it depends on."""
    out: set[tuple[str, bool | None]] = set()
    for entry in entries:
        try:
            out.add((entry.name, entry.is_dir()))
        except OSError:
            out.add((entry.name, None))
    return frozenset(out)


def _note(depends_on: list | None, path: Path | str, *, presence_only: bool = False) -> None:
    """Record what a walk read, for a later run to check (see Listing)."""
    if depends_on is None:
        return
    try:
        stat = os.stat(path)
    except OSError:
        depends_on.append((os.fspath(path), _ABSENT, -1, None))
        return
    if presence_only:
        depends_on.append((os.fspath(path), _PRESENT, -1, None))
    else:
        depends_on.append((os.fspath(path), stat.st_mtime_ns, stat.st_size, None))


def _load_ignore(
    directory: Path, names: set[str] | None = None, depends_on: list | None = None
) -> pathspec.PathSpec | None:
    """The folder's ignore rules; `names`, when the folder was just listed, spares
    looking for files that are not there (two system calls per folder)."""
    lines: list[str] = []
    if names is None or ".gitignore" in names:
        _note(depends_on, directory / ".gitignore")
        try:
            lines += (directory / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            pass
    if names is None:
        _note(depends_on, directory / ".git", presence_only=True)
    if (names is None or ".git" in names) and (directory / ".git").is_dir():
        exclude = directory / ".git" / "info" / "exclude"
        _note(depends_on, exclude)
        try:
            lines += exclude.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            pass
    lines = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return None
    import pathspec  # only trees with a .gitignore pay for it

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _parent_ignores(start: Path, depends_on: list | None = None) -> list[tuple[Path, pathspec.PathSpec]]:
    """.gitignore files above the start folder, up to the repository root."""
    specs = []
    for directory in start.parents:
        # (Not the folder's own time: /tmp or a home folder changes all the time.)
        spec = _load_ignore(directory, None, depends_on)
        if spec is not None:
            specs.append((directory, spec))
        if (directory / ".git").exists():
            break
    specs.reverse()
    return specs


def _ignored(path: Path, is_dir: bool, specs: list[tuple[Path, pathspec.PathSpec]]) -> bool:
    ignored = False
    for base, spec in specs:
        try:
            rel = path.relative_to(base).as_posix()
        except ValueError:
            continue
        if is_dir:
            rel += "/"
        # Later (deeper) files override earlier ones, negations included.
        result = spec.check_file(rel)
        if result.include is not None:
            ignored = result.include
    return ignored


def _name_or_path_matcher(patterns: Sequence[str]) -> Callable[[str, str], bool]:
    """One compiled regex for "the name or the relative path matches a pattern"."""
    if not patterns:
        return lambda name, rel: False
    match = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match
    return lambda name, rel: match(name) is not None or match(rel) is not None


def discover_files(
    paths: Sequence[str | Path],
    settings: Settings,
    *,
    cwd: Path,
    warn: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """Python files under `paths`, sorted, each once."""
    return map(Path, discover_file_names(paths, settings, cwd=cwd, warn=warn))


def discover_file_names(
    paths: Sequence[str | Path],
    settings: Settings,
    *,
    cwd: Path,
    warn: Callable[[str], None] | None = None,
    listings: MutableMapping[tuple, Listing] | None = None,
) -> list[str]:
    """discover_files as strings: a Path per file costs half the walk of a large tree.

    With `listings`, the last walk of the same paths with the same settings is
    reused while it holds, and this walk is kept for the next run."""
    key = (
        os.fspath(cwd),
        tuple(os.fspath(p) for p in paths),
        os.fspath(settings.root),
        tuple(settings.include),
        tuple(settings.exclude),
        tuple(settings.extend_exclude),
    )
    if listings is not None and not all((cwd / p).is_dir() for p in paths):
        listings = None  # named files: the walk is a few system calls, nothing to keep
    if listings is not None:
        previous = listings.get(key)
        if previous is not None and previous.still_holds():
            return list(previous.files)
    warnings: list[str] = []
    depends_on: list[_Dependency] | None = [] if listings is not None else None
    taken_ns = time.time_ns()
    found = _discover(paths, settings, cwd, warnings.append, depends_on)
    for message in warnings:
        (warn or (lambda message: None))(message)
    if listings is not None and depends_on is not None:
        listing = Listing.kept(found, depends_on, taken_ns) if not warnings else None
        if listing is not None:
            listings[key] = listing
        else:
            listings.pop(key, None)
    return found


def _discover(
    paths: Sequence[str | Path],
    settings: Settings,
    cwd: Path,
    warn: Callable[[str], None],
    depends_on: list[_Dependency] | None,
) -> list[str]:
    excludes = [*settings.exclude, *settings.extend_exclude]
    seen: set[tuple[int, int]] = set()
    found: list[str] = []
    for raw in paths:
        path = (cwd / raw) if not Path(raw).is_absolute() else Path(raw)
        if not path.exists():
            if path.is_symlink():
                warn(f"{raw}: broken symbolic link")
                continue
            raise DiscoveryError(f"{raw}: no such file or directory")
        if path.is_file():
            identity = _identity(path)
            if identity not in seen:
                seen.add(identity)
                found.append(os.fspath(path))
            continue
        specs = _parent_ignores(path.resolve(), depends_on)
        if specs and _ignored(path.resolve(), True, specs):
            specs = []  # a folder named explicitly is checked even if a parent ignores it
        found.extend(_walk(path, settings, excludes, specs, seen, warn, depends_on))
    if os.sep != "/":
        return sorted(found, key=lambda name: name.replace(os.sep, "/"))
    return sorted(found)


def _identity(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return (stat.st_dev, stat.st_ino)


def _walk(
    root: Path,
    settings: Settings,
    excludes: Sequence[str],
    specs: list[tuple[Path, pathspec.PathSpec]],
    seen: set[tuple[int, int]],
    warn: Callable[[str], None],
    depends_on: list[_Dependency] | None = None,
) -> list[str]:
    out: list[str] = []
    visited_dirs: set[tuple[int, int]] = set()
    stack: list[tuple[str, list]] = [(os.fspath(root), specs)]
    wanted = _Wanted(
        _name_or_path_matcher(excludes),
        # (The default excludes' `.env` is a virtualenv folder: a `.env` file is a config file.)
        _name_or_path_matcher([*file_excludes(settings.exclude), *settings.extend_exclude]),
        _name_matcher(settings.include),
        os.fspath(settings.root) + os.sep,
    )
    while stack:
        directory, dir_specs = stack.pop()
        listed = _list_folder(directory, visited_dirs, warn, depends_on)
        if listed is None:
            continue
        device, entries = listed
        local = _load_ignore(Path(directory), {entry.name for entry in entries}, depends_on)
        # Resolved once per folder, and only where a .gitignore applies.
        real_directory = Path(directory).resolve() if dir_specs or local is not None else None
        if local is not None:
            dir_specs = [*dir_specs, (real_directory, local)]
        _take_entries(entries, device, dir_specs, real_directory, wanted, seen, out, stack, warn)
    return out


class _Wanted(NamedTuple):
    """What a walk keeps: (name, path from the root) -> excluded, for folders and for
    files; name -> included; and the root's path with a separator at its end."""

    excluded_folder: Callable[[str, str], bool]
    excluded_file: Callable[[str, str], bool]
    included: Callable[[str], bool]
    root_prefix: str


def _list_folder(
    directory: str, visited_dirs: set[tuple[int, int]], warn: Callable[[str], None], depends_on: list | None
) -> tuple[int, list[os.DirEntry[str]]] | None:
    """(device, entries) of a folder not walked yet; None, after a warning, when it
    cannot be read or was walked already."""
    try:
        stat = os.stat(directory)
    except OSError as exc:
        warn(f"{directory}: cannot read folder ({exc.strerror})")
        return None
    key = (stat.st_dev, stat.st_ino)
    if key in visited_dirs:
        warn(f"{directory}: folder already scanned through another path (symbolic link loop?), skipped")
        return None
    visited_dirs.add(key)
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        warn(f"{directory}: cannot read folder ({exc.strerror})")
        return None
    if depends_on is not None:
        depends_on.append((directory, stat.st_mtime_ns, -1, _entries(entries)))
    return stat.st_dev, entries


def _take_entries(
    entries: list[os.DirEntry[str]],
    device: int,
    dir_specs: list,
    real_directory: Path | None,
    wanted: _Wanted,
    seen: set[tuple[int, int]],
    out: list[str],
    stack: list[tuple[str, list]],
    warn: Callable[[str], None],
) -> None:
    """A folder's files to `out` (each once), its folders to `stack`."""
    # Per entry, only what it needs: this loop runs once per file of the tree.
    excluded, excluded_file, included, root_prefix = wanted
    for entry in entries:
        name = entry.name
        try:
            is_dir = entry.is_dir()
            is_file = not is_dir and entry.is_file()
        except OSError:
            continue
        if not is_dir and not (is_file and included(name)):
            if not is_file and entry.is_symlink():
                warn(f"{entry.path}: broken symbolic link, skipped")
            continue
        path_text = entry.path
        rel = path_text[len(root_prefix) :] if path_text.startswith(root_prefix) else path_text
        if os.sep != "/":
            rel = rel.replace(os.sep, "/")
        if (name == ".git" or excluded(name, rel)) if is_dir else excluded_file(name, rel):
            continue
        if dir_specs and real_directory is not None and _ignored(real_directory / name, is_dir, dir_specs):
            continue
        if is_dir:
            stack.append((path_text, dir_specs))
            continue
        # The same file reached twice (symbolic links) is checked once.
        identity = _identity(Path(path_text)) if entry.is_symlink() else (device, entry.inode())
        if identity not in seen:
            seen.add(identity)
            out.append(path_text)


def _name_matcher(patterns: Sequence[str]) -> Callable[[str], bool]:
    """Whether a file name matches one of the include globs; `*.py`-like globs are
    an endswith test, the rest a regex."""
    simple = [p for p in patterns if p.startswith("*.") and not any(c in p[1:] for c in "*?[]")]
    others = [p for p in patterns if p not in simple]
    suffixes = tuple(p[1:] for p in simple)
    if not others:
        return lambda name: name.endswith(suffixes)
    match = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in others)).match
    return lambda name: name.endswith(suffixes) or match(name) is not None
