"""`opusguard init`, the generated router and `opusguard policy sync|validate|show`."""

from __future__ import annotations

import subprocess
import sys

from conftest import run_cli


def test_init_in_an_empty_project_then_check_passes(tmp_path):
    result = run_cli("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for rel in ("opusguard.yaml", "app/routing.py", "app/routing_table.py", "app/__init__.py"):
        assert (tmp_path / rel).is_file(), rel
    check = run_cli("check", ".", cwd=tmp_path)
    assert check.returncode == 0, check.stdout
    assert run_cli("policy", "validate", cwd=tmp_path).returncode == 0


def test_init_never_overwrites_without_force(tmp_path):
    (tmp_path / "opusguard.yaml").write_text("version: 1\n")
    result = run_cli("init", cwd=tmp_path)
    assert result.returncode == 2
    assert "opusguard.yaml: already exists (use --force to overwrite)" in result.stderr
    assert (tmp_path / "opusguard.yaml").read_text() == "version: 1\n"
    assert run_cli("init", "--force", cwd=tmp_path).returncode == 0
    assert "router: app.routing:route" in (tmp_path / "opusguard.yaml").read_text()


def test_init_with_options(tmp_path):
    result = run_cli("init", "--policy-path", "config/policy.yaml", "--router", "svc.llm.router:pick", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "svc/llm/router.py").is_file() and (tmp_path / "svc/llm/router_table.py").is_file()
    assert "def pick(task: str) -> str:" in (tmp_path / "svc/llm/router.py").read_text()
    assert run_cli("init", "--router", "not a router", cwd=tmp_path / "config").returncode == 2


def test_router_runs_without_opusguard_or_pyyaml(tmp_path):
    run_cli("init", cwd=tmp_path)
    code = (
        "import sys\n"
        "sys.path.insert(0, '.')  # the application's own folder, as its entry point would have\n"
        "from app.routing import route, UnknownTaskError\n"
        "assert 'yaml' not in sys.modules and 'opusguard' not in sys.modules\n"
        "print(route('classify'))\n"
        "try:\n    route('nope')\nexcept UnknownTaskError as e:\n    print('unknown:', e)\n"
    )
    # -I -S: no site-packages, no user site, no PYTHONPATH: only the standard library.
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "claude-haiku-4-5-20251001"
    assert "task 'nope' is not declared in opusguard.yaml" in lines[1]


def test_sync_after_a_policy_edit_and_stale_table_finding(tmp_path):
    run_cli("init", cwd=tmp_path)
    policy = tmp_path / "opusguard.yaml"
    policy.write_text(policy.read_text().replace("  classify:\n    tier: haiku", "  classify:\n    tier: sonnet"))
    stale = run_cli("check", "--format", "json", ".", cwd=tmp_path)
    assert stale.returncode == 1 and '"OG108"' in stale.stdout
    assert run_cli("policy", "sync", cwd=tmp_path).returncode == 0
    assert '"classify": "claude-sonnet-4-5-20250929"' in (tmp_path / "app/routing_table.py").read_text()
    assert run_cli("check", ".", cwd=tmp_path).returncode == 0


def test_validate_reports_errors_with_position(tmp_path):
    (tmp_path / "opusguard.yaml").write_text("version: 1\ntasks:\n  x:\n    tier: opus\n    ownr: me\n")
    result = run_cli("policy", "validate", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("opusguard.yaml:5:5: unknown key 'ownr' (did you mean 'owner'?)")


def test_validate_checks_evidence_files(tmp_path):
    (tmp_path / "opusguard.yaml").write_text("version: 1\ntasks:\n  x:\n    tier: opus\n    evidence: e.yaml\n")
    (tmp_path / "e.yaml").write_text("scores: {opus: 1}\n")
    result = run_cli("policy", "validate", cwd=tmp_path)
    assert result.returncode == 2 and "e.yaml:1: evidence has no 'bar'" in result.stderr


def test_show_lists_tasks_with_prices(tmp_path):
    (tmp_path / "opusguard.yaml").write_text(
        "version: 1\ntasks:\n  review:\n    tier: opus\n    owner: legal\n    review_by: 2020-01-01\n    evidence: e.yaml\n"
        "  classify:\n    tier: haiku\n"
    )
    (tmp_path / "e.yaml").write_text("bar: 0.9\nscores: {haiku: 0.5, sonnet: 0.95, opus: 0.97}\n")
    out = run_cli("policy", "show", cwd=tmp_path).stdout
    assert "review" in out and "legal" in out and "2020-01-01 (overdue)" in out
    assert "sonnet clears 0.9" in out and "5 / 25" in out and "1 / 5" in out
