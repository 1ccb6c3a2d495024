"""opusguard's positions (positions.py) equal libcst's PositionProvider on every node."""

from __future__ import annotations

from pathlib import Path

import click
import libcst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from opusguard.facts.positions import Positions

REPO = Path(__file__).resolve().parent.parent
TRICKY = (
    "x = 1\r\ny = (\r\n    2)\rz = 3\n"  # CRLF and a lone CR
    'async def f(a, /, b: "int" = 1, *c, d, **e) -> None:\n'
    '    s = f"{a!r:>{b}} {{x}}"\n'
    "    return [i async for i in c if (yield)] @ d\n"
    "@decorator(1)\nclass K(Base, metaclass=M):\n    '''doc'''\n    t: int = 3\n"
    "    def m(self):  # comment\n        pass\n\n\n# trailing comment\n"
)


def files() -> list[Path]:
    return sorted(Path(click.__file__).parent.glob("*.py")) + sorted((REPO / "opusguard").rglob("*.py"))


def assert_same_positions(module: libcst.Module) -> None:
    ours = Positions(module)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    theirs = wrapper.resolve(PositionProvider)
    assert theirs
    for node, code_range in theirs.items():
        expected = (code_range.start.line, code_range.start.column, code_range.end.line, code_range.end.column)
        assert ours.range(node) == expected, (type(node).__name__, expected)


def test_tricky_source():
    assert_same_positions(libcst.parse_module(TRICKY))


@pytest.mark.parametrize("path", files(), ids=lambda p: p.name)
def test_real_files(path):
    assert_same_positions(libcst.parse_module(path.read_bytes()))
