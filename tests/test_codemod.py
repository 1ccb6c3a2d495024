"""`opusguard fix --codemod`: every request sends the same model before and after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import run_cli, write_tree

# A stand-in for the anthropic SDK that records the model of every request.
FAKE_SDK = """
SENT = []
class _Messages:
    def create(self, model, **kwargs):
        SENT.append(model)
class Anthropic:
    def __init__(self, **kwargs):
        self.messages = _Messages()
"""

APP = {
    "anthropic.py": FAKE_SDK,
    "app/__init__.py": "",
    "app/config.py": 'from enum import Enum\nOPUS = "claude-opus-4-1-20250805"\nMODELS = {"fast": "claude-haiku-4-5"}\n'
    'class M(str, Enum):\n    SONNET = "claude-sonnet-4-5-20250929"\n',
    "app/bot.py": (
        "import anthropic\n"
        "from app.config import OPUS, MODELS, M\n"
        "client = anthropic.Anthropic()\n\n\n"
        "def classify(text):\n"
        "    # keep this comment\n"
        "    client.messages.create(model=OPUS, max_tokens=5)\n\n\n"
        "def fast(text):\n"
        "    client.messages.create(model=MODELS['fast'],   max_tokens=5)  # odd spacing stays\n\n\n"
        "def draft(text):\n"
        "    client.messages.create(model=M.SONNET.value, max_tokens=5)\n"
        '    client.messages.create(model="claude-3-5-haiku-20241022", max_tokens=5)\n\n\n'
        "def run_all():\n    classify('a'); fast('b'); draft('c')\n"
    ),
    "opusguard.yaml": "version: 1\nrouter: app.routing:route\ntasks:\n  # our reviewed tasks\n  triage:\n    tier: haiku\n",
}
RUN = "import sys; sys.path.insert(0, '.'); import anthropic, app.bot as b; b.run_all(); print(anthropic.SENT)"


def sent_models(root: Path, env=None) -> list[str]:
    out = subprocess.run([sys.executable, "-c", RUN], cwd=root, capture_output=True, text=True, env=env, check=True)
    return eval(out.stdout)


def test_rewrite_keeps_every_request_identical(tmp_path):
    root = write_tree(tmp_path, APP)
    (root / "app" / "routing.py").write_text(
        "from .routing_table import TASK_MODELS\ndef route(task):\n    return TASK_MODELS[task]\n"
    )
    before = sent_models(root)
    result = run_cli("fix", "--codemod", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "changed 1 file(s): 4 call site(s) routed" in result.stderr
    assert "1 Opus site(s) now wait for a decision" in result.stderr
    bot = (root / "app" / "bot.py").read_text()
    assert "from app.routing import route" in bot
    assert 'model=route("classify")' in bot and "# keep this comment" in bot
    assert 'model=route("fast"),   max_tokens=5)  # odd spacing stays' in bot
    assert (
        sent_models(root)
        == before
        == [
            "claude-opus-4-1-20250805",
            "claude-haiku-4-5",
            "claude-sonnet-4-5-20250929",
            "claude-3-5-haiku-20241022",
        ]
    )
    policy = (root / "opusguard.yaml").read_text()
    assert policy.startswith("version: 1\nrouter: app.routing:route\ntasks:\n  # our reviewed tasks\n  triage:\n")
    assert "  classify:\n    tier: opus\n    model: claude-opus-4-1-20250805\n" in policy
    # New Opus tasks carry no justification: OG104 puts the decision in front of a person.
    check = json.loads(run_cli("check", "--format", "json", ".", cwd=root).stdout)
    rules = {(f["rule"], f["path"]) for f in check["findings"]}
    assert ("OG102", "app/bot.py") not in rules and ("OG104", "opusguard.yaml") in rules
    assert not any(r == "OG101" and p == "app/bot.py" for r, p in rules)


def test_second_run_changes_nothing_and_diff_writes_nothing(tmp_path):
    root = write_tree(tmp_path, APP)
    snapshot = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    diff = run_cli("fix", "--codemod", "--diff", "--no-cache", ".", cwd=root)
    assert diff.returncode == 0 and '+    client.messages.create(model=route("classify"), max_tokens=5)' in diff.stdout
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == snapshot
    run_cli("fix", "--codemod", ".", cwd=root)
    after_first = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".opusguard_cache" not in p.parts}
    second = run_cli("fix", "--codemod", ".", cwd=root)
    assert "changed 0 file(s)" in second.stderr
    assert {
        p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".opusguard_cache" not in p.parts
    } == after_first
    # The router did not exist: it was created as `opusguard init` would, with its table.
    assert (root / "app" / "routing.py").is_file() and '"classify": "claude-opus-4-1-20250805"' in (
        root / "app" / "routing_table.py"
    ).read_text()


def test_overridable_values_are_routed_where_they_are_defined(tmp_path):
    """Env vars, callers and subclasses can still override: only the default moves to the router."""
    root = write_tree(
        tmp_path,
        {
            "anthropic.py": FAKE_SDK,
            "svc.py": (
                "import os, anthropic\nclient = anthropic.Anthropic()\n"
                'SMART = os.getenv("SMART", "claude-opus-4-1")\n'
                'def ask(model="claude-sonnet-4-5"):\n    client.messages.create(model=model)\n'
                'class Base:\n    MODEL = "claude-haiku-4-5"\n    def run(self):\n        client.messages.create(model=self.MODEL)\n'
                'class Deep(Base):\n    MODEL = "claude-opus-4-5"\n'
                "def run_all():\n    client.messages.create(model=SMART)\n    ask()\n    ask(model='caller-choice')\n"
                "    Base().run()\n    Deep().run()\n"
            ),
        },
    )
    run = "import sys; sys.path.insert(0, '.'); import anthropic, svc; svc.run_all(); print(anthropic.SENT)"

    def sent(env_extra=None):
        import os

        env = {**os.environ, **(env_extra or {})}
        out = subprocess.run([sys.executable, "-c", run], cwd=root, capture_output=True, text=True, env=env, check=True)
        return eval(out.stdout)

    before, before_env = sent(), sent({"SMART": "claude-3-haiku-20240307"})
    result = run_cli("fix", "--codemod", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    source = (root / "svc.py").read_text()
    assert 'os.getenv("SMART", route("smart"))' in source
    assert 'def ask(model=route("ask")):' in source and "client.messages.create(model=model)" in source
    assert 'MODEL = route("base-model")' in source and 'MODEL = route("deep-model")' in source
    assert sent() == before and sent({"SMART": "claude-3-haiku-20240307"}) == before_env
    assert before_env[0] == "claude-3-haiku-20240307" and "caller-choice" in before


def test_encodings_line_endings_and_broken_files_survive(tmp_path):
    root = write_tree(
        tmp_path,
        {
            "crlf.py": b'import anthropic\r\nanthropic.Anthropic().messages.create(model="claude-opus-4-1")\r\n',
            "bom.py": b'\xef\xbb\xbfimport anthropic\nanthropic.Anthropic().messages.create(model="claude-opus-4-1")\n',
            "latin1.py": '# -*- coding: latin-1 -*-\nimport anthropic\nNAME = "caf\xe9"\nanthropic.Anthropic().messages.create(model="claude-opus-4-1")\n'.encode(
                "latin-1"
            ),
            "broken.py": b'import anthropic\nanthropic.Anthropic().messages.create(model="claude-opus-4-1")\ndef (:\n',
        },
    )
    broken = (root / "broken.py").read_bytes()
    result = run_cli("fix", "--codemod", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    crlf = (root / "crlf.py").read_bytes()
    assert b"\r\n" in crlf and b"\n" not in crlf.replace(b"\r\n", b"") and b'model=route("' in crlf
    assert (root / "bom.py").read_bytes().startswith(b"\xef\xbb\xbf")
    latin1 = (root / "latin1.py").read_bytes()
    assert b"caf\xe9" in latin1 and b'model=route("' in latin1
    assert (root / "broken.py").read_bytes() == broken
    for name in ("crlf.py", "bom.py", "latin1.py"):
        compile((root / name).read_bytes(), name, "exec")


def test_remove_unused_only_removes_constants_nothing_else_uses(tmp_path):
    root = write_tree(
        tmp_path,
        {
            "cfg.py": 'OPUS = "claude-opus-4-1"\nSONNET = "claude-sonnet-4-5"\nKEEP = 1\n',
            "bot.py": "import anthropic\nfrom cfg import OPUS, SONNET\nc = anthropic.Anthropic()\n"
            "c.messages.create(model=OPUS)\nc.messages.create(model=SONNET)\n",
            "report.py": "from cfg import SONNET\nprint(SONNET)\n",  # uses SONNET as data: it stays
        },
    )
    without = run_cli("fix", "--codemod", "--diff", ".", cwd=root).stdout
    assert '-OPUS = "claude-opus-4-1"' not in without  # only with --remove-unused
    result = run_cli("fix", "--codemod", "--remove-unused", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    cfg = (root / "cfg.py").read_text()
    bot = (root / "bot.py").read_text()
    assert "OPUS" not in cfg and 'SONNET = "claude-sonnet-4-5"' in cfg and "KEEP = 1" in cfg
    assert "from cfg import OPUS" not in bot and "OPUS" not in bot
    compile(bot, "bot.py", "exec")


def test_files_changed_on_disk_after_analysis_are_left_alone(tmp_path, monkeypatch):
    from helpers import check_tree

    from opusguard.fix.codemod import compute_fix, write_fix

    result = check_tree(
        tmp_path, {"a.py": 'import anthropic\nanthropic.Anthropic().messages.create(model="claude-opus-4-1")\n'}
    )
    fix = compute_fix(
        result.analysis.project, result.analysis.sources, policy_path=tmp_path / "opusguard.yaml", cwd=tmp_path
    )
    (tmp_path / "a.py").write_text("# edited meanwhile\n")
    monkeypatch.chdir(tmp_path)
    assert write_fix(fix, tmp_path) == ["a.py"]
    assert (tmp_path / "a.py").read_text() == "# edited meanwhile\n"


def test_files_rewritten_in_worker_processes_are_the_ones_rewritten_here(tmp_path):
    # Enough files for parallel_map to fork workers: the same files, bytes, refusals
    # and sites for a person, in the same order, as one after another.
    import functools

    from helpers import check_tree

    from opusguard.fix.codemod import compute_fix
    from opusguard.run import workers

    call = (
        'import anthropic\n\ndef f{i}():\n    return anthropic.Anthropic().messages.create(model="claude-opus-4-1")\n'
    )
    files = {f"s{i:02}.py": call.format(i=i) for i in range(workers.MIN_FILES_FOR_WORKERS + 6)}
    files["s03.py"] = "route = 3\n" + files["s03.py"]  # the router's name means something else there
    result = check_tree(tmp_path, files)

    def fix(map_files):
        return compute_fix(
            result.analysis.project,
            result.analysis.sources,
            policy_path=tmp_path / "opusguard.yaml",
            cwd=tmp_path,
            map_files=map_files,
        )

    here, forked = fix(None), fix(functools.partial(workers.parallel_map, jobs=2))
    assert len(here.changed) == workers.MIN_FILES_FOR_WORKERS + 5 and here.skipped == ["s03.py"]
    assert (forked.changed, forked.targets, forked.skipped, forked.refused) == (
        here.changed,
        here.targets,
        here.skipped,
        here.refused,
    )
    assert forked.plan.needs_person == here.plan.needs_person


def test_parallel_map_keeps_the_order_and_falls_back_when_a_worker_dies():
    from opusguard.run import workers

    items = list(range(workers.MIN_FILES_FOR_WORKERS * 2))
    assert workers.parallel_map(str, items, jobs=2) == [str(i) for i in items]
    assert workers.parallel_map(_exit_in_a_worker, items, jobs=2) == items


def _exit_in_a_worker(item: int) -> int:
    if item == 3 and os.getpid() != _TEST_PID:
        os._exit(1)  # as a crash in libcst's native code ends a worker
    return item


_TEST_PID = os.getpid()


def test_fix_rewrites_the_bytes_on_disk_even_where_the_cache_remembers_an_older_version(tmp_path):
    """The verdict index lets `check` take an unchanged file's facts unread; `fix` must not:
    an edit that keeps a file's size and mtime would leave it rewriting old positions."""
    root = write_tree(tmp_path, APP)
    (root / "app" / "routing.py").write_text(
        "from .routing_table import TASK_MODELS\ndef route(task):\n    return TASK_MODELS[task]\n"
    )
    assert run_cli("check", ".", cwd=root).returncode == 1  # fills the cache
    bot = root / "app" / "bot.py"
    stat = bot.stat()
    moved = bot.read_text().replace("Anthropic()\n\n\n", "Anthropic()\n\n", 1).replace("def run_all", "\ndef run_all")
    assert len(moved) == stat.st_size and moved != bot.read_text()
    bot.write_text(moved)
    os.utime(bot, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    before = sent_models(root)
    result = run_cli("fix", "--codemod", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "4 call site(s) routed" in result.stderr
    assert 'model=route("classify")' in bot.read_text()
    assert sent_models(root) == before
