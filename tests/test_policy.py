"""Policy files: every validation error with its line and column; includes; overrides."""

from __future__ import annotations

import pytest

from opusguard.policy.tasks import PolicyError, discover_policy, load_policy

VALID = """\
version: 1
router: app.routing:route
tasks:
  classify:
    tier: haiku
  review:
    tier: opus
    justification: evals say so
    owner: legal
    review_by: 2027-06-30
"""


def write(tmp_path, text, name="opusguard.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_policy(tmp_path):
    policy = load_policy(write(tmp_path, VALID))
    assert policy.router_module == "app.routing" and policy.router_function == "route"
    assert policy.tasks["review"].owner == "legal"
    assert (policy.tasks["review"].line, policy.tasks["review"].column) == (6, 3)
    assert policy.model_for("classify") == policy.tiers["haiku"]
    assert str(policy.tasks["review"].review_by) == "2027-06-30"


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        (
            "version: 1\ntasks:\n  x:\n    tier: mega\n",
            4,
            11,
            "unknown tier 'mega' (allowed: opus, sonnet, haiku, other)",
        ),
        ("version: 1\ntasks:\n  x:\n    description: no tier\n", 3, 3, "task 'x' has no tier"),
        (
            "version: 1\ntasks:\n  x:\n    tier: opus\n    justifcation: typo\n",
            5,
            5,
            "unknown key 'justifcation' (did you mean 'justification'?)",
        ),
        ("version: 1\nroutr: a:b\n", 2, 1, "unknown key 'routr' (did you mean 'router'?)"),
        (
            "version: 1\ntasks:\n  x:\n    tier: opus\n    review_by: next year\n",
            5,
            16,
            "review_by 'next year' is not a date (YYYY-MM-DD)",
        ),
        ("version: 1\ntasks:\n  x:\n    tier: opus\n    review_by: 2027-02-30\n", 5, 16, "is not a date"),
        ("version: 1\nrouter: app.routing\n", 2, 9, "router 'app.routing' is not MODULE:FUNCTION"),
        ("version: 1\nrouter: app-x:route\n", 2, 9, "is not MODULE:FUNCTION"),
        ("version: 1\ntasks:\n  x:\n    tier: haiku\n  x:\n    tier: opus\n", 5, 3, "duplicate key 'x'"),
        ("version: 2\n", 1, 10, "unsupported version '2' (allowed: 1)"),
        (
            "version: 1\ntasks:\n  x:\n    tier: haiku\n    model: claude-opus-4-1\n",
            5,
            12,
            "is haiku-tier but its model 'claude-opus-4-1' is opus",
        ),
        ("version: 1\ntasks:\n  x:\n    tier: haiku\n    model: gpt-4o\n", 5, 12, "'gpt-4o' is not a Claude model id"),
        ("version: 1\ntiers:\n  opus: claude-sonnet-4-5\n", 3, 9, "'claude-sonnet-4-5' is a sonnet model, not opus"),
        ("version: 1\ntiers:\n  large: claude-opus-4-1\n", 3, 3, "unknown tier 'large'"),
        ("version: 1\ntasks: [a, b]\n", 2, 8, "expected a mapping"),
        ("- just\n- a list\n", 1, 1, "a policy is a mapping"),
        ("version: 1\ntasks:\n  x:\n    tier: [opus]\n", 4, 11, "tier must be a single value"),
        ("version: 1\ntasks:\n  x: {tier: haiku\n", 4, 1, "invalid YAML"),
        ("version: 1\ntasks:\n  'bad name':\n    tier: haiku\n", 3, 3, "task name 'bad name'"),
        ("version: 1\nmodels:\n  - id: acme-ft\n    tier: gigantic\n", 3, 5, "tier 'gigantic' is not one of"),
    ],
)
def test_every_validation_error_points_at_its_place(tmp_path, text, line, column, message):
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    error = info.value
    assert (error.line, error.column) == (line, column), str(error)
    assert message in error.message
    assert str(error).startswith(f"{path}:{line}:{column}: ")
    assert "\n" not in str(error)


def test_duplicate_task_across_includes(tmp_path):
    write(tmp_path, "version: 1\ntasks:\n  x:\n    tier: haiku\n", "base.yaml")
    path = write(tmp_path, "version: 1\ninclude: [base.yaml]\ntasks:\n  x:\n    tier: opus\n")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert "duplicate task 'x' (also at" in str(info.value) and info.value.line == 4


def test_includes_merge_tasks(tmp_path):
    (tmp_path / "teams").mkdir()
    write(tmp_path, "version: 1\ntasks:\n  legal-review:\n    tier: opus\n", "teams/legal.yaml")
    policy = load_policy(write(tmp_path, "version: 1\ninclude:\n  - teams/legal.yaml\ntasks:\n  x:\n    tier: haiku\n"))
    assert set(policy.tasks) == {"legal-review", "x"}
    assert policy.tasks["legal-review"].source.endswith("teams/legal.yaml")


def test_include_cycles_are_rejected(tmp_path):
    write(tmp_path, "version: 1\ninclude: [b.yaml]\n", "a.yaml")
    write(tmp_path, "version: 1\ninclude: [a.yaml]\n", "b.yaml")
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "a.yaml")
    assert "include cycle:" in str(info.value)
    assert "a.yaml -> " in str(info.value) and str(info.value).count("a.yaml") >= 2


def test_missing_include_is_an_error(tmp_path):
    with pytest.raises(PolicyError) as info:
        load_policy(write(tmp_path, "version: 1\ninclude: [nope.yaml]\n"))
    assert "nope.yaml:1:1: cannot read policy" in str(info.value)


def test_catalog_override_adds_a_private_model(tmp_path):
    text = (
        "version: 1\nmodels:\n  - id: claude-sonnet-4-5-acme-ft\n    tier: sonnet\n    price: {input: 4.5, output: 20}\n"
        "tiers:\n  sonnet: claude-sonnet-4-5-acme-ft\n"
        "tasks:\n  support:\n    tier: sonnet\n"
    )
    policy = load_policy(write(tmp_path, text))
    assert policy.model_for("support") == "claude-sonnet-4-5-acme-ft"
    assert policy.catalog.price("claude-sonnet-4-5-acme-ft").input == 4.5


def test_pins_and_tier_defaults(tmp_path):
    text = "version: 1\ntasks:\n  legacy:\n    tier: sonnet\n    model: claude-3-5-sonnet-20241022\n  new:\n    tier: sonnet\n"
    policy = load_policy(write(tmp_path, text))
    assert policy.model_for("legacy") == "claude-3-5-sonnet-20241022"
    assert policy.model_for("new") == "claude-sonnet-4-5-20250929"
    assert policy.model_for("unknown") is None


def test_discovery_walks_up(tmp_path):
    path = write(tmp_path, VALID)
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert discover_policy(tmp_path / "a" / "b") == path


def test_only_safe_yaml(tmp_path):
    path = write(tmp_path, "version: 1\ntasks: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(PolicyError) as info:  # the tag is never constructed
        load_policy(path)
    assert str(info.value).endswith(":2:8: expected a mapping")
