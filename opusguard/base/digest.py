"""Hex digests for the caches' keys and names.

BLAKE2b from CPython's `_blake2`, the module `hashlib.blake2b` comes from:
importing `hashlib` loads OpenSSL, about 2.5 ms, a thirtieth of a warm check of
a large tree, for digests that only need to be stable and collision-resistant.
Digests that users keep (baseline fingerprints) stay SHA-256 (baseline.py).
"""

from __future__ import annotations

import functools
from pathlib import Path

try:
    from _blake2 import blake2b
except ImportError:  # pragma: no cover  (a Python built without its own BLAKE2)
    from hashlib import blake2b


def hexdigest(data: bytes, length: int = 64) -> str:
    """`length` hex characters (at most 128) of the BLAKE2b digest of `data`."""
    return blake2b(data, digest_size=(length + 1) // 2).hexdigest()[:length]


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """A digest of opusguard's own modules. A build from another commit (a pre-commit
    hook moved to a new `rev`, an editable install) has the same version and may
    make other facts, verdicts and policies: what it caches is not this one's."""
    package = Path(__file__).resolve().parent.parent
    return hexdigest(
        b"".join(
            path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes()
            for path in sorted(package.rglob("*.py"))
        ),
        16,
    )
