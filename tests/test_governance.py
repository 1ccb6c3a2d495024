"""OG104 opus-governance and OG107 tier-below-bar; the evidence formats."""

from __future__ import annotations

import pytest
from helpers import check_tree

from opusguard.policy.evidence import EvidenceError, load_evidence

GOVERNED = "    justification: Sonnet missed 9 of 120\n    owner: legal\n    review_by: 2099-01-01\n"


def og104(tmp_path, task_body: str, extra=None):
    policy = "version: 1\ntasks:\n  review:\n    tier: opus\n" + task_body
    result = check_tree(tmp_path, {"a.py": "x = 1\n", **(extra or {})}, policy=policy, select={"OG104"})
    return [f.message for f in result.findings]


def test_governed_task_is_clean(tmp_path):
    assert og104(tmp_path, GOVERNED) == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("    owner: legal\n", "has no justification"),
        ("    justification: x\n", "has no owner"),
        ('    justification: "TODO: fill in"\n    owner: legal\n', "has a placeholder justification"),
        ("    justification: x\n    owner: legal\n    review_by: 2026-01-01\n", "was due for review on 2026-01-01"),
        ("    justification: x\n    owner: legal\n    evidence: missing.yaml\n", "has unreadable evidence"),
    ],
)
def test_each_governance_gap(tmp_path, body, problem):
    messages = og104(tmp_path, body)
    assert any(problem in m for m in messages), messages


def test_evidence_that_a_cheaper_tier_passes_names_it_and_the_saving(tmp_path):
    messages = og104(
        tmp_path,
        GOVERNED + "    evidence: evals/review.yaml\n",
        {"evals/review.yaml": "bar: 0.9\nscores: {haiku: 0.8, sonnet: 0.93, opus: 0.97}\n"},
    )
    assert messages == [
        "Opus task 'review' has evidence that sonnet clears the bar (0.93 >= 0.90); "
        "moving it saves $2.00 per million input tokens and $10.00 per million output tokens"
    ]


def test_og104_points_at_the_task_line(tmp_path):
    result = check_tree(
        tmp_path, {"a.py": "x = 1\n"}, policy="version: 1\ntasks:\n\n  review:\n    tier: opus\n", select={"OG104"}
    )
    assert {(f.path, f.line, f.column) for f in result.findings} == {("opusguard.yaml", 4, 3)}


def test_og107_a_task_below_its_bar(tmp_path):
    policy = "version: 1\ntasks:\n  extract:\n    tier: haiku\n    evidence: e.csv\n"
    csv = "tier,score,bar,samples,date\nhaiku,0.91,0.98,200,2026-10-01\nsonnet,0.99,0.98,200,2026-10-01\n"
    result = check_tree(tmp_path, {"a.py": "x = 1\n", "e.csv": csv}, policy=policy, select={"OG107"})
    (finding,) = result.findings
    assert finding.line == 3 and "haiku 0.91, below the bar 0.98; sonnet clears it" in finding.message


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("e.yaml", "bar: 0.95\nscores: {haiku: 0.81, sonnet: 0.96, opus: 0.97}\nsamples: 120\ndate: 2026-10-01\n"),
        ("e.json", '{"bar": 0.95, "scores": {"haiku": 0.81, "sonnet": 0.96, "opus": 0.97}, "samples": 120}'),
        ("e.csv", "tier,score,bar\nhaiku,0.81,0.95\nsonnet,0.96,0.95\nopus,0.97,0.95\n"),
        ("e.csv", "tier,score\nbar,0.95\nhaiku,0.81\nsonnet,0.96\nopus,0.97\n"),
    ],
)
def test_evidence_formats(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    evidence = load_evidence(path)
    assert evidence.bar == 0.95 and evidence.cheapest_passing() == "sonnet"
    assert evidence.passes("haiku") is False and evidence.passes("opus") is True


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("e.yaml", "scores: {opus: 1}\n", "e.yaml:1: evidence has no 'bar'"),
        ("e.yaml", "bar: 0.9\n", "e.yaml:1: evidence has no 'scores'"),
        ("e.yaml", "bar: 0.9\nscores: {gpt: 1}\n", "unknown tier 'gpt'"),
        ("e.json", '{"bar": 0.9,\n "scores": }', "e.json:2: invalid JSON"),
        ("e.csv", "tier,score\nhaiku,high\n", "e.csv:2: score of haiku must be a number"),
        ("e.csv", "tier,score\nhaiku,0.5\n", "e.csv:1: CSV evidence has no bar"),
        ("e.csv", "name,value\n", "needs a header with 'tier' and 'score'"),
    ],
)
def test_evidence_errors_name_file_and_line(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(EvidenceError) as info:
        load_evidence(path)
    assert expected in str(info.value)
