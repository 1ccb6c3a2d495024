"""Every rule's own examples, run through the whole engine: the docs are the tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from opusguard.policy.config import load_settings
from opusguard.rules import all_rules
from opusguard.run import engine

TODAY = date(2026, 11, 24)

CASES = [
    pytest.param(rule, example, id=f"{rule.code}-{index}-{example.title or 'example'}")
    for rule in all_rules()
    for index, example in enumerate(rule.examples)
]


def run_example(tmp_path: Path, rule, example) -> set[tuple[str, int]]:
    for rel, text in {**example.files, **example.extra_files}.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    if example.policy is not None:
        (tmp_path / "opusguard.yaml").write_text(example.policy)
    settings = load_settings(tmp_path)
    options = engine.RunOptions(paths=["."], use_cache=False, jobs=1, today=TODAY)
    result = engine.check(settings, options, cwd=tmp_path, select_codes={rule.code})
    return {(f.path, f.line) for f in result.findings}


@pytest.mark.parametrize(("rule", "example"), CASES)
def test_rule_example(tmp_path, monkeypatch, rule, example):
    monkeypatch.chdir(tmp_path)
    assert run_example(tmp_path, rule, example) == set(example.expect)


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_has_documentation_and_examples(rule):
    doc = rule.__doc__ or ""
    for heading in ("## What it does", "## Why is this bad?", "## Example"):
        assert heading in doc, f"{rule.code} docstring lacks {heading!r}"
    assert rule.examples, f"{rule.code} has no examples"
    assert any(example.expect for example in rule.examples), f"{rule.code} has no example that fires"
