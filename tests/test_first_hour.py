"""What a new user meets in the first hour: no silent no-ops, nothing skipped
without a word, messages that say what to do next (issue #21)."""

from __future__ import annotations

import pytest
from conftest import OPUS, SAMPLE_APP, run_cli, write_tree

from opusguard.base.rule_codes import rule_names
from opusguard.rules import all_rules

# --- rule selectors ------------------------------------------------------------------


def test_rule_names_are_the_registry_and_unused_ignore():
    assert rule_names() == {"OG100": "unused-ignore", **{r.code: r.name for r in all_rules()}}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--select", "OG999"), "--select: unknown rule code or prefix 'OG999' (did you mean 'OG109'?)"),
        (("--ignore", "E501"), "--ignore: unknown rule code or prefix 'E501'"),
        (("--extend-select", "OG1O2"), "--extend-select: unknown rule code or prefix 'OG1O2' (did you mean 'OG102'?)"),
        (
            ("--select", "hardcoded-model"),
            "unknown rule code or prefix 'hardcoded-model' (did you mean 'OG101'? rules are selected by code",
        ),
        (("--select", "OG101,unjustifed-opus"), "'unjustifed-opus' (did you mean 'OG102'?)"),
    ],
)
def test_unknown_selector_on_the_command_line_is_an_error(tmp_path, args, expected):
    write_tree(tmp_path, SAMPLE_APP)
    for command in ("check", "report"):
        result = run_cli(command, *args, "--no-cache", ".", cwd=tmp_path)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("opusguard: error: ") and expected in lines[0], result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--select", "OG1"),
        ("--select", "og10"),
        ("--select", "ALL"),
        ("--ignore", "OG100"),
        ("--extend-select", "OG106"),
        ("--select", "OG"),
    ],
)
def test_codes_prefixes_and_all_are_accepted(tmp_path, args):
    write_tree(tmp_path, SAMPLE_APP)
    result = run_cli("check", *args, "--no-cache", ".", cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr


@pytest.mark.parametrize(
    ("table", "line", "expected"),
    [
        ('select = ["OG1"]\nignore = ["E501"]\n', 3, "'ignore': unknown rule code or prefix 'E501'"),
        ('extend-select = ["OG106", "OG9"]\n', 2, "'extend-select': unknown rule code or prefix 'OG9'"),
        (
            '[tool.opusguard.per-file-ignores]\n"app/config.py" = ["hardcoded-model"]\n',
            3,
            "unknown rule code or prefix 'hardcoded-model' (did you mean 'OG101'?",
        ),
    ],
)
def test_unknown_selector_in_pyproject_names_file_and_line(tmp_path, table, line, expected):
    write_tree(tmp_path, {**SAMPLE_APP, "pyproject.toml": "[tool.opusguard]\n" + table})
    result = run_cli("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"opusguard: error: {tmp_path / 'pyproject.toml'}:{line}: "), result.stderr
    assert expected in result.stderr


def test_per_file_ignores_with_a_known_code_still_works(tmp_path):
    write_tree(
        tmp_path,
        {
            **SAMPLE_APP,
            "pyproject.toml": '[tool.opusguard.per-file-ignores]\n"app/config.py" = ["og101"]\n',
        },
    )
    result = run_cli("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 1
    assert "app/bot.py:4:1: OG102" in result.stdout and "app/config.py:1:1: OG101" not in result.stdout


# --- nothing silent: skipped files, nothing to check ------------------------------------

BROKEN = {
    **SAMPLE_APP,
    # Sends Opus, but does not parse: its call cannot be followed.
    "app/broken.py": f'import anthropic\nanthropic.Anthropic().messages.create(model="{OPUS}")\ndef f(:\n',
}


def test_check_names_the_files_it_could_not_parse(tmp_path):
    write_tree(tmp_path, BROKEN)
    result = run_cli("check", "--no-cache", ".", cwd=tmp_path)
    last = result.stdout.splitlines()[-1]
    assert last.startswith("checked 4 files in ")
    assert last.endswith(
        ": 4 findings; 1 file not read whole, calls in it may be missed: app/broken.py (parse error at line 3)"
    )
    doc = run_cli("check", "--no-cache", "--format", "json", ".", cwd=tmp_path)
    import json

    assert json.loads(doc.stdout)["summary"]["skipped_files"] == [
        {"path": "app/broken.py", "reason": "parse error at line 3"}
    ]


def test_report_says_which_files_may_hide_call_sites(tmp_path):
    import json

    write_tree(tmp_path, BROKEN)
    note = "1 file not read whole, so call sites in it may be missing: app/broken.py (parse error at line 3)"
    for fmt in ("text", "markdown", "html"):
        result = run_cli("report", "--no-cache", "--format", fmt, ".", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert note in " ".join(result.stdout.split()), fmt  # (text wraps at 100 columns)
    doc = json.loads(run_cli("report", "--no-cache", "--format", "json", ".", cwd=tmp_path).stdout)
    assert note in doc["assumptions"]
    assert doc["summary"]["skipped_files"] == [{"path": "app/broken.py", "reason": "parse error at line 3"}]


def test_fix_says_which_files_it_could_not_consider(tmp_path):
    write_tree(tmp_path, BROKEN)
    result = run_cli("fix", "--codemod", "--diff", "--no-cache", ".", cwd=tmp_path)
    assert (
        "opusguard: warning: app/broken.py: not considered (parse error at line 3): its call sites are not rewritten"
        in result.stderr
    )
    assert "; 1 file(s) not considered\n" in result.stderr
    assert "  1 files that could not be read or parsed (named above): fix them, then run fix again" in result.stderr


@pytest.mark.parametrize("command", [("check",), ("report",), ("fix", "--codemod", "--diff")])
def test_nothing_to_check_is_a_warning_and_exit_2(tmp_path, command):
    write_tree(
        tmp_path,
        {
            **SAMPLE_APP,
            "docs/readme.txt": "no Python here\n",
            "pyproject.toml": '[tool.opusguard]\nextend-exclude = ["app"]\n',
        },
    )
    for path in ("docs", "."):  # (a folder named explicitly is checked even if excluded)
        result = run_cli(*command, "--no-cache", path, cwd=tmp_path)
        assert result.returncode == 2, (path, result.stdout, result.stderr)
        assert (
            f"opusguard: warning: no Python file to check in {path} (a wrong path, or every file excluded"
            in result.stderr
        )


def test_changed_since_with_no_change_is_not_an_error(tmp_path):
    import subprocess

    write_tree(tmp_path, {**SAMPLE_APP, "opusguard.yaml": "version: 1\ntasks: {}\n"})
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True)
    result = run_cli("check", "--no-cache", "--changed-since", "HEAD", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no Python file" not in result.stderr


# --- messages for the state a user is in --------------------------------------------------

ANNOTATED = {
    "app/__init__.py": "",
    "app/review.py": (
        "import anthropic\nclient = anthropic.Anthropic()\n# opusguard: task=contract-review\n"
        f'client.messages.create(model="{OPUS}", max_tokens=5, messages=[])\n'
    ),
}


def test_no_policy_says_opusguard_init(tmp_path):
    write_tree(tmp_path, ANNOTATED)
    result = run_cli("check", "--no-cache", ".", cwd=tmp_path)
    assert result.stdout.splitlines()[-3] == (
        "no policy file (opusguard.yaml) here or above: no task is declared, so no Opus call is justified; "
        "`opusguard init` writes a starter policy and a router"
    )
    assert result.stderr == ""
    assert (
        "OG103 task 'contract-review' (annotation) is not declared; there is no policy file: "
        "`opusguard init` writes opusguard.yaml, then declare the task under tasks:"
    ) in result.stdout
    assert "its task 'contract-review' is not declared (OG103 reports it too); there is no policy file" in result.stdout


def test_undeclared_task_names_the_file_that_should_declare_it(tmp_path):
    write_tree(
        tmp_path, {**ANNOTATED, "config/opusguard.yaml": "version: 1\ntasks:\n  contract-reviews:\n    tier: haiku\n"}
    )
    result = run_cli("check", "--no-cache", "--policy", "config/opusguard.yaml", ".", cwd=tmp_path)
    assert (
        "OG103 task 'contract-review' (annotation) is not declared (did you mean 'contract-reviews'?); "
        "declare it under tasks: in config/opusguard.yaml, with its tier"
    ) in result.stdout
    assert "no policy file" not in result.stdout.splitlines()[-3]


def test_report_without_a_policy_claims_no_saving(tmp_path):
    import json

    write_tree(tmp_path, SAMPLE_APP)
    text = run_cli("report", "--no-cache", ".", cwd=tmp_path).stdout
    last = " ".join(text.split("\n\n")[-1].split())  # the totals line, however it wraps
    last = last[last.rindex("today $") :]
    assert "saving" not in last
    assert last.endswith(
        "no policy file, so nothing to compare against (`opusguard init` writes one) (ASSUMED traffic)"
    )
    doc = json.loads(run_cli("report", "--no-cache", "--format", "json", ".", cwd=tmp_path).stdout)
    assert doc["summary"]["policy_file"] is None
    assert doc["summary"]["saving"] is None and doc["summary"]["saving_percent"] is None
    write_tree(tmp_path, {"opusguard.yaml": "version: 1\ntasks: {}\n"})
    doc = json.loads(run_cli("report", "--no-cache", "--format", "json", ".", cwd=tmp_path).stdout)
    assert doc["summary"]["policy_file"] == "opusguard.yaml" and doc["summary"]["saving"] > 0


def test_report_to_a_file_says_what_it_wrote(tmp_path):
    write_tree(tmp_path, SAMPLE_APP)
    result = run_cli("report", "--no-cache", "--format", "html", "-o", "cost.html", ".", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr.strip() == "opusguard: wrote the html report to cost.html (2 call site(s))"
    assert (tmp_path / "cost.html").read_text().startswith("<!DOCTYPE html>")


# --- policy validate runs OG104's governance checks ----------------------------------------


def test_policy_validate_reports_what_check_reports_as_og104(tmp_path):
    import json

    policy = "version: 1\ntasks:\n  classify:\n    tier: haiku\n  summarize:\n    tier: opus\n    owner: support\n"
    write_tree(tmp_path, {"opusguard.yaml": policy, "app/a.py": "x = 1\n"})
    validate = run_cli("policy", "validate", cwd=tmp_path)
    assert validate.returncode == 1, validate.stdout + validate.stderr
    check = json.loads(run_cli("check", "--no-cache", "--format", "json", ".", cwd=tmp_path).stdout)
    og104 = [
        f"{f['path']}:{f['line']}:{f['column']}: OG104 {f['message']}"
        for f in check["findings"]
        if f["rule"] == "OG104"
    ]
    assert og104 == ["opusguard.yaml:5:3: OG104 Opus task 'summarize' has no justification"]
    assert validate.stdout.splitlines()[:-1] == og104
    assert "well-formed, but 1 governance problem (OG104" in validate.stdout.splitlines()[-1]
    write_tree(
        tmp_path,
        {
            "opusguard.yaml": policy.replace(
                "    owner: support\n", "    owner: support\n    justification: Sonnet missed 9 of 120\n"
            )
        },
    )
    valid = run_cli("policy", "validate", cwd=tmp_path)
    assert valid.returncode == 0 and "valid (2 tasks" in valid.stdout


# --- docs/json.md is the whole schema ---------------------------------------------------------


def test_docs_json_md_shows_and_describes_every_field_of_the_output(tmp_path):
    import json
    import re

    from conftest import REPO

    page = (REPO / "docs" / "json.md").read_text(encoding="utf-8")
    example = json.loads(re.search(r"```json\n(.*?)```", page, re.DOTALL).group(1).replace('"..."', '"x"'))
    write_tree(tmp_path, BROKEN)
    doc = json.loads(run_cli("check", "--no-cache", "--format", "json", ".", cwd=tmp_path).stdout)
    assert set(example) == set(doc)
    assert set(example["summary"]) == set(doc["summary"])
    assert set(example["summary"]["model_calls"]) == set(doc["summary"]["model_calls"])
    assert set(example["summary"]["skipped_files"][0]) == set(doc["summary"]["skipped_files"][0])
    finding = next(f for f in doc["findings"] if f["related"])
    assert set(example["findings"][0]) == set(finding)
    assert set(example["findings"][0]["related"][0]) == set(finding["related"][0])
    described = set(re.findall(r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)? \|", page, re.MULTILINE))
    described = {name for pair in described for name in pair if name}
    assert described >= set(doc) | set(doc["summary"]) | set(finding)


# --- a named policy file checks the whole project (what the pre-commit hook passes) -------


def test_naming_the_policy_or_its_evidence_checks_the_whole_project(tmp_path):
    policy = (
        "version: 1\ntasks:\n  contract-review:\n    tier: opus\n    owner: legal\n    evidence: evals/review.yaml\n"
    )
    write_tree(
        tmp_path,
        {
            **ANNOTATED,
            "opusguard.yaml": policy,
            "ci.yml": "on: push\n",
            "evals/review.yaml": "bar: 0.9\nscores: {sonnet: 0.8, opus: 0.95}\n",
        },
    )
    for named in ("opusguard.yaml", "evals/review.yaml"):
        result = run_cli("check", "--no-cache", named, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert "opusguard.yaml:3:3: OG104 Opus task 'contract-review' has no justification" in result.stdout
        assert "app/review.py:4:1: OG102" in result.stdout  # the call naming the task, found by the walk
        assert f"checked 5 files (the whole project, as {named} may change any finding) in " in result.stdout
    other = run_cli("check", "--no-cache", "ci.yml", cwd=tmp_path)
    assert other.returncode == 1  # OG104 is about the policy, whatever the files
    # Another data file is read as a config file (for model ids, OG109), not as Python.
    assert other.stderr == "" and "OG000" not in other.stdout
    assert "checked 1 file in " in other.stdout and "OG102" not in other.stdout
    fix = run_cli("fix", "--codemod", "--diff", "--no-cache", "opusguard.yaml", cwd=tmp_path)
    assert "opusguard: warning: opusguard.yaml: not Python (a policy or config file); not rewritten" in fix.stderr
    assert fix.stdout == ""


def test_a_named_script_without_a_suffix_is_still_checked_as_python(tmp_path):
    write_tree(tmp_path, {"bin/tool": f'MODEL = "{OPUS}"\n'})
    result = run_cli("check", "--no-cache", "bin/tool", cwd=tmp_path)
    assert result.returncode == 1 and "bin/tool:1:9: OG101" in result.stdout
