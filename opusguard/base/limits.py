"""Limits on the source opusguard parses, checked before libcst sees it.

libcst's native parser crashes the process (a stack overflow: no exception to
catch) on a few thousand nested brackets, and takes time that grows with the
square of a chain's length (`a.b.b.b...`, `1+1+1...`, `f()()()...`): a second at
1,000 links, minutes at 50,000. The tree it builds is also walked recursively
in Python. So a file whose expressions nest deeper than MAX_NESTING, or whose
brackets nest deeper than CPython allows (MAX_BRACKETS), is not parsed: it gets
one OG000 naming the line.

The depth is measured on the bytes, with one regular expression: strings and
comments are stepped over, brackets counted, and the links of a chain (an
operator, an attribute, a call or subscript of what came before, an adjacent
string) counted between the separators that end an operand (`,` `:` `;` `=`,
the end of a logical line). A link ends the operands of the links that bind
tighter (in `a.b == 1 or c.d == 2 or ...` only the `or`s add up), so the count
follows the tree's depth, a little above it (a unary sign counts as a link).
Real code stays far below the limits (docs/security.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# CPython's own limit ("too many nested parentheses"): deeper is never valid Python.
MAX_BRACKETS = 200
# Brackets and links on the way from a statement to its deepest operand. The
# deepest real file seen (six public codebases, 2,300 files) reaches 49.
MAX_NESTING = 400
# Larger files are not analysed at all (files between core.MAX_PARSE_BYTES and
# this have their model literals checked); the largest real one seen is 1 MiB.
MAX_SOURCE_BYTES = 4 * 1024 * 1024
# Python's configparser reads a key in time that grows with the square of its
# line's length (a line of 20,000 spaces takes 4 s); an INI file with a longer
# line is reported, not read.
MAX_INI_LINE = 4096

# Each alternative starts with a byte of its own, so the search skips names and
# spaces at C speed (no look-behind: it would make every byte a candidate).
_TOKEN = re.compile(
    rb'''
    (?P<string>"""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*(?:"""|\Z)
              |\'\'\'[^'\\]*(?:(?:\\.|'(?!\'\'))[^'\\]*)*(?:\'\'\'|\Z)
              |"[^"\\\n]*(?:\\.[^"\\\n]*)*(?:"|$)
              |'[^'\\\n]*(?:\\.[^'\\\n]*)*(?:'|$))
    |(?P<comment>\#[^\n]*)
    |(?P<continuation>\\\r?\n)
    |(?P<newline>\n)
    |(?P<open>[(\[{])
    |(?P<close>[)\]}])
    |(?P<separator>:=|[,;:]|=(?!=))
    |(?P<word>(?:or|and|not|in|is|if|else|lambda|await)\b)
    |(?P<op>\*\*|//|<<|>>|[<>!=]=|->|[-+*/%@&|^~<>.])
    ''',
    re.VERBOSE | re.DOTALL | re.MULTILINE,
)
# Bytes of names and numbers: a word after one is the end of a longer name ("domain").
_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") | frozenset(
    range(0x80, 0x100)
)
# A bracket after one of these calls or subscripts what came before (a link).
_OPERAND_END = _NAME_BYTES | frozenset(b")]\"'")
_BLANK = frozenset(b" \t")

# How tightly each link binds (an operand of a looser link holds the tighter ones).
_ATOM = 6  # attribute, call, subscript, adjacent string
_ARITHMETIC = 5
_LEVELS = {
    b"if": 0,
    b"else": 0,
    b"lambda": 0,
    b"->": 0,
    b"or": 1,
    b"and": 2,
    b"not": 3,
    b"in": 4,
    b"is": 4,
    b"==": 4,
    b"!=": 4,
    b"<": 4,
    b">": 4,
    b"<=": 4,
    b">=": 4,
    b"await": _ARITHMETIC,
    b".": _ATOM,
}


def nesting_problem(source: bytes) -> tuple[int, str] | None:
    """(line, message) when `source` nests deeper than the limits; else None."""
    if len(source) < MAX_NESTING:
        return None  # too short to nest that deep
    steps = _Depth(source).steps()
    for match in _TOKEN.finditer(source):
        problem = steps[match.lastgroup](match)
        if problem is not None:
            return problem
    return None


_Problem = tuple[int, str] | None


class _Depth:
    """The count of nesting_problem, moved on by one token at a time (a method per
    kind of token); each step returns the problem, if the token makes one."""

    def __init__(self, source: bytes) -> None:
        self.source = source
        self.base = 0  # links and brackets on the way to the current level of brackets
        self.chain = [0] * (_ATOM + 1)  # links at this level of brackets, by how tightly they bind
        self.total = 0  # sum(chain)
        self.stack: list[tuple[int, list[int], int, int]] = []
        self.lambdas = 0  # lambdas at this level of brackets whose ":" is still to come
        self.after_string = False

    def steps(self) -> dict[str | None, Callable[[re.Match[bytes]], _Problem]]:
        """The step for each group of _TOKEN."""
        return {
            "string": self.string,
            "comment": _nothing,
            "continuation": _nothing,
            "newline": self.newline,
            "open": self.open,
            "close": self.close,
            "separator": self.separator,
            "word": self.word,
            "op": self.operator,
        }

    def string(self, match: re.Match[bytes]) -> _Problem:
        if self.after_string:
            return self.link(_ATOM, match)  # adjacent strings
        self.after_string = True
        return None

    def newline(self, match: re.Match[bytes]) -> _Problem:
        if not self.stack:
            self.chain, self.total, self.after_string, self.lambdas = [0] * (_ATOM + 1), 0, False, 0
        return None

    def open(self, match: re.Match[bytes]) -> _Problem:
        self.after_string = False
        source, start = self.source, match.start()
        before = start - 1
        while before >= 0 and source[before] in _BLANK:
            before -= 1
        if before >= 0 and source[before] in _OPERAND_END and source[start] != 0x7B:  # not "{"
            self.chain[_ATOM] += 1  # a call or a subscript
            self.total += 1
        self.stack.append((self.base, self.chain, self.total, self.lambdas))
        self.base, self.chain, self.total, self.lambdas = self.base + self.total + 1, [0] * (_ATOM + 1), 0, 0
        if len(self.stack) > MAX_BRACKETS:
            return _line(source, start), f"brackets nested more than {MAX_BRACKETS} deep: not analysed"
        if self.base > MAX_NESTING:
            return _line(source, start), f"expression nested more than {MAX_NESTING} levels deep: not analysed"
        return None

    def close(self, match: re.Match[bytes]) -> _Problem:
        self.after_string = False
        if self.stack:
            self.base, self.chain, self.total, self.lambdas = self.stack.pop()
        return None

    def separator(self, match: re.Match[bytes]) -> _Problem:
        self.after_string = False
        if self.lambdas and match.group() == b":":
            self.lambdas -= 1  # a lambda's body goes on its chain
            return None
        if match.group() == b";":
            self.lambdas = 0
        self.chain, self.total = [0] * (_ATOM + 1), 0
        return None

    def word(self, match: re.Match[bytes]) -> _Problem:
        self.after_string = False
        start = match.start()
        if start and self.source[start - 1] in _NAME_BYTES:
            return None  # the end of a longer name
        return self.operator(match)

    def operator(self, match: re.Match[bytes]) -> _Problem:
        """An operator, or a word that joins operands."""
        self.after_string = False
        level = _LEVELS.get(match.group(), _ARITHMETIC)
        if level == 0 and match.group() == b"lambda":
            self.lambdas += 1
        return self.link(level, match)

    def link(self, level: int, match: re.Match[bytes]) -> _Problem:
        """A link that binds at `level`, at the token `match`."""
        chain = self.chain
        chain[level] += 1
        total = self.total + 1
        for tighter in range(level + 1, _ATOM + 1):  # the operand just ended holds them
            total -= chain[tighter]
            chain[tighter] = 0
        self.total = total
        if self.base + total > MAX_NESTING:
            return _line(
                self.source, match.start()
            ), f"expression nested more than {MAX_NESTING} levels deep: not analysed"
        return None


def _nothing(match: re.Match[bytes]) -> _Problem:
    return None  # a comment or a backslash at the end of a line


def _line(source: bytes, offset: int) -> int:
    return source.count(b"\n", 0, offset) + 1
