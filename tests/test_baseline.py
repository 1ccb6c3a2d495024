"""Baselines and --changed-since, through the console script."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import run_cli

from opusguard.output.baseline import BaselineError, fingerprint, load_baseline, write_baseline
from opusguard.rules.findings import Finding

OPUS = "claude-opus-4-1-20250805"
LEGACY = "import anthropic\nclient = anthropic.Anthropic()\n" + f'client.messages.create(model="{OPUS}", messages=[])\n'


def test_baseline_accepts_old_findings_and_fails_on_new(tree):
    root = tree({"legacy.py": LEGACY})
    written = run_cli("check", "--write-baseline", "baseline.json", ".", cwd=root)
    assert written.returncode == 0 and "wrote 2 finding(s)" in written.stderr
    entries = json.loads((root / "baseline.json").read_text())["entries"]
    assert {e["rule"] for e in entries} == {"OG101", "OG102"}

    # An unrelated edit shifts every line: still baselined.
    (root / "legacy.py").write_text('"""Legacy module."""\n\nimport os\n' + LEGACY)
    assert run_cli("check", "--baseline", "baseline.json", ".", cwd=root).returncode == 0

    # A new Opus call is new.
    (root / "new.py").write_text(LEGACY.replace("messages=[]", "messages=[1]"))
    result = run_cli("check", "--baseline", "baseline.json", "--format", "json", ".", cwd=root)
    assert result.returncode == 1
    assert {f["path"] for f in json.loads(result.stdout)["findings"]} == {"new.py"}


def test_fixed_findings_leave_stale_entries(tree):
    root = tree({"legacy.py": LEGACY})
    run_cli("check", "--write-baseline", "baseline.json", ".", cwd=root)
    (root / "legacy.py").write_text("x = 1\n")
    result = run_cli("check", "--baseline", "baseline.json", ".", cwd=root)
    assert result.returncode == 0
    assert result.stderr.count("stale entry") == 2
    run_cli("check", "--write-baseline", "baseline.json", ".", cwd=root)
    assert json.loads((root / "baseline.json").read_text())["entries"] == []


def test_baseline_from_config(tree):
    root = tree({"legacy.py": LEGACY, "pyproject.toml": '[tool.opusguard]\nbaseline = "baseline.json"\n'})
    run_cli("check", "--write-baseline", "baseline.json", ".", cwd=root)
    assert run_cli("check", ".", cwd=root).returncode == 0


def test_fingerprint_ignores_line_number_and_spacing():
    finding = Finding("OG101", "hardcoded-model", "a.py", 3, 1, "m", model=OPUS, source_line=f'M = "{OPUS}"')
    moved = Finding("OG101", "hardcoded-model", "a.py", 9, 1, "m", model=OPUS, source_line=f'  M =   "{OPUS}"')
    assert fingerprint(finding) == fingerprint(moved)


def test_two_identical_findings_need_two_entries(tmp_path):
    one = Finding("OG101", "hardcoded-model", "a.py", 3, 1, "m", model=OPUS, source_line=f'M = "{OPUS}"')
    two = Finding("OG101", "hardcoded-model", "a.py", 5, 1, "m", model=OPUS, source_line=f'M = "{OPUS}"')
    path = tmp_path / "b.json"
    write_baseline(path, [one])
    new, known, stale = load_baseline(path).split([one, two])
    assert (len(new), len(known), stale) == (1, 1, [])
    assert list(tmp_path.iterdir()) == [path]  # no temp files left behind


@pytest.mark.parametrize("text", ["{", '{"version": 2, "entries": []}', '{"version": 1, "entries": [{"rule": 1}]}'])
def test_corrupt_baseline_is_a_one_line_error(tree, text):
    root = tree({"a.py": "x = 1\n", "baseline.json": text})
    result = run_cli("check", "--baseline", "baseline.json", ".", cwd=root)
    assert result.returncode == 2
    assert result.stderr.startswith("opusguard: error: baseline.json:") and result.stderr.count("\n") == 1
    with pytest.raises(BaselineError):
        load_baseline(root / "baseline.json")


def _git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_changed_since_checks_only_what_changed(tree):
    root = tree({"old.py": LEGACY, "config.py": f'OPUS = "{OPUS}"  # opusguard: ignore[OG101]\n'})
    _git("init", "-q", "-b", "main", cwd=root)
    _git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "root", cwd=root)
    _git("add", ".", cwd=root)
    _git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "base", cwd=root)
    (root / "new.py").write_text(
        "import anthropic\nfrom config import OPUS\nanthropic.Anthropic().messages.create(model=OPUS)\n"
    )
    result = run_cli("check", "--changed-since", "HEAD", "--format", "json", ".", cwd=root)
    assert {(f["path"], f["rule"]) for f in json.loads(result.stdout)["findings"]} == {("new.py", "OG102")}
    bad = run_cli("check", "--changed-since", "no-such-ref", ".", cwd=root)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
