"""A content-addressed cache of per-file facts, kept as data that only this user's runs can write.

Key: BLAKE2b(salt + file bytes) (digest.py), where the salt carries the tool
version, a digest of its code (digest.code_digest), the catalog digest and the
router names, so any change that could change facts misses the cache. An
entry is the FileFacts with its path blanked (the same content at two paths
shares one entry), encoded as MessagePack by msgspec and decoded by type into
the facts records: an entry can hold only data, never code (no pickle). Each entry carries a tag, a BLAKE2b MAC keyed by a
secret kept outside the project (`cache_secret`), over its name and its bytes:
an entry this user's runs did not write (a cache committed to the repository,
an entry copied from another machine, or moved to another name) fails the check
and is a miss, like one that is truncated, of another format or of another
shape. So a committed cache can neither run code nor change findings.

Files of the cache are opened without following symlinks, and a cache folder
(or a folder of entries) that is a symlink is not used: a link planted in the
folder never makes a run read or write outside it. Writes go to a temp file
created exclusively in the same folder and renamed into place, so two runs at
once never see half an entry.

Content-addressed entries are never overwritten, so every edited version of a
file that can matter would leave one behind. A run that wrote entries prunes
the folder, at most once a day: it removes entries not used for STALE_AFTER_DAYS
(an entry read after a day unused has its time refreshed) and temp files a
killed run left. Pruning alongside a run that still wants an entry only costs
that run a rebuild.
"""

from __future__ import annotations

import os
import stat as stat_module
import sys
import time
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from msgspec.structs import replace

from opusguard.base.atomic import write_atomic
from opusguard.base.digest import blake2b, hexdigest
from opusguard.facts.records import FileFacts
from opusguard.run.discover import SETTLED_NS, Listing, ListingKey

try:
    import _operator

    _same_digest = _operator._compare_digest  # hmac.compare_digest (hmac imports OpenSSL)
except ImportError:  # pragma: no cover
    import hmac

    _same_digest = hmac.compare_digest

# Bumped whenever the entries' layout or the records' shape changes, so older entries miss.
_FORMAT = b"OGC2"
_TAG_BYTES = 32
# An entry larger than this is not read (the largest real ones are a few hundred KiB).
MAX_ENTRY_BYTES = 64 * 1024 * 1024
# The secret's file, in the user's cache folder (user_cache_dir()).
SECRET_FILE = "cache-key"
_SECRET_BYTES = 32

STALE_AFTER_DAYS = 30
_DAY_S = 86_400
# Marks the last pruning; its time is all that matters.
_PRUNED_MARKER = "last-pruned"
# Files of the cache folder itself, never pruned.
_KEPT = frozenset({".gitignore", "CACHEDIR.TAG", _PRUNED_MARKER})

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_BINARY", 0)

_encoder = msgspec.msgpack.Encoder()
_decoders: dict[object, msgspec.msgpack.Decoder[Any]] = {}
_T = TypeVar("_T")


def decode_entry(payload: bytes, kind: type[_T]) -> _T | None:
    """`payload` decoded as `kind` (a type msgspec knows); None for anything else.

    Never raises: this is what stands between bytes in the cache folder and the
    records a run uses (tests/test_hostile_input.py fuzzes it)."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.msgpack.Decoder(kind)
    try:
        return decoder.decode(payload)
    except Exception:  # malformed, of another shape, too deeply nested ...
        return None


def user_cache_dir() -> Path:
    """The user's own cache folder for opusguard (outside every project)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(os.path.expanduser("~"), "Library", "Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME", "")
        if not os.path.isabs(base):
            base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "opusguard"


_secrets: dict[str, bytes | None] = {}


def cache_secret() -> bytes | None:
    """The key the cache's tags are made with: 32 random bytes in a file of the user's
    cache folder (user_cache_dir), made on first use, readable by the user only.
    None when it cannot be read or made, or is not the user's alone: runs then go
    without a cache (slower, never less safe)."""
    folder = user_cache_dir()
    cached = _secrets.get(os.fspath(folder), b"")
    if cached != b"":
        return cached
    secret = _read_secret(folder / SECRET_FILE)
    if secret is None:
        secret = _make_secret(folder)
    _secrets[os.fspath(folder)] = secret
    return secret


def _read_secret(path: Path) -> bytes | None:
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat_module.S_ISREG(info.st_mode) or info.st_size != _SECRET_BYTES:
            return None
        if hasattr(os, "geteuid") and (info.st_uid != os.geteuid() or info.st_mode & 0o077):
            return None  # another user could read or replace it
        data = os.read(fd, _SECRET_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == _SECRET_BYTES else None


def _make_secret(folder: Path) -> bytes | None:
    """Write a new secret in full under a temp name, then link it into place: a run
    never sees half a key, and two runs at once agree on the first one linked."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = folder / f".{SECRET_FILE}-{os.getpid()}-{os.urandom(4).hex()}"
        fd = os.open(temp, _CREATE_FLAGS, 0o600)
        try:
            try:
                os.write(fd, os.urandom(_SECRET_BYTES))
            finally:
                os.close(fd)
            try:
                os.link(temp, folder / SECRET_FILE)
            except FileExistsError:
                pass  # another run made it first: its key is the one
        finally:
            os.unlink(temp)
    except OSError:
        return None
    return _read_secret(folder / SECRET_FILE)


def _is_temp(name: str) -> bool:
    """A temp file of atomic.write_atomic (or of an older version) that a killed run left."""
    return name.startswith(".tmp-") or (name.startswith(".") and name.endswith(".tmp"))


class FactsCache:
    def __init__(self, directory: Path, key_salt: str, *, secret: bytes | None = None):
        """`secret`: the key of the entries' tags (default: cache_secret()); without one
        the cache is neither read nor written."""
        self.directory = directory
        self.salt = key_salt.encode()
        self._secret = secret if secret is not None else cache_secret()
        self._usable: bool | None = None  # the folder is not a symlink (checked once)
        self._folders: dict[str, bool] = {}  # folder of entries -> a real folder
        self._ready = False
        self.wrote = False  # whether this run wrote an entry (then it may prune)
        self._now = time.time()

    def key(self, content: bytes, variant: str = "") -> str:
        """The name of the entry for the facts of `content`. `variant` names how
        the facts were made (e.g. "whole" file, not cut)."""
        return hexdigest(self.salt + b"\0" + variant.encode() + b"\0" + content)

    def _name(self, key: str) -> str:
        return f"{key[:2]}/{key[2:]}"

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / key[2:]

    def get(self, content: bytes, variant: str = "") -> FileFacts | None:
        return self.get_by_key(self.key(content, variant))

    def get_by_key(self, key: str) -> FileFacts | None:
        """The facts stored under `key` (see `key`), their path blank; None if missing."""
        facts = self.read_key(key, FileFacts)
        return facts if isinstance(facts, FileFacts) else None

    def read_key(self, key: str, kind: type[_T]) -> _T | None:
        """The record of type `kind` stored under `key` (see `key`); None if missing."""
        if len(key) != 64 or not key.isalnum():  # (a key names a file in the folder, nothing else)
            return None
        return self.read(self._name(key), kind)

    def write_key(self, key: str, value: object) -> None:
        """Store `value` (records of plain types) under `key` (see `key`)."""
        self.write(self._name(key), value)

    def put(self, content: bytes, facts: FileFacts, variant: str = "") -> None:
        self.write(self._name(self.key(content, variant)), replace(facts, path=""))

    def _tag(self, name: str, payload: bytes) -> bytes:
        assert self._secret is not None
        mac = blake2b(key=self._secret, digest_size=_TAG_BYTES)
        mac.update(name.encode() + b"\0")
        mac.update(payload)
        return mac.digest()

    def _is_usable(self) -> bool:
        """Whether the folder may be used: there is a secret, and the folder is a real
        folder (or not made yet), not a symlink."""
        if self._usable is None:
            try:
                self._usable = self._secret is not None and stat_module.S_ISDIR(os.lstat(self.directory).st_mode)
            except FileNotFoundError:
                self._usable = self._secret is not None
            except OSError:
                self._usable = False
        return self._usable

    def _folder_is_real(self, name: str) -> bool:
        """Whether the folder an entry `name` is in ("3f/...") is a real folder, not a symlink."""
        folder = name.rpartition("/")[0]
        if not folder:
            return True
        known = self._folders.get(folder)
        if known is None:
            try:
                known = stat_module.S_ISDIR(os.lstat(self.directory / folder).st_mode)
            except OSError:
                return False  # not there (yet): nothing to read
            self._folders[folder] = known
        return known

    def read(self, name: str, kind: type[_T]) -> _T | None:
        """The value `write` stored as `name` (a path inside the folder), decoded as
        `kind`; None when it is missing, not a regular file, truncated, of another
        format or shape, or not written by this user's runs (its tag does not match)."""
        if not self._is_usable() or not self._folder_is_real(name):
            return None
        try:
            fd = os.open(self.directory / name, _READ_FLAGS)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat_module.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY_BYTES:
                return None
            data = os.read(fd, info.st_size + 1)
            if self._now - info.st_mtime > _DAY_S:
                self._mark_used(fd)
        except OSError:
            return None
        finally:
            os.close(fd)
        head = len(_FORMAT) + _TAG_BYTES
        if len(data) < head or not data.startswith(_FORMAT):
            return None
        payload = data[head:]
        if not _same_digest(data[len(_FORMAT) : head], self._tag(name, payload)):
            return None
        return decode_entry(payload, kind)

    @staticmethod
    def _mark_used(fd: int) -> None:
        """An entry read after a day unused gets the time now, so pruning keeps it."""
        try:
            os.utime(fd)
        except (OSError, NotImplementedError, TypeError):
            pass  # a read-only folder is never pruned either

    def write(self, name: str, value: object) -> None:
        """Store `value` (records of plain types) as `name`, through atomic.write_atomic
        (a temp file created exclusively beside it, renamed into place; never over a
        symlink), in a folder of entries that is not a symlink."""
        if not self._is_usable():
            return
        try:
            self.prepare()
            folder = name.rpartition("/")[0]
            if folder:
                try:
                    os.mkdir(self.directory / folder)
                except FileExistsError:
                    pass
                if not self._folder_is_real(name):
                    return
            payload = _encoder.encode(value)
            write_atomic(self.directory / name, _FORMAT + self._tag(name, payload) + payload)
            self.wrote = True
        except OSError:
            pass  # a read-only or full disk costs speed, never the run

    def prune(self) -> None:
        """Remove entries unused for STALE_AFTER_DAYS, and temp files over a day old;
        at most once a day (see the module's docstring)."""
        if not self._is_usable() or not self._claim_prune():
            return
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
                        self._remove_if_stale(entry, stale_before)
                except OSError:
                    pass  # gone already (another run pruned it)

    def _claim_prune(self) -> bool:
        """Whether this run prunes: the last pruning was over a day ago, and the marker
        now says this run's time."""
        marker = self.directory / _PRUNED_MARKER
        try:
            if self._now - os.lstat(marker).st_mtime < _DAY_S:
                return False
        except OSError:
            pass  # never pruned
        try:
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | _NOFOLLOW, 0o666)
            try:
                os.utime(fd)
            finally:
                os.close(fd)
        except (OSError, NotImplementedError, TypeError):
            return False  # a read-only folder: nothing to remove either (or the marker is not a file)
        return True

    def _remove_if_stale(self, entry: os.DirEntry[str], stale_before: float) -> None:
        """Remove an entry unused since `stale_before`, or a temp file over a day old; raises OSError."""
        mtime = entry.stat(follow_symlinks=False).st_mtime
        if mtime < stale_before or (_is_temp(entry.name) and self._now - mtime > _DAY_S):
            os.unlink(entry.path)  # (a symlink is removed, never followed)

    def prepare(self) -> None:
        """Make the folder (with its .gitignore and CACHEDIR.TAG); raises OSError,
        also when there is no key or the folder is a symlink."""
        if self._ready:
            return
        if not self._is_usable():
            raise OSError(f"{self.directory} is not used (no key, or a symlink)")
        self.directory.mkdir(parents=True, exist_ok=True)
        if not stat_module.S_ISDIR(os.lstat(self.directory).st_mode):
            self._usable = False
            raise OSError(f"{self.directory} is not a folder")
        for name, text in (
            (".gitignore", "# Created by opusguard\n*\n"),
            ("CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n# opusguard facts cache\n"),
        ):
            try:
                fd = os.open(self.directory / name, _CREATE_FLAGS, 0o666)
            except FileExistsError:
                continue  # there already (or something else is: it is never followed)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
        self._ready = True


class VerdictIndex:
    """The pre-filter's verdict on each file at its last (size, mtime), next to the facts.

    A warm run skips files that have not changed since a run found they cannot
    matter, without reading them: the verdict depends only on the bytes and the
    tool's version and code (in the salt). The same file keeps the last walk of
    the tree (`listings`, see discover.py). Written atomically and tagged like the facts;
    unreadable, from another version or not written by this user's runs, it is
    ignored and rebuilt.
    """

    def __init__(self, cache: FactsCache):
        self.cache = cache
        self.name = f"verdicts-{hexdigest(cache.salt, 16)}"
        self.path = cache.directory / self.name
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
        stored = self.cache.read(self.name, tuple[dict[str, tuple[int, int, str]], dict[ListingKey, Listing]])
        self.entries, self.listings = stored if stored is not None else ({}, {})
        self._loaded_listings = dict(self.listings)

    def put(self, path: str, size: int, mtime_ns: int, verdict: str) -> None:
        """Keep `verdict` while the file's size and mtime hold (not for a file changed
        within discover.SETTLED_NS: see there)."""
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
            self.cache.write(self.name, (self.entries, self.listings))
