"""Hostile data files and sources: every one is an error naming the file (and line),
or a result; never a hang, a traceback or minutes of work (docs/security.md,
"Files opusguard reads").

The command-line cases run the installed console script with a timeout, so a
read that blocks fails the test instead of hanging CI.
"""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

import hypothesmith
import libcst as cst
import pytest
from conftest import OPUSGUARD, write_tree
from helpers import generated_program_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opusguard.base.datafile import MAX_DATA_BYTES, DataFileError, load_yaml, read_data_file
from opusguard.facts.records import FileFacts
from opusguard.policy.catalog import load_catalog
from opusguard.policy.tasks import Policy, PolicyError, empty_policy, load_policy
from opusguard.resolve.join import build_project
from opusguard.rules import all_rules
from opusguard.select.parse import facts_of

CATALOG = load_catalog()
OPUS = "claude-opus-4-1-20250805"
APP = {
    "app.py": f'import anthropic\nanthropic.Anthropic().messages.create(model="{OPUS}", max_tokens=1, messages=[])\n'
}

# Nine levels of nine aliases: a billion strings once expanded.
ALIAS_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n" for prev, name in zip("abcdefgh", "bcdefghi")
)


def run(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("CI", None)
    # A blocked read would hang here: the timeout turns it into a failure.
    return subprocess.run(
        [str(OPUSGUARD), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def one_error(result: subprocess.CompletedProcess, says: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("opusguard: error: "), result.stderr
    assert says in result.stderr, result.stderr


def project(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    write_tree(root, {**APP, **files})
    return root


POLICY = "version: 1\nrouter: app.routing:route\n"
OPUS_TASK = "tasks:\n  review:\n    tier: opus\n    justification: evals\n    owner: me\n    evidence: {evidence}\n"


# --- FIFOs and devices: an error at once, never a blocked read --------------------------------


@pytest.mark.parametrize("kind", ["include", "evidence", "usage", "prices", "task-map"])
def test_a_fifo_is_refused_without_blocking(tmp_path, kind):
    root = project(tmp_path, {})
    os.mkfifo(root / "data.yaml")
    if kind == "include":
        write_tree(root, {"opusguard.yaml": POLICY + "include: [data.yaml]\n"})
        result, says = (
            run("check", "--no-cache", ".", cwd=root),
            "data.yaml:1:1: cannot read policy: not a regular file",
        )
    elif kind == "evidence":
        write_tree(root, {"opusguard.yaml": POLICY + OPUS_TASK.format(evidence="data.yaml")})
        result = run("policy", "validate", cwd=root)
        says = "data.yaml:1: cannot read evidence: not a regular file"
    elif kind == "usage":
        result = run("report", "--no-cache", "--usage", "data.yaml", ".", cwd=root)
        says = "data.yaml:1: cannot read usage file: not a regular file"
    elif kind == "prices":
        result = run("report", "--no-cache", "--prices", "data.yaml", ".", cwd=root)
        says = "data.yaml:1: cannot read prices file: not a regular file"
    else:
        result = run("fix", "--codemod", "--diff", "--no-cache", "--task-map", "data.yaml", ".", cwd=root)
        says = "data.yaml:1: cannot read task map: not a regular file"
    one_error(result, says)


def test_a_fifo_config_or_baseline_is_refused_without_blocking(tmp_path):
    root = project(tmp_path, {})
    os.mkfifo(root / "pyproject.toml")
    one_error(run("check", "--no-cache", ".", cwd=root), "pyproject.toml:1: ")
    (root / "pyproject.toml").unlink()
    os.mkfifo(root / "base.json")
    one_error(
        run("check", "--no-cache", "--baseline", "base.json", ".", cwd=root),
        "base.json:1: cannot read baseline: not a regular file",
    )


def test_fifo_evidence_is_og104_in_a_check(tmp_path):
    root = project(tmp_path, {"opusguard.yaml": POLICY + OPUS_TASK.format(evidence="evals/e.yaml")})
    (root / "evals").mkdir()
    os.mkfifo(root / "evals" / "e.yaml")
    result = run("check", "--no-cache", "--format", "text", ".", cwd=root)
    assert result.returncode == 1, result.stderr
    assert "OG104 Opus task 'review' has unreadable evidence: " in result.stdout
    assert "evals/e.yaml:1: cannot read evidence: not a regular file" in result.stdout


# --- alias bombs -----------------------------------------------------------------------------


def test_an_alias_bomb_in_evidence_is_unreadable_evidence(tmp_path):
    root = project(
        tmp_path,
        {
            "opusguard.yaml": POLICY + OPUS_TASK.format(evidence="e.yaml"),
            "e.yaml": ALIAS_BOMB + "bar: *i\nscores: {opus: 1}\n",
        },
    )
    result = run("policy", "validate", cwd=root)
    one_error(result, "e.yaml:")
    assert "values with aliases expanded (an alias bomb?)" in result.stderr


def test_an_alias_bomb_in_a_policy_is_a_policy_error(tmp_path):
    root = project(tmp_path, {"opusguard.yaml": "version: 1\n" + ALIAS_BOMB.replace("a:", "x-a:", 1)})
    result = run("check", "--no-cache", ".", cwd=root)
    one_error(result, "opusguard.yaml:7:")
    assert "values with aliases expanded (an alias bomb?)" in result.stderr


def test_a_few_anchors_in_a_policy_still_work(tmp_path):
    policy = (
        "version: 1\ntasks:\n"
        "  review:\n    tier: opus\n    justification: &why Sonnet missed 9 of 120\n    owner: &me legal\n"
        "  audit:\n    tier: opus\n    justification: *why\n    owner: *me\n"
    )
    root = project(tmp_path, {"opusguard.yaml": policy})
    result = run("policy", "validate", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "valid (2 tasks" in result.stdout


def test_an_alias_bomb_in_usage_and_prices(tmp_path):
    root = project(tmp_path, {"prices.yaml": ALIAS_BOMB + "prices: {opus: *i}\n", "tm.yaml": ALIAS_BOMB})
    one_error(run("report", "--no-cache", "--prices", "prices.yaml", ".", cwd=root), "prices.yaml:")
    one_error(run("fix", "--codemod", "--diff", "--no-cache", "--task-map", "tm.yaml", ".", cwd=root), "tm.yaml:")


# --- includes ---------------------------------------------------------------------------------


def test_includes_that_fan_out_are_read_once_each(tmp_path):
    # 30 levels, each including the next twice: 2**30 reads if not memoised.
    files = {"opusguard.yaml": "version: 1\ninclude: [p0.yaml, p0.yaml]\n"}
    for level in range(30):
        files[f"p{level}.yaml"] = f"include: [p{level + 1}.yaml, ./p{level + 1}.yaml]\n"
    files["p30.yaml"] = "tasks:\n  leaf:\n    tier: haiku\n"
    root = project(tmp_path, files)
    result = run("policy", "validate", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "valid (1 tasks" in result.stdout


def test_each_included_file_is_read_once(tmp_path, monkeypatch):
    from opusguard.base import datafile

    write_tree(
        tmp_path,
        {
            "opusguard.yaml": "version: 1\ninclude: [a.yaml, b.yaml]\n",
            "a.yaml": "include: [shared.yaml]\n",
            "b.yaml": "include: [sub/../shared.yaml]\n",
            "sub/x": "",
            "shared.yaml": "tasks:\n  t:\n    tier: haiku\n",
        },
    )
    reads = []
    real = datafile.read_data_file
    monkeypatch.setattr(
        datafile, "read_data_file", lambda path, *a, **k: reads.append(Path(path).name) or real(path, *a, **k)
    )
    policy = load_policy(tmp_path / "opusguard.yaml", root=tmp_path)
    assert set(policy.tasks) == {"t"}
    assert sorted(reads) == ["a.yaml", "b.yaml", "opusguard.yaml", "shared.yaml"]


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside.yaml", "link.yaml"])
def test_an_include_outside_the_project_is_refused(tmp_path, target):
    (tmp_path / "outside.yaml").write_text("secret-first-key: 1\n")
    root = project(tmp_path, {"opusguard.yaml": f"version: 1\ninclude: [{target}]\n"})
    (root / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    result = run("check", "--no-cache", ".", cwd=root)
    one_error(result, f"opusguard.yaml:2:11: include '{target}' is outside the project")
    assert "secret-first-key" not in result.stderr and "root:" not in result.stderr


def test_evidence_outside_the_project_is_unreadable_evidence(tmp_path):
    (tmp_path / "outside.yaml").write_text("bar: 0.9\nscores: {haiku: 0.95}\n")
    root = project(tmp_path, {"opusguard.yaml": POLICY + OPUS_TASK.format(evidence="../outside.yaml")})
    result = run("check", "--no-cache", ".", cwd=root)
    assert result.returncode == 1, result.stderr
    assert "has unreadable evidence: " in result.stdout
    assert "outside.yaml:1: evidence is outside the project" in result.stdout


def test_a_policy_named_on_the_command_line_may_sit_outside_the_project(tmp_path):
    shared = tmp_path / "shared"
    write_tree(
        shared, {"policy.yaml": "version: 1\ninclude: [more.yaml]\n", "more.yaml": "tasks:\n  t:\n    tier: haiku\n"}
    )
    root = project(tmp_path, {})
    result = run("policy", "validate", str(shared / "policy.yaml"), cwd=root)
    assert result.returncode == 0, result.stderr
    assert "valid (1 tasks" in result.stdout


def test_a_policy_the_trees_config_names_outside_the_project_is_refused(tmp_path):
    (tmp_path / "outside.yaml").write_text("secret-first-key: 1\n")
    root = project(tmp_path, {"pyproject.toml": '[tool.opusguard]\npolicy = "../outside.yaml"\n'})
    result = run("check", "--no-cache", ".", cwd=root)
    one_error(result, "pyproject.toml:2: 'policy' is outside the project")
    assert "secret-first-key" not in result.stderr
    # The same file named by the user is the user's choice.
    named = run("check", "--no-cache", "--config", "pyproject.toml", ".", cwd=root)
    assert "outside the project" not in named.stderr and "secret-first-key" in named.stderr


# --- sizes --------------------------------------------------------------------------------


def test_an_oversize_policy_is_refused_before_it_is_parsed(tmp_path):
    big = "version: 1\n" + "# padding\n" * (2 * MAX_DATA_BYTES // 10)  # 2 MiB
    root = project(tmp_path, {"opusguard.yaml": big})
    one_error(
        run("check", "--no-cache", ".", cwd=root),
        f"opusguard.yaml:1:1: policy is {len(big):,} bytes, over the 1 MiB limit",
    )


def test_a_file_growing_past_the_limit_while_read_is_refused(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("x" * 10)
    with pytest.raises(DataFileError, match="over the 5 bytes limit"):
        read_data_file(path, "evidence", max_bytes=5)


def test_deep_yaml_is_an_error_not_a_recursion_error(tmp_path):
    with pytest.raises(DataFileError, match="nested more than 64 levels deep"):
        load_yaml("[" * 5000 + "]" * 5000, "e.yaml")
    with pytest.raises(DataFileError, match="an alias inside the value it names"):
        load_yaml("a: &x [1, *x]\n", "e.yaml")


# --- generated policies: a Policy or a PolicyError with file:line -------------------------------


SCALARS = st.one_of(
    st.just("~"),
    st.just("null"),
    st.booleans().map(str),
    st.integers(-10, 10**12).map(str),
    st.floats(allow_nan=True).map(str),
    st.just("2026-01-01"),
    st.just("12:30:00"),
    st.just("0x1F"),
    st.just(OPUS),
    st.just("claude-3-5-haiku-20241022"),
    st.sampled_from(["haiku", "sonnet", "opus", "other"]),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12).map(
        lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    ),
    st.sampled_from(
        ["app.routing:route", "x", "", "'quoted'", "!!binary aGk=", "!!python/object:os.system {}", "*nope", "&a 1"]
    ),
)
KEYS = st.sampled_from(
    [
        "version",
        "router",
        "tiers",
        "tasks",
        "include",
        "models",
        "tier",
        "description",
        "justification",
        "owner",
        "review_by",
        "evidence",
        "model",
        "id",
        "price",
        "input",
        "output",
        "aliases",
        "haiku",
        "opus",
        "1",
        "true",
        "null",
        "2026-01-01",
        "? complex",
    ]
)


def _indent(text: str, by: int) -> str:
    return "".join(" " * by + line if line.strip() else line for line in text.splitlines(keepends=True))


@st.composite
def yaml_values(draw, depth=0):
    if depth > 3 or draw(st.integers(0, 3)) == 0:
        return " " + draw(SCALARS) + "\n"
    kind = draw(st.sampled_from(["map", "seq", "flow"]))
    if kind == "flow":
        return " [" + ", ".join(draw(st.lists(SCALARS, max_size=3))) + "]\n"
    items = draw(st.lists(st.tuples(KEYS, yaml_values(depth + 1)), min_size=1, max_size=3))
    if kind == "map":
        return "\n" + "".join(_indent(f"{key}:{value}", 2) for key, value in items)
    return "\n" + "".join(_indent(f"-{value}", 2) for _, value in items)


@st.composite
def yaml_policies(draw):
    lines = []
    for key, value in draw(st.lists(st.tuples(KEYS, yaml_values()), max_size=5)):
        lines.append(f"{key}:{value}")
    if draw(st.booleans()):
        lines.insert(0, "version: 1\n")
    text = "".join(lines)
    if draw(st.booleans()) and text:  # an anchor on a value and aliases to it
        text = "anchor-holder: &x" + draw(yaml_values()) + text + "again: *x\n"
    return text


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(yaml_policies(), st.lists(yaml_policies(), max_size=2), st.booleans())
def test_a_generated_policy_loads_or_is_a_policy_error_with_file_and_line(tmp_path, main, includes, cycle):
    names = [f"inc{i}.yaml" for i in range(len(includes))]
    for name, text in zip(names, includes):
        (tmp_path / name).write_text(text + ("include: [main.yaml]\n" if cycle and "include:" not in text else ""))
    if names and "include:" not in main:
        main = main + "include: [" + ", ".join(names) + "]\n"
    path = tmp_path / "main.yaml"
    path.write_text(main, encoding="utf-8")
    try:
        policy = load_policy(path, CATALOG, root=tmp_path)
    except PolicyError as exc:
        assert exc.path.startswith(str(tmp_path)) and exc.line >= 1 and exc.column >= 1
        assert str(exc).startswith(f"{exc.path}:{exc.line}:{exc.column}: ") and "\n" not in str(exc)
    else:
        assert isinstance(policy, Policy)


# --- generated sources through the pure analysis: facts or a parse error --------------------


def _is_model(text: str) -> bool:
    return CATALOG.recognize(text) is not None


@generated_program_settings(40)
@given(hypothesmith.from_node(cst.Module), st.booleans())
def test_generated_sources_give_facts_or_a_parse_error(program, with_call):
    source = (program + ("\n" + APP["app.py"] if with_call else "")).encode("utf-8", "surrogateescape")
    facts = facts_of(source, "gen.py", is_model_id=_is_model)
    assert isinstance(facts, FileFacts)
    policy = empty_policy(CATALOG)
    project_ = build_project({"gen.py": facts}, policy=policy, catalog=CATALOG, today=date(2026, 11, 24))
    for rule in all_rules():
        for finding in rule().check(project_):
            assert finding.rule == rule.code
    if facts.parse_error is not None:
        assert facts.parse_error_line >= 1
    elif with_call:
        assert any(literal.text == OPUS for literal in facts.literals)
