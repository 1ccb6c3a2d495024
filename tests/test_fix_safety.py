"""What `fix --codemod` and `init` write, and what they refuse to touch (docs/security.md).

Most tests run the installed `opusguard` as a user would; a kill between two
writes is simulated in-process by making the writer fail after N files.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import run_cli, write_tree

OPUS = "claude-opus-4-1-20250805"
CALL = 'import anthropic\nanthropic.Anthropic().messages.create(model="{model}", max_tokens=5, messages=[])\n'
POLICY = "version: 1\nrouter: app.routing:route\ntasks:\n  triage:\n    tier: haiku\n"


def call(model: str = OPUS) -> str:
    return CALL.format(model=model)


def routed_tasks(root: Path) -> set[str]:
    """Every task the code on disk asks the router for."""
    tasks = set()
    for path in root.rglob("*.py"):
        if "app" not in path.relative_to(root).parts[:1]:
            tasks |= set(re.findall(r'route\("([^"]+)"\)', path.read_text(encoding="utf-8", errors="replace")))
    return tasks


def declared_tasks(root: Path) -> set[str]:
    return set((yaml.safe_load((root / "opusguard.yaml").read_text()) or {}).get("tasks") or {})


# --- the policy is emitted, never concatenated -------------------------------------


def test_a_file_name_with_newlines_cannot_inject_a_task(tmp_path):
    name = "m\n  evil:\n    tier: opus\n    justification: yes\n    owner: me\n#.py"
    write_tree(tmp_path, {name: call(), "opusguard.yaml": POLICY})
    result = run_cli("fix", "--codemod", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert declared_tasks(tmp_path) == {"triage", "m-evil-tier-opus-justification-yes-owner-me"}
    # Well-formed; its new Opus task still waits for a justification (OG104, exit 1).
    assert "opusguard.yaml: well-formed" in run_cli("policy", "validate", cwd=tmp_path).stdout
    task = yaml.safe_load((tmp_path / "opusguard.yaml").read_text())["tasks"][
        "m-evil-tier-opus-justification-yes-owner-me"
    ]
    assert name in task["description"] and "justification" not in task


def test_a_file_name_with_colon_space_keeps_the_policy_valid(tmp_path):
    write_tree(tmp_path, {"a: b.py": call(), "opusguard.yaml": POLICY})
    assert run_cli("fix", "--codemod", ".", cwd=tmp_path).returncode == 0
    # Well-formed; its new Opus task still waits for a justification (OG104, exit 1).
    assert "opusguard.yaml: well-formed" in run_cli("policy", "validate", cwd=tmp_path).stdout
    assert routed_tasks(tmp_path) <= declared_tasks(tmp_path) and routed_tasks(tmp_path)


def test_a_task_name_the_policy_refuses_stops_the_fix_before_any_write(tmp_path):
    write_tree(tmp_path, {"a.py": call(), "opusguard.yaml": POLICY})
    result = run_cli("fix", "--codemod", "--task", "x: y", ".", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "--task 'x: y': a task name is letters, digits" in result.stderr
    assert (tmp_path / "a.py").read_text() == call() and (tmp_path / "opusguard.yaml").read_text() == POLICY


# --- a transaction: policy and table first, code last -------------------------------


def _planned_fix(root: Path):
    from helpers import analyze_tree

    from opusguard.fix.codemod import compute_fix

    files = {
        f"m{i}.py": f"def job{i}():\n" + "".join("    " + line + "\n" for line in call().splitlines()) for i in range(3)
    }
    analysis = analyze_tree(root, {**files, "opusguard.yaml": POLICY})
    return compute_fix(analysis.project, analysis.sources, policy_path=root / "opusguard.yaml", cwd=root)


@pytest.mark.parametrize("fail_after", range(7))
def test_a_run_stopped_after_any_write_leaves_every_called_task_declared(tmp_path, monkeypatch, fail_after):
    from opusguard.fix import codemod

    monkeypatch.chdir(tmp_path)
    fix = _planned_fix(tmp_path)
    order = [w.shown for w in fix.writes()]
    assert order[:2] == ["opusguard.yaml", "app/routing_table.py"] and order[-3:] == ["m0.py", "m1.py", "m2.py"]
    real, done = codemod.write_atomic, []

    def failing(path, data):
        if len(done) == fail_after:
            raise OSError(28, "No space left on device")
        real(path, data)
        done.append(path)

    monkeypatch.setattr(codemod, "write_atomic", failing)
    if fail_after >= len(order):
        codemod.write_fix(fix, tmp_path)
    else:
        with pytest.raises(codemod.FixWriteError) as error:
            codemod.write_fix(fix, tmp_path)
        message = str(error.value)
        assert f"{order[fail_after]}: No space left on device" in message
        assert f"written: {', '.join(order[:fail_after]) or 'none'};" in message
        assert f"not written: {', '.join(order[fail_after:])}" in message
    assert routed_tasks(tmp_path) <= declared_tasks(tmp_path)


def test_a_file_deleted_after_the_analysis_is_reported_and_the_rest_is_written(tmp_path, monkeypatch):
    from opusguard.fix.codemod import write_fix

    monkeypatch.chdir(tmp_path)
    fix = _planned_fix(tmp_path)
    (tmp_path / "m1.py").unlink()
    assert write_fix(fix, tmp_path) == ["m1.py"]
    assert "route(" in (tmp_path / "m0.py").read_text() and routed_tasks(tmp_path) <= declared_tasks(tmp_path)


# --- files it refuses, or follows ---------------------------------------------------


def test_a_symlink_to_a_file_in_the_project_edits_the_file(tmp_path):
    write_tree(tmp_path, {"real/a.py": call(), "opusguard.yaml": POLICY})
    (tmp_path / "link.py").symlink_to("real/a.py")
    result = run_cli("fix", "--codemod", "link.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "link.py").is_symlink() and "route(" in (tmp_path / "real/a.py").read_text()


def test_a_symlink_out_of_the_project_is_left_for_a_person(tmp_path):
    outside = tmp_path / "outside.py"
    outside.write_text(call())
    project = tmp_path / "proj"
    write_tree(project, {"opusguard.yaml": POLICY, "pyproject.toml": ""})
    (project / "link.py").symlink_to(outside)
    result = run_cli("fix", "--codemod", "link.py", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (
        "link.py:2: needs a person: the file is left alone: it is a symlink to a file outside the project"
        in result.stderr
    )
    assert outside.read_text() == call() and (project / "link.py").is_symlink()


@pytest.mark.parametrize("kind", ["read-only", "hard link"])
def test_read_only_and_hard_linked_files_are_left_for_a_person(tmp_path, kind):
    write_tree(tmp_path, {"a.py": call(), "b.py": call(), "opusguard.yaml": POLICY})
    if kind == "read-only":
        os.chmod(tmp_path / "a.py", 0o444)
        reason = "it is read-only"
    else:
        os.link(tmp_path / "a.py", tmp_path / "a_copy.txt")
        reason = "it has 2 hard links"
    result = run_cli("fix", "--codemod", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"a.py:2: needs a person: the file is left alone: {reason}" in result.stderr
    assert (tmp_path / "a.py").read_text() == call() and "route(" in (tmp_path / "b.py").read_text()


def test_mode_is_kept_and_new_files_honour_the_umask(tmp_path):
    write_tree(tmp_path, {"a.py": call()})
    os.chmod(tmp_path / "a.py", 0o640)
    script = "import os, sys; os.umask(0o022); from opusguard.cli.main import main; sys.argv = ['opusguard', 'fix', '--codemod', '.']; main()"
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, check=False)
    assert "route(" in (tmp_path / "a.py").read_text()
    assert stat.S_IMODE((tmp_path / "a.py").stat().st_mode) == 0o640
    for created in ("opusguard.yaml", "app/routing.py", "app/routing_table.py"):
        assert stat.S_IMODE((tmp_path / created).stat().st_mode) == 0o644, created


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give a file away")
def test_owner_is_kept(tmp_path):
    write_tree(tmp_path, {"a.py": call(), "opusguard.yaml": POLICY})
    os.chown(tmp_path / "a.py", 4321, 4321)
    assert run_cli("fix", "--codemod", ".", cwd=tmp_path).returncode == 0
    st = (tmp_path / "a.py").stat()
    assert (st.st_uid, st.st_gid) == (4321, 4321) and "route(" in (tmp_path / "a.py").read_text()


def test_a_hand_written_routing_table_stops_the_fix(tmp_path):
    table = "TASK_MODELS = {'mine': 'claude-haiku-4-5'}  # hand-written\n"
    write_tree(
        tmp_path,
        {
            "a.py": call(),
            "opusguard.yaml": POLICY,
            "app/__init__.py": "",
            "app/routing.py": "from .routing_table import TASK_MODELS\ndef route(t):\n    return TASK_MODELS[t]\n",
            "app/routing_table.py": table,
        },
    )
    result = run_cli("fix", "--codemod", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert "routing_table.py: not written: it was not generated by opusguard" in result.stderr
    assert (tmp_path / "app/routing_table.py").read_text() == table and (tmp_path / "a.py").read_text() == call()
    assert (tmp_path / "opusguard.yaml").read_text() == POLICY


@pytest.mark.parametrize(
    "router, problem",
    [
        ("json:route", "a module 'json' would shadow the standard library's"),
        ("app.routing:lambda", "'lambda' is a Python keyword"),
    ],
)
def test_a_router_that_would_shadow_a_module_or_is_a_keyword_stops_the_fix(tmp_path, router, problem):
    write_tree(tmp_path, {"a.py": call(), "opusguard.yaml": f"version: 1\nrouter: {router}\n"})
    result = run_cli("fix", "--codemod", ".", cwd=tmp_path)
    assert result.returncode == 2 and problem in result.stderr, result.stderr
    assert not (tmp_path / "json.py").exists() and (tmp_path / "a.py").read_text() == call()


def test_the_router_is_never_looked_for_or_written_outside_the_project(tmp_path):
    write_tree(tmp_path, {"app/__init__.py": "", "app/routing.py": "# someone else's\n"})
    project = tmp_path / "proj"
    write_tree(project, {"a.py": call(), "opusguard.yaml": POLICY})
    (project / ".git").mkdir()
    assert run_cli("fix", "--codemod", ".", cwd=project).returncode == 0
    assert (project / "app/routing.py").is_file() and (project / "app/routing_table.py").is_file()
    assert not (tmp_path / "app/routing_table.py").exists()


def test_a_symlinked_policy_out_of_the_project_stops_the_fix(tmp_path):
    elsewhere = tmp_path / "shared.yaml"
    elsewhere.write_text(POLICY)
    project = tmp_path / "proj"
    write_tree(project, {"a.py": call(), "pyproject.toml": ""})
    (project / "opusguard.yaml").symlink_to(elsewhere)
    result = run_cli("fix", "--codemod", ".", cwd=project)
    assert result.returncode == 2 and "symlink to a file outside the project" in result.stderr
    assert elsewhere.read_text() == POLICY and (project / "a.py").read_text() == call()


def test_cr_only_line_endings_keep_their_last_newline(tmp_path):
    source = call().replace("\n", "\r").encode()
    write_tree(tmp_path, {"a.py": source, "opusguard.yaml": POLICY})
    assert run_cli("fix", "--codemod", ".", cwd=tmp_path).returncode == 0
    after = (tmp_path / "a.py").read_bytes()
    assert b"route(" in after and after.endswith(b"\r") and b"\n" not in after


# --- the one writer -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder"])
def test_the_writer_never_replaces_what_is_not_a_plain_file(tmp_path, kind):
    from opusguard.base.atomic import UnsafeTargetError, write_atomic

    target = tmp_path / "opusguard.yaml"
    if kind == "symlink":
        (tmp_path / "real.yaml").write_text("keep\n")
        target.symlink_to("real.yaml")
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    with pytest.raises(UnsafeTargetError, match="not written"):
        write_atomic(target, "version: 1\n")
    assert (
        target.is_symlink()
        if kind == "symlink"
        else stat.S_ISFIFO(target.lstat().st_mode)
        if kind == "fifo"
        else target.is_dir()
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_write_baseline_refuses_a_symlink(tmp_path):
    write_tree(tmp_path, {"a.py": call()})
    (tmp_path / "real.json").write_text("{}\n")
    (tmp_path / "base.json").symlink_to("real.json")
    result = run_cli("check", "--write-baseline", "base.json", ".", cwd=tmp_path)
    assert result.returncode == 2 and "base.json: not written: it is a symlink" in result.stderr
    assert (tmp_path / "real.json").read_text() == "{}\n"


# --- init -------------------------------------------------------------------------


def test_init_never_shadows_an_app_module(tmp_path):
    (tmp_path / "app.py").write_text("print('mine')\n")
    result = run_cli("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "app").exists() and (tmp_path / "model_routing.py").is_file()
    assert "router: model_routing:route (not app.routing:route: app.py exists" in result.stdout
    assert "router: model_routing:route" in (tmp_path / "opusguard.yaml").read_text()
    assert run_cli("check", ".", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    "router, problem",
    [
        ("app.routing:route", "app.py exists: a package app/ beside it would shadow it"),
        ("app.r:lambda", "'lambda' is a Python keyword"),
        ("json:route", "a module 'json' would shadow the standard library's"),
    ],
)
def test_init_with_a_router_that_cannot_be_created_says_which_and_how_to_choose(tmp_path, router, problem):
    (tmp_path / "app.py").write_text("")
    result = run_cli("init", "--router", router, cwd=tmp_path)
    assert result.returncode == 2
    assert f"--router {router}: {problem}; choose another with --router MODULE:FUNCTION" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.py"]


# --- no policy: init's layout, shown by --diff --------------------------------------


def test_fix_without_a_policy_uses_inits_layout_and_says_so(tmp_path):
    write_tree(tmp_path, {"bot.py": call()})
    diff = run_cli("fix", "--codemod", "--diff", ".", cwd=tmp_path)
    assert diff.returncode == 0, diff.stderr
    for new in ("opusguard.yaml", "app/__init__.py", "app/routing.py", "app/routing_table.py"):
        assert f"--- /dev/null\n+++ b/{new}\n" in diff.stdout, new
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["bot.py"]
    result = run_cli("fix", "--codemod", ".", cwd=tmp_path)
    assert (
        "created opusguard.yaml, app/routing_table.py, app/__init__.py, app/routing.py: the layout of `opusguard init`"
        in result.stderr
    )
    init = tmp_path / "init"
    init.mkdir()
    run_cli("init", cwd=init)
    starter = (init / "opusguard.yaml").read_text()
    assert (tmp_path / "opusguard.yaml").read_text().startswith(starter)
    assert (tmp_path / "app/routing.py").read_text() == (init / "app/routing.py").read_text()
    assert run_cli("check", "--select", "OG101,OG102,OG103,OG108", ".", cwd=tmp_path).returncode == 0


def test_what_is_left_after_fix_is_counted_by_kind_with_what_to_do(tmp_path):
    write_tree(
        tmp_path,
        {
            "bot.py": call()
            + "import os\nanthropic.Anthropic().messages.create(model=os.environ['M'], max_tokens=5, messages=[])\n",
            "prices.py": 'PRICES = {"claude-sonnet-4-5-20250929": 3.0, "claude-haiku-4-5-20251001": 1.0}\n',
            "opusguard.yaml": POLICY,
        },
    )
    result = run_cli("fix", "--codemod", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "left after the fix: 4 finding(s)" in result.stderr
    assert "  2 model ids no call sends (model catalogues, price tables" in result.stderr
    assert "`# opusguard: ignore[OG101]` and a reason (or per-file-ignores), or move it into policies/" in result.stderr
    assert (
        "  2 on Opus tasks without a justification or owner (OG104): add justification, owner and review_by"
        in result.stderr
    )
    check = run_cli("check", "--statistics", ".", cwd=tmp_path)
    assert "checked 6 files" in check.stdout and ": 4 findings" in check.stdout, check.stdout  # as announced


def test_a_flow_style_tasks_mapping_stops_the_fix_with_one_line(tmp_path):
    policy = "version: 1\nrouter: app.routing:route\ntasks: {triage: {tier: haiku}}\n"
    write_tree(tmp_path, {"a.py": call(), "opusguard.yaml": policy})
    result = run_cli("fix", "--codemod", ".", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "opusguard.yaml: line 3: `tasks:` is written in flow style" in result.stderr
    assert (tmp_path / "opusguard.yaml").read_text() == policy and (tmp_path / "a.py").read_text() == call()
    assert not (tmp_path / "app").exists()


def test_policy_sync_never_overwrites_a_hand_written_table(tmp_path):
    table = "TASK_MODELS = {}  # mine\n"
    write_tree(
        tmp_path, {"opusguard.yaml": POLICY, "app/__init__.py": "", "app/routing.py": "", "app/routing_table.py": table}
    )
    result = run_cli("policy", "sync", cwd=tmp_path)
    assert (
        result.returncode == 2 and "routing_table.py: not written: it was not generated by opusguard" in result.stderr
    )
    assert (tmp_path / "app/routing_table.py").read_text() == table


def test_init_force_never_replaces_a_symlinked_policy(tmp_path):
    (tmp_path / "shared.yaml").write_text(POLICY)
    (tmp_path / "opusguard.yaml").symlink_to("shared.yaml")
    result = run_cli("init", "--force", cwd=tmp_path)
    assert result.returncode == 2 and "opusguard.yaml: not written: it is a symlink" in result.stderr
    assert (tmp_path / "opusguard.yaml").is_symlink() and (tmp_path / "shared.yaml").read_text() == POLICY
    assert not (tmp_path / "app").exists()


def test_a_file_reached_through_a_symlinked_folder_out_of_the_project_is_left_alone(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere/a.py").write_text(call())
    project = tmp_path / "proj"
    write_tree(project, {"opusguard.yaml": POLICY, "pyproject.toml": ""})
    (project / "vendored").symlink_to(tmp_path / "elsewhere")
    result = run_cli("fix", "--codemod", "vendored/a.py", cwd=project)
    assert (
        "needs a person: the file is left alone: it lies outside the project, through a symlinked folder"
        in result.stderr
    )
    assert (tmp_path / "elsewhere/a.py").read_text() == call()


def test_fix_never_creates_files_outside_the_project(tmp_path):
    write_tree(tmp_path, {"other/pyproject.toml": "", "other/a.py": call(), "proj/pyproject.toml": ""})
    result = run_cli("fix", "--codemod", "../other", cwd=tmp_path / "proj")
    assert result.returncode == 2 and "would be created outside the project" in result.stderr, result.stderr
    assert sorted(p.name for p in (tmp_path / "other").iterdir() if not p.name.startswith(".")) == [
        "a.py",
        "pyproject.toml",
    ]


# --- a module that already uses the router's name ------------------------------------


@pytest.mark.parametrize(
    "binding",
    [
        "route = 3\n",
        'route = "x"\n',
        "route: int = 3\n",
        "route, other = 1, 2\n",
        "from elsewhere import route\n",
        # bound where the facts record no module binding
        "for route in (1, 2):\n    pass\n",
        "with open(__file__) as route:\n    pass\n",
        "try:\n    pass\nexcept Exception as route:\n    pass\n",
        "if (route := 3):\n    pass\n",
        "def set_route():\n    global route\n    route = 3\n",
        "import elsewhere as route\n",
        "from app.routing import other as route\n",
    ],
)
def test_a_module_that_binds_the_routers_name_is_left_alone(tmp_path, binding):
    # Rewritten, `route("task")` would call the module's own `route` (3, "x" ...): the
    # file is left for a person, as one with a `def route()` already was. Found with
    # a module-level `route = 3` that selection leaves out of the parsed text.
    source = binding + call()
    write_tree(tmp_path, {"app/bot.py": source, "opusguard.yaml": POLICY})
    result = run_cli("fix", "--codemod", ".", cwd=tmp_path)
    assert (tmp_path / "app" / "bot.py").read_text() == source
    assert "the name 'route' means something else in this module" in result.stdout + result.stderr
