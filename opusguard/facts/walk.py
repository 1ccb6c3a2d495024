"""Run a read-only libcst visitor over a tree, without libcst's per-field machinery.

`module.visit(visitor)` rebuilds every node it passes (validation included) and
makes two method lookups by formatted name for every field of every node,
whitespace and commas too; on the files opusguard parses that was most of the
time spent visiting. `walk` calls the same `visit_<Type>` / `leave_<Type>`
methods in the same order, on the original nodes, and does not descend into
whitespace and operator nodes, which hold no expression
(tests/test_walk.py compares the two on real code).

Only per-type handlers are supported (no `visit_<Type>_<field>`), and only for
visitors that read: nothing is replaced.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING, Final

import libcst as cst

if TYPE_CHECKING:
    from collections.abc import Callable

    # What to do with a node: (visit handler, leave handler, fields to descend into; None: ask per node).
    _Plan = tuple[
        Callable[[cst.CSTNode], object] | None, Callable[[cst.CSTNode], object] | None, tuple[str, ...] | None
    ]

# Modules whose nodes hold only whitespace, comments and operator tokens.
_TOKEN_MODULES = frozenset({"libcst._nodes.whitespace", "libcst._nodes.op"})


class _FieldOrder(cst.CSTVisitor):
    """Records the fields libcst visits on a node, in its order, without descending."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[str] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        return False

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        self.fields.append(attribute)


# node type -> the fields libcst visits, in order; found on the first node of a type
# that shows them all
_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(node: cst.CSTNode) -> tuple[str, ...]:
    fields = _FIELDS.get(type(node))
    if fields is None:
        recorder = _FieldOrder()
        node._visit_and_replace_children(recorder)
        fields = tuple(dict.fromkeys(recorder.fields))
        # libcst visits some fields only when they are set (an f-string's format
        # spec): a node with an unvisited field at None may not show them all.
        if all(f.name in fields for f in dataclasses.fields(node) if getattr(node, f.name) is None):
            _FIELDS[type(node)] = fields
    return fields


def walk(module: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """What `module.visit(visitor)` does for a read-only, per-type visitor."""
    _Walker(visitor).visit(module)


# A plan for a field value that is a sequence: its items that are nodes are visited.
class _Marker(enum.Enum):
    SEQUENCE = enum.auto()


_SEQUENCE: Final = _Marker.SEQUENCE


class _Walker:
    # A class, not nested functions: a recursive closure is a reference cycle, and
    # would keep each file's whole tree alive until the cyclic collector ran.
    def __init__(self, visitor: cst.CSTVisitor):
        self.visitor = visitor
        # type of a field's value -> what to do with it: for a node, (visit handler,
        # leave handler, fields to descend into); _SEQUENCE; None: skip it (a token
        # node nobody handles, or not a node). Looked up by type, because
        # isinstance(value, cst.CSTNode) goes through ABCMeta on every field.
        self.plans: dict[type, _Plan | _Marker | None] = {}

    def plan_for(self, value: object) -> _Plan | _Marker | None:
        value_type = type(value)
        plan: _Plan | _Marker | None
        if isinstance(value, cst.CSTNode):
            name = value_type.__name__
            # CSTVisitor defines every visit_X / leave_X as a no-op: only overrides count.
            visit = leave = None
            if getattr(type(self.visitor), f"visit_{name}", None) is not getattr(cst.CSTVisitor, f"visit_{name}", None):
                visit = getattr(self.visitor, f"visit_{name}")
            if getattr(type(self.visitor), f"leave_{name}", None) is not getattr(cst.CSTVisitor, f"leave_{name}", None):
                leave = getattr(self.visitor, f"leave_{name}")
            if value_type.__module__ in _TOKEN_MODULES and visit is None and leave is None:
                plan = None
            else:
                fields = _fields(value)
                plan = (visit, leave, fields if value_type in _FIELDS else None)  # None: ask per node
        else:
            plan = _SEQUENCE if isinstance(value, (tuple, list)) else None
        self.plans[value_type] = plan
        return plan

    def visit(self, node: cst.CSTNode) -> None:
        plan = self.plans[type(node)] if type(node) in self.plans else self.plan_for(node)
        if type(plan) is tuple:
            self.visit_planned(node, plan)

    def visit_planned(self, node: cst.CSTNode, plan: _Plan) -> None:
        plans = self.plans
        visit, leave, fields = plan
        if visit is None or visit(node) is not False:
            for field in fields or _fields(node):
                value = getattr(node, field)
                child_plan = plans[type(value)] if type(value) in plans else self.plan_for(value)
                if child_plan is None:
                    continue
                if child_plan is not _SEQUENCE:
                    self.visit_planned(value, child_plan)
                    continue
                for item in value:
                    item_plan = plans[type(item)] if type(item) in plans else self.plan_for(item)
                    if type(item_plan) is tuple:  # a node (a sequence in a sequence is not descended)
                        self.visit_planned(item, item_plan)
        if leave is not None:
            leave(node)
