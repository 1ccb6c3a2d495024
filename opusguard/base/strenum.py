"""`StrEnum` for Python 3.10 (the standard library's arrives in 3.11)."""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """An enum whose members are their values: equal to them, and printed, formatted,
    hashed and encoded to JSON as them. Values read from a file (plain strings)
    compare with the members as they are, and every output keeps its bytes."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)
