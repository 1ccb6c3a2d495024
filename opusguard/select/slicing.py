"""Split a long text into runs of whole top-level statements, found without a parser.

A libcst tree takes about 400 bytes of memory per byte of source; parse.py
parses a long kept text a piece at a time (see `pieces`), each tree freed before
the next.
"""

from __future__ import annotations

import bisect
import re

# A string opener or a comment; strings are then skipped whole.
_QUOTE_OR_COMMENT = re.compile(rb"[\"'#]")
# Rest of a string after its opening quote(s). A backslash escapes anything,
# a newline included (the continuation of a single-quoted string).
_STRING_REST = {
    b'"""': re.compile(rb'(?:[^"\\]|\\.|"(?!""))*"""', re.S),
    b"'''": re.compile(rb"(?:[^'\\]|\\.|'(?!''))*'''", re.S),
    b'"': re.compile(rb'(?:[^"\\\n]|\\.)*"', re.S),
    b"'": re.compile(rb"(?:[^'\\\n]|\\.)*'", re.S),
}


def _multiline_string_regions(source: bytes) -> tuple[list[int], list[int]] | None:
    """(starts, ends) of string literals that span lines, sorted; None if one never ends."""
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    find = _QUOTE_OR_COMMENT.search
    while True:
        match = find(source, pos)
        if match is None:
            return starts, ends
        at = match.start()
        char = source[at : at + 1]
        if char == b"#":
            newline = source.find(b"\n", at)
            if newline < 0:
                return starts, ends
            pos = newline + 1
            continue
        quote = source[at : at + 3] if source[at : at + 3] in (b'"""', b"'''") else char
        rest = _STRING_REST[quote].match(source, at + len(quote))
        if rest is None:
            return None
        pos = rest.end()
        if b"\n" in source[at:pos]:
            starts.append(at)
            ends.append(pos)


def _inside(offset: int, starts: list[int], ends: list[int]) -> bool:
    index = bisect.bisect_right(starts, offset) - 1
    return index >= 0 and offset < ends[index]


def _continues_previous_line(source: bytes, line_start: int) -> bool:
    """A backslash ends the previous line (outside a comment)."""
    end = line_start - 1
    if end > 0 and source[end - 1 : end] == b"\r":
        end -= 1
    if end <= 0 or source[end - 1 : end] != b"\\":
        return False
    previous_start = source.rfind(b"\n", 0, end) + 1
    # A '#' before the backslash may start a comment (or sit in a string): then the
    # line is taken as not continued, which can only end a body early (see above).
    return b"#" not in source[previous_start:end]


# --- pieces of a long text -------------------------------------------------------------

# A line that may start a top-level statement: at column 0, not blank, a comment,
# a closing bracket or a decorator (a piece starts at the decorator, see below),
# nor the rest of a compound statement.
_COLUMN_0_STATEMENT = re.compile(rb"^(?![\s#@)\]}]|(?:else|elif|except|finally)\b)", re.M)
_DECORATOR_LINE = re.compile(rb"[ \t]*@")


def pieces(text: bytes, piece_bytes: int) -> list[tuple[int, bytes]] | None:
    """(first line, text) of runs of whole top-level statements, each of at least
    `piece_bytes` but the last; None if the text is not split (shorter, or an
    unterminated string).

    Found on the text, not by a parser (CPython's own tree of a huge module costs
    what the split saves): a piece starts on a line at column 0, outside strings,
    not continuing the line before, with its decorators. A line inside an open
    bracket at column 0 would end a piece early; that piece then does not parse,
    and the caller parses the whole text."""
    if len(text) <= piece_bytes:
        return None
    regions = _multiline_string_regions(text)
    if regions is None:
        return None
    starts, ends = regions
    bounds = [0]
    search_from = piece_bytes
    while True:
        match = _COLUMN_0_STATEMENT.search(text, search_from)
        if match is None or match.start() >= len(text):  # (`^` matches at the very end too)
            break
        at = match.start()
        search_from = at + 1
        if _inside(at, starts, ends) or _continues_previous_line(text, at):
            continue
        at = _with_decorators(text, at)
        if at - bounds[-1] >= piece_bytes:
            bounds.append(at)
            search_from = at + piece_bytes
    if len(bounds) == 1:
        return None
    bounds.append(len(text))
    first_line = 1
    out = []
    for start, end in zip(bounds, bounds[1:]):
        out.append((first_line, text[start:end]))
        first_line += text.count(b"\n", start, end)
    return out


def _with_decorators(text: bytes, line_start: int) -> int:
    """Where the statement starting at `line_start` begins, its decorators included."""
    while line_start > 0:
        previous = text.rfind(b"\n", 0, line_start - 1) + 1
        if not _DECORATOR_LINE.match(text, previous):
            break
        line_start = previous
    return line_start
