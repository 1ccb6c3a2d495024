"""Property: on generated programs with a model call appended, the codemod's output
parses and a second run changes nothing."""

from __future__ import annotations

from datetime import date

import hypothesmith
import libcst as cst
from helpers import generated_program_settings
from hypothesis import given

from opusguard import core
from opusguard.fix.codemod import rewrite_source
from opusguard.policy.catalog import load_catalog
from opusguard.policy.tasks import empty_policy
from opusguard.rules.fixplan import plan_rewrites

CATALOG = load_catalog()
CALL = '\nimport anthropic\nanthropic.Anthropic().messages.create(model="claude-opus-4-1-20250805", max_tokens=5)\n'


def codemod_once(source: bytes) -> bytes:
    """The analysis by the core, in memory; the rewrite as `fix --codemod` plans it."""
    project = core.analyze(
        {"gen.py": source}, empty_policy(CATALOG), CATALOG, today=date(2026, 11, 24)
    ).analysis.project
    facts = project.files.get("gen.py")
    if facts is None or facts.parse_error:
        return source
    plan = plan_rewrites(project)
    try:
        return rewrite_source(source, [r for r in plan.rewrites if r.path == "gen.py"], in_router_module=False)
    except ValueError:  # e.g. a form feed in the indentation: compute_fix leaves such files untouched
        return source


@generated_program_settings(30)
@given(hypothesmith.from_node(cst.Module))
def test_output_parses_and_is_idempotent(program):
    source = (program + CALL).encode("utf-8")
    try:
        cst.parse_module(source)
    except Exception:
        return  # the generator's own edge cases, not ours
    once = codemod_once(source)
    if once == source:
        return
    cst.parse_module(once)
    assert b'route("' in once or b"claude-opus" not in once
    assert codemod_once(once) == once
