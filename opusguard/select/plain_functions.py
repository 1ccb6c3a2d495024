"""Top-level functions without a trigger, found in the bytes so that CPython's
parser need not read them.

Selection leaves out a top-level function whose lines hold no trigger, by its name
alone (selection.SlicedSource.cut_functions); it needs no more of it than that.
Yet `ast.parse` of the whole file was the largest part of selection: half of a
sparse run's parsing (sympy's test modules, 130 KB of matrices in test functions
and a model call at the end) and a sixth of a dense one's. Such a function is
blanked out of the text CPython parses, and stands in the module's body as a
`def` with its name and lines only, when two checks say that it is one statement
of the file:

- its text, from `def` (or its first decorator) to the next line that starts at
  column 0 with code, closes every string and bracket it opens and continues no
  line with a backslash (a scan of strings and comments; from Python 3.12 on an
  f-string's fields may hold its own quotes, so an f-string counts only if,
  ended where the scan ends it, it parses alone): so it ends where a statement
  may begin;
- no statement of the rest, as CPython parses it, spans its lines (it does not
  stand in a string, brackets or a block of another statement): so it begins
  where a statement begins.

A syntax error inside such a function goes unseen, as in a file the pre-filter
skips: libcst parses only what selection keeps. libcst is still the source of
every fact; this only chooses what CPython parses to choose what libcst parses.
"""

from __future__ import annotations

import ast
import bisect
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

# An identifier in UTF-8 bytes (bytes patterns know only ASCII letters).
NAME = rb"(?:[A-Za-z_]|[\x80-\xff])(?:\w|[\x80-\xff])*"
# A line that starts a statement at column 0 (or is text in a string or brackets,
# which the checks tell apart): not blank, not a comment, not a closing bracket
# (`) -> None:` ends a long signature). Found after its newline: a pattern that
# starts with a literal is searched for as one (`^` with MULTILINE is tried at
# every byte, a third of the time selection saved).
_COLUMN_0_CODE = re.compile(rb"\n[^ \t\r\n#)\]}]")
_NOT_CODE_START = b" \t\r\n#)]}"
_DEF = re.compile(rb"(async[ \t]+)?def[ \t]+(" + NAME + rb")")
# Strings (every prefix lexes as the bare string but f- and t-strings, see
# _whole_template) and comments, as Python's tokenizer reads them. Three quotes
# always open a triple-quoted string: unclosed, they are not an empty string and
# a one-quote string (`'''abc'` closes nothing that Python closes). With a quote
# that opens no string (an unclosed one) as the last choice, for the scan that
# looks at each string.
_STRINGS_AND_COMMENTS = (
    rb"#[^\r\n]*"
    rb"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    rb'|"""(?:[^"\\]|\\.|"(?!""))*"""'
    rb"|'(?!'')(?:[^'\\\r\n]|\\(?:\r\n|.))*'"
    rb'|"(?!"")(?:[^"\\\r\n]|\\(?:\r\n|.))*"'
)
_STRING_OR_COMMENT = re.compile(_STRINGS_AND_COMMENTS + rb"|['\"]", re.DOTALL)
# Without a triple quote or an f- or t-string, strings and comments are taken out
# in one call (an unclosed quote stays in what is left; each string ends on its
# line, so the call is linear). An unclosed triple quote is scanned to the end of
# the text: the scan that looks at each string stops at the first.
_STRIP = re.compile(_STRINGS_AND_COMMENTS, re.DOTALL)
_F_OR_T_QUOTE = re.compile(rb"[fFtT][A-Za-z]?['\"]")
_QUOTES = b"'\""
# The letters before a quote, if they make an f- or t-string.
_PREFIX = re.compile(rb"[A-Za-z]*[fFtT][A-Za-z]*\Z")


class PlainFunction(NamedTuple):
    first: int  # its first line (its first decorator's)
    def_line: int
    last: int  # the line before the next statement (comments and blank lines too)
    name: str  # as written
    is_async: bool


def find(
    source: bytes,
    lines: Sequence[bytes],
    offsets: Sequence[int],
    holds_trigger: Callable[[int, int], bool],
) -> list[PlainFunction]:
    """The top-level functions of `source` whose lines hold no trigger and whose text
    is one statement (is_one_statement). `offsets` are the lines' start offsets."""
    found: list[PlainFunction] = []
    with warnings.catch_warnings():  # (an f-string's "\d" ...: the user's business, not ours)
        warnings.simplefilter("ignore")
        for first, def_line, last in _statements(source, lines, offsets):
            header = _DEF.match(lines[def_line - 1])
            if (
                header is not None
                and not holds_trigger(first, last)
                and is_one_statement(source[offsets[first - 1] : offsets[last]])
            ):
                found.append(PlainFunction(first, def_line, last, header[2].decode("utf-8"), header[1] is not None))
    return found


def _statements(source: bytes, lines: Sequence[bytes], offsets: Sequence[int]) -> Iterator[tuple[int, int, int]]:
    """(first line, line after its decorators, last line) of each text from a line
    that starts at column 0 with code to the next, decorators taken with what follows."""
    starts = [bisect.bisect_right(offsets, match.start() + 1) for match in _COLUMN_0_CODE.finditer(source)]
    if source[:1] not in _NOT_CODE_START:
        starts.insert(0, 1)
    index = 0
    while index < len(starts):
        first = starts[index]
        while index < len(starts) - 1 and lines[starts[index] - 1].startswith(b"@"):
            index += 1
        last = starts[index + 1] - 1 if index + 1 < len(starts) else len(lines)
        yield first, starts[index], last
        index += 1


def is_one_statement(text: bytes) -> bool:
    """Whether `text`, read from the start of a statement, leaves no string or
    bracket open and continues no line: where it ends, another statement may begin."""
    rest: bytes | None
    if b"'''" not in text and b'"""' not in text and _F_OR_T_QUOTE.search(text) is None:
        rest = _STRIP.sub(b"", text)
        if b"'" in rest or b'"' in rest:
            return False  # an unclosed string
    else:
        rest = _code_checking_templates(text)
        if rest is None:
            return False
    return (
        b"\\" not in rest
        and rest.count(b"(") == rest.count(b")")
        and rest.count(b"[") == rest.count(b"]")
        and rest.count(b"{") == rest.count(b"}")
    )


def _code_checking_templates(text: bytes) -> bytes | None:
    """`text` without its strings and comments, None if a string is unclosed or an f-
    or t-string is cut short (_whole_template)."""
    code: list[bytes] = []
    position = 0
    for match in _STRING_OR_COMMENT.finditer(text):
        start, end = match.span()
        if text[start] in _QUOTES:
            if end - start == 1:
                return None  # an unclosed string
            prefix = _PREFIX.search(text, max(start - 2, 0), start)
            if prefix is not None and not _whole_template(text[prefix.start() : end]):
                return None
        code.append(text[position:start])
        position = end
    code.append(text[position:])
    return b"".join(code)


def _whole_template(literal: bytes) -> bool:
    """Whether an f- or t-string, as the scan read it, is the whole literal. From
    Python 3.12 on, its fields may hold quotes of its own kind (`f"{d["k"]}"`),
    where the scan ends it early; cut there, it does not parse. (A t-string, or an
    f-string of a later Python, does not parse on an earlier one: it is parsed
    with the function.)"""
    try:
        ast.parse(literal, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def blanked(source: bytes, offsets: Sequence[int], functions: Sequence[PlainFunction]) -> bytes:
    """`source` with each function's lines empty: line numbers stay."""
    pieces: list[bytes] = []
    position = 0
    for function in functions:
        pieces.append(source[position : offsets[function.first - 1]])
        pieces.append(b"\n" * (function.last - function.first + 1))
        position = offsets[function.last]
    pieces.append(source[position:])
    return b"".join(pieces)


def module_body(
    tree: ast.Module, functions: Sequence[PlainFunction], first_line: Callable[[ast.stmt], int]
) -> list[ast.stmt] | None:
    """The module's statements: the parsed ones and a stand-in for each function, in
    order; None if a parsed statement spans a function's lines (the function is
    then text in it, or the file is not what the scan took it for). `first_line`:
    a statement's first line, its decorators' (selection's)."""
    body: list[ast.stmt] = []
    pending = list(reversed(functions))
    for statement in tree.body:
        first = first_line(statement)
        while pending and pending[-1].first < first:
            function = pending.pop()
            if body and (body[-1].end_lineno or body[-1].lineno) >= function.first:
                return None
            body.append(_stand_in(function))
        if pending and (statement.end_lineno or statement.lineno) >= pending[-1].first:
            return None
        body.append(statement)
    body.extend(_stand_in(function) for function in reversed(pending))
    return body


def _stand_in(function: PlainFunction) -> ast.stmt:
    """A def with the function's name and lines: what selection reads of a function it
    leaves out (its first line, its decorators' first line, where its body starts)."""
    kind = ast.AsyncFunctionDef if function.is_async else ast.FunctionDef
    line = function.def_line
    decorators: list[ast.expr] = (
        [ast.Name("_", ast.Load(), lineno=function.first, col_offset=1)] if function.first < line else []
    )
    return kind(
        name=function.name,
        args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]),
        body=[ast.Pass(lineno=line, col_offset=0, end_lineno=line, end_col_offset=0)],
        decorator_list=decorators,
        returns=None,
        lineno=line,
        col_offset=0,
        end_lineno=function.last,
        end_col_offset=0,
    )
