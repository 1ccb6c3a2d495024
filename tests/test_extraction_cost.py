"""What extraction leaves out to be cheaper, and that it changes no fact: libcst's
node validation while parsing (select/parse.facts_of, which workers._extract calls), and the lookbehind-first form of
the pre-filter's import and whole-word patterns."""

from __future__ import annotations

import re
import sysconfig
from pathlib import Path

import libcst as cst
import pytest
from helpers import as_data

from opusguard.policy.catalog import load_catalog
from opusguard.run import workers
from opusguard.select import parse, prefilter

NAMES = frozenset({"route"})
SOURCE = b'''import anthropic
from app.config import OPUS as MODEL

client = anthropic.Anthropic()


def ask(prompt, model=MODEL):
    """Ask."""
    return client.messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": prompt}])


FAST = "claude-haiku-4-5"
'''


@pytest.fixture(autouse=True)
def _catalog(monkeypatch):
    monkeypatch.setattr(workers, "_worker_catalog", load_catalog())


def test_extraction_builds_nodes_without_validating_them_and_validation_stays_on(monkeypatch):
    calls = []
    validate = cst.Name._validate

    def counting(node):
        calls.append(node)
        validate(node)

    monkeypatch.setattr(cst.Name, "_validate", counting)
    facts = workers._extract((SOURCE, "app/ask.py", NAMES, True))
    assert facts.calls and facts.literals
    assert calls == []  # the parse built Name nodes without validating them
    cst.Name("x")
    assert len(calls) == 1  # outside extraction, nodes are validated (the codemod builds some)
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")


def test_facts_are_those_of_a_validated_parse():
    files = [
        path
        for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))
        if b"model" in (content := path.read_bytes()) and len(content) < 60_000
    ][:40]
    assert len(files) >= 20
    for path in files:
        content = path.read_bytes()
        for cut in (True, False):
            validated = parse._facts_of(content, str(path), is_model_id=workers.is_model_id, cut_bodies=cut)
            unvalidated = workers._extract((content, str(path), NAMES, cut))
            assert as_data(unvalidated) == as_data(validated), path


_ODD_TEXTS = [
    b"from a import b",
    b"xfrom a import b\n_from a import b\n.from a import b\n\xc3\xa9from a import b\n",
    b"import os\nximport os\n.import os\nre.import x\n\xc3\xa9import x\n",
    b"from . import (a,\n b)\nfrom .x import *\nfrom\\\n a import b\n",
    # A module whose name starts with "import" (the pattern once took its first letters for the keyword).
    b"from importlib import resources\nfrom app.importer import x\nfrom importer_ import(y)\n",
    b"model = 1\nmodel_x = 2\n_model\n\xc3\xa9model\nmodel\xc3\xa9\nx.model\nmodel",
    b"",
    b"from",
    b"import",
]


def _real_texts():
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))[:400]
    return [path.read_bytes() for path in files]


def test_every_import_cpython_reads_is_found():
    # The `from` pattern no longer runs on past another `from` word or into a "(" (each
    # made it scan to the end of a hostile file), it reads comments inside a bracketed
    # list, and names after a backslash continuation; what it must never lose is an import.
    import ast

    texts = _ODD_TEXTS + _real_texts()
    texts += [
        b"from x import (  # see f(y)\n    a,  # (b)\n    c,\n)\n",
        b"from a.b import \\\n  c, \\\n  d\nimport \\\n e.f\n",
    ]
    for text in texts:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        names, parts, star = prefilter._imports_of(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert {part.encode() for part in (node.module or "").split(".") if part} <= parts
                assert star or {alias.name.encode() for alias in node.names} <= names
            elif isinstance(node, ast.Import):
                assert {part.encode() for alias in node.names for part in alias.name.split(".")} <= parts


@pytest.mark.parametrize("name", [b"model", b"MODEL", "modèle".encode(), b"a", b"x.y", b"self"])
def test_whole_word_pattern_matches_what_the_lookbehind_first_form_matched(name):
    old = re.compile(rb"(?<![\w\x80-\xff])" + re.escape(name) + rb"(?![\w\x80-\xff])")
    new = prefilter._word(name)
    for text in _ODD_TEXTS + [b"x.y = 1\nx_y\nax.y\nx.yz\n" + "modèle modèlex".encode()] + _real_texts()[:100]:
        assert [m.span() for m in new.finditer(text)] == [m.span() for m in old.finditer(text)]


def test_a_name_imported_after_a_line_continuation_takes_its_file_to_the_second_pass(tmp_path):
    # (the pattern once took the backslash after `import` as a space, and lost the names after it)
    from helpers import check_tree

    files = {
        "app/__init__.py": "",
        "app/cfg.py": 'SMART = "claude-opus-4-1-20250805"\n',
        "app/ask.py": "from app import \\\n    cfg\n\n\ndef ask(llm, q):\n    return llm.chat(model=cfg.SMART, q=q)\n",
    }
    assert prefilter.classify(files["app/ask.py"].encode()) == prefilter.SECOND_PASS
    result = check_tree(tmp_path, files)
    assert ("app/ask.py", 6) in {(f.path, f.line) for f in result.findings}
