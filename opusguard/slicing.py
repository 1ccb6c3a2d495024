"""Cut the code that cannot add a fact, before libcst parses a file.

libcst parses, positions and visits a few thousand lines a second, and a file
that passes the pre-filter is usually a large module with one model call in it.
Facts come from module and class level code (bindings, imports, class
attributes) and from the functions that mention a model, a model-taking call, an
SDK name, a call of the router or an annotation. Every other function, decorators and
signature included, becomes ``def name(): ...``: its name is all it adds (facts
record which names are functions). `line_map` takes each line of the cut text
back to the file's own line, so the facts are the ones the whole file gives
(tests/test_slicing.py checks that on real code), but for two things: a cut
function's parameters, which only its own body reads, and attributes assigned
in a cut body (``self.engine = ...`` binds a class attribute). Their names are
kept in `cut_attributes`, and the resolver asks for the whole file's facts when
it needs one of them.

A second stage removes, at module and class level, the simple statements
(assignments, docstrings, bare expressions) that hold no trigger (a big
``LANG_INFO = {...}`` or ``__all__ = [...]``), the stubs the first stage left,
and the blank and comment lines between statements; a class body left empty
keeps one ``...``. CPython's own parser finds them (it is C, a small part of
libcst's cost). The names the statements bind are kept in `cut_names` (module
level) and `cut_attributes` (class level), and the resolver asks for the whole
file when it looks one up; a removed stub's qualified name is kept in
`cut_functions`, and extract.py records it as the stub would have been (a
function without parameters; only names defined once, so that no order is
lost). An alias (``Alias = Base``) is never cut: subclass lookups read aliases
of every file.

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

from msgspec import Struct

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


class SlicedSource(Struct, frozen=True):
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
    # Functions whose stub was removed too (qualified names): the facts record them
    # as functions without parameters, as they would the stub.
    cut_functions: frozenset[str] = frozenset()


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
        statements_cut.cut_functions,
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
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _cut_statements(source: bytes, is_relevant: Callable[[bytes], bool]) -> SlicedSource | None:
    """Module and class level statements that cannot add a fact are removed: simple
    statements without a trigger, the stubs the first stage left (`def name(): ...`,
    recorded in `cut_functions` instead), and the blank and comment lines between
    statements. A class body left empty gets a `...`."""
    try:
        with warnings.catch_warnings():  # ("is" with a literal ...): the user's business, not ours
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # libcst parses it, or reports why not
    lines = source.splitlines(keepends=True)
    removed: set[int] = set()  # line numbers
    placeholders: dict[int, int] = {}  # first line -> last line of a statement that becomes `...`
    names: set[str] = set()
    attributes: set[str] = set()
    functions: set[str] = set()
    # CPython's parser normalises identifiers (NFKC: "ª" reads "a"); the facts keep them as written.
    name_of = _written_name if not source.isascii() else _ast_name
    # A stub is recorded by name; only a name defined once, so that no order is lost.
    defined = _function_qualnames(tree.body, "", lambda node: name_of(lines, node))

    bodies: list[tuple[list[ast.stmt], str, bool]] = [(tree.body, "", False)]  # (body, qualname prefix, in a class)
    while bodies:
        body, prefix, in_class = bodies.pop()
        cut: list[ast.stmt] = []
        for index, statement in enumerate(body):
            if isinstance(statement, ast.ClassDef):
                bodies.append((statement.body, f"{prefix}{name_of(lines, statement)}.", True))
                continue
            first, last = statement.lineno, statement.end_lineno or statement.lineno
            # Alone on its lines: no `a = 1; b = 2`, no `class A: x = 1`.
            if index > 0 and (body[index - 1].end_lineno or 0) >= first:
                continue
            if index + 1 < len(body) and _first_line(body[index + 1]) <= last:
                continue
            if lines[first - 1][: statement.col_offset].strip():
                continue
            if _is_stub(statement):
                qualname = prefix + name_of(lines, statement)
                if defined.count(qualname) == 1:
                    cut.append(statement)
                    functions.add(qualname)
                continue
            if not isinstance(statement, _SIMPLE) or _is_alias(statement):
                continue
            bound = _bound_names(statement, lambda node: name_of(lines, node))
            if bound is None:
                continue  # assigns through an attribute or a subscript: kept
            if is_relevant(b"".join(lines[first - 1 : last])):
                continue
            cut.append(statement)
            (attributes if in_class else names).update(bound)
        for statement in cut:
            removed.update(range(statement.lineno, (statement.end_lineno or statement.lineno) + 1))
        if in_class and len(cut) == len(body):
            first = cut[0].lineno
            placeholders[first] = cut[0].end_lineno or first
            removed.difference_update(range(first, placeholders[first] + 1))
        # Blank and comment lines between two statements (code is never there: a
        # statement's lines run to its last bracket, and a decorator's are its own).
        for before, after in zip(body, body[1:]):
            removed.update(range((before.end_lineno or before.lineno) + 1, _first_line(after)))
    if not removed and not placeholders:
        return None
    pieces: list[bytes] = []
    line_map: list[int] = []
    skip_until = 0
    for number, line in enumerate(lines, 1):
        if number <= skip_until or number in removed:
            continue
        if number in placeholders:
            indent = line[: len(line) - len(line.lstrip(b" \t"))]
            last = placeholders[number]
            pieces.append(indent + b"..." + (b"\r\n" if lines[last - 1].endswith(b"\r\n") else b"\n"))
            skip_until = last
        else:
            pieces.append(line)
        line_map.append(number)
    text = b"".join(pieces)
    if not text or text.endswith(b"\n"):  # the empty line after the last newline, as the first stage maps it
        line_map.append(len(lines) + 1 if source.endswith(b"\n") else len(lines))
    return SlicedSource(
        text, tuple(line_map), frozenset(attributes), frozenset(names), frozenset(functions)
    )


def _first_line(statement: ast.stmt) -> int:
    decorators = getattr(statement, "decorator_list", None)
    return min(decorator.lineno for decorator in decorators) if decorators else statement.lineno


def _is_stub(statement: ast.stmt) -> bool:
    """`def name(): ...` on one line: what the first stage leaves of a function (and
    what it adds to the facts, a function without parameters, is all it holds)."""
    if not isinstance(statement, _FUNCTIONS) or statement.decorator_list or statement.returns is not None:
        return False
    if getattr(statement, "type_params", None) or statement.lineno != statement.end_lineno:
        return False
    args = statement.args
    if args.posonlyargs or args.args or args.kwonlyargs or args.vararg or args.kwarg:
        return False
    only = statement.body[0]
    return (
        len(statement.body) == 1
        and isinstance(only, ast.Expr)
        and isinstance(only.value, ast.Constant)
        and only.value.value is Ellipsis
    )


def _function_qualnames(body: list[ast.stmt], prefix: str, name_of: Callable[[ast.AST], str]) -> list[str]:
    """Qualified names of every function defined in `body`, as the facts name them
    (enclosing classes and functions, dotted), with repeats."""
    found: list[str] = []
    pending = [(body, prefix)]
    while pending:
        statements, prefix = pending.pop()
        for statement in statements:
            if isinstance(statement, (*_FUNCTIONS, ast.ClassDef)):
                qualname = prefix + name_of(statement)
                if not isinstance(statement, ast.ClassDef):
                    found.append(qualname)
                pending.append((statement.body, qualname + "."))
                continue
            for field in ("body", "orelse", "finalbody"):
                inner = getattr(statement, field, None)
                if inner:
                    pending.append((inner, prefix))
            for handler in getattr(statement, "handlers", ()):
                pending.append((handler.body, prefix))
            for case in getattr(statement, "cases", ()):
                pending.append((case.body, prefix))
    return found


_DEF_NAME = re.compile(rb"(?:async[ \t]+)?(?:def|class)[ \t]+(" + _NAME + rb")")


def _ast_name(lines: list[bytes], node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else node.name  # type: ignore[attr-defined]


def _written_name(lines: list[bytes], node: ast.AST) -> str:
    """The name of a Name, def or class as the file spells it."""
    line = lines[node.lineno - 1]
    if isinstance(node, ast.Name):
        return line[node.col_offset : node.end_col_offset].decode("utf-8")
    match = _DEF_NAME.match(line, node.col_offset)
    return match[1].decode("utf-8") if match else node.name  # type: ignore[attr-defined]


def _is_alias(statement: ast.stmt) -> bool:
    """`Alias = Base`, `Alias = mod.Base`: kept, subclass lookups read them."""
    return isinstance(statement, ast.Assign) and isinstance(statement.value, (ast.Name, ast.Attribute))


def _bound_names(statement: ast.stmt, name_of: Callable[[ast.AST], str]) -> list[str] | None:
    """The names a statement binds; None if it assigns through an attribute or subscript."""
    if isinstance(statement, ast.Expr):
        return []
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
    names: list[str] = []
    pending = list(targets)
    while pending:
        target = pending.pop()
        if isinstance(target, ast.Name):
            names.append(name_of(target))
        elif isinstance(target, (ast.Tuple, ast.List)):
            pending.extend(target.elts)
        elif isinstance(target, ast.Starred):
            pending.append(target.value)
        else:
            return None
    return names


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
