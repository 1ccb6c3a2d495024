"""One file's text -> its FileFacts: libcst parses it, one walk of the tree collects.

The collector is one visitor composed of three concerns, each in its own module:
scopes, bindings and imports (extract_bindings.py); calls that take a model and
model literals (extract_calls.py); what the report reads about a call
(extract_signals.py); all read expressions as Values (extract_values.py).

This module parses what it is given: the whole file (`extract_facts`), or a
selection of it in pieces (`read_pieces`, with the selection's line map). Which
statements to parse, and when to fall back to the whole file, is decided around
it (parse.py).
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Callable, Iterable

import libcst as cst

from opusguard.base import limits
from opusguard.facts.extract_bindings import BindingFacts
from opusguard.facts.extract_calls import CallSiteFacts, catalogue_ids
from opusguard.facts.positions import Positions
from opusguard.facts.records import Annotation, FileFacts, LiteralFact, Span
from opusguard.facts.walk import walk

_ANNOTATION = re.compile(r"#\s*opusguard:\s*(?P<body>.*)$")
_TASK = re.compile(r"task\s*=\s*(?P<task>[A-Za-z0-9_.\-]+)")
_IGNORE = re.compile(r"\bignore(?:\[(?P<codes>[^\]]*)\])?")


def extract_facts(
    source: bytes,
    path: str,
    *,
    is_model_id: Callable[[str], bool],
    router_names: frozenset[str] = frozenset({"route"}),
) -> FileFacts:
    """The whole file, parsed once and reduced to facts; a file that does not parse
    has its error in the facts (OG000). Never raises."""
    # Text that nests too deep for libcst (limits.py) is never given to it.
    problem = limits.nesting_problem(source)
    if problem is not None:
        return FileFacts(path=path, parse_error=problem[1], parse_error_line=problem[0])
    try:
        module = _parse_whole(source, path)
        if isinstance(module, FileFacts):
            return module
        collector = _Collector(path, is_model_id, router_names, None)
        collector.read(module, first_line=1)
    except RecursionError:
        return too_deep(path)
    return add_text_facts(collector.facts, source)


def read_pieces(
    pieces: Iterable[tuple[int, bytes]],
    path: str,
    *,
    is_model_id: Callable[[str], bool],
    router_names: frozenset[str] = frozenset({"route"}),
    line_map: tuple[int, ...] | None = None,
) -> FileFacts | None:
    """The facts of a text given as runs of whole top-level statements, (first line,
    text) each: each parsed, read and freed before the next. None when a piece does
    not parse (the caller parses the whole file, and reports its errors).

    `line_map[i]` is the file's line of the text's line i + 1 (the text is a
    selection of the file); without it, lines are the text's own. The facts read
    from comments and lines are not added (add_text_facts). Raises RecursionError
    on a tree too deep to walk."""
    collector = _Collector(path, is_model_id, router_names, line_map)
    for first_line, piece in pieces:
        try:
            module = cst.parse_module(piece)
        except Exception:
            return None
        collector.read(module, first_line=first_line)
        del module  # (before the next piece is parsed)
    return collector.facts


def add_text_facts(facts: FileFacts, source: bytes) -> FileFacts:
    """`facts` with what is read from the file's text rather than its tree: the
    `# opusguard:` annotations and the lines findings point at."""
    if b"opusguard:" in source:
        facts.annotations = parse_annotations(source)
    _keep_lines(facts, _decode(source))
    return facts


def too_deep(path: str) -> FileFacts:
    return FileFacts(path=path, parse_error="too deeply nested to analyse", parse_error_line=1)


class _Collector(CallSiteFacts, BindingFacts):
    """The facts of the trees it reads, in one walk of each. A node more than one
    concern reads has its method here, which runs each concern's step."""

    def __init__(
        self,
        path: str,
        is_model_id: Callable[[str], bool],
        router_names: frozenset[str],
        line_map: tuple[int, ...] | None,
    ):
        super().__init__(path, is_model_id, router_names, line_map)
        self.context = []
        self.docstrings = set()
        self.raised = set()
        self.loop_depth = 0

    def read(self, module: cst.Module, *, first_line: int) -> None:
        """Collect the facts of `module`, the text from line `first_line` on (the whole
        text, or the next piece of it)."""
        self.positions = Positions(module)
        self.line_offset = first_line - 1
        self.docstrings.clear()  # (node ids: only those of the tree being read mean anything)
        self.raised.clear()
        walk(module, self)
        self.positions = None

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.mark_docstring(node.body)
        self.open_class(node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.mark_docstring(node.body)
        self.open_function(node)

    def leave_Assign(self, original_node: cst.Assign) -> None:
        self.close_assignment()
        self.bind_assignment(original_node)

    def leave_AnnAssign(self, original_node: cst.AnnAssign) -> None:
        self.close_assignment()
        self.bind_annotated(original_node)

    def visit_For(self, node: cst.For | cst.While) -> None:
        self.enter_loop(node)
        self.enter_branch(node)

    def leave_For(self, original_node: cst.For | cst.While) -> None:
        self.leave_loop(original_node)
        self.leave_branch(original_node)

    visit_While = visit_For
    leave_While = leave_For


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
