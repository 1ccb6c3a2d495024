"""File contents -> facts, through the cache, in worker processes where worth it.

On a large tree the main process reads and pre-filters every file while workers
parse the few that may matter. libcst takes 0.09 s to import, a fifth of a cold
check of a million lines; the workers need it and the main process does not. So,
where processes can be forked, a large tree's parsing goes to an *extraction
process*, forked before libcst is imported: it imports libcst while the main
process is still reading, then runs the worker pool, whose workers are forked
from it and so start with libcst loaded. The main process sends it files as the
pre-filter finds them and never imports libcst itself. (multiprocessing's
forkserver preloads modules the same way, but it starts a new interpreter and
the first task waits until it has imported everything: slower here.)

Elsewhere (small trees, `-j 1`, platforms without fork), files are parsed in
the main process, or by a pool forked from it for a large batch.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (imported lazily: `check` forks the extraction process before importing much)
    from concurrent.futures import ProcessPoolExecutor

    from opusguard.cache import FactsCache
    from opusguard.catalog import Catalog
    from opusguard.facts import FileFacts

# Below this many files to parse, worker start-up costs more than it saves.
MIN_FILES_FOR_WORKERS = 24

_worker_catalog: Catalog | None = None


def is_model_id(text: str) -> bool:
    assert _worker_catalog is not None
    return _worker_catalog.recognize(text) is not None


def _init_worker(catalog_path: str | None, overrides) -> None:
    from opusguard.catalog import load_catalog

    global _worker_catalog
    catalog = load_catalog(catalog_path)
    _worker_catalog = catalog.with_overrides(overrides) if overrides else catalog


def _extract(args: tuple[bytes, str, frozenset[str], bool]) -> FileFacts:
    from opusguard.extract import extract_facts  # libcst: imported only when a file is parsed

    source, path, names, cut_bodies = args
    return extract_facts(source, path, is_model_id=is_model_id, router_names=names, cut_bodies=cut_bodies)


def can_fork() -> bool:
    import multiprocessing

    # macOS offers fork but system libraries may not survive it (Python's default there is spawn).
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


class FactsSource:
    """Turns file contents into facts through the cache, in worker processes where worth it."""

    def __init__(
        self,
        catalog: Catalog,
        names: frozenset[str],
        cache: FactsCache | None,
        jobs: int,
        *,
        service: ExtractionProcess | None = None,
    ):
        """`service`: an extraction process started before the catalog was loaded (see
        start_extraction); it gets the catalog now."""
        self.catalog = catalog
        self.names = names
        self.cache = cache
        self.jobs = jobs
        self.parsed = 0
        self._pool: "ProcessPoolExecutor | None" = None
        self._service: ExtractionProcess | None = None
        global _worker_catalog
        _worker_catalog = catalog  # forked workers inherit it
        if service is not None:
            service.give_catalog(catalog)
            self._service = service

    def facts_for(
        self, items: Iterable[tuple[str, bytes]], *, cut_bodies: bool = True, stream: bool = False
    ) -> dict[str, FileFacts]:
        """Facts of each (path, content), in the order given.

        `cut_bodies=False` parses whole files (see slicing.py). With `stream`, a file
        goes to a worker as soon as `items` yields it, so the workers parse while the
        caller is still reading and pre-filtering the rest of the tree."""
        variant = "" if cut_bodies else "whole"
        # Started at the first file to parse: a warm run may have none.
        start_service = stream and self.jobs > 1 and self._service is None and self._pool is None
        out: dict[str, FileFacts] = {}
        order: list[str] = []
        todo: list[tuple[bytes, str, frozenset[str], bool]] = []
        sent: list[tuple[bytes, str, frozenset[str], bool]] = []
        futures = []
        for path, content in items:
            order.append(path)
            cached = self.cache.get(content, variant) if self.cache else None
            if cached is not None:
                cached.path = path
                out[path] = cached
                continue
            args = (content, path, self.names, cut_bodies)
            if start_service and self._service is None and can_fork():
                self._service = ExtractionProcess(self.jobs).give_catalog(self.catalog)
            if self._service is not None:  # it has libcst: every file goes there
                self._service.submit(args)
                sent.append(args)
            elif stream and self.jobs > 1:
                futures.append((args, self._workers().submit(_extract, args)))
            else:
                todo.append(args)
        # Workers already running take any batch; starting them pays off for a large one.
        if self.jobs > 1 and (len(todo) >= MIN_FILES_FOR_WORKERS or (self._pool is not None and len(todo) > 1)):
            futures += [(args, self._workers().submit(_extract, args)) for args in todo]
            todo = []
        results = [(args, _extract(args)) for args in todo] + [(args, future.result()) for args, future in futures]
        if sent:
            results += zip(sent, self._service.results())
        self.parsed += len(results)
        for (content, path, _, _), facts in results:
            if self.cache is not None and facts.parse_error is None:
                self.cache.put(content, facts, variant)
            out[path] = facts
        return {path: out[path] for path in order}

    def start_early(self) -> None:
        """Start the extraction process now, for a run that will parse files (a cold
        one): its libcst import then overlaps discovery and the pre-filter. Unused, it
        is stopped without waiting."""
        if self.jobs > 1 and self._service is None and can_fork():
            self._service = ExtractionProcess(self.jobs).give_catalog(self.catalog)

    def stop_unused(self) -> None:
        """Stop the extraction process if it was started early and has had no file."""
        if self._service is not None and not self._service.used:
            self._service.close()
            self._service = None

    def _workers(self) -> "ProcessPoolExecutor":
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            import opusguard.extract  # noqa: F401  (before the fork, so workers share it)

            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                initializer=_init_worker,
                initargs=(self.catalog.source_path, self.catalog.override_entries),
            )
        return self._pool

    def __enter__(self) -> "FactsSource":
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self._service is not None:
            self._service.close(wait=exc_type is not None)  # after Ctrl-C, nothing is left running
            self._service = None


def start_extraction(jobs: int) -> ExtractionProcess | None:
    """An extraction process for a run that will parse (a cold one), started as early
    as possible: before the catalog is loaded, before most of opusguard is imported.
    Its libcst import then overlaps the main process's start. FactsSource takes it
    over (`service=`); a small tree stops it unused."""
    jobs = jobs or os.cpu_count() or 1
    return ExtractionProcess(jobs) if jobs > 1 and can_fork() else None


# Parsed once by the extraction process before it forks its workers, so that they
# start with what a first file builds (walk plans, searches, catalog lookups) and
# do not each build it again (about 15 ms each on the benchmark).
_WARM_UP = b'''"""Docs."""
import os
from app import config as cfg
MODEL = os.environ.get("MODEL", "claude-sonnet-4-5")
class Kind(Base, metaclass=Meta):
    model: str = "claude-haiku-4-5"
    @property
    async def model_for(self, task, *args, model=None, **kwargs):
        with open(task) as f, lock:
            for i, x in enumerate([y for y in {1: 2}.items() if y], start=1):
                if not x or i > 1 and x is not None:
                    model = cfg.MODEL if x else f"{task!r:>{i}}"
                elif x:
                    while i: i -= 1
                else:
                    model += lambda: (yield)
        try:
            return await client.messages.create(model=model, messages=[{"role": "user"}], **kwargs)
        except (ValueError, KeyError) as e:
            raise RuntimeError(model) from e
        finally:
            del x[0], self.model[1:2]
'''

# Markers on the task queue: the end of a batch (send its results), the end of the run.
_END_OF_BATCH = "end of batch"
_STOP = "stop"


class ExtractionProcess:
    """A forked process that imports libcst and parses, with `jobs` workers, the
    files submitted to it; `results()` ends a batch and returns its facts in order."""

    # How long close() waits for a file being parsed when the run stops early, before
    # ending the process and its workers.
    stop_timeout = 10.0

    def __init__(self, jobs: int):
        import multiprocessing

        context = multiprocessing.get_context("fork")
        # A queue's put() never blocks (a thread of this process writes to the pipe):
        # the pre-filter goes on while the extraction process is still importing libcst.
        self._tasks = context.Queue()
        self._results, results_end = context.Pipe(duplex=False)
        self._process = context.Process(target=_serve, args=(self._tasks, results_end, jobs), name="opusguard-extract")
        self._process.start()
        # Its own process group, with its workers: one signal stops them all. Set here
        # as well as there, so that it exists whichever runs first.
        try:
            os.setpgid(self._process.pid, self._process.pid)
        except OSError:
            pass  # it has already done it (or already ended)
        results_end.close()
        self._pending = 0
        self.used = False
        self._closed = False
        # Before multiprocessing joins its children at exit: an error that skips
        # close() must not leave the process waiting for a stop that never comes.
        atexit.register(self.close, wait=False)

    def give_catalog(self, catalog: Catalog) -> ExtractionProcess:
        """The catalog files are checked against (policy overrides included); sent
        before any file. It may have been forked before the catalog was loaded."""
        self._tasks.put(catalog)
        return self

    def submit(self, args: tuple[bytes, str, frozenset[str], bool]) -> None:
        self._tasks.put(args)
        self._pending += 1
        self.used = True

    def results(self) -> list[FileFacts]:
        from multiprocessing.connection import wait

        self._tasks.put(_END_OF_BATCH)
        out: list[FileFacts] = []
        for _ in range(self._pending):
            # Its workers hold the pipe too: wait on the process as well, or its death would go unseen.
            if self._results not in wait([self._results, self._process.sentinel]):
                raise RuntimeError(f"the extraction process ended unexpectedly (exit code {self._process.exitcode})")
            result = self._results.recv()
            if isinstance(result, BaseException):
                raise result
            out.append(result)
        self._pending = 0
        return out

    def close(self, *, wait: bool = True) -> None:
        """Stop it. With `wait`, wait until it has (it joins its workers); without,
        it finishes on its own while the run writes its output, and multiprocessing
        joins it when the process exits."""
        if self._closed:
            return
        self._closed = True
        self._results.close()  # an interrupted batch: its sends fail, and it stops
        if self.used:
            self._tasks.put(_STOP)
        else:  # no task, so no workers yet: do not wait for its libcst import
            self._kill()
        self._tasks.close()
        self._tasks.join_thread()
        if not wait:
            return
        self._process.join(timeout=self.stop_timeout)
        if self._process.exitcode is None:
            self._kill()
            self._process.join()

    def _kill(self) -> None:
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except OSError:
            pass  # already gone


def _serve(tasks, results, jobs: int) -> None:
    """The extraction process: tasks in, facts out, until told to stop or the main process is gone."""
    import multiprocessing
    import queue
    from concurrent.futures import ProcessPoolExecutor

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle; it stops this one
    try:
        os.setpgid(0, 0)  # see ExtractionProcess.__init__
    except OSError:
        pass
    parent = os.getppid()
    import opusguard.extract  # noqa: F401  (the long part: while the main process is still starting)

    global _worker_catalog
    pending = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        try:
            while True:
                try:
                    task = tasks.get(timeout=1.0)
                except queue.Empty:
                    if os.getppid() != parent:  # the main process was killed: nobody to answer
                        pool.shutdown(cancel_futures=True)
                        return
                    continue
                if not isinstance(task, (str, tuple)):  # the catalog, before any file
                    _worker_catalog = task
                    _extract((_WARM_UP, "<warm-up>", frozenset({"route"}), True))  # before the workers are forked
                elif isinstance(task, str):
                    if task == _STOP:  # files still queued are the leftovers of a Ctrl-C
                        pool.shutdown(cancel_futures=True)
                        return
                    for future in pending:  # _END_OF_BATCH
                        try:
                            result = future.result()
                        except Exception as exc:  # a worker died: the main process raises it
                            result = exc
                        results.send(result)
                    pending = []
                else:
                    pending.append(pool.submit(_extract, task))
        except (BrokenPipeError, ConnectionError, EOFError):
            pool.shutdown(cancel_futures=True)  # the main process stopped reading: an interrupted run
