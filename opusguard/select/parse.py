"""One file's bytes -> its FileFacts: the speed layers around extract.py.

Statements that cannot add a call or literal fact are left out before parsing
(selection.py): most of a large module, at a fraction of the parse. What is left
is parsed in pieces when long (slicing.py), and cut text that does not parse
falls back to the whole file, whose errors are the ones to report. A
notebook's code cells are read as one module (notebook.py). The facts are the
ones a parse of the whole file gives (tests/test_slicing.py).
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from opusguard.base import limits
from opusguard.facts import extract, notebook
from opusguard.facts.records import FileFacts
from opusguard.select import selection, slicing

if TYPE_CHECKING:  # (libcst is imported only when a file is parsed)
    import libcst as cst

# A libcst tree takes about 400 bytes of memory per byte of source: parsing the
# 950 KB kept of one pydantic-ai test module took 370 MB. Longer text is parsed a
# run of whole top-level statements at a time, each tree freed before the next;
# the facts are the same (tests/test_extract_pieces.py).
PIECE_BYTES = 128 * 1024


def facts_of(
    source: bytes,
    path: str,
    *,
    is_model_id: Callable[[str], bool],
    router_names: frozenset[str] = frozenset({"route"}),
    cut_bodies: bool | frozenset[str] = True,
) -> FileFacts:
    """The facts of a file. Never raises.

    With `cut_bodies`, statements that cannot add a call or literal are not parsed;
    with a set of names, only the statements that name them are (and what they
    need: their blocks' headers, the bindings they read); without it, the whole
    file is. libcst's node validation is off meanwhile (_unvalidated_nodes)."""
    with _unvalidated_nodes():
        return _facts_of(source, path, is_model_id=is_model_id, router_names=router_names, cut_bodies=cut_bodies)


def _facts_of(
    source: bytes,
    path: str,
    *,
    is_model_id: Callable[[str], bool],
    router_names: frozenset[str] = frozenset({"route"}),
    cut_bodies: bool | frozenset[str] = True,
) -> FileFacts:
    if notebook.is_notebook(path):
        return notebook.notebook_facts(
            source,
            path,
            lambda code: facts_of(
                code, path + ".py", is_model_id=is_model_id, router_names=router_names, cut_bodies=cut_bodies
            ),
        )

    sliced = None
    if cut_bodies:
        if isinstance(cut_bodies, frozenset):
            sliced = selection.select_statements(source, router_names, cut_bodies, names_only=True)
        else:
            sliced = selection.select_statements(source, router_names)
    if sliced is None and len(source) <= PIECE_BYTES:
        return extract.extract_facts(source, path, is_model_id=is_model_id, router_names=router_names)
    text, line_map = (source, None) if sliced is None else (sliced.text, sliced.line_map)
    problem = limits.nesting_problem(source) if sliced is None else selection.nesting_problem(source, sliced)
    if problem is not None:
        line, message = problem
        return FileFacts(path=path, parse_error=message, parse_error_line=line)
    read = partial(
        extract.read_pieces,
        path=path,
        is_model_id=is_model_id,
        router_names=router_names,
        line_map=line_map,
    )
    try:
        facts = _read(read, text, whole_file=sliced is None)
    except RecursionError:
        return extract.too_deep(path)
    if facts is None:  # (the whole file's parse errors are the ones to report)
        return extract.extract_facts(source, path, is_model_id=is_model_id, router_names=router_names)
    if sliced is not None:
        _add_cuts(facts, sliced)
    return extract.add_text_facts(facts, source)


def _read(
    read: Callable[[list[tuple[int, bytes]]], FileFacts | None], text: bytes, *, whole_file: bool
) -> FileFacts | None:
    """The facts of `text`: in pieces when long, else (or when a piece does not
    parse) at once; None when that is left to extract_facts (the whole file) or the
    text does not parse."""
    pieces = _pieces_of(text, PIECE_BYTES)
    facts = read(pieces) if pieces is not None else None
    if facts is None and not whole_file:
        facts = read([(1, text)])
    return facts


def _pieces_of(text: bytes, piece_bytes: int) -> list[tuple[int, bytes]] | None:
    """slicing.pieces, for text in UTF-8 only: a piece after the first would lose the
    encoding the first lines declare."""
    if len(text) <= piece_bytes:
        return None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(text).readline)
    except SyntaxError:
        return None
    if encoding not in ("utf-8", "utf-8-sig"):
        return None
    return slicing.pieces(text, piece_bytes)


def _add_cuts(facts: FileFacts, sliced: selection.SlicedSource) -> None:
    """What the selection left out that the resolver may ask for (FileFacts.cut_names ...)."""
    facts.cut_attributes = sliced.cut_attributes
    facts.cut_names = sliced.cut_names
    for qualname in sliced.cut_functions:  # each defined once: the order is not lost
        facts.functions.setdefault(qualname, ())


def parse_module_unvalidated(source: bytes | str) -> cst.Module:
    """libcst.parse_module without the node validation its parser's output does not
    need (see _unvalidated_nodes): the codemod's parse, whose own new nodes are
    made after it, and validated."""
    import libcst

    with _unvalidated_nodes():
        return libcst.parse_module(source)


class _unvalidated_nodes:
    """While facts are extracted, libcst nodes are made without their `_validate()`.

    Every node libcst's parser builds calls it (CSTNode.__post_init__), and it was
    half of the parse: it checks the invariants of a tree built by hand (a codemod's
    edits), which the parser's own output keeps by construction; extraction only
    reads trees. No node type has a __post_init__ of its own, so CSTNode's is the
    one to replace. One thread extracts at a time (workers are processes; the core parses
    in its own thread); the codemod, which builds nodes, runs outside this block and
    validates as before."""

    def __enter__(self) -> None:
        import libcst

        self.validating = libcst.CSTNode.__post_init__
        libcst.CSTNode.__post_init__ = _no_validation  # type: ignore[method-assign,assignment]

    def __exit__(self, *exc_info: object) -> None:
        import libcst

        libcst.CSTNode.__post_init__ = self.validating  # type: ignore[method-assign]


def _no_validation(node: object) -> None:
    pass
