"""walk() calls a visitor's handlers as libcst's own module.visit() does."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import click
import libcst
import pytest
from helpers import as_data

from opusguard.facts import extract
from opusguard.facts.walk import walk
from opusguard.policy.catalog import load_catalog
from opusguard.select import parse

CATALOG = load_catalog()
# Node types whose handlers are recorded: every node type outside the whitespace
# and operator modules, which walk() does not descend into.
RECORDED = sorted(
    {
        name[len("visit_") :]
        for name in dir(libcst.CSTVisitor)
        if name.startswith("visit_")
        and name.count("_") == 1
        and getattr(libcst, name[len("visit_") :], None) is not None
        and getattr(libcst, name[len("visit_") :]).__module__ not in ("libcst._nodes.whitespace", "libcst._nodes.op")
    }
)


def _recording_visitor(skip: frozenset[str] = frozenset()):
    """A visitor with a handler for every recorded type, logging each call; it skips
    the children of the types in `skip`."""
    log: list[tuple[str, str, int]] = []
    methods = {}
    for name in RECORDED:

        def visit(self, node, name=name):
            log.append(("visit", name, id(node)))
            return name not in skip

        def leave(self, node, name=name):
            log.append(("leave", name, id(node)))

        methods[f"visit_{name}"] = visit
        methods[f"leave_{name}"] = leave
    return type("Recorder", (libcst.CSTVisitor,), methods)(), log


def _sources() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    small = [p for p in sorted(stdlib.glob("*.py")) if p.stat().st_size < 30_000][:30]
    return sorted(Path(click.__file__).parent.glob("*.py")) + small


@pytest.fixture(scope="module")
def parsed_sources() -> list[tuple[Path, libcst.Module]]:
    """Each source libcst parses, parsed once for the tests of this module (a visitor
    does not change the tree)."""
    parsed = []
    for path in _sources():
        try:
            parsed.append((path, libcst.parse_module(path.read_bytes())))
        except Exception:
            continue
    return parsed


@pytest.mark.parametrize(
    "skip", [frozenset(), frozenset({"Assign", "Expr", "Return", "FunctionDef"})], ids=["all", "pruned"]
)
def test_handlers_are_called_in_the_same_order_as_libcst(skip, parsed_sources):
    checked = 0
    for path, module in parsed_sources:
        by_libcst, log_libcst = _recording_visitor(skip)
        module.visit(by_libcst)
        by_walk, log_walk = _recording_visitor(skip)
        walk(module, by_walk)
        assert log_walk == log_libcst, path
        checked += 1
    assert checked > 40
    assert RECORDED and "Call" in RECORDED and "Comma" not in RECORDED


def test_facts_are_the_same_as_with_libcst_visit(monkeypatch):
    sources = [path.read_bytes() for path in _sources()]
    sources += [p.read_bytes() for p in sorted((Path(__file__).parent.parent / "examples").rglob("*.py"))]

    def all_facts():
        return [
            as_data(parse.facts_of(s, "m.py", is_model_id=lambda t: CATALOG.recognize(t) is not None, cut_bodies=False))
            for s in sources
        ]

    walked = all_facts()
    monkeypatch.setattr(extract, "walk", lambda module, visitor: module.visit(visitor))
    assert walked == all_facts()
    assert any(f["calls"] for f in walked)


def test_fields_libcst_visits_only_when_set_are_not_missed(monkeypatch):
    # An f-string's format spec is visited only when there is one: the first
    # f-string seen (without) must not decide the order for the next (with).
    import opusguard.facts.walk

    monkeypatch.setattr(opusguard.facts.walk, "_FIELDS", {})
    for source in ('f"{x}"\n', 'f"{x!r:>{width}}"\n', "from a import *\n", "from a import (b)\n"):
        module = libcst.parse_module(source)
        by_libcst, log_libcst = _recording_visitor()
        module.visit(by_libcst)
        by_walk, log_walk = _recording_visitor()
        walk(module, by_walk)
        assert log_walk == log_libcst, source


def test_a_parsed_tree_is_freed_without_the_cyclic_collector():
    # A reference cycle through the walk or the slicing would keep every file's
    # tree alive until the collector ran (hundreds of MiB on a large tree).
    import gc

    source = (Path(click.__file__).parent / "core.py").read_bytes()
    source += b'\ndef ask(client):\n    return client.messages.create(model="claude-opus-4-1-20250805")\n'
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        parse.facts_of(source, "core.py", is_model_id=lambda t: CATALOG.recognize(t) is not None)
        gc.collect()
        kept = [o for o in gc.garbage if isinstance(o, libcst.CSTNode)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert kept == []
