"""Property: on generated programs with a model call appended, the codemod's output
parses and a second run changes nothing."""

from __future__ import annotations

from datetime import date

import hypothesmith
import libcst as cst
from helpers import generated_program_settings
from hypothesis import given

from opusguard.fix.codemod import rewrite_source
from opusguard.policy.catalog import load_catalog
from opusguard.policy.tasks import empty_policy
from opusguard.resolve.join import build_project
from opusguard.rules.fixplan import plan_rewrites
from opusguard.select.parse import facts_of

CATALOG = load_catalog()
CALL = '\nimport anthropic\nanthropic.Anthropic().messages.create(model="claude-opus-4-1-20250805", max_tokens=5)\n'


def codemod_once(source: bytes) -> bytes:
    facts = facts_of(source, "gen.py", is_model_id=lambda s: CATALOG.recognize(s) is not None)
    if facts.parse_error:
        return source
    policy = empty_policy(CATALOG)
    project = build_project({"gen.py": facts}, policy=policy, catalog=CATALOG, today=date(2026, 11, 24))
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
