"""The codemod over every resolution style and SDK shape `check` knows.

For each case: after `fix --codemod`, the tree still compiles, no Opus call is
left unjustified-and-unrouted at a rewritten site, a second run is a no-op, and
every call sends, through the policy, exactly the id it sent before.
"""

from __future__ import annotations

import pytest
from helpers import TODAY
from test_resolution import CASES as STYLES
from test_sdk_shapes import SHAPES

from opusguard.fix.codemod import compute_fix, write_fix
from opusguard.policy.config import load_settings
from opusguard.run import engine


def analyze(root):
    settings = load_settings(root)
    return engine.analyze(settings, engine.RunOptions(paths=["."], use_cache=False, jobs=1, today=TODAY), cwd=root)


def sent_ids(analysis) -> dict[tuple[str, int], set[str]]:
    """What each call sends: its literal ids, or its task's model through the policy."""
    policy = analysis.project.policy
    out = {}
    for call in analysis.project.calls:
        if call.call.first_arg is not None and call.call.callee.endswith("route"):
            continue  # a `route("task")` where a default is defined binds, it does not send
        if call.is_router_call:
            tasks = call.routed_tasks or [call.route_task]
            out[(call.path, call.line)] = {policy.model_for(task) for task in tasks}
        elif call.models:
            out[(call.path, call.line)] = {m.ref.written for m in call.models}
    return out


def fix(root):
    analysis = analyze(root)
    result = compute_fix(analysis.project, analysis.sources, policy_path=root / "opusguard.yaml", cwd=root)
    assert write_fix(result, root) == []
    return result


CASES = [pytest.param(files, id=f"style: {name}") for name, files, _ in STYLES]
CASES += [pytest.param({"app.py": source}, id=f"sdk: {name}") for name, source, _ in SHAPES]


@pytest.mark.parametrize("files", CASES)
def test_codemod_preserves_what_every_call_sends(tmp_path, files):
    for rel, text in files.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    before = sent_ids(analyze(tmp_path))
    result = fix(tmp_path)
    for path in result.changed:
        compile((tmp_path / path).read_bytes(), path, "exec")
    after_analysis = analyze(tmp_path)
    after = sent_ids(after_analysis)
    # Calls keep their place (an added import line shifts them by one at most).
    assert sorted(after.values(), key=sorted) == sorted(before.values(), key=sorted)
    second = fix(tmp_path)
    assert second.changed == {}
