"""What a new user meets in the first hour: no silent no-ops, nothing skipped
without a word, messages that say what to do next (issue #21)."""

from __future__ import annotations

import pytest

from conftest import OPUS, SAMPLE_APP, run_cli, write_tree
from opusguard.rules import all_rules, rule_names


# --- rule selectors ------------------------------------------------------------------


def test_rule_names_are_the_registry_and_unused_ignore():
    assert rule_names() == {"OG100": "unused-ignore", **{r.code: r.name for r in all_rules()}}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--select", "OG999"), "--select: unknown rule code or prefix 'OG999' (codes: OG000, OG100, OG101"),
        (("--ignore", "E501"), "--ignore: unknown rule code or prefix 'E501'"),
        (("--extend-select", "OG1O2"), "--extend-select: unknown rule code or prefix 'OG1O2' (did you mean 'OG102'?)"),
        (("--select", "hardcoded-model"), "unknown rule code or prefix 'hardcoded-model' (did you mean 'OG101'? rules are selected by code"),
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


@pytest.mark.parametrize("args", [("--select", "OG1"), ("--select", "og10"), ("--select", "ALL"),
                                  ("--ignore", "OG100"), ("--extend-select", "OG106"), ("--select", "OG")])
def test_codes_prefixes_and_all_are_accepted(tmp_path, args):
    write_tree(tmp_path, SAMPLE_APP)
    result = run_cli("check", *args, "--no-cache", ".", cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr


@pytest.mark.parametrize(
    ("table", "line", "expected"),
    [
        ('select = ["OG1"]\nignore = ["E501"]\n', 3, "'ignore': unknown rule code or prefix 'E501'"),
        ('extend-select = ["OG106", "OG9"]\n', 2, "'extend-select': unknown rule code or prefix 'OG9'"),
        ('[tool.opusguard.per-file-ignores]\n"app/config.py" = ["hardcoded-model"]\n', 3,
         "unknown rule code or prefix 'hardcoded-model' (did you mean 'OG101'?"),
    ],
)
def test_unknown_selector_in_pyproject_names_file_and_line(tmp_path, table, line, expected):
    write_tree(tmp_path, {**SAMPLE_APP, "pyproject.toml": "[tool.opusguard]\n" + table})
    result = run_cli("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"opusguard: error: {tmp_path / 'pyproject.toml'}:{line}: "), result.stderr
    assert expected in result.stderr


def test_per_file_ignores_with_a_known_code_still_works(tmp_path):
    write_tree(tmp_path, {
        **SAMPLE_APP,
        "pyproject.toml": '[tool.opusguard.per-file-ignores]\n"app/config.py" = ["og101"]\n',
    })
    result = run_cli("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 1
    assert "app/bot.py:4:1: OG102" in result.stdout and "app/config.py:1:1: OG101" not in result.stdout
