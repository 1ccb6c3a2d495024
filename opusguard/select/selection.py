"""Choose the statements libcst parses: those that can make a fact, in their blocks.

libcst parses, positions and visits a few thousand lines a second, and a file that
passes the pre-filter is usually a large module with a few model calls in it.
CPython's parser (C, a small part of libcst's cost) gives the file's statements;
this module keeps, with the lines of every block around them:

- in a function, the statements whose lines hold a trigger (prefilter.trigger_lines:
  a model, the model word where a fact reads it (a model keyword, an argument that
  says model: where the bytes say it may be, CPython's tree decides, see
  _reads_a_model_word), an SDK name where a call is written with it, the router, an
  annotation; in a function that makes a local alias of an SDK segment, `api =
  client.messages`, the segment's name wherever it stands), and then the
  statements of the same function that bind a name a kept statement reads where
  a fact takes a value (so a local keeps its value; _fact_reads: a call's model,
  prompt and callee, an assigned value ..., not `max_tokens=n` nor a test), the
  imports of a function that keeps anything, and the header of every block around
  a kept statement (so `for`, `with`, `if` and `try` mean what they meant); of a
  kept function's or class's decorators, those with a trigger and `staticmethod`
  (keep_header);
- at module and class level, every statement but the simple ones without a
  trigger (the model word counting wherever it stands) that bind only names (a
  big `LANG_INFO = {...}`, a docstring), whose names are kept in `cut_names`
  (module) and `cut_attributes` (by class);
- a function that keeps nothing is left out; its qualified name goes to
  `cut_functions` (the facts record it as a function without parameters) and,
  for a method, the attributes it may assign through its first parameter
  (`self.engine = ...`) to its class's `cut_attributes`, as do the statements a
  kept method leaves out. A top-level function whose lines hold no trigger is
  found in the bytes and not even read by CPython's parser (plain_functions).

Before it reads a name or attribute whose assignment was left out, the resolver
asks for the facts of the file's statements that bind it (selected as above,
with the statements that assign the name or an attribute so named as the only
triggers: _binding_lines) and takes that name's values from them
(join.with_name_parsed), so a cut can delay a fact, never lose it. A docstring is
left out whatever it says (the facts take no literal from one); another plain
string statement counts only the triggers other than the model word. A block
whose statements were all left out gets a `pass`; `line_map` takes each line of
the kept text back to the file's line. libcst parses the kept text and is the
source of every fact; CPython's tree only chooses lines.
"""

from __future__ import annotations

import ast
import bisect
import itertools
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from msgspec import Struct

from opusguard.base import limits
from opusguard.facts import sinks
from opusguard.select import plain_functions, prefilter

_LAST_IDENTIFIER = re.compile(plain_functions.NAME + rb"\Z")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
# Where a statement's text may make a local alias of an SDK shape's segment (_is_segment_alias).
_SEGMENT_WORD = re.compile(rb"|".join(re.escape(name.encode()) for name in sorted(sinks.SEGMENT_NAMES)))
_DEFINITIONS = (*_FUNCTIONS, ast.ClassDef)
# What has a name as written (selection.name_of).
_Named = ast.Name | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
_SIMPLE_BINDINGS = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr)
_PASS = b"pass"
# PEP 263: a comment on line 1 or 2 that names the file's encoding.
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")


class SlicedSource(Struct, frozen=True):
    text: bytes
    # line_map[i] is the file's line number of line i + 1 of `text` (a `pass` or a
    # stub maps to the line it stands before).
    line_map: tuple[int, ...]
    # class qualname -> its attributes whose assignment was left out: in its body,
    # and through the first parameter of its methods (`self.engine = ...`, a superset).
    cut_attributes: dict[str, frozenset[str]]
    # Module-level names whose assignment was left out.
    cut_names: frozenset[str] = frozenset()
    # Functions left out (qualified names): the facts record them as functions
    # without parameters.
    cut_functions: frozenset[str] = frozenset()
    # (first line, start, end byte) in the file of each kept run of whole logical
    # lines long enough to nest too deep (see nesting_problem).
    long_statements: tuple[tuple[int, int, int], ...] = ()


def nesting_problem(source: bytes, sliced: SlicedSource) -> tuple[int, str] | None:
    """limits.nesting_problem of the kept text, as a line of the file.

    The text is kept a run of whole logical lines at a time (a statement, a header),
    each starting where no bracket or string is open, and a chain deeper than
    MAX_NESTING takes more than MAX_NESTING tokens of one logical line: only the
    longer runs can hold one, and each is measured from its start as the whole text
    would be."""
    for first_line, start, end in sliced.long_statements:
        problem = limits.nesting_problem(source[start:end])
        if problem is not None:
            return first_line + problem[0] - 1, problem[1]
    return None


def select_statements(
    source: bytes,
    router_names: frozenset[str] = frozenset({"route"}),
    names: frozenset[str] = frozenset(),
    *,
    names_only: bool = False,
) -> SlicedSource | None:
    """The source reduced to what can make a fact, or None when nothing is left
    out (or the file is odd enough that a whole parse is the safer path).

    `names` are kept as triggers too; with `names_only`, the statements that bind
    them are the only triggers: the resolver asks for the statements that bind a
    name or assign an attribute that a first selection left out."""
    if b"\f" in source or source.count(b"\r") != source.count(b"\r\n"):
        return None  # a form feed or a lone CR: line numbers could disagree with libcst's
    try:
        source.decode("utf-8")
    except UnicodeDecodeError:
        return None  # libcst reports it
    body: list[ast.stmt] | None
    if names_only:
        tree = _parse(source)
        if tree is None:
            return None
        lines = _binding_lines(tree, names)
        selector = _Selector(source, prefilter.TriggerLines(lines, [], lines))
        body = tree.body
    else:
        selector = _Selector(source, prefilter.trigger_line_kinds(source, router_names, names))
        body = _module_body(source, selector)
        if body is None:
            return None
    for number, line in enumerate(selector.lines[:2], 1):  # an encoding declaration stays
        if _CODING.match(line):
            selector.keep_lines(number, number)
    selector.container(body, "", in_class=False, owns_docstring=True)
    if selector.nothing_left_out:
        return None
    return selector.result()


def _module_body(source: bytes, selector: _Selector) -> list[ast.stmt] | None:
    """The module's statements as CPython parses them; the top-level functions
    without a trigger are found in the bytes instead where they can be (see
    plain_functions). None: the file does not parse."""
    functions = plain_functions.find(source, selector.lines, selector.offsets, selector.may_hold_trigger)
    if functions:
        tree = _parse(plain_functions.blanked(source, selector.offsets, functions))
        body = None if tree is None else plain_functions.module_body(tree, functions, _first_line)
        if body is not None:
            return body
    tree = _parse(source)  # (the checks failed: the whole file, as any other)
    return None if tree is None else tree.body


def _parse(source: bytes) -> ast.Module | None:
    """CPython's tree, or None where it cannot make one (libcst parses the file whole,
    or reports why not)."""
    try:
        with warnings.catch_warnings():  # ("is" with a literal ...): the user's business, not ours
            warnings.simplefilter("ignore")
            return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


class _Selector:
    def __init__(self, source: bytes, trigger_lines: prefilter.TriggerLines):
        self.lines = source.splitlines(keepends=True)
        self.trigger_lines = trigger_lines
        self.triggers = trigger_lines.lines
        self.loose_triggers = trigger_lines.loose
        self.module_triggers = trigger_lines.anywhere  # at module and class level
        self.maybe_triggers = trigger_lines.maybe  # decided on CPython's tree (_reads_a_model_word)
        # Set when a function makes a local alias of an SDK shape's segment (see _Function.walk).
        self.segment_alias_seen = False
        self.keep: set[int] = set()  # file lines kept as they are
        self.offsets = list(itertools.accumulate(map(len, self.lines), initial=0))  # of each line's start
        self.long_statements: list[tuple[int, int, int]] = []
        self.passes: dict[int, bytes] = {}  # file line -> lines put before it (`pass`, a stub)
        self.cut_names: set[str] = set()
        self.cut_attributes: dict[str, set[str]] = {}  # class qualname -> see SlicedSource
        self.cut_functions: list[tuple[str, ast.stmt]] = []
        self.defined: dict[str, int] = {}  # function qualname -> times defined
        self.nothing_left_out = True
        self.ascii = source.isascii()
        self.newline = b"\r\n" if b"\r\n" in source else b"\n"

    # -- lines --

    def may_hold_trigger(self, first: int, last: int) -> bool:
        """Whether lines first..last hold a trigger, an SDK shape's name alone
        (TriggerLines.loose) or a model word a fact may read (TriggerLines.maybe):
        whether a function is looked into at all."""
        return (
            _any_between(self.triggers, first, last)
            or _any_between(self.loose_triggers, first, last)
            or _any_between(self.maybe_triggers, first, last)
        )

    def has_trigger_in(self, parts: Iterable[ast.AST], first: int, last: int) -> bool:
        """Whether the lines of a header whose expressions are `parts` hold a trigger:
        a model word counts where CPython's tree says a fact reads it (_reads_a_model_word)."""
        if _any_between(self.triggers, first, last):
            return True
        return _any_between(self.maybe_triggers, first, last) and any(_reads_a_model_word(part) for part in parts)

    def statements_have_trigger(
        self, statements: list[ast.stmt], first: int, last: int, *, in_function: bool = True
    ) -> bool:
        """Whether simple statements on lines first..last hold a trigger other than the
        model word (walk_unit asks CPython's tree about that one). At module and class
        level the word counts wherever it stands (TriggerLines.anywhere), except in
        plain strings (a docstring): nothing is read there."""
        if all(_is_plain_string(statement) for statement in statements):
            return _any_between(self.triggers, first, last)
        return _any_between(self.triggers if in_function else self.module_triggers, first, last)

    def keep_lines(self, first: int, last: int) -> None:
        """Keep lines first..last: whole logical lines, from a statement's start."""
        self.keep.update(range(first, last + 1))
        start, end = self.offsets[first - 1], self.offsets[last]
        if end - start >= limits.MAX_NESTING:
            self.long_statements.append((first, start, end))

    def keep_header(self, definition: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        """Keep a def's or class's lines before its body: from `def` or `class` on,
        and the decorators that hold a trigger or make a static method. The facts
        read no other decorator (extract_bindings.open_function reads `staticmethod`)."""
        for decorator in definition.decorator_list:
            first, last = decorator.lineno, decorator.end_lineno or decorator.lineno
            if self.may_hold_trigger(first, last) or (
                isinstance(decorator, ast.Name) and self.name_of(decorator) == "staticmethod"
            ):
                self.keep_lines(first, last)
            else:
                self.nothing_left_out = False
        self.keep_lines(definition.lineno, _first_line(definition.body[0]) - 1)

    def name_of(self, node: _Named) -> str:
        """A def's, class's or Name's name as written (CPython normalises non-ASCII ones)."""
        name = node.id if isinstance(node, ast.Name) else node.name
        if self.ascii:
            return name
        line = self.lines[node.lineno - 1]
        if isinstance(node, ast.Name):
            return line[node.col_offset : node.end_col_offset].decode("utf-8")
        words = line[node.col_offset :].split(b"(")[0].split(b":")[0].split()
        return words[-1].decode("utf-8") if words else name

    def text(self, first: int, last: int) -> bytes:
        return b"".join(self.lines[first - 1 : last])

    def body_below(self, statement: ast.stmt) -> bool:
        """Whether every block starts on a line of its own (not `if x: y`, nor a
        signature's last line `) -> None: ...`), so that header lines and block
        lines can be kept apart."""
        blocks = [block for block in _blocks(statement) if block]
        blocks += [handler.body for handler in getattr(statement, "handlers", ()) if handler.body]
        return all(self.starts_line(block[0]) for block in blocks)

    def starts_line(self, statement: ast.stmt) -> bool:
        """Whether nothing but spaces (and its decorator's `@`) stands before the
        statement on its first line."""
        decorators: list[ast.expr] = getattr(statement, "decorator_list", [])
        node: ast.stmt | ast.expr = decorators[0] if decorators else statement  # (in the order written)
        return self.lines[node.lineno - 1][: node.col_offset].strip() in (b"", b"@")

    def cut_class_attributes(self, cls: str, attributes: Iterable[str]) -> None:
        self.cut_attributes.setdefault(cls, set()).update(attributes)

    def cut_method_code(
        self, cls: str, method: ast.FunctionDef | ast.AsyncFunctionDef, statements: list[ast.stmt]
    ) -> None:
        """Record the attributes of `cls` that statements of its method, left out, may
        assign as the facts record one (extract_bindings): an assignment (plain,
        annotated, augmented) or a `with ... as` to an attribute of the method's first
        parameter (`self.engine = ...`), in the method's own code (not in a function
        or class nested in it). Statements only are walked, not their expressions."""
        arguments = [*method.args.posonlyargs, *method.args.args, *method.args.kwonlyargs]
        if not arguments:
            return
        receiver = arguments[0].arg
        pending = list(statements)
        while pending:
            current = pending.pop()
            for target in _assignment_targets(current):
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == receiver
                ):
                    self.cut_class_attributes(cls, [self.attribute_name(target)])
            if not isinstance(current, _DEFINITIONS):
                for block in _blocks(current):
                    pending.extend(block)
                for case in getattr(current, "cases", ()):  # (a match, taken as a unit by _blocks)
                    pending.extend(case.body)

    def attribute_name(self, node: ast.Attribute) -> str:
        """An attribute's name as written (CPython normalises non-ASCII ones)."""
        if self.ascii:
            return node.attr
        found = _LAST_IDENTIFIER.search(self.lines[(node.end_lineno or node.lineno) - 1][: node.end_col_offset])
        return found[0].decode("utf-8") if found else node.attr

    def add_pass(self, before: ast.stmt) -> None:
        line = self.lines[before.lineno - 1]
        indent = line[: len(line) - len(line.lstrip(b" \t"))]
        self.passes[before.lineno] = self.passes.get(before.lineno, b"") + indent + _PASS + self.newline

    # -- module and class bodies --

    def container(self, body: list[ast.stmt], prefix: str, *, in_class: bool, owns_docstring: bool = False) -> bool:
        """Select in a module or class body (`owns_docstring`: not a block in one);
        whether anything in it is kept."""
        kept_any = False
        for index, statement in enumerate(body):
            first, last = _first_line(statement), statement.end_lineno or statement.lineno
            shares_lines = (index > 0 and (body[index - 1].end_lineno or 0) >= first) or (
                index + 1 < len(body) and _first_line(body[index + 1]) <= last
            )
            if owns_docstring and not shares_lines and _is_docstring(statement, body):
                self.nothing_left_out = False
            elif (
                isinstance(statement, _DEFINITIONS)
                and not shares_lines
                and (
                    self.body_below(statement)
                    or isinstance(statement, _FUNCTIONS)
                    and not self.may_hold_trigger(first, last)
                )
            ):
                kept_any |= self.definition(statement, prefix)
            elif _blocks(statement) and not shares_lines and self.body_below(statement):
                self.module_level_block(statement, prefix, in_class=in_class)
                kept_any = True
            elif (
                isinstance(statement, _SIMPLE_BINDINGS)
                and not shares_lines
                and not _is_alias(statement)
                and not self.statements_have_trigger([statement], first, last, in_function=False)
                # (`llm_router: Router | None = None`: kept, else the resolver asks for it
                # later, and parses the file again for it)
                and not _any_between(self.loose_triggers, first, last)
                and (bound := _bound_names(statement, self.name_of)) is not None
            ):
                if in_class:
                    self.cut_class_attributes(prefix[:-1], bound)
                else:
                    self.cut_names.update(bound)
                self.nothing_left_out = False
            else:
                if not kept_any and index > 0 and _is_string(statement):
                    self.add_pass(statement)  # (it would read as the docstring)
                self.keep_lines(first, last)
                self.whole_statement_functions(statement, prefix)
                kept_any = True
        return kept_any

    def module_level_block(self, statement: ast.stmt, prefix: str, *, in_class: bool) -> None:
        """An `if`, `try`, `with` or loop at module or class level: its header and
        keyword lines, each block selected as the body around it is."""
        for block, opening, _required in _opened_blocks(statement):
            self.keep_lines(opening, _first_line(block[0]) - 1)
            if not self.container(block, prefix, in_class=in_class):
                self.add_pass(block[0])

    def whole_statement_functions(self, statement: ast.stmt, prefix: str) -> None:
        """Count the functions a statement kept whole defines (see _cut_function)."""
        for qualname in _function_qualnames([statement], prefix, self.name_of):
            self.defined[qualname] = self.defined.get(qualname, 0) + 1

    def definition(self, statement: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, prefix: str) -> bool:
        qualname = prefix + self.name_of(statement)
        if isinstance(statement, ast.ClassDef):
            self.keep_header(statement)
            if not self.container(statement.body, qualname + ".", in_class=True, owns_docstring=True):
                self.add_pass(statement.body[0])
            return True
        self.defined[qualname] = self.defined.get(qualname, 0) + 1
        # (Most functions hold no trigger: they are not looked into.)
        method_of = prefix[:-1]  # (a function defined here is a method of the class `prefix` names)
        if self.may_hold_trigger(_first_line(statement), statement.end_lineno or statement.lineno) and self.body_below(
            statement
        ):
            function = self.chosen_function(statement, qualname, method_of)
            if function is not None:
                function.emit_function()
                return True
        self.cut_functions.append((qualname, statement))
        if method_of:
            self.cut_method_code(method_of, statement, statement.body)
        self.nothing_left_out = False
        return False

    def chosen_function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str, method_of: str
    ) -> _Function | None:
        """The function with its statements chosen, None if it keeps nothing.

        A function that makes a local alias of an SDK shape's segment (`api =
        client.messages`) reads that shape through it (`api.create(messages=m)`), where
        the segment's name may stand alone: it is chosen again with the name as a
        trigger wherever it stands, as every SDK name once was."""
        self.segment_alias_seen = False
        function = _Function(self, node, qualname, method_of)
        if function.choose() and not self.segment_alias_seen:
            return function
        if not self.segment_alias_seen:
            return None
        loose = self.trigger_lines
        self.triggers = sorted({*loose.lines, *loose.loose})
        try:
            function = _Function(self, node, qualname, method_of)
            return function if function.choose() else None
        finally:
            self.triggers = loose.lines
            self.segment_alias_seen = False

    def result(self) -> SlicedSource:
        # A function left out is recorded by name if defined once; one defined more
        # often stays as `def name(): ...`, in its place, so that no order is lost.
        functions = set()
        for qualname, statement in self.cut_functions:
            if self.defined.get(qualname) == 1:
                functions.add(qualname)
            else:
                line = self.lines[statement.lineno - 1]
                indent = line[: len(line) - len(line.lstrip(b" \t"))]
                name = qualname.rsplit(".", 1)[-1].encode()
                self.passes[statement.lineno] = (
                    self.passes.get(statement.lineno, b"") + indent + b"def " + name + b"(): ..." + self.newline
                )
        pieces: list[bytes] = []
        line_map: list[int] = []
        for number, line in enumerate(self.lines, 1):
            synthetic = self.passes.get(number)
            if synthetic is not None:
                pieces.append(synthetic)
                line_map.extend([number] * synthetic.count(b"\n"))
            if number in self.keep:
                pieces.append(line)
                line_map.append(number)
        text = b"".join(pieces)
        if not text or text.endswith(b"\n"):  # the empty line after the last newline
            line_map.append(
                len(self.lines) + 1 if self.lines and self.lines[-1].endswith(b"\n") else max(len(self.lines), 1)
            )
        return SlicedSource(
            text,
            tuple(line_map),
            {cls: frozenset(attributes) for cls, attributes in self.cut_attributes.items() if attributes},
            frozenset(self.cut_names),
            frozenset(functions),
            tuple(sorted(self.long_statements)),
        )


class _Function:
    """The selection inside one function: its blocks, and its nested functions (which
    may read its locals)."""

    def __init__(
        self, selector: _Selector, node: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str, method_of: str = ""
    ):
        self.selector = selector
        self.node = node
        self.qualname = qualname
        self.method_of = method_of  # the class whose method it is ("": none)
        # Every simple statement and block header of the function, with what it binds.
        self.bindings: list[tuple[ast.stmt, frozenset[str]]] = []
        self.kept: set[int] = set()  # id() of kept statements and headers
        self.reads: set[str] = set()
        self.nested: dict[int, _Function] = {}

    def choose(self) -> bool:
        """Choose what to keep; whether anything is (a trigger in the decorators or
        the signature keeps the function, its body reduced to a `pass` at least)."""
        self.walk(self.node.body)
        if not self.kept:
            node = self.node
            return self.selector.has_trigger_in(
                _signature_parts(node), _first_line(node), _first_line(node.body[0]) - 1
            )
        # Keep what binds a name a kept statement reads, until nothing new is read.
        pending = True
        while pending:
            pending = False
            for statement, bound in self.bindings:
                if id(statement) not in self.kept and bound & self.reads:
                    self.mark(statement)
                    pending = True
        for statement, _ in self.bindings:
            if id(statement) not in self.kept and isinstance(statement, (ast.Import, ast.ImportFrom)):
                self.mark(statement)
        return True

    def emit_function(self) -> None:
        body = self.node.body
        self.selector.keep_header(self.node)
        if not self.emit(body):
            self.selector.add_pass(body[0])

    def walk(self, body: list[ast.stmt]) -> None:
        for group in _groups(body):
            statement = group[0]
            first, last = _first_line(statement), group[-1].end_lineno or group[-1].lineno
            if len(group) == 1 and isinstance(statement, _FUNCTIONS) and self.selector.body_below(statement):
                nested = _Function(self.selector, statement, f"{self.qualname}.{self.selector.name_of(statement)}")
                self.nested[id(statement)] = nested
                if self.selector.may_hold_trigger(first, last) and nested.choose():
                    self.kept.add(id(statement))
                    # (its decorators and defaults are read here, in this function)
                    self.reads |= nested.reads | _signature_reads(statement)
                continue
            if len(group) == 1 and _is_docstring(statement, self.node.body):
                continue
            blocks = _blocks(statement)
            if (
                len(group) > 1
                or not blocks
                or isinstance(statement, ast.ClassDef)
                or not self.selector.body_below(statement)
            ):
                self.walk_unit(group, first, last)
                continue
            header_last = _first_line(blocks[0][0]) - 1
            self.bindings.append((statement, _header_bound(statement)))
            if self.selector.has_trigger_in(_header_parts(statement), first, header_last) or any(
                self.selector.has_trigger_in([h.type] if h.type else [], h.lineno, _first_line(h.body[0]) - 1)
                for h in getattr(statement, "handlers", ())
            ):
                self.mark(statement)
            for block in blocks:
                self.walk(block)

    def walk_unit(self, group: list[ast.stmt], first: int, last: int) -> None:
        """Simple statements on lines first..last, or a compound one taken as a unit."""
        text = self.selector.text(first, last)
        for member in group:
            self.bindings.append((member, _bound_by(member, text)))
        if _SEGMENT_WORD.search(text) and any(_holds_segment_alias(member) for member in group):
            self.selector.segment_alias_seen = True
        if self.selector.statements_have_trigger(group, first, last) or (
            _any_between(self.selector.maybe_triggers, first, last)
            and any(_reads_a_model_word(member) for member in group)
        ):
            for member in group:
                self.mark(member)

    def mark(self, statement: ast.stmt) -> None:
        self.kept.add(id(statement))
        if _blocks(statement) and self.selector.body_below(statement) and not isinstance(statement, ast.ClassDef):
            self.reads.update(_header_reads(statement))
        else:
            self.reads.update(_fact_reads([statement]))

    def has_kept(self, statement: ast.stmt) -> bool:
        if id(statement) in self.kept:
            return True
        if isinstance(statement, _DEFINITIONS):
            return False
        return any(self.has_kept(inner) for block in _blocks(statement) for inner in block)

    def emit(self, body: list[ast.stmt]) -> bool:
        """Keep the lines of what was chosen in `body`; whether anything was."""
        selector = self.selector
        emitted = False
        for group in _groups(body):
            statement = group[0]
            first, last = _first_line(statement), group[-1].end_lineno or group[-1].lineno
            nested = self.nested.get(id(statement))
            if nested is not None:
                selector.defined[nested.qualname] = selector.defined.get(nested.qualname, 0) + 1
                if id(statement) in self.kept:
                    nested.emit_function()
                    emitted = True
                else:  # (a nested function assigns no attribute of the class: see cut)
                    selector.nothing_left_out = False
                continue
            blocks = _blocks(statement)
            if (
                len(group) > 1
                or not blocks
                or isinstance(statement, ast.ClassDef)
                or not self.selector.body_below(statement)
            ):
                if id(statement) in self.kept:
                    if not emitted and statement is not body[0] and _is_string(statement):
                        selector.add_pass(statement)  # (it would read as the docstring)
                    selector.keep_lines(first, last)
                    for member in group:
                        selector.whole_statement_functions(member, f"{self.qualname}.")
                    emitted = True
                else:
                    for member in group:
                        self.cut(member)
                    selector.nothing_left_out = False
                continue
            if not self.has_kept(statement):
                self.cut(statement)
                selector.nothing_left_out = False
                continue
            self.emit_compound(statement)
            emitted = True
        return emitted

    def cut(self, statement: ast.stmt) -> None:
        """A statement left out: the attributes it may give the class of a method. (The
        facts take `self.x = ...` for the class's only in the method's own code, not in
        a function nested in it.)"""
        if self.method_of:
            self.selector.cut_method_code(self.method_of, self.node, [statement])

    def emit_compound(self, statement: ast.stmt) -> None:
        """A block statement with something kept: its header and each block's keyword
        line (`else:`, `except E:`, `finally:`), each block reduced to what is kept;
        a required block left empty gets a `pass`."""
        selector = self.selector
        for block, opening, required in _opened_blocks(statement):
            block_first = _first_line(block[0])
            if self.emit(block) or required:
                selector.keep_lines(opening, block_first - 1)
                if not any(line in selector.keep for line in range(block_first, (block[-1].end_lineno or 0) + 1)):
                    selector.add_pass(block[0])


# --- what CPython's tree says about a statement -----------------------------------------


def _binding_lines(tree: ast.Module, names: frozenset[str]) -> list[int]:
    """The first lines of the statements that may give one of `names` a value as the
    facts record one (extract_bindings): an assignment, annotated or augmented, to
    the name or to an attribute so named (`self.name = `, `a, self.name = `), and a
    `with ... as name`. A statement that only reads the name adds nothing to its value."""
    # (CPython's tree holds identifiers NFKC-normalised; the facts, as written.)
    wanted = {unicodedata.normalize("NFKC", name) for name in names}
    lines: set[int] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        statement = pending.pop()
        if any(
            (isinstance(target, ast.Name) and target.id in wanted)
            or (isinstance(target, ast.Attribute) and target.attr in wanted)
            for target in _assignment_targets(statement)
        ):
            lines.add(statement.lineno)
        for block in _blocks(statement):
            pending.extend(block)
        for case in getattr(statement, "cases", ()):  # (a match, taken as a unit by _blocks)
            pending.extend(case.body)
    return sorted(lines)


def _assignment_targets(statement: ast.stmt) -> list[ast.expr]:
    """What a statement assigns to as the facts bind (extract_bindings), unpacked:
    assignment targets (an augmented one too: a superset) and `with ... as` targets."""
    if isinstance(statement, ast.Assign):
        pending: list[ast.expr | None] = list(statement.targets)
    elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)):
        pending = [statement.target]
    elif isinstance(statement, (ast.With, ast.AsyncWith)):
        pending = [item.optional_vars for item in statement.items]
    else:
        return []
    targets: list[ast.expr] = []
    while pending:
        target = pending.pop()
        if isinstance(target, (ast.Tuple, ast.List)):
            pending.extend(target.elts)
        elif isinstance(target, ast.Starred):
            pending.append(target.value)
        elif target is not None:
            targets.append(target)
    return targets


def _first_line(statement: ast.stmt) -> int:
    decorators = getattr(statement, "decorator_list", None)
    return min(decorator.lineno for decorator in decorators) if decorators else statement.lineno


def _blocks(statement: ast.stmt) -> list[list[ast.stmt]]:
    """The statement's blocks in the order they are written (none for a simple one).
    A `match` is taken as a unit (its `case` lines hold patterns)."""
    blocks_of = _BLOCKS_OF.get(type(statement))  # (by exact type: called for every statement, often)
    return blocks_of(statement) if blocks_of is not None else []


def _try_blocks(statement: ast.Try) -> list[list[ast.stmt]]:
    return [statement.body, *(handler.body for handler in statement.handlers), statement.orelse, statement.finalbody]


_BLOCKS_OF: dict[type, Callable[[Any], list[list[ast.stmt]]]] = {
    ast.Try: _try_blocks,
    **{
        kind: lambda statement: [statement.body, statement.orelse]
        for kind in (ast.If, ast.For, ast.AsyncFor, ast.While)
    },
    **{kind: lambda statement: [statement.body] for kind in (ast.With, ast.AsyncWith, *_DEFINITIONS)},
}
if hasattr(ast, "TryStar"):  # Python 3.11: `except*`
    _BLOCKS_OF[ast.TryStar] = _try_blocks


def _opened_blocks(statement: ast.stmt) -> list[tuple[list[ast.stmt], int, bool]]:
    """(block, first line of what opens it, whether the statement needs it) for each
    non-empty block: the header for the first, the keyword line (`else:`,
    `except E:`, `finally:`) for the others. Every block but `else` is needed, and
    `finally` only where there is no `except`."""
    handlers = getattr(statement, "handlers", [])
    out = []
    previous_end = statement.lineno - 1
    for index, block in enumerate(_blocks(statement)):
        if not block:
            continue
        handler = next((h for h in handlers if h.body is block), None)
        if index == 0:
            opening = _first_line(statement)
        else:
            opening = handler.lineno if handler is not None else previous_end + 1
        required = (
            index == 0 or handler is not None or (block is getattr(statement, "finalbody", None) and not handlers)
        )
        out.append((block, opening, required))
        previous_end = block[-1].end_lineno or block[-1].lineno
    return out


def _groups(body: list[ast.stmt]) -> list[list[ast.stmt]]:
    """The statements of a block, those that share a line (`a = 1; b = 2`) together."""
    groups: list[list[ast.stmt]] = []
    for statement in body:
        if groups and (groups[-1][-1].end_lineno or 0) >= _first_line(statement):
            groups[-1].append(statement)
        else:
            groups.append([statement])
    return groups


def _any_between(lines: list[int], first: int, last: int) -> bool:
    """Whether the sorted `lines` hold one in first..last."""
    index = bisect.bisect_left(lines, first)
    return index < len(lines) and lines[index] <= last


def _is_plain_string(statement: ast.stmt) -> bool:
    """A string statement without expressions in it (not an f-string)."""
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _is_docstring(statement: ast.stmt, body: list[ast.stmt]) -> bool:
    """Whether `statement`, in the body of a module, class or function, is its
    docstring: left out whatever it says, as the facts read nothing in it
    (extract_calls.mark_docstring). A string after it that would read as the
    docstring once it is left out gets a `pass` before it (add_pass)."""
    return statement is body[0] and _is_plain_string(statement)


def _is_string(statement: ast.stmt) -> bool:
    """A string statement, an f-string too (it would read as a docstring)."""
    return _is_plain_string(statement) or (
        isinstance(statement, ast.Expr) and isinstance(statement.value, ast.JoinedStr)
    )


def _is_segment_alias(statement: ast.stmt) -> bool:
    """An assignment whose value names an SDK shape's segment: `api = client.messages`,
    `m = messages`, `a, b = x.batches, y`, `api = c.beta.messages if beta else
    c.messages`: a local the facts may read a callee's root through (`api.create(...)`
    is `client.messages.create`). A superset of what the facts take for one: every
    branch of a conditional, every operand of `or`, every item of a tuple."""
    if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None:
        return _may_be_segment(statement.value)
    return False


def _may_be_segment(value: ast.expr) -> bool:
    if isinstance(value, ast.Name):
        return value.id in sinks.SEGMENT_NAMES
    if isinstance(value, ast.Attribute):
        return value.attr in sinks.SEGMENT_NAMES
    if isinstance(value, ast.IfExp):
        return _may_be_segment(value.body) or _may_be_segment(value.orelse)
    if isinstance(value, (ast.BoolOp, ast.Tuple, ast.List)):
        return any(map(_may_be_segment, value.values if isinstance(value, ast.BoolOp) else value.elts))
    if isinstance(value, (ast.NamedExpr, ast.Starred)):
        return _may_be_segment(value.value)
    return False


def _holds_segment_alias(statement: ast.stmt) -> bool:
    """_is_segment_alias, or a statement taken as a unit holds one (`if x: api = client.messages`)."""
    if isinstance(statement, _SIMPLE_BINDINGS):
        return _is_segment_alias(statement)
    return any(_is_segment_alias(node) for node in ast.walk(statement) if isinstance(node, ast.stmt))


def _is_alias(statement: ast.stmt) -> bool:
    """`Alias = Base`, `Alias = mod.Base`: kept, subclass lookups read them."""
    return isinstance(statement, ast.Assign) and isinstance(statement.value, (ast.Name, ast.Attribute))


def _bound_names(statement: ast.stmt, name_of: Callable[[_Named], str]) -> list[str] | None:
    """The names a simple statement binds; None if it assigns through an attribute or
    subscript (kept: the resolver reads those)."""
    if isinstance(statement, ast.Expr):
        return []
    if isinstance(statement, ast.AnnAssign) and statement.value is None:
        return None  # a bare annotation: kept (a field of a dataclass, say)
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]  # type: ignore[attr-defined]
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


def _target_names(targets: Iterable[ast.expr | None]) -> set[str]:
    """Names bound by assignment targets (not those read in `a.b = ` or `a[i] = `)."""
    names: set[str] = set()
    pending = [target for target in targets if target is not None]
    while pending:
        target = pending.pop()
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            pending.extend(target.elts)
        elif isinstance(target, ast.Starred):
            pending.append(target.value)
    return names


_NOTHING: frozenset[str] = frozenset()


def _bound_by(statement: ast.stmt, text: bytes) -> frozenset[str]:
    """Names a statement taken as a unit may bind (a superset: every name in its targets)."""
    # The common simple statements first: a walk of the tree is most of the cost.
    if isinstance(statement, ast.Assign) and b":=" not in text:
        return frozenset(_target_names(statement.targets))
    if isinstance(statement, (ast.AugAssign, ast.AnnAssign)) and b":=" not in text:
        return frozenset(_target_names([statement.target]))
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return frozenset((alias.asname or alias.name).split(".")[0] for alias in statement.names)
    if (
        isinstance(
            statement,
            (
                ast.Expr,
                ast.Return,
                ast.Pass,
                ast.Raise,
                ast.Assert,
                ast.Delete,
                ast.Global,
                ast.Nonlocal,
                ast.Break,
                ast.Continue,
            ),
        )
        and b":=" not in text
    ):
        return _NOTHING
    bound: set[str] = set()
    for node in ast.walk(statement):
        bound |= _names_bound_here(node)
    return frozenset(bound)


def _names_bound_here(node: ast.AST) -> set[str]:
    """The names one node binds itself (not its children)."""
    if isinstance(node, ast.Assign):
        return _target_names(node.targets)
    if isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.NamedExpr, ast.For, ast.AsyncFor, ast.comprehension)):
        return _target_names([node.target])
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return _target_names([item.optional_vars for item in node.items])
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    if isinstance(node, ast.ExceptHandler) and node.name:
        return {node.name}
    return set()


def _header_bound(statement: ast.stmt) -> frozenset[str]:
    if isinstance(statement, (ast.For, ast.AsyncFor)):
        return frozenset(_target_names([statement.target]))
    if isinstance(statement, (ast.With, ast.AsyncWith)):
        return frozenset(_target_names([item.optional_vars for item in statement.items]))
    return frozenset()


def _header_parts(statement: ast.stmt) -> list[ast.expr]:
    """The expressions a block statement's header reads."""
    if isinstance(statement, (ast.If, ast.While)):
        return [statement.test]
    if isinstance(statement, (ast.For, ast.AsyncFor)):
        return [statement.iter]
    if isinstance(statement, (ast.With, ast.AsyncWith)):
        return [item.context_expr for item in statement.items]
    return []


def _signature_parts(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    """What a def evaluates where it stands: its decorators and default values."""
    return [*function.decorator_list, *_defaults(function)]


def _defaults(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    """A def's default values (a keyword-only parameter without one has None)."""
    return [*function.args.defaults, *filter(None, function.args.kw_defaults)]


def _signature_reads(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """What a def reads where it stands: its decorators' facts, its defaults' values
    (extract_bindings.open_function)."""
    reads = _fact_reads(function.decorator_list)
    _value_reads(_defaults(function), reads)
    return reads


def _header_reads(statement: ast.stmt) -> set[str]:
    """_fact_reads of a block's header; a `with` item is read whole (the value of its
    `as` name, as in _VALUES_READ)."""
    reads = _fact_reads(_header_parts(statement))
    if isinstance(statement, (ast.With, ast.AsyncWith)):
        _value_reads([item.context_expr for item in statement.items], reads)
    return reads


def _fact_reads(nodes: Iterable[ast.AST]) -> set[str]:
    """The names whose local values the facts of `nodes` (kept statements, or a
    header's or signature's expressions) may read, a superset: the expressions the
    collector takes values of (ValueReader.value, see _VALUES_READ) and their names.
    A name read only elsewhere (`max_tokens=n`, `for x in items`, a test, `return
    x`) gives no fact a value: its binding may be left out."""
    reads: set[str] = set()
    for node in nodes:
        for inner in ast.walk(node):
            values_read = _VALUES_READ.get(type(inner))
            if values_read is not None:
                _value_reads(values_read(inner), reads)
    return reads


def _call_values_read(call: ast.Call) -> list[ast.expr | None]:
    """A call's callee, model keywords, prompt keywords and arguments that say model
    (extract_calls, extract_signals); every argument of a call that may be an SDK
    shape (its positional model, payload dicts, `**kwargs`)."""
    last = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
    read: list[ast.expr | None] = [call.func]
    arguments = [(None, a.value if isinstance(a, ast.Starred) else a) for a in call.args]
    for keyword, value in [*arguments, *((k.arg, k.value) for k in call.keywords)]:
        if (
            last in sinks.SINK_LAST_NAMES
            or keyword in sinks.MODEL_KEYWORDS
            or keyword in sinks.PROMPT_KEYWORDS
            or (isinstance(value, (ast.Name, ast.Attribute)) and sinks.MODEL_LIKE_NAME.search(_dotted(value)))
        ):
            read.append(value)
    return read


def _built_literal_read(node: ast.JoinedStr) -> list[ast.expr | None]:
    """An f-string that says claude is a built literal, its names resolved (extract_calls)."""
    says_claude = any(isinstance(part, ast.Constant) and "claude" in str(part.value).lower() for part in node.values)
    return [node] if says_claude else []


# The expressions whose values the facts take, by the node that holds them: a call's
# (above), an assigned value, a `with` item, a default, a class base, a built literal.
_VALUES_READ: dict[type, Callable[[Any], Sequence[ast.expr | None]]] = {
    ast.Call: _call_values_read,
    ast.Assign: lambda node: [node.value],
    ast.AnnAssign: lambda node: [node.value],
    ast.AugAssign: lambda node: [node.target, node.value],
    ast.With: lambda node: [item.context_expr for item in node.items],
    ast.AsyncWith: lambda node: [item.context_expr for item in node.items],
    ast.FunctionDef: _defaults,
    ast.AsyncFunctionDef: _defaults,
    ast.ClassDef: lambda node: node.bases,
    ast.JoinedStr: _built_literal_read,
}


def _value_reads(nodes: Sequence[ast.expr | None], reads: set[str]) -> None:
    """Add the names ValueReader.value reads in `nodes`, as CPython's tree has them."""
    pending = list(nodes)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Name):
            reads.add(node.id)
        elif node is not None:
            parts = _VALUE_PARTS.get(type(node))
            if parts is not None:
                pending += parts(node)


# The parts of an expression ValueReader.value reads (extract_values._READERS), a
# superset: every operand of `and` and of any binary operator, a starred item. A
# subscript's key is a literal or gives no value; any other kind is Unknown.
_VALUE_PARTS: dict[type, Callable[[Any], list[ast.expr]]] = {
    ast.Attribute: lambda node: [node.value],
    ast.Subscript: lambda node: [node.value],
    ast.NamedExpr: lambda node: [node.value],
    ast.Starred: lambda node: [node.value],
    ast.FormattedValue: lambda node: [node.value],
    ast.JoinedStr: lambda node: node.values,
    ast.Call: lambda node: [node.func, *node.args, *(keyword.value for keyword in node.keywords)],
    ast.Dict: lambda node: node.values,
    ast.List: lambda node: node.elts,
    ast.Tuple: lambda node: node.elts,
    ast.Set: lambda node: node.elts,
    ast.IfExp: lambda node: [node.body, node.orelse],
    ast.BoolOp: lambda node: node.values,
    ast.BinOp: lambda node: [node.left, node.right],
}


def _reads_a_model_word(node: ast.AST) -> bool:
    """Whether the model word in `node` stands where the facts read it (prefilter's
    byte check says only where it may): a call's model keyword (`model=`:
    extract_calls._declared_args), or a call's argument that is a name or attribute
    chain that says model, which a helper may pass on (`ask(self.model)`,
    `ask(self.get_model().name)`: _forwarded_args). An assignment to an attribute
    that says model (`self.model = ...`) counts too: left out, it would be parsed
    again on demand when read, a costlier way. A local it assigns (`model = ...`) is
    kept where a kept statement reads it, as any local is."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call):
            if any(keyword.arg in sinks.MODEL_KEYWORDS for keyword in inner.keywords):
                return True
            for argument in [*inner.args, *(keyword.value for keyword in inner.keywords)]:
                if isinstance(argument, (ast.Name, ast.Attribute)) and sinks.MODEL_LIKE_NAME.search(_dotted(argument)):
                    return True
        elif isinstance(inner, ast.stmt) and any(
            isinstance(target, ast.Attribute) and sinks.MODEL_LIKE_NAME.search(target.attr)
            for target in _assignment_targets(inner)
        ):
            return True
    return False


def _dotted(node: ast.expr) -> str:
    """extract_values.dotted on CPython's tree: `a.b()`, `a[].b`, `...` for anything
    else (iterative: a chain may be longer than the recursion limit)."""
    suffixes: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            suffixes.append("." + node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            suffixes.append("()")
            node = node.func
        elif isinstance(node, ast.Subscript):
            suffixes.append("[]")
            node = node.value
        else:
            return (node.id if isinstance(node, ast.Name) else "...") + "".join(reversed(suffixes))


def _function_qualnames(body: list[ast.stmt], prefix: str, name_of: Callable[[_Named], str]) -> list[str]:
    """Qualified names of every function defined in `body`, as the facts name them."""
    found: list[str] = []
    pending = [(body, prefix)]
    while pending:
        statements, prefix = pending.pop()
        for statement in statements:
            if isinstance(statement, _DEFINITIONS):
                qualname = prefix + name_of(statement)
                if not isinstance(statement, ast.ClassDef):
                    found.append(qualname)
                pending.append((statement.body, qualname + "."))
                continue
            for block in _blocks(statement):
                pending.append((block, prefix))
            for case in getattr(statement, "cases", ()):
                pending.append((case.body, prefix))
    return found
