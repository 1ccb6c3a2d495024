"""Long text is parsed a run of top-level statements at a time (parse.PIECE_BYTES),
so that one libcst tree of a huge module never has to fit in memory; the facts are
the ones a single parse gives."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from opusguard.policy.catalog import load_catalog
from opusguard.select import parse

CATALOG = load_catalog()
OPUS = "claude-opus-4-1-20250805"


def is_model_id(text: str) -> bool:
    return CATALOG.recognize(text) is not None


def facts(source: bytes, *, cut_bodies: bool = True):
    return parse.facts_of(source, "m.py", is_model_id=is_model_id, cut_bodies=cut_bodies)


def in_pieces(monkeypatch, source: bytes, *, piece_bytes: int, cut_bodies: bool = True):
    monkeypatch.setattr(parse, "PIECE_BYTES", piece_bytes)
    try:
        return facts(source, cut_bodies=cut_bodies)
    finally:
        monkeypatch.undo()


# A module whose facts cross every kind of boundary a piece can have.
MODULE = f'''"""Module docstring: {OPUS} here is no literal."""
from __future__ import annotations
import anthropic
from app.config import FAST

SMART = "{OPUS}"
x = 1; y = "{OPUS}"


class Kind:
    """Class docstring."""
    model = SMART

    @property
    def pick(self, model=SMART):
        return anthropic.Anthropic().messages.create(model=model, max_tokens=1, messages=[])


# a comment between statements

@decorator(model=FAST)
def ask(q, model=FAST):
    client = anthropic.Anthropic()
    return client.messages.create(model=model, messages=[{{"role": "user", "content": q}}])


"""A string statement after the first: not a docstring, {OPUS} is a literal."""
ALIAS = Kind
'''.encode()


@pytest.mark.parametrize("cut_bodies", [True, False])
@pytest.mark.parametrize("piece_bytes", [1, 40, 200, 700])
def test_facts_are_the_same_in_pieces(monkeypatch, piece_bytes, cut_bodies):
    whole = facts(MODULE, cut_bodies=cut_bodies)
    assert whole.calls and whole.literals and whole.imports and whole.classes
    assert in_pieces(monkeypatch, MODULE, piece_bytes=piece_bytes, cut_bodies=cut_bodies) == whole


def _real_files() -> list[Path]:
    """The 40 largest modules of the standard library, and the example app."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(stdlib.glob("*.py"), key=lambda path: path.stat().st_size, reverse=True)[:40]
    return files + sorted(Path(__file__).resolve().parent.parent.joinpath("examples").rglob("*.py"))


REAL_FILES = _real_files()


def test_most_real_files_are_split_in_pieces():
    assert sum(parse._pieces_of(path.read_bytes(), 4096) is not None for path in REAL_FILES) > 30


# One test a file: under pytest-xdist the files spread over the workers.
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_facts_are_the_same_in_pieces_on_real_code(monkeypatch, path):
    source = path.read_bytes()
    for cut_bodies in (True, False):
        whole = facts(source, cut_bodies=cut_bodies)
        assert in_pieces(monkeypatch, source, piece_bytes=4096, cut_bodies=cut_bodies) == whole, path


def test_pieces_start_where_statements_do(monkeypatch):
    source = b"a = 1; b = 2\n@deco\n@deco2\ndef f():\n    return 1\nclass C:\n    x = (\n1)\nz = 3\n"
    pieces = parse._pieces_of(source, 1)
    assert b"".join(text for _, text in pieces) == source
    assert [first for first, _ in pieces] == [1, 2, 6, 8, 9]
    assert pieces[0][1] == b"a = 1; b = 2\n"  # one line, two statements: one piece
    assert pieces[1][1].startswith(b"@deco\n@deco2\ndef f():")  # decorators go with their function
    # `1)` at column 0 inside a bracket looks like a statement: that piece does not
    # parse, and the text is parsed whole instead.
    assert in_pieces(monkeypatch, source, piece_bytes=1) == facts(source)


@pytest.mark.parametrize(
    "source",
    [
        "# -*- coding: latin-1 -*-\nx = 1\ny = 2\n".encode("latin-1"),  # a later piece would lose the encoding
        b"x = (\n",  # CPython cannot parse it: parsed whole, and its error reported
        b"x = 1\n",  # one statement: nothing to split
    ],
)
def test_text_that_is_not_split(source):
    assert parse._pieces_of(source, 1) is None


def test_a_byte_order_mark_stays_with_the_first_piece(monkeypatch):
    source = b"\xef\xbb\xbf" + MODULE
    assert in_pieces(monkeypatch, source, piece_bytes=100) == facts(source)


PEAK_MEMORY = """
import re, sys
from opusguard.select import parse
from opusguard.policy.catalog import load_catalog

catalog = load_catalog()
body = "".join(
    f"def test_{i}():\\n    agent = Agent('claude-opus-4-1-20250805', model_settings={{'max_tokens': {i}}})\\n"
    f"    assert agent.run_sync('q{i}: claude?', model_settings={{}}).output == {{'n': {i}, 'items': [1, 2, 3]}}\\n\\n"
    for i in range(3000)
)
source = ("from pydantic_ai import Agent\\n\\n" + body).encode()
parse.PIECE_BYTES = int(sys.argv[1]) or parse.PIECE_BYTES
facts = parse.facts_of(source, "m.py", is_model_id=lambda text: catalog.recognize(text) is not None)
# VmHWM, not ru_maxrss: Linux carries the parent's peak into ru_maxrss across exec.
with open("/proc/self/status") as status:
    peak_kib = int(re.search(r"VmHWM:\\s*(\\d+)", status.read())[1])
print(len(source), len(facts.calls), peak_kib)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc")
def test_a_huge_module_is_parsed_in_far_less_memory():
    # A test module of half a megabyte whose every function is kept whole (as in
    # pydantic-ai; "claude" keeps the second line too).
    # libcst's tree lives mostly outside Python's allocator: peak RSS, in a process each.
    # The two processes run side by side (each measures its own peak).
    runs = [
        subprocess.Popen([sys.executable, "-c", PEAK_MEMORY, str(piece_bytes)], stdout=subprocess.PIPE, text=True)
        for piece_bytes in (0, 10**9)
    ]
    (size, calls, in_pieces_peak), (_, whole_calls, whole_peak) = [
        tuple(map(int, run.communicate()[0].split())) for run in runs
    ]
    assert [run.returncode for run in runs] == [0, 0]
    assert size > 4 * parse.PIECE_BYTES and calls == whole_calls == 3000
    assert in_pieces_peak < 0.5 * whole_peak, (in_pieces_peak, whole_peak)
