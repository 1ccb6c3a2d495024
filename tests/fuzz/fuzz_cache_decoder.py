"""Coverage-guided fuzzing of the cache decoder with atheris (not run in CI).

    pip install atheris
    python tests/fuzz/fuzz_cache_decoder.py -max_total_time=600

Whatever the bytes, `decode_entry` must return facts records or None, never raise
or crash. tests/test_hostile_input.py runs the same property with hypothesis.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from opusguard.facts.records import FileFacts
    from opusguard.run.cache import decode_entry


def test_one_input(data: bytes) -> None:
    decoded = decode_entry(data, FileFacts)
    if decoded is not None and not isinstance(decoded, FileFacts):
        raise AssertionError(f"decoded to {type(decoded).__name__}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
