"""The real pre-commit, installing this repository's hook into a temporary git repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
OPUS = "claude-opus-4-1-20250805"
POLICY = """\
version: 1
tasks:
  contract-review:
    tier: opus
    justification: Sonnet missed 9 of 120 clause conflicts in the eval; Opus missed 1.
    owner: legal-platform
    review_by: 2099-01-01
"""


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="session")
def repo_rev():
    """This repository's HEAD: pre-commit installs the hook from a commit."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    return git("rev-parse", "HEAD", cwd=REPO).strip()


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory, worker_id):
    """One pre-commit home for the whole run: the hook's environment is built once.
    pytest-xdist's workers share it (their base folders have one parent); pre-commit
    locks its home while it installs a hook, so a second worker waits, then reuses it."""
    base = tmp_path_factory.getbasetemp()
    home = (base.parent if worker_id != "master" else base) / "pre-commit-home"
    home.mkdir(exist_ok=True)
    return home


def hook_project(tmp_path, repo_rev, pre_commit_home, hook):
    """A new git repository whose pre-commit config runs `hook` of this checkout; (its path, the env)."""
    project = tmp_path / "project"
    project.mkdir()
    env = {**os.environ, "PRE_COMMIT_HOME": str(pre_commit_home), "NO_COLOR": "1"}
    env.pop("CI", None)
    git("init", "-q", "-b", "main", cwd=project)
    git("config", "user.email", "dev@example.com", cwd=project)
    git("config", "user.name", "Dev", cwd=project)
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {REPO}\n    rev: {repo_rev}\n    hooks:\n      - id: {hook}\n"
    )
    return project, env


def commit(project, env, message):
    return subprocess.run(["git", "commit", "-m", message], cwd=project, env=env, capture_output=True, text=True)


def test_a_commit_of_only_the_policy_or_its_evidence_runs_the_check(tmp_path, repo_rev, pre_commit_home):
    project, env = hook_project(tmp_path, repo_rev, pre_commit_home, "opusguard")
    (project / "opusguard.yaml").write_text(POLICY + "    evidence: evals/review.yaml\n")
    (project / "evals").mkdir()
    evidence = "bar: 0.95\nscores: {haiku: 0.7, sonnet: 0.9, opus: 0.97}\n"
    (project / "evals" / "review.yaml").write_text(evidence)
    (project / "app").mkdir()
    (project / "app" / "review.py").write_text(
        "import anthropic\nclient = anthropic.Anthropic()\n# opusguard: task=contract-review\n"
        f'client.messages.create(model="{OPUS}", max_tokens=4000, messages=[])  # opusguard: ignore[OG101]\n'
    )
    git("add", ".", cwd=project)
    git("commit", "-q", "--no-verify", "-m", "base", cwd=project)
    subprocess.run([str(PRE_COMMIT), "install"], cwd=project, env=env, check=True, capture_output=True)

    # The Opus task loses its justification: the policy alone is staged.
    (project / "opusguard.yaml").write_text(
        (project / "opusguard.yaml")
        .read_text()
        .replace("    justification: Sonnet missed 9 of 120 clause conflicts in the eval; Opus missed 1.\n", "")
    )
    git("add", "opusguard.yaml", cwd=project)
    blocked = commit(project, env, "drop the justification")
    assert blocked.returncode != 0, blocked.stdout + blocked.stderr
    output = blocked.stdout + blocked.stderr
    assert "opusguard.yaml:3:3: OG104 Opus task 'contract-review' has no justification" in output
    # the whole project is checked against it (code, policy, evidence and hook config): the call that named the task fails too
    assert "app/review.py:4:1: OG102" in output and "checked 4 files (the whole project" in output
    git("checkout", "opusguard.yaml", cwd=project)
    git("reset", "-q", cwd=project)

    # The evidence alone changes: Sonnet now clears the bar.
    (project / "evals" / "review.yaml").write_text(evidence.replace("sonnet: 0.9", "sonnet: 0.96"))
    git("add", "evals/review.yaml", cwd=project)
    blocked = commit(project, env, "new eval run")
    assert blocked.returncode != 0
    assert (
        "OG104 Opus task 'contract-review' has evidence that sonnet clears the bar" in blocked.stdout + blocked.stderr
    )
    (project / "evals" / "review.yaml").write_text(evidence.replace("opus: 0.97", "opus: 0.98"))
    git("add", "evals/review.yaml", cwd=project)
    accepted = commit(project, env, "new eval run")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr

    # Any other YAML file is passed over: the hook does not block it.
    (project / "ci.yml").write_text("on: push\n")
    git("add", "ci.yml", cwd=project)
    other = commit(project, env, "ci")
    assert other.returncode == 0, other.stdout + other.stderr


def test_commit_with_unjustified_opus_is_blocked_then_accepted(tmp_path, repo_rev, pre_commit_home):
    project, env = hook_project(tmp_path, repo_rev, pre_commit_home, "opusguard")
    (project / "opusguard.yaml").write_text(POLICY)
    app = project / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "config.py").write_text(f'OPUS = "{OPUS}"  # opusguard: ignore[OG101]\n')
    git("add", ".", cwd=project)
    git("commit", "-q", "--no-verify", "-m", "base", cwd=project)
    subprocess.run([str(PRE_COMMIT), "install"], cwd=project, env=env, check=True, capture_output=True)

    # Only app/review.py is passed to the hook; OPUS comes from the unchanged config.py.
    (app / "review.py").write_text(
        "import anthropic\nfrom app.config import OPUS\n"
        "client = anthropic.Anthropic()\n"
        "client.messages.create(model=OPUS, max_tokens=4000, messages=[])\n"
    )
    git("add", "app/review.py", cwd=project)
    blocked = subprocess.run(
        ["git", "commit", "-m", "add review"], cwd=project, env=env, capture_output=True, text=True
    )
    assert blocked.returncode != 0, blocked.stdout + blocked.stderr
    output = blocked.stdout + blocked.stderr  # git prints hook output on stderr
    assert "OG102" in output and "app/review.py:4:1" in output

    (app / "review.py").write_text(
        "import anthropic\nfrom app.config import OPUS\n"
        "client = anthropic.Anthropic()\n"
        "# opusguard: task=contract-review\n"
        "client.messages.create(model=OPUS, max_tokens=4000, messages=[])\n"
    )
    git("add", "app/review.py", cwd=project)
    accepted = subprocess.run(
        ["git", "commit", "-m", "add review"], cwd=project, env=env, capture_output=True, text=True
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    output = accepted.stdout + accepted.stderr
    assert "opusguard" in output and "Passed" in output


def test_fix_hook_rewrites_the_staged_call(tmp_path, repo_rev, pre_commit_home):
    project, env = hook_project(tmp_path, repo_rev, pre_commit_home, "opusguard-fix")
    (project / "opusguard.yaml").write_text("version: 1\nrouter: app.routing:route\ntasks: {}\n")
    (project / "app").mkdir()
    (project / "app" / "__init__.py").write_text("")
    git("add", ".", cwd=project)
    git("commit", "-q", "--no-verify", "-m", "base", cwd=project)
    subprocess.run([str(PRE_COMMIT), "install"], cwd=project, env=env, check=True, capture_output=True)
    (project / "app" / "triage.py").write_text(
        "import anthropic\n\n\ndef triage(t):\n"
        f'    return anthropic.Anthropic().messages.create(model="{OPUS}", max_tokens=5, messages=[])\n'
    )
    git("add", "app/triage.py", cwd=project)
    first = subprocess.run(["git", "commit", "-m", "triage"], cwd=project, env=env, capture_output=True, text=True)
    assert first.returncode != 0  # pre-commit stops a commit whose files a hook changed
    assert 'model=route("triage")' in (project / "app" / "triage.py").read_text()
    assert f"  triage:\n    tier: opus\n    model: {OPUS}\n" in (project / "opusguard.yaml").read_text()
