"""File contents -> facts, through the cache, in worker processes where worth it.

On a large tree the main process reads and pre-filters every file while workers
parse the few that may matter. libcst takes 0.09 s to import, a fifth of a cold
check of a million lines; the workers need it and the main process does not. So,
where processes can be forked, a large tree's parsing goes to an *extraction
process*, forked before libcst is imported (for a cold check, as soon as the
CLI has read its options): it imports libcst while the main process is still
starting and reading, then runs the worker pool, whose workers are forked from
it and so start with libcst loaded. The main process sends it files as the
pre-filter finds them, gets each file's facts back as soon as they are ready,
and never imports libcst itself. The extraction process keeps two files per
worker in its pool and starts those waiting largest first: a large file started
last would end the run alone. (multiprocessing's forkserver preloads modules
the same way, but it starts a new interpreter and the first task waits until it
has imported everything: slower here.)

Elsewhere (small trees, `-j 1`, platforms without fork), files are parsed in
the main process, or by a pool forked from it for a large batch.
"""

from __future__ import annotations

import atexit
import functools
import heapq
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar, cast

if TYPE_CHECKING:  # (imported lazily: `check` forks the extraction process before importing much)
    from concurrent.futures import Future, ProcessPoolExecutor
    from multiprocessing.connection import Connection
    from multiprocessing.queues import Queue
    from types import TracebackType

    from opusguard.facts.records import FileFacts
    from opusguard.policy.catalog import Catalog, CatalogEntry
    from opusguard.run.cache import FactsCache

    # A file to parse: (content, path, router names, cut_bodies: see FactsSource.facts_for).
    _Job = tuple[bytes, str, frozenset[str], bool | frozenset[str]]

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

# Below this many files to parse, worker start-up costs more than it saves.
MIN_FILES_FOR_WORKERS = 24

_worker_catalog: Catalog | None = None


def is_model_id(text: str) -> bool:
    assert _worker_catalog is not None
    return _worker_catalog.recognize(text) is not None


def _init_worker(catalog_path: str | None, overrides: tuple[CatalogEntry, ...]) -> None:
    from opusguard.policy.catalog import load_catalog

    global _worker_catalog
    catalog = load_catalog(catalog_path)
    _worker_catalog = catalog.with_overrides(overrides) if overrides else catalog


def _extract(args: _Job) -> FileFacts:
    from opusguard.select.parse import facts_of  # libcst: imported only when a file is parsed

    source, path, names, cut_bodies = args
    return facts_of(source, path, is_model_id=is_model_id, router_names=names, cut_bodies=cut_bodies)


# The OG000 message of a file whose parse ended its process (a crash in libcst's native code).
CRASHED = "the parser crashed on this file: not analysed"


def _extract_alone(args: _Job, catalog: Catalog) -> FileFacts:
    """`_extract` in a process of its own, for a file whose worker died: if the parser
    crashes again, only that process is lost, and the file gets an OG000."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from opusguard.facts.records import FileFacts

    forked = can_fork()
    context = multiprocessing.get_context("fork" if forked else "spawn")
    if forked:
        pool = ProcessPoolExecutor(1, mp_context=context)
    else:
        pool = ProcessPoolExecutor(
            1, mp_context=context, initializer=_init_worker, initargs=(catalog.source_path, catalog.override_entries)
        )
    with pool:
        try:
            return pool.submit(_extract, args).result()
        except BrokenProcessPool:
            return FileFacts(path=args[1], parse_error=CRASHED, parse_error_line=1)


def parallel_map(func: Callable[[_Item], _Result], items: list[_Item], jobs: int) -> list[_Result]:
    """[func(item) for item in items], in order; in forked workers when there are at
    least MIN_FILES_FOR_WORKERS items and `jobs` (0: all cores) allows. A worker
    that dies (a crash in libcst's native code) sends the batch back here, where the
    same work would have run without workers."""
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(items) < MIN_FILES_FOR_WORKERS or not can_fork():
        return [func(item) for item in items]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    try:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(func, items, chunksize=max(1, len(items) // (jobs * 4))))
    except BrokenProcessPool:
        return [func(item) for item in items]


def can_fork() -> bool:
    import multiprocessing

    # macOS offers fork but system libraries may not survive it (Python's default there is spawn).
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def _cache_variant(cut_bodies: bool | frozenset[str]) -> str:
    if isinstance(cut_bodies, frozenset):  # only the statements naming these (selection.py)
        return "named:" + "\0".join(sorted(cut_bodies))
    return "" if cut_bodies else "whole"


class _Batch:
    """One facts_for call's files: their order, the facts known, and where the rest went."""

    def __init__(self) -> None:
        self.out: dict[str, FileFacts] = {}
        self.order: list[str] = []
        self.todo: list[_Job] = []  # to parse here, or in workers if there are many
        self.sent: dict[int, _Job] = {}  # to the extraction process, by ticket
        self.futures: list[tuple[_Job, Future[FileFacts]]] = []  # in the worker pool


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
        self.parsed: set[str] = set()  # paths parsed (a file parsed again for a name counts once)
        self._pool: "ProcessPoolExecutor | None" = None
        self._service: ExtractionProcess | None = None
        self._prefetched: dict[
            tuple[str, bool | frozenset[str]], tuple[bytes, int]
        ] = {}  # (path, cut) -> (content, ticket)
        global _worker_catalog
        _worker_catalog = catalog  # forked workers inherit it
        if service is not None:
            service.give_catalog(catalog)
            self._service = service

    def facts_for(
        self,
        items: Iterable[tuple[str, bytes | FileFacts]],
        *,
        cut_bodies: bool | frozenset[str] = True,
        stream: bool = False,
        on_result: Callable[[FileFacts], None] | None = None,
    ) -> dict[str, FileFacts]:
        """Facts of each (path, content), in the order given. In place of its content,
        a file may come with the facts the caller already took from the cache.

        `cut_bodies=False` parses whole files; a set of names keeps the statements
        that name them too (see selection.py). With `stream`, a file
        goes to a worker as soon as `items` yields it, so the workers parse while the
        caller is still reading and pre-filtering the rest of the tree. Where files go
        to the extraction process, `on_result` sees each file's facts as they arrive
        (and may `prefetch` more files)."""
        variant = _cache_variant(cut_bodies)
        batch = _Batch()
        # Started at the first file to parse: a warm run may have none.
        start_at_first_file = stream and self.jobs > 1 and self._service is None and self._pool is None
        for path, content in items:
            batch.order.append(path)
            if not isinstance(content, bytes):  # its cached facts (engine._prefilter)
                content.path = path
                batch.out[path] = content
            elif not self._known(batch, path, content, cut_bodies, variant):
                if start_at_first_file:
                    self.start_service()
                self._dispatch(batch, (content, path, self.names, cut_bodies), stream)
        results = self._parsed_here_or_by_workers(batch) + self._arrivals(batch, on_result)
        self.parsed.update(path for (_, path, _, _), _ in results)
        for (content, path, _, _), facts in results:
            # (A notebook with a cell that does not parse keeps its other cells' facts: kept too.)
            if self.cache is not None and (facts.parse_error is None or facts.cells):
                self.cache.put(content, facts, variant)
            batch.out[path] = facts
        return {path: batch.out[path] for path in batch.order}

    def _known(self, batch: _Batch, path: str, content: bytes, cut_bodies: bool | frozenset[str], variant: str) -> bool:
        """Whether the file needs no parse now: sent ahead (prefetch), or in the cache."""
        prefetched = self._prefetched.pop((path, cut_bodies), None)
        if prefetched is not None and prefetched[0] is content:
            batch.sent[prefetched[1]] = (content, path, self.names, cut_bodies)
            return True
        cached = self.cache.get(content, variant) if self.cache else None
        if cached is not None:
            cached.path = path
            batch.out[path] = cached
            return True
        return False

    def _dispatch(self, batch: _Batch, args: _Job, stream: bool) -> None:
        if self._service is not None:  # it has libcst: every file goes there
            batch.sent[self._service.submit(args)] = args
        elif stream and self.jobs > 1:
            batch.futures.append((args, self._workers().submit(_extract, args)))
        else:
            batch.todo.append(args)

    def _parsed_here_or_by_workers(self, batch: _Batch) -> list[tuple[_Job, FileFacts]]:
        # Workers already running take any batch; starting them pays off for a large one.
        todo = batch.todo
        if self.jobs > 1 and (len(todo) >= MIN_FILES_FOR_WORKERS or (self._pool is not None and len(todo) > 1)):
            batch.futures += [(args, self._workers().submit(_extract, args)) for args in todo]
            todo = []
        return [(args, _extract(args)) for args in todo] + [
            (args, self._result(args, future)) for args, future in batch.futures
        ]

    def _arrivals(self, batch: _Batch, on_result: Callable[[FileFacts], None] | None) -> list[tuple[_Job, FileFacts]]:
        """The facts of the files sent to the extraction process, as they arrive."""
        results: list[tuple[_Job, FileFacts]] = []
        if not batch.sent:
            return results
        assert self._service is not None  # (it had them)
        for ticket, facts in self._service.arrivals(batch.sent):
            if isinstance(facts, BaseException):  # its worker died (see _serve)
                facts = _extract_alone(batch.sent[ticket], self.catalog)
            results.append((batch.sent[ticket], facts))
            if on_result is not None:
                on_result(facts)
        return results

    def _result(self, args: _Job, future: Future[FileFacts]) -> FileFacts:
        """A worker's facts; where a worker died (which breaks the pool, and fails every
        file it had), the file is parsed again alone, and the next files get a new pool."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            return future.result()
        except BrokenProcessPool:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            return _extract_alone(args, self.catalog)

    def prefetch(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Send files the caller will ask for next to the extraction process now, so
        that they are parsed while it waits for others. A later `facts_for` of the
        same (path, content) takes their facts. Without the process, nothing."""
        if self._service is None:
            return
        for path, content in items:
            if (path, True) in self._prefetched or (self.cache and self.cache.get(content, "") is not None):
                continue
            self._prefetched[(path, True)] = (content, self._service.submit((content, path, self.names, True)))

    def start_service(self) -> None:
        """Start the extraction process now (where processes can fork and it is not
        running yet): at the first file to parse, or before the walk of a run that
        will parse files (a cold one), so that its libcst import overlaps discovery
        and the pre-filter. Unused, it is stopped without waiting."""
        if self.jobs > 1 and self._service is None and can_fork():
            self._service = ExtractionProcess(self.jobs).give_catalog(self.catalog)

    def stop_unused(self) -> None:
        """Stop the extraction process if it was started and has had no file."""
        if self._service is not None and not self._service.used:
            self._service.close()
            self._service = None

    def _workers(self) -> "ProcessPoolExecutor":
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            import opusguard.select.parse  # noqa: F401  (before the fork, so workers share it)

            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                initializer=_init_worker,
                initargs=(self.catalog.source_path, self.catalog.override_entries),
            )
        return self._pool

    def __enter__(self) -> "FactsSource":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, traceback: TracebackType | None
    ) -> None:
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

# The end of the run, on the task queue.
_STOP = "stop"


class ExtractionProcess:
    """A forked process that imports libcst and parses, with `jobs` workers, the
    files submitted to it. Each submission gets a ticket; its facts come back as
    soon as they are ready (`arrivals`)."""

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
        pid = self._process.pid
        assert pid is not None  # (started)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass  # it has already done it (or already ended)
        results_end.close()
        self._submitted = 0
        self._arrived: dict[int, FileFacts | BaseException] = {}  # by ticket, not yet taken
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

    def submit(self, args: _Job) -> int:
        """Send a file to parse; returns its ticket."""
        self._tasks.put(args)
        self.used = True
        self._submitted += 1
        return self._submitted - 1  # it numbers the files in the order they come, too

    def arrivals(self, tickets: Iterable[int]) -> Iterator[tuple[int, FileFacts | BaseException]]:
        """(ticket, facts) of these files, as they arrive; in place of the facts, the
        exception of a file whose worker died."""
        remaining = set(tickets)
        while remaining:
            for ticket in [ticket for ticket in remaining if ticket in self._arrived]:
                remaining.discard(ticket)
                yield ticket, self._arrived.pop(ticket)
            if remaining:
                self._receive()

    def _receive(self) -> None:
        from multiprocessing.connection import wait

        # Its workers hold the pipe too: wait on the process as well, or its death would go unseen.
        if self._results not in wait([self._results, self._process.sentinel]):
            raise RuntimeError(f"the extraction process ended unexpectedly (exit code {self._process.exitcode})")
        ticket, result = self._results.recv()
        self._arrived[ticket] = result  # an exception where the worker died: the caller parses it again

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
        import signal

        assert self._process.pid is not None  # (started)
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except OSError:
            pass  # already gone


def _serve(tasks: Queue[object], results: Connection, jobs: int) -> None:
    """The extraction process: tasks in, facts out, until told to stop or the main process is gone."""
    import queue

    _leave_the_terminal()
    parent = os.getppid()
    import opusguard.select.parse  # noqa: F401  (the long part: while the main process is still starting)

    global _worker_catalog
    send = _Sender(results)
    pool = _RenewedPool(jobs)
    starter: _Starter | None = None  # started once the workers are forked
    submitted = 0
    try:
        while True:
            try:
                task = tasks.get(timeout=1.0)
            except queue.Empty:
                if os.getppid() != parent:  # the main process was killed: nobody to answer
                    return
                continue
            if isinstance(task, tuple):
                if starter is None:  # (the catalog comes first; should a file not, the workers fork now)
                    starter = _Starter(pool.forked(), send, jobs)
                starter.add(submitted, cast("_Job", task))
                submitted += 1
            elif task == _STOP:  # files still waiting are the leftovers of a Ctrl-C
                return
            else:  # the catalog, before any file
                _worker_catalog = cast("Catalog", task)
                _extract((_WARM_UP, "<warm-up>", frozenset({"route"}), True))  # before the workers are forked
                starter = _Starter(pool.forked(), send, jobs)
    except (BrokenPipeError, ConnectionError, EOFError):
        pass  # the main process stopped reading: an interrupted run
    finally:
        # Nobody waits for the files not yet started; those running end first (as
        # leaving a `with` block would wait for them). The starter stops first.
        if starter is not None:
            starter.stop()
        pool.shutdown(cancel_futures=True)


def _leave_the_terminal() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle; it stops this one
    try:
        os.setpgid(0, 0)  # see ExtractionProcess.__init__
    except OSError:
        pass


class _Sender:
    """Sends a file's facts (or its worker's death) to the main process, from the pool's
    thread as they are ready."""

    def __init__(self, results: Connection):
        import threading

        self.results = results
        self.sending = threading.Lock()

    def __call__(self, ticket: int, future: Future[FileFacts]) -> None:
        result: FileFacts | BaseException
        try:
            result = future.result()
        except BaseException as exc:  # a worker died (or it was cancelled): the main process parses it alone
            result = exc
        with self.sending:
            try:
                self.results.send((ticket, result))
            except OSError:
                pass  # the main process stopped reading (Ctrl-C): nobody to tell


class _Starter:
    """Starts the files it is given in the pool, at most two per worker at a time,
    those waiting largest first: a large file started last would end the run alone.
    Files go to the pool from a thread of its own (never from a pool's callback);
    stop() it before the pool is shut down."""

    def __init__(self, pool: _RenewedPool, send: _Sender, jobs: int):
        import threading

        self.pool = pool
        self.send = send
        self.limit = 2 * jobs  # (as many waiting in the pool as running: no worker idles between files)
        self.waiting: list[tuple[int, int, _Job]] = []  # a heap: (-size, ticket, file)
        self.running = 0
        self.stopped = False
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._start_files, name="opusguard-starter", daemon=True)
        self.thread.start()

    def add(self, ticket: int, job: _Job) -> None:
        with self.changed:
            heapq.heappush(self.waiting, (-len(job[0]), ticket, job))
            self.changed.notify()

    def stop(self) -> None:
        """No more files are started; those waiting are dropped."""
        with self.changed:
            self.stopped = True
            self.changed.notify()
        self.thread.join()

    def _start_files(self) -> None:
        while True:
            with self.changed:
                while not self.stopped and not (self.waiting and self.running < self.limit):
                    self.changed.wait()
                if self.stopped:
                    return
                _, ticket, job = heapq.heappop(self.waiting)
                self.running += 1
            try:
                future = self.pool.submit(job)
            except Exception as exc:  # (not a thread's silent death: the main process would wait for the file)
                from concurrent.futures import Future

                future = Future()
                future.set_exception(exc)  # the main process parses it itself, as for a dead worker
            future.add_done_callback(functools.partial(self._done, ticket))

    def _done(self, ticket: int, future: Future[FileFacts]) -> None:
        self.send(ticket, future)
        with self.changed:
            self.running -= 1
            self.changed.notify()


class _RenewedPool:
    """The extraction process's workers; a pool a dead worker broke is replaced."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self.pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=self.jobs, mp_context=multiprocessing.get_context("fork"))

    def forked(self) -> _RenewedPool:
        """The pool with its workers forked now, from the calling thread, before any
        other thread of this process starts: a child forked while another thread runs
        could inherit a lock that thread held (Python 3.12 warns of it). A pool with
        fork forks all its workers at its first task."""
        self.pool.submit(int)
        return self

    def submit(self, task: _Job) -> Future[FileFacts]:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self.pool.submit(_extract, task)
        except BrokenProcessPool:  # a worker died (the main process parses its files again)
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new()
            return self.pool.submit(_extract, task)

    def shutdown(self, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(cancel_futures=cancel_futures)
