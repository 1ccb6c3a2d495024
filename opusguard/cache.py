"""A content-addressed cache of per-file facts.

Key: BLAKE2b(salt + file bytes) (digest.py), where the salt carries the tool
version, the catalog digest and the router names, so any change that could
change facts misses the cache. An entry is a pickle of FileFacts with its path blanked (the
same content at two paths shares one entry). Writes go to a temp file in the
same folder and are renamed into place, so two runs at once never see half an
entry; an entry that fails to load is ignored and rewritten.

Content-addressed entries are never overwritten, so every edited version of a
file that can matter would leave one behind. A run that wrote entries prunes
the folder, at most once a day: it removes entries not used for STALE_AFTER_DAYS
(an entry read after a day unused has its time refreshed) and temp files a
killed run left. Pruning alongside a run that still wants an entry only costs
that run a rebuild.
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

from msgspec.structs import replace

from opusguard.digest import hexdigest
from opusguard.facts import FileFacts

# Bumped whenever facts change what they hold or how they pickle, so older entries miss.
_FORMAT = b"OGF6"

STALE_AFTER_DAYS = 30
# A change this close to a run may not show in a coarse clock's times (1 s on
# some file systems, a scheduler tick on Linux): a second write in the same tick,
# of the same size, leaves size and mtime as they were. So a file changed this
# recently gets no verdict (the next run reads it again, as git re-reads "racily
# clean" files), and discovery lists such a folder again (discover.py).
SETTLED_NS = 2_000_000_000
_DAY_S = 86_400
# Marks the last pruning; its time is all that matters.
_PRUNED_MARKER = "last-pruned"
# Files of the cache folder itself, never pruned.
_KEPT = frozenset({".gitignore", "CACHEDIR.TAG", _PRUNED_MARKER})


class FactsCache:
    def __init__(self, directory: Path, key_salt: str):
        self.directory = directory
        self.salt = key_salt.encode()
        self._ready = False
        self.wrote = False  # whether this run wrote an entry (then it may prune)
        self._now = time.time()

    def key(self, content: bytes, variant: str = "") -> str:
        """The name of the entry for the facts of `content`. `variant` names how
        the facts were made (e.g. "whole" file, not cut)."""
        return hexdigest(self.salt + b"\0" + variant.encode() + b"\0" + content)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / key[2:]

    def get(self, content: bytes, variant: str = "") -> FileFacts | None:
        return self.get_by_key(self.key(content, variant))

    def get_by_key(self, key: str) -> FileFacts | None:
        """The facts stored under `key` (see `key`), their path blank; None if missing."""
        facts = self.read(self._path(key))
        return facts if isinstance(facts, FileFacts) else None

    def put(self, content: bytes, facts: FileFacts, variant: str = "") -> None:
        target = self._path(self.key(content, variant))
        self.write(target, replace(facts, path=""))

    def read(self, target: Path) -> object | None:
        """What `write` put at `target`; None when it is missing, truncated or corrupt."""
        try:
            with open(target, "rb") as handle:
                data = handle.read()
                if self._now - os.fstat(handle.fileno()).st_mtime > _DAY_S:
                    self._mark_used(target)
        except OSError:
            return None
        if not data.startswith(_FORMAT):
            return None
        try:
            return pickle.loads(data[len(_FORMAT):])
        except Exception:  # truncated or corrupt entry: rebuilt by the caller
            return None

    @staticmethod
    def _mark_used(target: Path) -> None:
        """An entry read after a day unused gets the time now, so pruning keeps it."""
        try:
            os.utime(target)
        except OSError:
            pass  # a read-only folder is never pruned either

    def write(self, target: Path, value: object) -> None:
        """Pickle `value` to `target` through a temp file renamed into place."""
        import tempfile  # only runs that write pay for it

        try:
            self.prepare()
            target.parent.mkdir(exist_ok=True)
            payload = _FORMAT + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(payload)
                os.replace(tmp, target)
                self.wrote = True
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            pass  # a read-only or full disk costs speed, never the run

    def prune(self) -> None:
        """Remove entries unused for STALE_AFTER_DAYS, and temp files over a day old;
        at most once a day (see the module's docstring)."""
        marker = self.directory / _PRUNED_MARKER
        try:
            if self._now - marker.stat().st_mtime < _DAY_S:
                return
        except OSError:
            pass  # never pruned
        try:
            marker.touch()
        except OSError:
            return  # a read-only folder: nothing to remove either
        stale_before = self._now - STALE_AFTER_DAYS * _DAY_S
        top = os.fspath(self.directory)
        folders = [top]
        for folder in folders:  # the top folder, then its folders of entries ("3f/")
            try:
                with os.scandir(folder) as listed:
                    entries = list(listed)
            except OSError:
                continue  # removed meanwhile
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if folder == top and len(entry.name) == 2:
                            folders.append(entry.path)
                    elif entry.name not in _KEPT:
                        mtime = entry.stat(follow_symlinks=False).st_mtime
                        if mtime < stale_before or (entry.name.startswith(".tmp-") and self._now - mtime > _DAY_S):
                            os.unlink(entry.path)
                except OSError:
                    pass  # gone already (another run pruned it)

    def prepare(self) -> None:
        """Make the folder (with its .gitignore and CACHEDIR.TAG); raises OSError."""
        if self._ready:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        gitignore = self.directory / ".gitignore"
        if not gitignore.exists():
            gitignore.write_text("# Created by opusguard\n*\n")
        tag = self.directory / "CACHEDIR.TAG"
        if not tag.exists():
            tag.write_text("Signature: 8a477f597d28d172789f06886806bc55\n# opusguard facts cache\n")
        self._ready = True


class VerdictIndex:
    """The pre-filter's verdict on each file at its last (size, mtime), next to the facts.

    A warm run skips files that have not changed since a run found they cannot
    matter, without reading them: the verdict depends only on the bytes and the
    tool version (in the salt). The same file keeps the last walk of the tree
    (`listings`, see discover.py). Written atomically like the facts; unreadable
    or from another version, it is ignored and rebuilt.
    """

    def __init__(self, cache: FactsCache):
        self.cache = cache
        self.path = cache.directory / f"verdicts-{hexdigest(cache.salt, 16)}"
        # path -> (size, mtime_ns, verdict), a verdict that holds while the file's size
        # and mtime are those; for second-pass files, the verdict is suffixed with the
        # digest of the names looked for and whether one was found. (Read directly by
        # the engine's pre-filter loop, where a method call per file would show.)
        self.entries: dict[str, tuple[int, int, str]] = {}
        self.listings: dict = {}  # discovery's key -> discover.Listing
        self._loaded_listings: dict = {}
        self.changed = False
        self._settled_before_ns = time.time_ns() - SETTLED_NS

    def load(self) -> None:
        try:
            entries, listings = self.cache.read(self.path) or ({}, {})
        except Exception:  # of another shape: start again
            entries, listings = {}, {}
        self.entries = entries if isinstance(entries, dict) else {}
        self.listings = listings if isinstance(listings, dict) else {}
        self._loaded_listings = dict(self.listings)

    def put(self, path: str, size: int, mtime_ns: int, verdict: str) -> None:
        """Keep `verdict` while the file's size and mtime hold (not for a file changed
        within SETTLED_NS: see there)."""
        if mtime_ns >= self._settled_before_ns:
            return
        if self.entries.get(path) != (size, mtime_ns, verdict):
            self.entries[path] = (size, mtime_ns, verdict)
            self.changed = True

    def save(self) -> None:
        listings_changed = self.listings.keys() != self._loaded_listings.keys() or any(
            listing is not self._loaded_listings[key] for key, listing in self.listings.items()
        )
        if self.changed or listings_changed:
            self.cache.write(self.path, (self.entries, self.listings))
