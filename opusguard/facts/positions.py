"""Node positions, as libcst's PositionProvider gives them, at a fraction of its cost.

PositionProvider splits every generated token on newlines and makes two objects
per node; on the files opusguard parses that was over 40% of extraction. Here
code generation only adds up token lengths, keeps (start, end) character offsets
per node, and turns the few offsets that facts need into (line, column) at the
end. Same rules as PositionProvider: a node's syntactic range where its code
generation records one, else the range of everything it generated
(tests/test_positions.py compares the two on every node of real files).
"""

from __future__ import annotations

import bisect
import re
from typing import Any

import libcst as cst
from libcst._nodes.internal import CodegenState  # the hook PositionProvider itself uses

_NEWLINE = re.compile(r"\r\n?|\n")  # as PositionProvider counts lines


class _OffsetCodegenState(CodegenState):
    def __init__(self, default_indent: str, default_newline: str):
        super().__init__(default_indent=default_indent, default_newline=default_newline)
        self.offset = 0
        self.starts: list[int] = []
        # Keyed by id(node): CSTNode.__hash__ is a Python method, and this is
        # updated for every node. The module outlives the ranges (see Positions).
        self.ranges: dict[int, tuple[int, int]] = {}

    def add_indent_tokens(self) -> None:
        self.tokens.extend(self.indent_tokens)
        for token in self.indent_tokens:
            self.offset += len(token)

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        self.offset += len(value)

    def pop_trailing_newline(self) -> None:
        if self.tokens:
            self.offset -= len(self.tokens.pop())

    def before_codegen(self, node: cst.CSTNode) -> None:
        self.starts.append(self.offset)

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self.starts.pop()
        # setdefault: a syntactic range recorded inside wins
        self.ranges.setdefault(id(node), (start, self.offset))

    # (libcst declares the class of its own generator-based context manager as the return type)
    def record_syntactic_position(  # type: ignore[override]
        self, node: cst.CSTNode, *, start_node: cst.CSTNode | None = None, end_node: cst.CSTNode | None = None
    ) -> _SyntacticRange:
        return _SyntacticRange(self, node, start_node, end_node)


def _codegen_with_range(node: cst.CSTNode, state: _OffsetCodegenState, **kwargs: Any) -> None:
    """CSTNode._codegen with the state's before/after hooks done in place: two method
    calls fewer for each of the million nodes of a large tree."""
    start = state.offset
    node._codegen_impl(state, **kwargs)
    # setdefault: a syntactic range recorded inside wins
    state.ranges.setdefault(id(node), (start, state.offset))


class _SyntacticRange:
    """What libcst's generator-based context manager does, at a third of its cost
    (code generation enters one for most nodes)."""

    __slots__ = ("state", "node", "start_node", "end_node", "start")

    def __init__(
        self,
        state: _OffsetCodegenState,
        node: cst.CSTNode,
        start_node: cst.CSTNode | None,
        end_node: cst.CSTNode | None,
    ) -> None:
        self.state = state
        self.node = node
        self.start_node = start_node
        self.end_node = end_node

    def __enter__(self) -> None:
        self.start = self.state.offset

    def __exit__(self, *exc_info: object) -> None:
        ranges = self.state.ranges
        start = self.start if self.start_node is None else ranges[id(self.start_node)][0]
        end = self.state.offset if self.end_node is None else ranges[id(self.end_node)][1]
        ranges[id(self.node)] = (start, end)


class Positions:
    """(line, column) ranges of a module's nodes: 1-based lines, 0-based columns."""

    def __init__(self, module: cst.Module):
        # Ranges are keyed by node id: the caller keeps `module` alive while it asks.
        state = _OffsetCodegenState(module.default_indent, module.default_newline)
        # Every node's _codegen is CSTNode's (no node type overrides it): while this
        # tree is generated, it is the one above. (One thread generates at a time:
        # workers are processes.)
        generic = cst.CSTNode._codegen
        cst.CSTNode._codegen = _codegen_with_range  # type: ignore[method-assign,assignment]
        try:
            module._codegen(state)
        finally:
            cst.CSTNode._codegen = generic  # type: ignore[method-assign]
        self._ranges = state.ranges
        self._code = "".join(state.tokens)
        self._line_ends = [match.end() for match in _NEWLINE.finditer(self._code)]

    def _line_column(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_ends, offset)
        return line + 1, offset - (self._line_ends[line - 1] if line else 0)

    def range(self, node: cst.CSTNode) -> tuple[int, int, int, int]:
        """(start line, start column, end line, end column) of `node`."""
        start, end = self._ranges[id(node)]
        return (*self._line_column(start), *self._line_column(end))

    def text(self, node: cst.CSTNode) -> str:
        """The code of `node` (its syntactic range)."""
        start, end = self._ranges[id(node)]
        return self._code[start:end]
