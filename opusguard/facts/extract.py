"""One file -> its FileFacts, in a single libcst pass.

Names local to a function are substituted here (the last assignment before the
use, branches as OneOf; parameters become Param), so the facts hold only what
the cross-file join needs: module-level names, imports, classes and calls.

Import encoding: ``import a.b.c`` binds the local name ``a`` and is recorded as
ImportFact(local="a", module="a.b.c", name=None); the resolver follows an
attribute chain ``a.b.c.X`` through it. ``import a.b as c`` is (local="c",
module="a.b").
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Callable

import libcst as cst
from msgspec import Struct, field

from opusguard.base import limits
from opusguard.base.tiers import SHORT_ALIASES
from opusguard.facts import notebook, sinks
from opusguard.facts.positions import Positions
from opusguard.facts.records import (
    Annotation,
    Attr,
    CallFact,
    CallV,
    ClassFacts,
    Concat,
    DictV,
    Env,
    FileFacts,
    ImportFact,
    LiteralFact,
    ModelArg,
    Name,
    Num,
    OneOf,
    Param,
    SelfAttr,
    SeqV,
    Span,
    Str,
    Subscript,
    Unknown,
    Value,
    dotted_name,
)
from opusguard.facts.walk import walk
from opusguard.select import prefilter, selection, slicing

# A name that may hold a model, passed to a helper: `ask(MODEL)`, `ask(args.model)`,
# `ask(model)` (a parameter: the caller is a helper too). Only words that make a
# statement worth parsing (prefilter.trigger_lines), so a statement left out hides none.
_MODEL_LIKE_NAME = re.compile(r"model|claude", re.I)
_ENUM_BASE = re.compile(r"(?:^|\.)\w*Enum$|(?:^|\.)(?:Flag|IntFlag)$")
_ANNOTATION = re.compile(r"#\s*opusguard:\s*(?P<body>.*)$")
_TASK = re.compile(r"task\s*=\s*(?P<task>[A-Za-z0-9_.\-]+)")
_IGNORE = re.compile(r"\bignore(?:\[(?P<codes>[^\]]*)\])?")
_ENV_GETTERS = {
    ("os", "getenv"),
    ("getenv",),
    ("os", "environ", "get"),
    ("environ", "get"),
    ("os", "environ", "setdefault"),
    ("environ", "setdefault"),
}
_FIELD_CALLS = {"Field", "field", "attrib", "attr.ib"}


def extract_facts(
    source: bytes,
    path: str,
    *,
    is_model_id: Callable[[str], bool],
    router_names: frozenset[str] = frozenset({"route"}),
    cut_bodies: bool | frozenset[str] = True,
) -> FileFacts:
    """Parse `source` once and reduce it to facts. Never raises.

    With `cut_bodies`, statements that cannot add a call or literal are not parsed
    (selection.py; a set of names keeps the statements that name them too);
    without it, the whole file is. A notebook's code cells
    are read as one module (notebook.py)."""
    if notebook.is_notebook(path):
        return notebook.notebook_facts(
            source,
            path,
            lambda code: extract_facts(
                code, path + ".py", is_model_id=is_model_id, router_names=router_names, cut_bodies=cut_bodies
            ),
        )
    # Statements that cannot add a fact are left out first (selection.py): most of a
    # large module, at a fraction of the parse. Cut text that does not parse falls
    # back to the whole file, whose errors are the ones to report.
    sliced = None
    if cut_bodies:
        words = cut_bodies if isinstance(cut_bodies, frozenset) else frozenset()
        sliced = selection.select_statements(source, router_names, words)
    text = sliced.text if sliced is not None else source
    # Text that nests too deep for libcst (limits.py) is never given to it.
    problem = limits.nesting_problem(text)
    if problem is not None:
        line, message = problem
        return FileFacts(path=path, parse_error=message, parse_error_line=sliced.line_map[line - 1] if sliced else line)
    try:
        facts = _facts_in_pieces(text, path, is_model_id, router_names, sliced) if len(text) > PIECE_BYTES else None
        if facts is None and sliced is not None:
            try:
                module = cst.parse_module(sliced.text)
            except Exception:
                sliced = None
            else:
                facts = _facts_of(module, path, is_model_id, router_names, sliced)
        if facts is None:
            if text is not source:
                problem = limits.nesting_problem(source)
                if problem is not None:
                    return FileFacts(path=path, parse_error=problem[1], parse_error_line=problem[0])
            whole = _parse_whole(source, path)
            if isinstance(whole, FileFacts):
                return whole
            facts = _facts_of(whole, path, is_model_id, router_names, None)
    except RecursionError:
        return FileFacts(path=path, parse_error="too deeply nested to analyse", parse_error_line=1)
    if sliced is not None:
        facts.cut_attributes = sliced.cut_attributes
        facts.cut_names = sliced.cut_names
        for qualname in sliced.cut_functions:  # each defined once: the order is not lost
            facts.functions.setdefault(qualname, ())
    if b"opusguard:" in source:
        facts.annotations = parse_annotations(source)
    _keep_lines(facts, _decode(source))
    return facts


def _facts_of(
    module: cst.Module,
    path: str,
    is_model_id: Callable[[str], bool],
    router_names: frozenset[str],
    sliced: selection.SlicedSource | None,
) -> FileFacts:
    collector = _Collector(path, is_model_id, router_names, sliced)
    collector.read(module, first_line=1)
    return collector.facts


# A libcst tree takes about 400 bytes of memory per byte of source: parsing the
# 950 KB kept of one pydantic-ai test module took 370 MB. Longer text is parsed a
# run of whole top-level statements at a time, each tree freed before the next;
# the facts are the same (tests/test_extract_pieces.py).
PIECE_BYTES = 128 * 1024


def _facts_in_pieces(
    text: bytes,
    path: str,
    is_model_id: Callable[[str], bool],
    router_names: frozenset[str],
    sliced: selection.SlicedSource | None,
) -> FileFacts | None:
    """Facts of `text` parsed in pieces; None where it is not split (see _pieces_of) or a
    piece does not parse (the caller parses it whole, and reports its errors)."""
    pieces = _pieces_of(text, PIECE_BYTES)
    if pieces is None:
        return None
    collector = _Collector(path, is_model_id, router_names, sliced)
    for first_line, piece in pieces:
        try:
            module = cst.parse_module(piece)
        except Exception:
            return None
        collector.read(module, first_line=first_line)
        del module  # (before the next piece is parsed)
    return collector.facts


def _pieces_of(text: bytes, piece_bytes: int) -> list[tuple[int, bytes]] | None:
    """slicing.pieces, for text in UTF-8 only: a piece after the first would lose the
    encoding the first lines declare."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(text).readline)
    except SyntaxError:
        return None
    if encoding not in ("utf-8", "utf-8-sig"):
        return None
    return slicing.pieces(text, piece_bytes)


def _decode(source: bytes) -> str:
    """The source as libcst reads it (its declared encoding; UTF-8 by default)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
    except (SyntaxError, LookupError):
        encoding = "utf-8"
    return source.decode(encoding, "replace").lstrip("\ufeff")


def _parse_whole(source: bytes, path: str) -> cst.Module | FileFacts:
    """The module, or FileFacts carrying the parse error (OG000)."""
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        message = " ".join(exc.message.split()) or "invalid syntax"
        line, column = exc.raw_line or 1, exc.raw_column + 1
        # The native parser reports 1:1 and puts the real place in the message.
        where = re.search(r"error at (\d+):(\d+)", message)
        if where:
            line, column = int(where[1]), int(where[2]) + 1
            message = message.replace(where[0], "").replace("parser error: :", "").strip(" :")
        try:  # CPython's parser names the line a reader expects; libcst's often the next one
            compile(source, path, "exec", flags=0x400, dont_inherit=True)  # ast.PyCF_ONLY_AST
        except SyntaxError as py_error:
            if py_error.lineno:
                line, column = py_error.lineno, py_error.offset or 1
                message = py_error.msg
        except (ValueError, UnicodeDecodeError):
            pass
        return FileFacts(path=path, parse_error=f"syntax error at column {column}: {message}", parse_error_line=line)
    except (UnicodeDecodeError, LookupError, SyntaxError, ValueError) as exc:
        return FileFacts(
            path=path, parse_error=f"cannot decode: {_one_line(exc)}", parse_error_line=_error_line(exc, source)
        )
    except RecursionError:
        return FileFacts(path=path, parse_error="too deeply nested to parse", parse_error_line=1)
    except Exception as exc:  # libcst raises assorted errors on odd input; the run must go on
        return FileFacts(path=path, parse_error=f"cannot parse: {_one_line(exc)}", parse_error_line=1)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _error_line(exc: BaseException, source: bytes) -> int:
    if isinstance(exc, UnicodeDecodeError) and isinstance(exc.object, bytes):
        return exc.object.count(b"\n", 0, exc.start) + 1
    if b"\x00" in source:
        return source.count(b"\n", 0, source.index(b"\x00")) + 1
    return getattr(exc, "lineno", None) or 1


def _keep_lines(facts: FileFacts, code: str) -> None:
    wanted = {lit.span[0] for lit in facts.literals} | {call.span[0] for call in facts.calls}
    wanted |= {a.comment_line for a in facts.annotations.values()}
    if not wanted:
        return
    lines = code.splitlines()
    for number in wanted:
        if 0 < number <= len(lines):
            facts.lines[number] = lines[number - 1].rstrip()


# --- annotations ---------------------------------------------------------------------


def parse_annotations(source: bytes) -> dict[int, Annotation]:
    """`# opusguard: ...` comments, keyed by the line they apply to."""
    comments: list[tuple[int, bool, str]] = []  # (line, alone on its line, text)
    try:
        for tok in tokenize.tokenize(io.BytesIO(source).readline):
            if tok.type == tokenize.COMMENT and "opusguard:" in tok.string:
                alone = not tok.line[: tok.start[1]].strip()
                comments.append((tok.start[0], alone, tok.string))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        return {}
    if not comments:
        return {}
    lines = source.decode("utf-8", "replace").splitlines()
    result: dict[int, Annotation] = {}
    for line, alone, text in comments:
        parsed = _parse_annotation(text)
        if parsed is None:
            continue
        target = _next_code_line(lines, line) if alone else line
        parsed.comment_line = line
        previous = result.get(target)
        if previous is not None:  # a comment above and one trailing: merge
            parsed.task = parsed.task or previous.task
            if previous.ignore is not None:
                parsed.ignore = previous.ignore if parsed.ignore is None else previous.ignore | parsed.ignore
        result[target] = parsed
    return result


def _parse_annotation(comment: str) -> Annotation | None:
    match = _ANNOTATION.search(comment)
    if match is None:
        return None
    body = match["body"]
    task = _TASK.search(body)
    ignore = _IGNORE.search(_TASK.sub("", body))
    codes: frozenset[str] | None = None
    if ignore is not None:
        raw = ignore["codes"]
        codes = frozenset(c.strip().upper() for c in raw.split(",") if c.strip()) if raw else frozenset()
    if task is None and codes is None:
        return None
    return Annotation(task=task["task"] if task else None, ignore=codes)


def _next_code_line(lines: list[str], comment_line: int) -> int:
    for index in range(comment_line, len(lines)):
        stripped = lines[index].strip()
        if stripped and not stripped.startswith("#"):
            return index + 1
    return comment_line + 1


# --- the collector -------------------------------------------------------------------


class _Scope(Struct):
    kind: str  # "module" | "class" | "function"
    qualname: str
    locals: dict[str, Value] = field(default_factory=dict)
    params: dict[str, Param] = field(default_factory=dict)
    class_name: str | None = None  # for methods: the class whose self/cls this is
    self_name: str | None = None  # first parameter of a method
    branch_depth: int = 0


def dotted(node: cst.BaseExpression) -> str:
    """`a.b.c` for Name/Attribute chains; calls show as `f()`; anything else `...`."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{dotted(node.value)}.{node.attr.value}"
    if isinstance(node, cst.Call):
        return f"{dotted(node.func)}()"
    if isinstance(node, cst.Subscript):
        return f"{dotted(node.value)}[]"
    return "..."


def _string_value(node: cst.BaseExpression) -> str | None:
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        try:
            value = node.evaluated_value
        except Exception:  # odd escapes in exotic literals
            return None
        return value if isinstance(value, str) else None
    if isinstance(node, cst.FormattedString) and all(isinstance(part, cst.FormattedStringText) for part in node.parts):
        return "".join(part.value for part in node.parts if isinstance(part, cst.FormattedStringText))
    return None


class _Collector(cst.CSTVisitor):
    def __init__(
        self,
        path: str,
        is_model_id: Callable[[str], bool],
        router_names: frozenset[str],
        sliced: selection.SlicedSource | None = None,
    ):
        super().__init__()
        self.positions: Positions | None = None
        self.line_offset = 0  # of the piece being read: its line 1 is line 1 + line_offset of the text
        self.sliced = sliced
        self.facts = FileFacts(path=path)
        self.is_model_id = is_model_id
        self.router_names = router_names
        self.scopes: list[_Scope] = [_Scope("module", "")]
        self.docstrings: set[int] = set()
        self.context: list[str] = []
        self.loop_depth = 0

    def read(self, module: cst.Module, *, first_line: int) -> None:
        """Collect the facts of `module`, the text from line `first_line` on (the whole
        text, or the next piece of it: see slicing.pieces)."""
        self.positions = Positions(module)
        self.line_offset = first_line - 1
        self.docstrings.clear()  # (node ids: only those of the tree being read mean anything)
        walk(module, self)
        self.positions = None

    # -- helpers --

    def span(self, node: cst.CSTNode) -> Span:
        assert self.positions is not None  # (set while a tree is read)
        start_line, start_column, end_line, end_column = self.positions.range(node)
        start_line += self.line_offset
        end_line += self.line_offset
        if self.sliced is not None:  # positions in the cut text -> lines of the file
            start_line, end_line = self.sliced.line_map[start_line - 1], self.sliced.line_map[end_line - 1]
        return (start_line, start_column + 1, end_line, end_column + 1)

    @property
    def scope(self) -> _Scope:
        return self.scopes[-1]

    def function_scope(self) -> _Scope | None:
        for scope in reversed(self.scopes):
            if scope.kind == "function":
                return scope
        return None

    def function_qualname(self) -> str | None:
        scope = self.function_scope()
        return scope.qualname if scope else None

    def _mark_docstring(self, body: cst.BaseSuite | cst.Module) -> None:
        statements = body.body if isinstance(body, (cst.Module, cst.IndentedBlock)) else ()
        if not statements:
            return
        first = statements[0]
        if isinstance(first, cst.SimpleStatementLine) and first.body and isinstance(first.body[0], cst.Expr):
            value = first.body[0].value
            if isinstance(value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
                self.docstrings.add(id(value))

    # -- values --

    def lookup_local(self, name: str) -> Value | None:
        for scope in reversed(self.scopes):
            if scope.kind == "function":
                if name in scope.locals:
                    return scope.locals[name]
                if name in scope.params:
                    return scope.params[name]
            elif scope.kind == "class":
                continue  # class bodies do not enclose method scopes
            else:
                break
        return None

    def value(self, node: cst.BaseExpression | None) -> Value:
        if node is None:
            return Unknown("nothing")
        text = _string_value(node)
        if text is not None:
            return Str(text, self.span(node))
        if isinstance(node, cst.FormattedString):
            parts: list[Value] = []
            span = self.span(node)
            for part in node.parts:
                if isinstance(part, cst.FormattedStringText):
                    parts.append(Str(part.value, span))
                elif isinstance(part, cst.FormattedStringExpression):  # (the only other kind)
                    parts.append(self.value(part.expression))
            return Concat(tuple(parts))
        if isinstance(node, (cst.Integer, cst.Float)):
            try:
                return Num(node.evaluated_value)
            except Exception:
                return Unknown("number")
        if isinstance(node, cst.Name):
            if node.value in ("None", "True", "False"):
                return Unknown(node.value)
            local = self.lookup_local(node.value)
            return local if local is not None else Name(node.value)
        if isinstance(node, cst.Attribute):
            base = node.value
            if isinstance(base, cst.Name):
                func = self.function_scope()
                if func is not None and func.self_name == base.value and func.class_name:
                    return SelfAttr(func.class_name, node.attr.value)
            return Attr(self.value(base), node.attr.value)
        if isinstance(node, cst.Subscript):
            return self._subscript_value(node)
        if isinstance(node, cst.Call):
            return self._call_value(node)
        if isinstance(node, cst.Dict):
            items = []
            for element in node.elements:
                if isinstance(element, cst.DictElement):
                    key = _string_value(element.key)
                    if key is not None:
                        items.append((key, self.value(element.value)))
            return DictV(tuple(items))
        if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
            return SeqV(tuple(self.value(e.value) for e in node.elements if isinstance(e, cst.Element)))
        if isinstance(node, cst.IfExp):
            return OneOf((self.value(node.body), self.value(node.orelse)))
        if isinstance(node, cst.BooleanOperation):
            if isinstance(node.operator, cst.Or):
                return OneOf((self.value(node.left), self.value(node.right)))
            return self.value(node.right)
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            return Concat((self.value(node.left), self.value(node.right)))
        if (
            isinstance(node, cst.BinaryOperation)
            and isinstance(node.operator, cst.Divide)
            and (_string_value(node.right) is not None)
        ):  # `folder / "config.yaml"`: a path, which Path.joinpath names (the resolver reads config files)
            return CallV(Attr(self.value(node.left), "joinpath"), (self.value(node.right),))
        if isinstance(node, cst.NamedExpr):
            return self.value(node.value)
        return Unknown(f"expression {self.code(node)}")

    def code(self, node: cst.CSTNode) -> str:
        text = cst.Module([]).code_for_node(node)
        text = " ".join(text.split())
        return text if len(text) <= 60 else text[:57] + "..."

    def _subscript_value(self, node: cst.Subscript) -> Value:
        chain = tuple(dotted(node.value).split("."))
        key_node = node.slice[0].slice if len(node.slice) == 1 else None
        key: str | int | None = None
        if isinstance(key_node, cst.Index):
            key = _string_value(key_node.value)
            if key is None and isinstance(key_node.value, cst.Integer):
                key = int(key_node.value.evaluated_value)
        if chain[-2:] == ("os", "environ") or chain == ("environ",):
            return Env(key, None) if isinstance(key, str) else Unknown("env var (computed name)")
        if key is None:
            return Unknown(f"lookup {self.code(node)}")
        return Subscript(self.value(node.value), key)

    def _call_value(self, node: cst.Call) -> Value:
        chain = tuple(dotted(node.func).split("."))
        args = [a for a in node.args if a.keyword is None and not a.star]
        kwargs = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        if chain in _ENV_GETTERS or chain[-2:] in {("environ", "get"), ("environ", "setdefault")}:
            name = _string_value(args[0].value) if args else None
            default = args[1].value if len(args) > 1 else kwargs.get("default")
            if name is None:
                return Unknown("env var (computed name)")
            return Env(name, self.value(default) if default is not None else None)
        if chain[-1] == "get" and len(chain) > 1 and args:
            key = _string_value(args[0].value)
            if key is not None:
                base = self.value(node.func.value) if isinstance(node.func, cst.Attribute) else Unknown("get")
                looked_up = Subscript(base, key)
                if len(args) > 1:
                    return OneOf((looked_up, self.value(args[1].value)))
                return looked_up
        if chain[-1] in _FIELD_CALLS or ".".join(chain[-2:]) in _FIELD_CALLS:
            if "default" in kwargs:
                return self.value(kwargs["default"])
            if args:
                return self.value(args[0].value)
        if chain[-1] == "str" and len(args) == 1:
            return self.value(args[0].value)
        if isinstance(node.func, (cst.Name, cst.Attribute)):
            return CallV(self.value(node.func), tuple(self.value(a.value) for a in args))
        return Unknown(f"call to {self.code(node.func)}()")

    # -- scopes --

    def visit_Module(self, node: cst.Module) -> None:
        if self.line_offset == 0:  # (a later piece's first statement is no docstring)
            self._mark_docstring(node)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._mark_docstring(node.body)
        qualname = self._qualify(node.name.value)
        bases = tuple(self.value(arg.value) for arg in node.bases)
        is_enum = any(_ENUM_BASE.search(dotted(arg.value)) for arg in node.bases)
        self.facts.classes[qualname] = ClassFacts(qualname, bases, {}, is_enum, self.span(node.name))
        self.scopes.append(_Scope("class", qualname, class_name=qualname))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.scopes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._mark_docstring(node.body)
        qualname = self._qualify(node.name.value)
        enclosing_class = self.scope.class_name if self.scope.kind == "class" else None
        params: dict[str, Param] = {}
        ordered = [*node.params.posonly_params, *node.params.params, *node.params.kwonly_params]
        for param in ordered:
            default = None
            # `param=None` means "the caller decides": no default model to follow.
            if param.default is not None and not (
                isinstance(param.default, cst.Name) and param.default.value == "None"
            ):
                default = self.value(param.default)
            params[param.name.value] = Param(qualname, param.name.value, default)
        for star in (node.params.star_arg, node.params.star_kwarg):
            if isinstance(star, cst.Param):
                params[star.name.value] = Param(qualname, star.name.value, None)
        self.facts.functions[qualname] = tuple(params)
        is_static = any(dotted(d.decorator) == "staticmethod" for d in node.decorators)
        self_name = None
        if enclosing_class and ordered and not is_static:
            self_name = ordered[0].name.value
        self.scopes.append(_Scope("function", qualname, params=params, class_name=enclosing_class, self_name=self_name))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def _qualify(self, name: str) -> str:
        parent = self.scope.qualname
        return f"{parent}.{name}" if parent else name

    # branches: an assignment inside one makes the name one of several values
    def _enter_branch(self, node: cst.CSTNode) -> None:
        self.scope.branch_depth += 1

    def _leave_branch(self, original_node: cst.CSTNode) -> None:
        self.scope.branch_depth -= 1

    visit_If = _enter_branch
    leave_If = _leave_branch
    visit_Try = _enter_branch
    leave_Try = _leave_branch

    def visit_With(self, node: cst.With) -> None:
        # `with open("config.yaml") as f`: f is the file opened (the resolver reads config files).
        for item in node.items:
            if item.asname is not None and isinstance(item.asname.name, cst.Name):
                self._bind(item.asname.name, self.value(item.item))
        self._enter_branch(node)

    leave_With = _leave_branch
    visit_Match = _enter_branch
    leave_Match = _leave_branch

    def visit_For(self, node: cst.For | cst.While) -> None:
        self.loop_depth += 1
        self.scope.branch_depth += 1

    def leave_For(self, original_node: cst.For | cst.While) -> None:
        self.loop_depth -= 1
        self.scope.branch_depth -= 1

    visit_While = visit_For
    leave_While = leave_For

    def _enter_comprehension(self, node: cst.CSTNode) -> None:
        self.loop_depth += 1

    def _leave_comprehension(self, original_node: cst.CSTNode) -> None:
        self.loop_depth -= 1

    visit_ListComp = _enter_comprehension
    leave_ListComp = _leave_comprehension
    visit_SetComp = _enter_comprehension
    leave_SetComp = _leave_comprehension
    visit_DictComp = _enter_comprehension
    leave_DictComp = _leave_comprehension
    visit_GeneratorExp = _enter_comprehension
    leave_GeneratorExp = _leave_comprehension

    # -- bindings --

    def _bind(self, target: cst.BaseExpression, value: Value) -> None:
        scope = self.scope
        if isinstance(target, cst.Name):
            name = target.value
            if scope.kind == "module":
                table = self.facts.bindings
            elif scope.kind == "class":
                table = self.facts.classes[scope.qualname].attrs
            else:
                table = scope.locals
            previous = table.get(name)
            if previous is not None and scope.branch_depth > 0:
                value = OneOf((previous, value))
            table[name] = value
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            func = self.function_scope()
            if func is not None and func.self_name == target.value.value and func.class_name:
                attrs = self.facts.classes[func.class_name].attrs
                previous = attrs.get(target.attr.value)
                attrs[target.attr.value] = OneOf((previous, value)) if previous is not None else value
        elif isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, SeqV):
            elements = [e.value for e in target.elements if isinstance(e, cst.Element)]
            if len(elements) == len(value.items):
                for element, item in zip(elements, value.items):
                    self._bind(element, item)

    # A statement whose text holds no trigger (a model, a model keyword, an SDK
    # name, the router) cannot add a call or literal fact: its expressions are not
    # visited. Bindings are still made, on leave, from the nodes themselves.
    def _may_add_facts(self, node: cst.CSTNode) -> bool:
        assert self.positions is not None
        return prefilter.text_may_matter(self.positions.text(node), self.router_names)

    def visit_Assign(self, node: cst.Assign) -> bool:
        self.context.append("assignment to " + ", ".join(dotted(t.target) for t in node.targets))
        return self._may_add_facts(node)

    def leave_Assign(self, original_node: cst.Assign) -> None:
        self.context.pop()
        value = self.value(original_node.value)
        for target in original_node.targets:
            self._bind(target.target, value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> bool:
        self.context.append("assignment to " + dotted(node.target))
        return self._may_add_facts(node)

    def visit_AugAssign(self, node: cst.AugAssign) -> bool:
        return self._may_add_facts(node)

    def visit_Expr(self, node: cst.Expr) -> bool:
        return self._may_add_facts(node)

    def visit_Return(self, node: cst.Return) -> bool:
        return self._may_add_facts(node)

    def leave_AnnAssign(self, original_node: cst.AnnAssign) -> None:
        self.context.pop()
        if original_node.value is not None:
            self._bind(original_node.target, self.value(original_node.value))

    def leave_AugAssign(self, original_node: cst.AugAssign) -> None:
        if isinstance(original_node.operator, cst.AddAssign):
            self._bind(
                original_node.target, Concat((self.value(original_node.target), self.value(original_node.value)))
            )

    # -- imports --

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            module = dotted(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            else:
                local = module.split(".")[0]
            self.facts.imports.append(ImportFact(local, module, None, 0, self.span(node)))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = dotted(node.module) if node.module is not None else ""
        level = len(node.relative)
        if isinstance(node.names, cst.ImportStar):
            self.facts.imports.append(ImportFact("*", module, "*", level, self.span(node)))
            return
        for alias in node.names:
            name = dotted(alias.name)
            local = (
                alias.asname.name.value
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name)
                else name
            )
            self.facts.imports.append(ImportFact(local, module, name, level, self.span(node)))

    # -- literals --

    def visit_Arg(self, node: cst.Arg) -> None:
        self.context.append(f"argument {node.keyword.value}=" if node.keyword else "argument")

    def leave_Arg(self, original_node: cst.Arg) -> None:
        self.context.pop()

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        self._literal(node)

    def visit_ConcatenatedString(self, node: cst.ConcatenatedString) -> bool:
        self._literal(node)
        return False  # its pieces are not literals of their own

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        if all(isinstance(part, cst.FormattedStringText) for part in node.parts):
            self._literal(node)
        elif id(node) not in self.docstrings:
            self._built_literal(node)

    def _literal(self, node: cst.BaseExpression) -> None:
        if id(node) in self.docstrings:
            return
        text = _string_value(node)
        if text is None or ("laude" not in text and "LAUDE" not in text):  # claude, Claude, CLAUDE
            return
        context = self.context[-1] if self.context else ""
        if self.is_model_id(text):
            self.facts.literals.append(LiteralFact(text, self.span(node), context))
            return
        # A catalogue: several ids in one string, one a line or comma-separated,
        # later split into a list. Each id is a literal at its own place.
        found = catalogue_ids(text, self.is_model_id)
        if found:
            assert self.positions is not None
            raw, cursor = self.positions.text(node), 0
            for model_id in found:
                at = raw.find(model_id, cursor)
                span = self._span_inside(node, raw, at, len(model_id)) if at >= 0 else self.span(node)
                cursor = at + len(model_id) if at >= 0 else cursor
                self.facts.literals.append(LiteralFact(model_id, span, context or "a list of models in one string"))

    def _built_literal(self, node: cst.FormattedString) -> None:
        """f"claude-opus-4-{VERSION}": a literal once its names are resolved (resolve.py)."""
        texts = [part.value for part in node.parts if isinstance(part, cst.FormattedStringText)]
        if not any("claude" in text.lower() for text in texts) or any(c.isspace() for text in texts for c in text):
            return  # (prose with a model in it is a message, not a model)
        context = self.context[-1] if self.context else ""
        self.facts.literals.append(LiteralFact(self.code(node), self.span(node), context, value=self.value(node)))

    def _span_inside(self, node: cst.CSTNode, raw: str, offset: int, length: int) -> Span:
        """The span of `length` characters at `offset` of the node's code `raw`."""
        assert self.positions is not None
        line, column, _, _ = self.positions.range(node)
        newlines = raw.count("\n", 0, offset)
        if newlines:
            line += newlines
            column = offset - raw.rfind("\n", 0, offset) - 1
        else:
            column += offset
        line += self.line_offset
        if self.sliced is not None:
            line = self.sliced.line_map[line - 1]
        return (line, column + 1, line, column + 1 + length)

    # -- calls --

    def _callee_text(self, func: cst.BaseExpression) -> str:
        """Dotted callee, with a local alias of its root spelled out:
        `api = client.beta.messages` ... `api.stream(...)` is `client.beta.messages.stream`."""
        text = dotted(func)
        root, _, rest = text.partition(".")
        local = self.lookup_local(root) if rest else None
        if isinstance(local, OneOf) and local.options:
            local = local.options[0]
        if isinstance(local, (Attr, Name)):
            return f"{dotted_name(local)}.{rest}"
        return text

    def visit_Call(self, node: cst.Call) -> None:
        callee = self._callee_text(node.func)
        segments = tuple(callee.split("."))
        last = segments[-1]
        sink = sinks.match_sink(segments)
        model_args: list[ModelArg] = []
        positional = [a for a in node.args if a.keyword is None and not a.star]
        short_alias = bool(sink and sink.short_alias)
        for arg in node.args:
            if arg.keyword is None:
                continue
            key = arg.keyword.value
            if key in sinks.MODEL_KEYWORDS or (sink and key in sink.keywords):
                model_args.append(ModelArg(key, self.value(arg.value), self.span(arg.value), short_alias))
        if sink is not None and sink.positional is not None and len(positional) > sink.positional:
            arg = positional[sink.positional]
            model_args.append(ModelArg(str(sink.positional), self.value(arg.value), self.span(arg.value), short_alias))
        if last not in sinks.PASS_THROUGH:
            taken = {ma.span for ma in model_args}
            for index, arg in enumerate(positional):
                text = _string_value(arg.value)
                span = self.span(arg.value)
                if text is not None and span not in taken and "claude" in text and self.is_model_id(text):
                    model_args.append(ModelArg(str(index), Str(text, span), span, short_alias))
        if sink is not None:
            for arg in node.args:
                if arg.star == "**":
                    self._kwargs_models(arg, model_args)
                else:
                    self._payload_models(arg.value, arg.keyword.value if arg.keyword else "arg", model_args)
            if sink.needs_model_arg and not model_args:
                sink = None  # e.g. llama-index's Anthropic(...) vs the SDK client Anthropic(api_key=...)
        first_arg = None
        if last in self.router_names and positional:
            text = _string_value(positional[0].value)
            if text is not None:
                first_arg = Str(text, self.span(positional[0].value))
        if sink is None and last not in sinks.PASS_THROUGH:
            model_args.extend(self._forwarded_args(node, positional, {ma.span for ma in model_args}))
        if not model_args and first_arg is None and sink is None:
            return
        if (
            last in sinks.PASS_THROUGH
            and first_arg is None
            and sink is None
            and not any(ma.key in sinks.MODEL_KEYWORDS for ma in model_args)
        ):
            return
        func_value = self.value(node.func) if isinstance(node.func, (cst.Name, cst.Attribute)) else Unknown(callee)
        self.facts.calls.append(
            CallFact(
                span=self.span(node),
                callee=callee,
                callee_value=func_value,
                sink=sink.name if sink else None,
                model_args=model_args,
                first_arg=first_arg,
                function=self.function_qualname(),
                signals=self._signals(node),
                prompts=self._prompts(node) if sink is not None or model_args else [],
            )
        )

    def _prompts(self, node: cst.Call) -> list[tuple[str, Value]]:
        """What the call says to the model, for the report to read once names are resolved."""
        out: list[tuple[str, Value]] = []
        for arg in node.args:
            key = arg.keyword.value if arg.keyword is not None else None
            if key in _PROMPT_KEYWORDS:
                value = self.value(arg.value)
                if not isinstance(value, Unknown):
                    out.append((_PROMPT_KEYWORDS[key], value))
        return out

    def _forwarded_args(self, node: cst.Call, positional: list[cst.Arg], taken: set[Span]) -> list[ModelArg]:
        """Arguments a helper may pass on to a model-taking call (`make_options("opus")`,
        `ask(model)`), kept under "~" keys: the resolver reads them only when the
        callee passes that parameter to a model (resolve.py)."""
        out: list[ModelArg] = []
        for arg in node.args:
            if arg.star:
                continue
            expr = arg.value
            if isinstance(expr, cst.SimpleString):
                raw = expr.raw_value  # (evaluating every string argument costs more than this test)
                if raw.lower() not in SHORT_ALIASES and "laude" not in raw and "LAUDE" not in raw:
                    continue
                text = _string_value(expr)
                if text is None or (text.lower() not in SHORT_ALIASES and not self.is_model_id(text)):
                    continue
            elif isinstance(expr, (cst.Name, cst.Attribute)):
                if not _MODEL_LIKE_NAME.search(dotted(expr)):
                    continue
            else:
                continue
            span = self.span(expr)
            if span in taken:
                continue
            key = (
                arg.keyword.value
                if arg.keyword is not None
                else str(next(i for i, a in enumerate(positional) if a is arg))
            )
            out.append(ModelArg("~" + key, self.value(expr), span))
        return out

    def _kwargs_models(self, arg: cst.Arg, out: list[ModelArg]) -> None:
        """`create(**params)`: the model key of a dict built in this function, else unknown."""
        if any(ma.key in sinks.MODEL_KEYWORDS for ma in out):
            return
        value = self.value(arg.value)
        options = value.options if isinstance(value, OneOf) else (value,)
        found = False
        for option in options:
            if isinstance(option, DictV):
                for key, item in option.items:
                    if key in sinks.PAYLOAD_MODEL_KEYS:
                        out.append(ModelArg(f"**.{key}", item, self.span(arg.value)))
                        found = True
        if not found:
            out.append(ModelArg("**", Unknown(f"keyword arguments **{self.code(arg.value)}"), self.span(arg.value)))

    def _payload_models(self, node: cst.BaseExpression, path: str, out: list[ModelArg], depth: int = 0) -> None:
        """Model ids nested in request payloads: batches `requests`, litellm `model_list`."""
        if depth > 6:
            return
        if isinstance(node, cst.Dict):
            for element in node.elements:
                if not isinstance(element, cst.DictElement):
                    continue
                key = _string_value(element.key)
                if key in sinks.PAYLOAD_MODEL_KEYS:
                    out.append(ModelArg(f"{path}.{key}", self.value(element.value), self.span(element.value)))
                elif key is not None:
                    self._payload_models(element.value, f"{path}.{key}", out, depth + 1)
        elif isinstance(node, (cst.List, cst.Tuple)):
            for index, item in enumerate(node.elements):
                if isinstance(item, cst.Element):
                    self._payload_models(item.value, f"{path}[{index}]", out, depth + 1)
        elif isinstance(node, (cst.ListComp, cst.GeneratorExp)):  # requests=[{...} for t in items]
            self._payload_models(node.elt, f"{path}[]", out, depth + 1)

    def _signals(self, node: cst.Call) -> dict[str, object]:
        signals: dict[str, object] = {}
        if self.loop_depth > 0:
            signals["in_loop"] = True
        if dotted(node.func).endswith(".stream"):
            signals["stream"] = True
        for arg in node.args:
            if arg.keyword is None:
                continue
            key = arg.keyword.value
            if key == "max_tokens" and isinstance(arg.value, cst.Integer):
                signals["max_tokens"] = int(arg.value.evaluated_value)
            elif key == "temperature" and isinstance(arg.value, (cst.Integer, cst.Float)):
                signals["temperature"] = float(arg.value.evaluated_value)
            elif key in ("system", "system_prompt", "instructions"):
                text = _system_text(arg.value) or _system_blocks(arg.value)
                if text:
                    signals["system"] = text[:300]
            elif key in _SETTINGS_KEYWORDS and isinstance(arg.value, cst.Dict):
                _settings_signals(arg.value, signals)  # Bedrock inferenceConfig, pydantic-ai model_settings
            elif key == "tools":
                signals["tools"] = len(arg.value.elements) if isinstance(arg.value, cst.List) else True
            elif key in ("response_format", "output_type", "tool_choice", "response_model", "output_format"):
                signals[key] = True
            elif key == "stream" and isinstance(arg.value, cst.Name) and arg.value.value == "True":
                signals["stream"] = True
            elif key == "messages" and isinstance(arg.value, cst.List):
                for element in arg.value.elements:
                    text = _system_message(element.value) if isinstance(element, cst.Element) else None
                    if text:
                        signals.setdefault("system", text[:300])
        return signals


def _system_text(node: cst.BaseExpression) -> str | None:
    text = _string_value(node)
    if text is not None:
        return text
    if isinstance(node, cst.FormattedString):
        return "".join(p.value if isinstance(p, cst.FormattedStringText) else "{…}" for p in node.parts)
    return None


# Keyword arguments that carry the prompt, and what part of it each is.
_PROMPT_KEYWORDS = {
    "system": "system",
    "system_prompt": "system",
    "instructions": "system",
    "messages": "messages",
    "prompt": "user",
    "user_prompt": "user",
    "input": "user",
}

# Keyword arguments that hold generation settings as a dict literal.
_SETTINGS_KEYWORDS = ("inferenceConfig", "inference_config", "model_settings", "model_kwargs", "generation_config")


def _settings_signals(node: cst.Dict, signals: dict[str, object]) -> None:
    for element in node.elements:
        if not isinstance(element, cst.DictElement):
            continue
        key, value = _string_value(element.key), element.value
        if key in ("max_tokens", "maxTokens") and isinstance(value, cst.Integer):
            signals.setdefault("max_tokens", int(value.evaluated_value))
        elif key == "temperature" and isinstance(value, (cst.Integer, cst.Float)):
            signals.setdefault("temperature", float(value.evaluated_value))


def _system_blocks(node: cst.BaseExpression) -> str | None:
    """`system=[{"text": "..."}]` (Bedrock converse, Anthropic system blocks)."""
    if not isinstance(node, (cst.List, cst.Tuple)):
        return None
    texts = []
    for element in node.elements:
        if isinstance(element, cst.Element) and isinstance(element.value, cst.Dict):
            for item in element.value.elements:
                if isinstance(item, cst.DictElement) and _string_value(item.key) == "text":
                    text = _system_text(item.value)
                    if text:
                        texts.append(text)
    return " ".join(texts) or None


def _system_message(node: cst.BaseExpression) -> str | None:
    if not isinstance(node, cst.Dict):
        return None
    fields = {}
    for element in node.elements:
        if isinstance(element, cst.DictElement):
            key = _string_value(element.key)
            if key:
                fields[key] = element.value
    role = fields.get("role")
    if role is not None and _string_value(role) == "system" and "content" in fields:
        return _system_text(fields["content"])
    return None


# A catalogue of models in one string: every item looks like a model id (no
# spaces, no quotes or brackets; a digit or a hyphen in it), so prose, JSON and
# command lines are not catalogues.
_CATALOGUE_ITEM = re.compile(r"[^\s,]+")
_ID_LIKE = re.compile(r"[A-Za-z0-9~][\w.:/@~+-]*\Z")
_CATALOGUE_SEPARATORS = re.compile(r"[\s,]")


def catalogue_ids(text: str, is_model_id: Callable[[str], bool]) -> list[str]:
    """The Claude ids of a string that lists model ids ("claude-a\nclaude-b", "a, b"),
    in order; empty for anything else."""
    if not _CATALOGUE_SEPARATORS.search(text):
        return []
    items = _CATALOGUE_ITEM.findall(text)
    if len(items) < 2 or len(items) > 2000:
        return []
    for item in items:
        if not _ID_LIKE.match(item) or not any(c.isdigit() or c == "-" for c in item):
            return []
    return [item for item in items if "claude" in item.lower() and is_model_id(item)]


def extract_literals_only(source: bytes, path: str, *, is_model_id: Callable[[str], bool]) -> FileFacts:
    """Model literals of a file too large for libcst, read with CPython's own parser.

    Calls in it are not resolved (the engine says so); OG101/OG105 still see its ids.
    """
    import ast

    facts = FileFacts(path=path)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError) as exc:
        return FileFacts(
            path=path, parse_error=f"cannot parse: {_one_line(exc)}", parse_error_line=getattr(exc, "lineno", None) or 1
        )
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    lines = source.decode("utf-8", "replace").splitlines()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and "claude" in node.value.lower()
        ):
            span = (node.lineno, node.col_offset + 1, node.end_lineno or node.lineno, (node.end_col_offset or 0) + 1)
            if is_model_id(node.value):
                found = [(node.value, span)]
            else:
                found = [
                    (model_id, _span_in_lines(lines, span, model_id))
                    for model_id in catalogue_ids(node.value, is_model_id)
                ]
            for model_id, where in found:
                facts.literals.append(LiteralFact(model_id, where, "large file: literal only"))
                if 0 < where[0] <= len(lines):
                    facts.lines[where[0]] = lines[where[0] - 1].rstrip()
    return facts


def _span_in_lines(lines: list[str], span: Span, text: str) -> Span:
    """Where `text` is first written inside `span` (ast columns are UTF-8 bytes: searched
    by line, not by offset); the whole span when it is not found."""
    for number in range(span[0], min(span[2], len(lines)) + 1):
        column = lines[number - 1].find(text)
        if column >= 0:
            return (number, column + 1, number, column + 1 + len(text))
    return span
