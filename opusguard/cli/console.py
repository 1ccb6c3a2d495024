"""The `opusguard` console script: process settings, the CLI, then a fast exit.

This is the boundary where the promise "every error is one line, exit 2, never a
traceback" is kept for what the causes below it did not foresee."""

from __future__ import annotations

import atexit
import errno
import gc
import os
import sys

EXIT_ERROR = 2
DEBUG_ENV = "OPUSGUARD_DEBUG"  # set to 1: an unexpected error prints its traceback too


def main() -> None:
    """Run the CLI as a process.

    A run builds many objects and almost no reference cycles; at the default
    thresholds the cyclic collector took a tenth of a warm run (imports
    included). mypy sets the same for the same reason. Workers inherit it.

    Tearing the interpreter down (freeing every parsed node and fact, module by
    module) took 50 ms of a 0.65 s check on a large tree, so the process ends
    with os._exit. Everything the tool writes is complete, closed and renamed
    into place before the CLI returns and the worker processes are joined.
    os._exit skips the exit handlers, and some must run: the progress bar's
    (it clears the bar and shows the cursor again) and multiprocessing's (it
    reaps the extraction process); `atexit._run_exitfuncs` is the only way to
    run handlers that libraries registered, so it is called first. Then the
    standard streams are flushed, and a failed flush (a full disk) is an error
    like any other. Tests that call the CLI in-process never get here."""
    gc.set_threshold(200_000, 30, 30)
    _tolerant_streams()
    code = _run_cli()
    try:
        atexit._run_exitfuncs()
    except Exception:  # a handler's failure must not turn a finished run into a traceback
        pass
    code = _flush(code)
    os._exit(code)


def _run_cli() -> int:
    try:
        from opusguard.cli.main import main as cli

        cli()
        return 0
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        _error(str(exit_.code), prefix="")  # SystemExit("message"): as Python prints it, then its 1
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:  # `opusguard check | head`: the reader left; nothing to add
        return 0
    except OSError as exc:  # most often the output itself: stdout on a full disk
        where = f"{exc.filename}: " if exc.filename else "cannot write the output: " if _writing(exc) else ""
        _error(f"{where}{exc.strerror or exc}")
        return EXIT_ERROR
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            import traceback

            traceback.print_exc()
        _error(f"internal error: {type(exc).__name__}: {exc} (a bug: please report it; {DEBUG_ENV}=1 shows where)")
        return EXIT_ERROR


def _writing(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EIO, errno.EBADF, errno.EDQUOT, errno.EFBIG)


def _error(message: str, prefix: str = "opusguard: error: ") -> None:
    """One line on stderr; if stderr itself cannot be written, the exit code still says it."""
    from opusguard.base.sanitize import printable

    try:
        sys.stderr.write(f"{prefix}{printable(message)}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _flush(code: int) -> int:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except BrokenPipeError:
            pass
        except (OSError, ValueError) as exc:
            if stream is sys.stdout:
                _error(f"cannot write the output: {getattr(exc, 'strerror', None) or exc}")
            code = EXIT_ERROR
    return code


def _tolerant_streams() -> None:
    """A character the terminal's encoding cannot show (PYTHONIOENCODING=ascii, a C
    locale) is written as a backslash escape instead of failing the run."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
