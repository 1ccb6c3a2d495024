"""The progress bar of `check`: shown on a terminal for long runs, quiet when piped or in CI.

The installed console script runs in pseudo-terminals (the `pty` module), so that
`sys.stderr.isatty()` is true in it as it is for a person at a terminal. stdout and
stderr each get their own terminal, which keeps the two streams apart for the asserts;
one test puts both on the same terminal, as a shell does, to check what comes first.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from conftest import OPUSGUARD

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pty behaviour checked on Linux")

HIDE_CURSOR, SHOW_CURSOR = b"\x1b[?25l", b"\x1b[?25h"
ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
# Variables that would change what rich or opusguard decide about the terminal.
TERMINAL_DETECTION = {
    "CI",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "NO_COLOR",
    "COLUMNS",
    "LINES",
    "PYTHONPATH",
}
THRESHOLD = 2000  # files from which the bar shows (cli._progress_bar)
OPUS_CALL = (
    "import anthropic\n"
    'anthropic.Anthropic().messages.create(model="claude-opus-4-1-20250805", max_tokens=5, messages=[])\n'
)
# Loaded by the child through PYTHONPATH: reading slow.py blocks, after saying so in a marker file.
SLOW_READ_HOOK = """\
import os, pathlib, time

_marker = os.environ.get("OPUSGUARD_TEST_SLOW_MARKER")
if _marker:
    _open = os.open

    def slow_open(path, *args, **kwargs):
        if os.fspath(path).endswith("slow.py"):
            pathlib.Path(_marker).touch()
            time.sleep(30)
        return _open(path, *args, **kwargs)

    os.open = slow_open
"""


@dataclass
class Run:
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def stdout_text(self) -> str:
        return plain(self.stdout)

    @property
    def stderr_text(self) -> str:
        return plain(self.stderr)


def plain(data: bytes) -> str:
    """Terminal output as text: escape sequences removed, the terminal's CRLF back to LF."""
    return ANSI.sub("", data.decode("utf-8", "replace")).replace("\r\n", "\n")


def make_tree(root: Path, count: int, *, with_model: bool = True, slow: bool = False) -> Path:
    """`count` Python files: tiny ones in folders of 100, plus one hard-coded Opus call and/or slow.py."""
    extra = [name for name, wanted in (("app/bot.py", with_model), ("slow.py", slow)) if wanted]
    for i in range(count - len(extra)):
        folder = root / f"pkg{i // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"m{i:04d}.py").write_text(f"x = {i}\n", encoding="utf-8")
    for name in extra:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(OPUS_CALL if name == "app/bot.py" else "y = 1\n", encoding="utf-8")
    return root


def terminal_env(**extra: str) -> dict[str, str]:
    """The test's environment without what changes rich's or opusguard's terminal detection."""
    env = {k: v for k, v in os.environ.items() if k not in TERMINAL_DETECTION}
    env["TERM"] = "xterm-256color"
    env.update(extra)
    return env


def _take_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_opusguard(
    *args: str,
    cwd: Path,
    env: dict[str, str],
    stdout_tty: bool = True,
    stderr_tty: bool = True,
    one_terminal: bool = False,
    interrupt_when: Callable[[bytes], bool] | None = None,
    timeout: float = 30.0,
) -> Run:
    """Run the console script with stdout/stderr each on a pseudo-terminal (or a pipe); read both to EOF.

    `one_terminal`: both on the same pseudo-terminal, as in a person's shell (all output
    lands in `Run.stdout`, in the order it was written). `interrupt_when(stderr so far)`
    returning true sends SIGINT once, as Ctrl-C would.
    """
    streams = {"stdout": stdout_tty, "stderr": stderr_tty and not one_terminal}
    proc, masters = _start(args, cwd, env, streams, one_terminal, interrupt_when)
    readers = {name: masters[name] if name in masters else getattr(proc, name).fileno() for name in streams}
    output = {name: bytearray() for name in ("stdout", "stderr")}
    deadline = time.monotonic() + timeout
    try:
        _read_to_end(proc, readers, output, deadline, interrupt_when, f"opusguard {' '.join(args)}", timeout)
        returncode = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        _close(proc, masters)
    return Run(returncode, bytes(output["stdout"]), bytes(output["stderr"]))


def _start(
    args: tuple[str, ...],
    cwd: Path,
    env: dict[str, str],
    streams: dict[str, bool],
    one_terminal: bool,
    interrupt_when: Callable[[bytes], bool] | None,
) -> tuple[subprocess.Popen, dict[str, int]]:
    """The console script started on `streams` (name -> on a pseudo-terminal, else a
    pipe); (the process, the pseudo-terminals' master ends by stream)."""
    masters: dict[str, int] = {}
    slaves: dict[str, int] = {}
    proc = None
    try:
        for name, tty in streams.items():
            if tty:
                masters[name], slaves[name] = pty.openpty()
                fcntl.ioctl(slaves[name], termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        stdout = slaves.get("stdout", subprocess.PIPE)
        stderr = stdout if one_terminal else slaves.get("stderr", subprocess.PIPE)
        proc = subprocess.Popen(
            [str(OPUSGUARD), *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            # A shell starts a background job with Ctrl-C ignored, and the child would
            # inherit that: the tool gets Ctrl-C as a person's terminal sends it.
            preexec_fn=_take_ctrl_c if interrupt_when is not None else None,
        )
        if one_terminal:
            del streams["stderr"]
    finally:
        # The child holds its own copies: EOF on a master comes once every copy of its slave is closed.
        for fd in slaves.values():
            os.close(fd)
        if proc is None:
            for fd in masters.values():
                os.close(fd)
    return proc, masters


def _read_to_end(
    proc: subprocess.Popen,
    readers: dict[str, int],
    output: dict[str, bytearray],
    deadline: float,
    interrupt_when: Callable[[bytes], bool] | None,
    what: str,
    timeout: float,
) -> None:
    """Everything `readers` (stream name -> fd) give, into `output`, until each is at EOF."""
    open_fds = {fd: name for name, fd in readers.items()}
    interrupted = False
    while open_fds:
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not finish in {timeout} s; output: {output!r}")
        ready, _, _ = select.select(list(open_fds), [], [], 0.05)
        for fd in ready:
            data = _read_some(fd)
            if data:
                output[open_fds[fd]] += data
            else:
                del open_fds[fd]
        if interrupt_when is not None and not interrupted and interrupt_when(bytes(output["stderr"])):
            proc.send_signal(signal.SIGINT)
            interrupted = True


def _read_some(fd: int) -> bytes:
    """What `fd` has; b"" at EOF."""
    try:
        return os.read(fd, 65536)
    except OSError as exc:  # Linux: EIO on a pty master once the child side is closed
        if exc.errno != errno.EIO:
            raise
        return b""


def _close(proc: subprocess.Popen, masters: dict[str, int]) -> None:
    """Kill the process if it still runs, and close what the test holds of its streams."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for fd in masters.values():
        os.close(fd)
    for name in ("stdout", "stderr"):
        if getattr(proc, name) is not None:
            getattr(proc, name).close()


def assert_summary(run: Run, files: int) -> None:
    assert re.search(rf"^checked {files:,} files in \d+\.\d+ s: ", run.stdout_text, re.MULTILINE), run.stdout_text


def assert_quiet(run: Run) -> None:
    assert run.stderr_text.strip() == "", run.stderr
    assert HIDE_CURSOR not in run.stderr


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory) -> Path:
    return make_tree(tmp_path_factory.mktemp("big"), 2100)


@pytest.mark.parametrize("count", [2100, THRESHOLD])
def test_a_long_run_in_a_terminal_shows_the_bar_on_stderr(count, big_tree, tmp_path):
    root = big_tree if count == 2100 else make_tree(tmp_path, count)
    run = run_opusguard("check", "--no-cache", ".", cwd=root, env=terminal_env())

    assert run.returncode == 1, (run.stdout, run.stderr)  # app/bot.py hard-codes Opus
    stderr = run.stderr_text
    assert "reading" in stderr, run.stderr
    assert re.search(r"\b\d{1,3}%", stderr), run.stderr
    assert "100%" in stderr, run.stderr  # the last frame before the bar is cleared
    # The bar hides the cursor while it runs and shows it again when it is done.
    assert HIDE_CURSOR in run.stderr and run.stderr.rfind(SHOW_CURSOR) > run.stderr.rfind(HIDE_CURSOR), run.stderr
    # stdout is the report alone, ending in the summary line.
    assert "reading" not in run.stdout_text and HIDE_CURSOR not in run.stdout
    assert_summary(run, count)
    assert run.stdout_text.rstrip().splitlines()[-1].startswith(f"checked {count:,} files in ")


def test_in_one_terminal_the_bar_is_gone_before_the_report(big_tree):
    # stdout and stderr on the same terminal, as in a shell: the bar runs, is cleared, then the report prints.
    run = run_opusguard("check", "--no-cache", ".", cwd=big_tree, env=terminal_env(), one_terminal=True)

    assert run.returncode == 1, run.stdout
    screen = run.stdout
    summary = screen.rfind(b"checked 2,100 files in ")
    assert summary > 0, screen
    assert b"reading" in screen[:summary] and b"100%" in screen[:summary], screen
    assert b"reading" not in screen[summary:], screen
    hide, show = screen.rfind(HIDE_CURSOR), screen.rfind(SHOW_CURSOR)
    assert 0 <= hide < show < summary, f"the bar was still on screen when the report printed: {screen[-300:]!r}"
    assert b"\x1b[2K" in screen[show:summary], "the bar's line is not erased (a transient bar leaves nothing)"
    assert plain(screen).rstrip().splitlines()[-1].startswith("checked 2,100 files in ")


def test_stderr_piped_shows_no_bar(big_tree):
    # `opusguard check . 2>log` at a terminal: the report still goes to the terminal, stderr stays clean.
    run = run_opusguard("check", "--no-cache", ".", cwd=big_tree, env=terminal_env(), stderr_tty=False)

    assert run.returncode == 1, (run.stdout, run.stderr)
    assert_quiet(run)
    assert_summary(run, 2100)


def test_both_streams_piped_show_no_bar(big_tree):
    run = run_opusguard(
        "check", "--no-cache", ".", cwd=big_tree, env=terminal_env(), stdout_tty=False, stderr_tty=False
    )

    assert run.returncode == 1, (run.stdout, run.stderr)
    assert run.stderr == b"", run.stderr
    assert_summary(run, 2100)


@pytest.mark.parametrize("ci", ["true", "1"])
def test_ci_shows_no_bar_even_in_a_terminal(ci, big_tree):
    run = run_opusguard("check", "--no-cache", ".", cwd=big_tree, env=terminal_env(CI=ci))

    assert run.returncode == 1, (run.stdout, run.stderr)
    assert_quiet(run)
    assert_summary(run, 2100)


def test_fewer_files_than_the_threshold_show_no_bar(tmp_path):
    root = make_tree(tmp_path, THRESHOLD - 1)
    run = run_opusguard("check", "--no-cache", ".", cwd=root, env=terminal_env())

    assert run.returncode == 1, (run.stdout, run.stderr)
    assert_quiet(run)
    assert_summary(run, THRESHOLD - 1)


def test_ctrl_c_during_the_bar_gives_the_cursor_back(tmp_path):
    # Reading slow.py blocks (a hook loaded through PYTHONPATH); Ctrl-C arrives while the bar is on screen.
    root = make_tree(tmp_path / "tree", 2100, with_model=False, slow=True)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_READ_HOOK, encoding="utf-8")
    marker = tmp_path / "reading-slow-file"
    env = terminal_env(PYTHONPATH=str(hook), OPUSGUARD_TEST_SLOW_MARKER=str(marker))

    def bar_is_up(stderr: bytes) -> bool:
        # Ctrl-C once slow.py is being read and the bar is drawn (or 2 s later: no bar is a failure below).
        return marker.exists() and (HIDE_CURSOR in stderr or time.time() - marker.stat().st_mtime > 2)

    run = run_opusguard("check", "--no-cache", ".", cwd=root, env=env, interrupt_when=bar_is_up, timeout=20)

    assert marker.exists(), "the hook never saw slow.py opened through os.open; update SLOW_READ_HOOK"
    assert run.returncode == 130  # not 1, which means findings
    assert "Aborted!" in run.stderr_text, run.stderr
    assert "reading" in run.stderr_text and HIDE_CURSOR in run.stderr, run.stderr
    assert run.stderr.rfind(SHOW_CURSOR) > run.stderr.rfind(HIDE_CURSOR), f"cursor left hidden: {run.stderr[-300:]!r}"
    assert "checked" not in run.stdout_text


def test_the_bar_runs_no_thread_of_its_own(monkeypatch):
    # The extraction process may be forked while the bar is up (a partly warm run: the
    # first file to parse comes late); forking beside another thread can deadlock the
    # child, and Python 3.12 warns of it. The bar is redrawn from the caller instead.
    import io
    import threading

    from opusguard.cli import main as cli

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stderr", Terminal())
    update = cli._progress_bar()
    assert update is not None
    before = threading.active_count()
    update(0, 5000)
    assert threading.active_count() == before
    time.sleep(0.15)
    update(256, 5000)  # redrawn: a tenth of a second has passed
    update(5000, 5000)
    assert threading.active_count() == before
    drawn = sys.stderr.getvalue()
    assert "reading" in drawn and "5%" in drawn and "100%" in drawn
