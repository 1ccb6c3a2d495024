"""The `opusguard` console script: process settings first, then the CLI."""

from __future__ import annotations

import gc


def main() -> None:
    # A run builds many objects and almost no reference cycles; at the default
    # thresholds the cyclic collector took a tenth of a warm run (imports
    # included). mypy sets the same for the same reason. Workers inherit it.
    gc.set_threshold(200_000, 30, 30)
    from opusguard.cli import run

    run()
