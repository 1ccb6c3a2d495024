"""Cut the code that cannot add a fact, before libcst parses a file.

libcst parses, positions and visits a few thousand lines a second, and a file
that passes the pre-filter is usually a large module with one model call in it.
Facts come from module and class level code (bindings, imports, class
attributes) and from the functions that mention a model, a model-taking call, an
SDK name, the router or an annotation. Every other function, decorators and
signature included, becomes ``def name(): ...``: its name is all it adds (facts
record which names are functions). `line_map` takes each line of the cut text
back to the file's own line, so the facts are the ones the whole file gives
(tests/test_slicing.py checks that on real code), but for two things: a cut
function's parameters, which only its own body reads, and attributes assigned
in a cut body (``self.engine = ...`` binds a class attribute). Their names are
kept in `cut_attributes`, and the resolver asks for the whole file's facts when
it needs one of them.

A second stage does the same for simple statements at module and class level
(assignments, docstrings, bare expressions) that hold no trigger: a big
``LANG_INFO = {...}`` or ``__all__ = [...]`` becomes ``...``. CPython's own
parser finds them (it is C, a small part of libcst's cost). The names they bind
are kept in `cut_names` (module level) and `cut_attributes` (class level), and
the resolver asks for the whole file when it looks one up. An alias
(``Alias = Base``) is never cut: subclass lookups read aliases of every file.

Never wrong in silence: a function ends at the next statement indented no
deeper than its ``def`` (after its signature), found after skipping string
literals, comments and backslash continuations. A line inside an open bracket
indented less than its function would end it early; the rest of that bracket
then stands alone with an unbalanced closer, so the cut text does not parse and
extract.py parses the whole file instead.
"""

from __future__ import annotations

import ast
import bisect
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

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
# An identifier in UTF-8 bytes (bytes patterns know only ASCII letters).
_NAME = rb"(?:[A-Za-z_]|[\x80-\xff])(?:\w|[\x80-\xff])*"
_DEF_OR_DECORATOR = re.compile(rb"^([ \t]*)(?:(@)|(?:async[ \t]+)?def[ \t]+(" + _NAME + rb"))", re.M)
_TOKEN = re.compile(rb"[()\[\]{}:\n\"'#]")
_BLANK_OR_COMMENT_LINES = re.compile(rb"(?:[ \t]*(?:#[^\n]*)?\r?\n)*")
# Attributes that may be assigned: `obj.attr = `, `a.x = a.y = `, `a.x, a.y = `,
# `obj.attr: T = `, `obj.attr += ` (a superset: `f(a.b, c)` counts too).
_ASSIGNED_ATTRIBUTE = re.compile(rb"\.(" + _NAME + rb")[ \t]*(?:[,:]|\+?=(?!=))")


@dataclass(frozen=True)
class SlicedSource:
    text: bytes
    # line_map[i] is the file's line number of line i + 1 of `text`. No node
    # that facts record a span of can enclose a function body (a class records
    # the span of its name), so no span ends on a `...` line.
    line_map: tuple[int, ...]
    # Attribute names assigned in the cut bodies (a superset) and class attributes
    # whose assignment was cut.
    cut_attributes: frozenset[str]
    # Module-level names whose assignment was cut.
    cut_names: frozenset[str] = frozenset()


def cut_irrelevant_bodies(source: bytes, is_relevant: Callable[[bytes], bool]) -> SlicedSource | None:
    """The source with irrelevant functions and module or class level statements cut,
    or None when nothing is cut (or the file is odd enough that a plain parse is the
    safer path)."""
    if b"\f" in source:
        return None
    if source.count(b"\r") != source.count(b"\r\n"):
        return None  # a lone CR ends a line for Python, not for the line map: parse it whole
    try:  # names are read as UTF-8; a file in another encoding is parsed whole
        source.decode("utf-8")
    except UnicodeDecodeError:
        return None
    functions_cut = _cut_functions(source, is_relevant) if b"def" in source else None
    text = functions_cut.text if functions_cut is not None else source
    statements_cut = _cut_statements(text, is_relevant)
    if statements_cut is None:
        return functions_cut
    if functions_cut is None:
        return statements_cut
    return SlicedSource(
        statements_cut.text,
        tuple(functions_cut.line_map[line - 1] for line in statements_cut.line_map),
        functions_cut.cut_attributes | statements_cut.cut_attributes,
        statements_cut.cut_names,
    )


def _cut_functions(source: bytes, is_relevant: Callable[[bytes], bool]) -> SlicedSource | None:
    regions = _multiline_string_regions(source)
    if regions is None:
        return None  # an unterminated string: the full parse reports it
    starts, ends = regions
    cuts: list[tuple[int, int, bytes]] = []  # (start, end, replacement), in order
    covered_until = 0
    decorators: tuple[int, int, int] | None = None  # (first '@' line, indent, where the def must be)
    for match in _DEF_OR_DECORATOR.finditer(source):
        start = match.start()
        if start < covered_until or _inside(start, starts, ends):
            continue
        indent = match.end(1) - start
        if match[2]:  # a decorator: remember where its block starts and ends
            newline = _outside_brackets(source, match.end(), b"\n")
            if newline is None:
                return None
            after = newline + 1
            after = _BLANK_OR_COMMENT_LINES.match(source, after).end()
            if decorators is None or decorators[1] != indent or decorators[2] != start:
                decorators = (start, indent, after)
            else:
                decorators = (decorators[0], indent, after)
            continue
        statement_start = start
        if decorators is not None and decorators[1] == indent and decorators[2] == start:
            statement_start = decorators[0]
        decorators = None
        colon = _outside_brackets(source, match.end(), b":")
        if colon is None:
            return None  # not a def after all (an odd file): parse it whole
        # The body is what follows the header, which may span lines (its closing
        # parenthesis is often indented like the def itself).
        end = _statement_end(source, colon, indent, starts, ends)
        covered_until = end
        if is_relevant(source[statement_start:end]):
            continue
        # Decorators, signature and body become `def name(): ...`: the name is all a
        # cut function adds (facts record which names are functions).
        newline = source.find(b"\n", start)
        ending = b"\r\n" if newline > 0 and source[newline - 1 : newline] == b"\r" else b"\n"
        stub = source[start : match.end(1)] + b"def " + match[3] + b"(): ..." + ending
        if statement_start < start:
            cuts.append((statement_start, start, b""))
        cuts.append((start, end, stub))
    if not cuts:
        return None
    return _apply(source, cuts)


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


_END_PATTERNS: dict[int, re.Pattern[bytes]] = {}


def _statement_end(source: bytes, pos: int, indent: int, starts: list[int], ends: list[int]) -> int:
    """Offset of the first statement after `pos` indented no deeper than `indent`."""
    pattern = _END_PATTERNS.get(indent)
    if pattern is None:
        pattern = _END_PATTERNS[indent] = re.compile(rb"^[ \t]{0,%d}[^ \t\r\n#]" % indent, re.M)
    newline = source.find(b"\n", pos)
    pos = len(source) if newline < 0 else newline + 1
    while True:
        match = pattern.search(source, pos)
        if match is None:
            return len(source)
        line_start = match.start()
        if not _inside(line_start, starts, ends) and not _continues_previous_line(source, line_start):
            return line_start
        newline = source.find(b"\n", line_start)
        if newline < 0:
            return len(source)
        pos = newline + 1


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


def _outside_brackets(source: bytes, pos: int, target: bytes) -> int | None:
    """Offset of the first `target` (b":" or b"\\n") after `pos` that is outside
    brackets, strings and comments (a backslash-continued newline does not count);
    None if there is none, or a string never ends."""
    depth = 0
    while True:
        match = _TOKEN.search(source, pos)
        if match is None:
            return None
        at = match.start()
        char = source[at : at + 1]
        if char in b"([{":
            depth += 1
        elif char in b")]}":
            depth -= 1
        elif char == target and depth <= 0:
            if not (char == b"\n" and (source[at - 1 : at] == b"\\" or source[at - 2 : at] == b"\\\r")):
                return at  # (a newline after a backslash continues the line)
        elif char == b"#":
            newline = source.find(b"\n", at)
            if newline < 0:
                return None
            pos = newline  # the newline itself may be the target
            continue
        elif char in b"\"'":
            quote = source[at : at + 3] if source[at : at + 3] in (b'"""', b"'''") else char
            rest = _STRING_REST[quote].match(source, at + len(quote))
            if rest is None:
                return None
            pos = rest.end()
            continue
        pos = at + 1


def _apply(source: bytes, cuts: list[tuple[int, int, bytes]]) -> SlicedSource:
    pieces: list[bytes] = []
    line_map: list[int] = []
    kept_from = 0
    line = 1  # file line number at kept_from
    for cut_start, cut_end, replacement in cuts:
        kept = source[kept_from:cut_start]
        kept_lines = kept.count(b"\n")
        pieces.append(kept)
        line_map.extend(range(line, line + kept_lines))
        line += kept_lines
        if replacement:
            pieces.append(replacement)
            line_map.append(line)  # the stub stands on the def's own line
        line += source.count(b"\n", cut_start, cut_end)
        kept_from = cut_end
    tail = source[kept_from:]
    pieces.append(tail)
    line_map.extend(range(line, line + tail.count(b"\n") + 1))
    attributes = {
        match[1].decode()
        for cut_start, cut_end, _ in cuts
        for match in _ASSIGNED_ATTRIBUTE.finditer(source, cut_start, cut_end)
    }
    return SlicedSource(b"".join(pieces), tuple(line_map), frozenset(attributes))


# --- module and class level statements ----------------------------------------------

_SIMPLE = (ast.Assign, ast.AugAssign, ast.Expr)


def _cut_statements(source: bytes, is_relevant: Callable[[bytes], bool]) -> SlicedSource | None:
    """Simple statements at module and class level without a trigger become `...`."""
    try:
        with warnings.catch_warnings():  # ("is" with a literal ...): the user's business, not ours
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # libcst parses it, or reports why not
    lines = source.splitlines(keepends=True)
    cuts: list[tuple[int, int, bytes]] = []  # (first line, last line, replacement)
    names: set[str] = set()
    attributes: set[str] = set()

    bodies: list[tuple[list[ast.stmt], bool]] = [(tree.body, False)]  # (body, in a class)
    while bodies:
        body, in_class = bodies.pop()
        for index, statement in enumerate(body):
            if isinstance(statement, ast.ClassDef):
                bodies.append((statement.body, True))
                continue
            if not isinstance(statement, _SIMPLE) or _is_alias(statement):
                continue
            bound = _bound_names(statement)
            if bound is None:
                continue  # assigns through an attribute or a subscript: kept
            first, last = statement.lineno, statement.end_lineno or statement.lineno
            # Alone on its lines: no `a = 1; b = 2`, no `class A: x = 1`.
            if index > 0 and (body[index - 1].end_lineno or 0) >= first:
                continue
            if index + 1 < len(body) and body[index + 1].lineno <= last:
                continue
            if lines[first - 1][: statement.col_offset].strip():
                continue
            if is_relevant(b"".join(lines[first - 1 : last])):
                continue
            # A docstring stays a string: `from __future__` may only follow one.
            docstring = isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
            cuts.append((first, last, b'""' if docstring else b"..."))
            (attributes if in_class else names).update(bound)
    cuts.sort()
    if not cuts:
        return None
    pieces: list[bytes] = []
    line_map: list[int] = []
    next_line = 1
    for first, last, replacement in cuts:
        pieces.extend(lines[next_line - 1 : first - 1])
        line_map.extend(range(next_line, first))
        line = lines[first - 1]
        indent = line[: len(line) - len(line.lstrip(b" \t"))]
        ending = b"\r\n" if lines[last - 1].endswith(b"\r\n") else b"\n"
        pieces.append(indent + replacement + ending)
        line_map.append(first)
        next_line = last + 1
    pieces.extend(lines[next_line - 1 :])
    line_map.extend(range(next_line, source.count(b"\n") + 2))
    return SlicedSource(b"".join(pieces), tuple(line_map), frozenset(attributes), frozenset(names))


def _is_alias(statement: ast.stmt) -> bool:
    """`Alias = Base`, `Alias = mod.Base`: kept, subclass lookups read them."""
    return isinstance(statement, ast.Assign) and isinstance(statement.value, (ast.Name, ast.Attribute))


def _bound_names(statement: ast.stmt) -> list[str] | None:
    """The names a statement binds; None if it assigns through an attribute or subscript."""
    if isinstance(statement, ast.Expr):
        return []
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
    names: list[str] = []
    pending = list(targets)
    while pending:
        target = pending.pop()
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            pending.extend(target.elts)
        elif isinstance(target, ast.Starred):
            pending.append(target.value)
        else:
            return None
    return names
