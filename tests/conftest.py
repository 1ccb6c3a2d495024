from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The console script installed next to the interpreter running the tests.
OPUSGUARD = Path(sys.executable).with_name("opusguard")

OPUS = "claude-opus-4-1-20250805"
# A small app: model constants in one module, read by SDK calls in another.
SAMPLE_APP = {
    "app/__init__.py": "",
    "app/config.py": f'OPUS = "{OPUS}"\nFAST = "claude-haiku-4-5-20251001"\n',
    "app/bot.py": (
        "import anthropic\n"
        "from app.config import OPUS, FAST\n"
        "client = anthropic.Anthropic()\n"
        "client.messages.create(model=OPUS, max_tokens=5, messages=[])\n"
        "client.messages.create(model=FAST, max_tokens=5, messages=[])\n"
    ),
}


def run_cli(*args: str, cwd: Path, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("CI", None)
    return subprocess.run(
        [str(OPUSGUARD), *args], cwd=cwd, input=stdin, capture_output=True, text=True, env=full_env, timeout=120
    )


def run_json(*args: str, cwd: Path, **kwargs) -> tuple[int, dict]:
    result = run_cli("check", "--format", "json", "--no-cache", *args, cwd=cwd, **kwargs)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return root


def settle(root: Path) -> Path:
    """Date every file under `root` a minute back. A run keeps no verdict for a file
    changed within cache.SETTLED_NS (a coarse clock could hide a second change), so
    tests of what a warm run skips start from files written a while ago."""
    past = time.time() - 60
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))
    return root


@pytest.fixture(scope="session", autouse=True)
def no_terminal_size_from_the_runner():
    """The text report wraps at $COLUMNS: the tests' subprocesses must not inherit a
    width from whatever runs pytest (pytest-xdist's workers have COLUMNS=80, LINES=24).
    A test that wants a width passes it."""
    saved = {name: os.environ.pop(name) for name in ("COLUMNS", "LINES") if name in os.environ}
    yield
    os.environ.update(saved)


@pytest.fixture
def tree(tmp_path):
    def make(files: dict[str, str | bytes]) -> Path:
        return write_tree(tmp_path, files)

    return make
