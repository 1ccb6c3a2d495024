"""The bundled example app: the check reports exactly the lines marked `# expect:`."""

from __future__ import annotations

import re

from conftest import REPO, run_cli, run_json

APP = REPO / "examples" / "support_desk"
MARKER = re.compile(r"#\s*expect:\s*(?P<codes>(?:OG\d{3}\s*)+)")


def expected_findings(select=None) -> set[tuple[str, str, int]]:
    out = set()
    for path in sorted(APP.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = MARKER.search(line)
            if match:
                for code in match["codes"].split():
                    if select is None or code in select:
                        out.add((code, path.relative_to(APP).as_posix(), number))
    return out


def reported(doc) -> set[tuple[str, str, int]]:
    return {(f["rule"], f["path"], f["line"]) for f in doc["findings"]}


def test_default_rules_report_exactly_the_marked_lines():
    code, doc = run_json(".", cwd=APP)
    assert code == 1
    expected = {item for item in expected_findings() if item[0] != "OG106"}
    assert reported(doc) == expected


def test_opt_in_unresolved_lists_the_env_var():
    code, doc = run_json(".", "--select", "OG106", cwd=APP)
    assert reported(doc) == expected_findings({"OG106"})
    assert "env var SUPPORT_ANSWER_MODEL" in doc["findings"][0]["message"]
    assert doc["summary"]["model_calls"]["unresolved"] >= 1


def test_from_the_repo_root_the_app_config_and_policy_apply():
    """Like ruff, the config nearest the checked folder wins (README's first command)."""
    code, doc = run_json("examples/support_desk", cwd=REPO)
    expected = {
        (rule, f"examples/support_desk/{path}", line) for rule, path, line in expected_findings() if rule != "OG106"
    }
    assert code == 1
    assert reported(doc) == expected


def test_exit_zero():
    result = run_cli("check", "--exit-zero", "--no-cache", ".", cwd=APP)
    assert result.returncode == 0, result.stderr
    assert "OG102" in result.stdout
    assert "checked 14 files in" in result.stdout  # 11 modules, the policy, its evidence, pyproject.toml


def test_the_registry_module_is_accepted_by_per_file_ignores():
    _, doc = run_json(".", cwd=APP)
    assert not [f for f in doc["findings"] if f["path"].endswith("model_registry.py")]
    assert not [f for f in doc["findings"] if f["path"].endswith("audio.py")]
