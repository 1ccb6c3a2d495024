"""A fork server for the tests' runs of the console script.

Each run of `opusguard` in a test is a process of its own, as a user's is, but
most of its time went on importing libcst, click and rich again (about 0.35 s of
a 0.5 s run; the suite makes hundreds). The server is one process of the same
interpreter that has imported them and opusguard's modules (_preload says why
that changes no output) and run nothing; for each run it forks a
child that takes the run's working folder, environment and standard streams
(files), sets sys.argv and calls the console script's own entry point
(opusguard.cli.console:main, which ends the process with os._exit). The child starts
from a process that has run nothing of opusguard's but its imports: no state
passes from one run to the next.

What a fork cannot give a run, the tests get from a real subprocess
(conftest.run_cli falls back to one): an environment that changes how the
interpreter starts (PYTHON*, locale), and OPUSGUARD_TEST_SUBPROCESS=1 makes every
run a real subprocess. The console script itself, pre-commit and the README's
commands are run as real subprocesses by their own tests.

Protocol: one JSON request a line on the server's stdin; it answers the child's
pid, then its exit code, a line each."""

from __future__ import annotations

import io
import json
import os
import sys

# As in the console script: its own folder first on the path, not this one's.
sys.path[0] = os.path.dirname(sys.executable)

# What every run imports before it reads its arguments (a warm run never parses,
# but having libcst in memory changes no output, only the time).
import click  # noqa: F401
import libcst  # noqa: F401
import rich.console  # noqa: F401

import opusguard.cli.console
import opusguard.cli.main  # noqa: F401


def _preload() -> None:
    """opusguard's own modules and the libraries they import inside functions, imported
    (never run) here once rather than in every run: a run of `check` on one file took
    0.16 s of CPU, 0.04 s with them in memory. A module defines names and builds
    constants when imported; none reads the environment, the working folder or the
    terminal then (a run reads them when it starts), so a run's output is unchanged.
    A module that cannot be imported is left for the run to report."""
    import importlib
    import pkgutil

    names = [info.name for info in pkgutil.walk_packages(opusguard.__path__, "opusguard.")]
    lazy = ["yaml", "pathspec", "libcst.native", "multiprocessing.popen_fork", "concurrent.futures.process"]
    for name in [*lazy, *names]:
        if name.rpartition(".")[2] == "__main__":  # running it is a run
            continue
        try:
            importlib.import_module(name)
        except Exception:  # the run that needs it reports it
            continue


_preload()


def _child(request: dict) -> None:
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, path, mode in (
            (0, request["stdin"], os.O_RDONLY),
            (1, request["stdout"], os.O_WRONLY),
            (2, request["stderr"], os.O_WRONLY),
        ):
            opened = os.open(path, mode)
            os.dup2(opened, fd)
            os.close(opened)
        # The server read its requests through sys.stdin: a new one reads the run's input.
        sys.stdin = io.TextIOWrapper(
            io.open(0, "rb", closefd=False), encoding=sys.stdin.encoding, errors=sys.stdin.errors
        )
        sys.argv = [request["argv0"], *request["args"]]
        opusguard.cli.console.main()  # ends with os._exit
    finally:
        os._exit(99)  # only if main() itself broke: the test sees code 99


def serve() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)


if __name__ == "__main__":
    serve()
