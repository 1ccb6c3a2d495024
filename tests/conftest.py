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


_COMPILED_CODE: str | None = None  # the folder, in the process that made it


def _share_compiled_code() -> None:
    """With PYTHONDONTWRITEBYTECODE set (as on some CI machines) every interpreter the
    tests start (the console script, pre-commit's hook, `python -c` runs, the workers)
    compiled opusguard's modules again: about 0.3 s of a 0.5 s run. The run keeps the
    compiled code in a folder of its own outside the tree instead (PYTHONPYCACHEPREFIX),
    which the processes it starts inherit, and removes it at the end. A compiled module
    is the same code: no output changes."""
    global _COMPILED_CODE
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    import tempfile

    prefix = _COMPILED_CODE = tempfile.mkdtemp(prefix="opusguard-pyc-")
    os.environ.pop("PYTHONDONTWRITEBYTECODE")
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    sys.dont_write_bytecode = False
    sys.pycache_prefix = prefix


# Before pytest-xdist starts its workers (this file is loaded first): they inherit it.
_share_compiled_code()


def pytest_unconfigure(config):
    """The compiled code's folder goes with the run (not at exit: a test runs the exit
    handlers of pytest's own process, tests/test_cli.py's fast exit)."""
    if _COMPILED_CODE is not None:
        import shutil

        shutil.rmtree(_COMPILED_CODE, ignore_errors=True)


# Runs of the console script go through a fork server (tests/cli_server.py says why
# and what it keeps); OPUSGUARD_TEST_SUBPROCESS=1 makes each a real subprocess.
REAL_SUBPROCESS = bool(os.environ.get("OPUSGUARD_TEST_SUBPROCESS"))
# Environment that decides how the interpreter starts: a fork cannot change it.
INTERPRETER_ENV = ("PYTHON", "LC_", "LANG")


def run_cli(
    *args: str, cwd: Path, stdin: str | None = None, env: dict | None = None, real: bool = False
) -> subprocess.CompletedProcess:
    """The console script run on `args` in `cwd`, output captured as text. `real`: a
    new interpreter rather than a fork of the test's server (tests/cli_server.py)."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("CI", None)
    if real or REAL_SUBPROCESS or any(key.startswith(INTERPRETER_ENV) for key in (env or {})):
        return subprocess.run(
            [str(OPUSGUARD), *args], cwd=cwd, input=stdin, capture_output=True, text=True, env=full_env, timeout=120
        )
    return _CliServer.get().run([*args], cwd=cwd, stdin=stdin, env=full_env)


class _CliServer:
    _server = None

    @classmethod
    def get(cls) -> "_CliServer":
        if cls._server is None or cls._server.process.poll() is not None:
            cls._server = cls()
        return cls._server

    def __init__(self):
        import tempfile

        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("cli_server.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.folder = Path(tempfile.mkdtemp(prefix="opusguard-cli-"))
        self.runs = 0
        self.received = b""  # what the server wrote that is not read as an answer yet
        import atexit
        import shutil

        atexit.register(shutil.rmtree, self.folder, True)
        atexit.register(self.close)

    def close(self) -> None:
        """End of input: the server leaves its loop and is reaped (its time counted)."""
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _answer(self, timeout: float, tag: str) -> int:
        """The server's next answer, `pid N` or `exit N`: a line of another kind means the
        two are out of step, and this server is not used again (every later answer
        would belong to the run before)."""
        import select

        # Read from the pipe itself, not through the file object's buffer: a fast run
        # writes `pid` and `exit` at once, and a readline() would take both into a
        # buffer that select() does not see (it then waited for an answer already read).
        fd = self.process.stdout.fileno()
        while b"\n" not in self.received:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"the test's CLI server ended where it owed {tag!r}")
            self.received += chunk
        answer, _, self.received = self.received.partition(b"\n")
        line = answer.decode() + "\n"
        kind, _, number = line.partition(" ")
        if kind != tag:
            raise RuntimeError(f"the test's CLI server answered {line!r} where it owed {tag!r}")
        return int(number)

    def run(self, args: list[str], *, cwd: Path, stdin: str | None, env: dict) -> subprocess.CompletedProcess:
        import locale

        self.runs += 1
        files = {name: self.folder / f"{self.runs}.{name}" for name in ("stdin", "stdout", "stderr")}
        encoding = locale.getpreferredencoding(False)
        files["stdin"].write_bytes((stdin or "").encode(encoding))
        files["stdout"].touch()
        files["stderr"].touch()
        request = {
            "args": args,
            "cwd": os.path.abspath(cwd),
            "env": env,
            "argv0": str(OPUSGUARD),
            **{name: str(path) for name, path in files.items()},
        }
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        try:
            pid = self._answer(30, "pid")
            try:
                code = self._answer(120, "exit")
            except TimeoutError:
                os.kill(pid, 9)
                self._answer(30, "exit")
                raise subprocess.TimeoutExpired([str(OPUSGUARD), *args], 120) from None
        except (TimeoutError, RuntimeError, ValueError):
            # A run that did not end in step leaves answers unread: a new server for the next.
            self.process.kill()
            _CliServer._server = None
            raise
        # As subprocess.run(text=True) gives them: the locale's encoding, universal newlines.
        out, err = (
            files[name].read_bytes().decode(encoding).replace("\r\n", "\n").replace("\r", "\n")
            for name in ("stdout", "stderr")
        )
        for path in files.values():
            path.unlink()
        return subprocess.CompletedProcess([str(OPUSGUARD), *args], code, out, err)


def run_json(*args: str, cwd: Path, **kwargs) -> tuple[int, dict]:
    result = run_cli("check", "--format", "json", "--no-cache", *args, cwd=cwd, **kwargs)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def git(root: Path, *args: str) -> str:
    """git in `root` as a stranger to this machine: a fixed identity, HOME in the tree
    (no user config), and nothing else of the environment (a GIT_DIR set by a hook
    that runs the tests would point at another repository). Its output."""
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "HOME": str(root),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True, env=env).stdout


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
