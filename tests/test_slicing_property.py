"""Property: on generated programs (hypothesmith), cutting functions and statements
before parsing gives the whole file's facts (less the names the cuts record), or
cut text that does not parse (and so the fallback).

Generated code is full of what a line-based cut could trip on: strings of every
prefix and quote, escapes, backslash continuations, brackets across lines,
decorators, nested defs. Each program is also made the body of a function and of
a method, with a model call in some, so both kept and cut functions occur.
"""

from __future__ import annotations

import hypothesmith
import libcst as cst
from helpers import generated_program_settings
from hypothesis import given
from hypothesis import strategies as st
from test_slicing import assert_same_facts

from opusguard.select import selection

CALL = 'client.messages.create(model="claude-opus-4-1-20250805")\n'


def wrapped(program: str, calls: list[bool]) -> str:
    """The generated program three times: as a function's body, as a method's body
    (each with a model call when asked) and at module level, so that generated
    syntax of every kind stands inside functions that are kept or cut."""
    body = "pass\n" + program

    def indent(text: str, prefix: str) -> str:
        return "".join(prefix + line if line.strip() else line for line in text.splitlines(keepends=True))

    return (
        "@decorator(\n    1)\ndef f(a=1, *b, **c):\n"
        + ("    " + CALL if calls[0] else "")
        + indent(body, "    ")
        + "\nclass K(Base):\n    attr = 1\n    def m(self):\n"
        + ("        " + CALL if calls[-1] else "")
        + indent(body, "        ")
        + "\n"
        + program
    )


@generated_program_settings(60)
@given(hypothesmith.from_node(cst.Module), st.lists(st.booleans(), min_size=1, max_size=2))
def test_cut_text_gives_the_whole_files_facts_or_does_not_parse(program, calls):
    source = wrapped(program, calls).encode("utf-8")
    try:
        cst.parse_module(source)
        compile(source, "gen.py", "exec", flags=0x400, dont_inherit=True)  # ast only
    except Exception:
        return  # not a program (both parsers must accept it)
    sliced = selection.select_statements(source)
    if sliced is not None:
        try:
            cst.parse_module(sliced.text)
        except Exception:
            return  # extract.py falls back to the whole file
    assert_same_facts(source)
