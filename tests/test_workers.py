"""The extraction process (opusguard/run/workers.py): a forked process that imports
libcst and parses what the main process sends it, with its own worker pool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
from conftest import run_cli
from helpers import as_data

from opusguard.facts.records import FileFacts
from opusguard.policy.catalog import load_catalog
from opusguard.run import workers
from opusguard.select.parse import facts_of

pytestmark = pytest.mark.skipif(not workers.can_fork(), reason="the extraction process needs fork")

NAMES = frozenset({"route"})


def sources(count: int) -> list[tuple[str, bytes]]:
    return [
        (
            f"app/m{i}.py",
            f'import anthropic\nOPUS = "claude-opus-4-1"\nanthropic.Anthropic().messages.create(model=OPUS)  # {i}\n'.encode(),
        )
        for i in range(count)
    ]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"  # a zombie waiting for init is gone too


def test_results_come_back_in_order_and_equal_in_process_facts():
    catalog = load_catalog()
    source = workers.FactsSource(catalog, NAMES, None, jobs=2)
    files = sources(30)
    with source:
        facts = source.facts_for(iter(files), stream=True)
        service = source._service
        assert service is not None  # the stream went to the extraction process
        # Later batches (the second pass, whole files for the resolver) go there too.
        again = source.facts_for(files[:3], cut_bodies=False)
    # Told to stop, it ends on its own (the run does not wait for it).
    service._process.join(timeout=10)
    assert service._process.exitcode == 0
    expected = {
        path: facts_of(content, path, is_model_id=workers.is_model_id, router_names=NAMES) for path, content in files
    }
    assert list(facts) == [path for path, _ in files]
    assert facts == expected
    assert list(again) == [path for path, _ in files[:3]]
    assert len(source.parsed) == 30  # (a file parsed again counts once)


def test_files_waiting_together_go_largest_first_and_keep_their_tickets():
    # A large file started last would end the run alone: the extraction process
    # keeps two files per worker in the pool and starts those waiting largest
    # first, and each file's facts still come back under its own ticket.
    from concurrent.futures import Future

    started: list[tuple[str, Future]] = []

    class Pool:
        def submit(self, job):
            started.append((job[1], Future()))
            return started[-1][1]

    sent = []
    starter = workers._Starter(Pool(), lambda ticket, future: sent.append((ticket, future.result())), jobs=1)
    with starter.changed:  # (all waiting before the first starts)
        for ticket, size in enumerate([1, 5, 3, 9]):
            starter.add(ticket, (b"x" * size, f"{size}.py", NAMES, True))

    def wait_for(count):
        deadline = time.monotonic() + 10
        while len(started) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return [path for path, _ in started]

    assert wait_for(2) == ["9.py", "5.py"]  # two at a time (2 × jobs)
    started[0][1].set_result("facts of 9")
    assert wait_for(3) == ["9.py", "5.py", "3.py"]
    for _, future in started[1:]:
        future.set_result("done")
    assert wait_for(4) == ["9.py", "5.py", "3.py", "1.py"]
    started[3][1].set_result("done")
    starter.stop()
    assert sent[0] == (3, "facts of 9") and sorted(ticket for ticket, _ in sent) == [0, 1, 2, 3]

    service = workers.ExtractionProcess(2).give_catalog(load_catalog())
    files = [(f"m{size}.py", ('M = "claude-opus-4-1"\n' + "x = 1\n" * size).encode()) for size in range(0, 400, 20)]
    try:
        tickets = [service.submit((content, path, NAMES, True)) for path, content in files]
        arrived = dict(service.arrivals(tickets))
    finally:
        service.close()
    assert [arrived[ticket].path for ticket in tickets] == [path for path, _ in files]


def test_a_file_the_pool_refuses_comes_back_as_its_error():
    # A file the pool cannot take is answered with the error (the main process then
    # parses it itself), never left waiting: the run would wait for it forever.
    class Pool:
        def submit(self, job):
            raise RuntimeError("cannot schedule new futures after shutdown")

    sent = []
    starter = workers._Starter(Pool(), lambda ticket, future: sent.append((ticket, future.exception())), jobs=1)
    starter.add(0, (b"x = 1\n", "a.py", NAMES, True))
    deadline = time.monotonic() + 10
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    starter.stop()
    assert [(ticket, str(error)) for ticket, error in sent] == [(0, "cannot schedule new futures after shutdown")]


def test_closing_stops_it_and_its_workers():
    service = workers.ExtractionProcess(jobs=2)
    tickets = [service.submit((content, path, NAMES, True)) for path, content in sources(4)]
    assert sorted(ticket for ticket, _ in service.arrivals(tickets)) == tickets
    pid = service._process.pid
    assert len(children_of(pid)) == 2  # its worker pool
    service.close()
    assert service._process.exitcode == 0
    assert gone(pid) and children_of(pid) == []


def test_closing_an_unused_one_does_not_wait_for_its_import():
    service = workers.ExtractionProcess(jobs=2)
    started = time.perf_counter()
    service.close()
    assert time.perf_counter() - started < 1
    assert service._process.exitcode is not None


def _die(args):
    if args[1] == "a.py":  # (not the sample it parses first)
        os._exit(3)
    return FileFacts(path=args[1])


def test_a_dead_worker_is_reported_not_a_hang(monkeypatch):
    # Forked after the patch, the extraction process and its workers run _die. The
    # file's arrival is the error (FactsSource parses it again alone: test_hostile_input.py).
    monkeypatch.setattr(workers, "_extract", _die)
    service = workers.ExtractionProcess(jobs=2)
    try:
        ticket = service.submit((b"x = 1\n", "a.py", NAMES, True))
        [(arrived, result)] = list(service.arrivals([ticket]))
        assert arrived == ticket and isinstance(result, BrokenProcessPool)
    finally:
        service.close()


def test_it_ends_when_the_main_process_is_killed(tmp_path):
    # The main process dies without a word (SIGKILL, OOM): the extraction process
    # notices it has no parent and stops its workers and itself.
    script = textwrap.dedent(
        """
        import os, sys
        from opusguard.run import workers
        from opusguard.policy.catalog import load_catalog
        workers._worker_catalog = load_catalog()
        service = workers.ExtractionProcess(jobs=2)
        list(service.arrivals([service.submit((b"x = 1\\n", "a.py", frozenset({"route"}), True))]))
        print(service._process.pid, *sorted(
            int(e) for e in os.listdir("/proc") if e.isdigit() and _ppid(e) == service._process.pid
        ), flush=True)
        os._exit(0)
        """
    ).replace(
        "from opusguard.run import workers",
        "from opusguard.run import workers\n"
        "def _ppid(e):\n"
        "    try:\n"
        "        s = open(f'/proc/{e}/stat').read()\n"
        "    except OSError:\n"
        "        return -1\n"
        "    return int(s[s.rindex(')') + 2:].split()[1])",
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True).stdout
    pids = [int(word) for word in out.split()]
    assert len(pids) == 3, out  # the extraction process and its two workers
    deadline = time.monotonic() + 10
    while not all(gone(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {[pid for pid in pids if not gone(pid)]}"
        time.sleep(0.1)


def test_started_early_and_stopped_unused():
    source = workers.FactsSource(load_catalog(), NAMES, None, jobs=2)
    with source:
        source.start_service()
        service = source._service
        assert service is not None
        source.stop_unused()  # a small tree after all: parsed in this process
        assert source._service is None and service._process.exitcode is not None
        facts = source.facts_for(sources(2))
    assert len(facts) == 2 and source._service is None


def test_a_cold_run_of_a_large_tree_gives_the_same_findings_as_a_serial_one(tree):
    files = {f"app/plain{i}.py": f"def f{i}(x):\n    return x * {i}\n" for i in range(250)}
    files.update({path: content.decode() for path, content in sources(5)})
    root = tree(files)
    parallel = run_cli("check", "--no-cache", "--format", "json", ".", cwd=root)
    serial = run_cli("check", "--no-cache", "-j", "1", "--format", "json", ".", cwd=root)
    assert parallel.returncode == serial.returncode == 1, parallel.stderr
    assert parallel.stderr == serial.stderr == ""
    findings = json.loads(parallel.stdout)["findings"]
    assert findings == json.loads(serial.stdout)["findings"] and len(findings) >= 5


def _stuck(args):
    if args[1] == "a.py":
        time.sleep(120)
    return FileFacts(path=args[1])


def test_a_stuck_worker_is_ended_with_its_process(monkeypatch):
    # Ctrl-C while a worker is deep in a huge file: close() waits a while, then ends
    # the extraction process and its workers together (they share a process group).
    monkeypatch.setattr(workers, "_extract", _stuck)
    service = workers.ExtractionProcess(jobs=2)
    service.stop_timeout = 0.5
    service.submit((b"x = 1\n", "a.py", NAMES, True))
    pid = service._process.pid
    deadline = time.monotonic() + 30
    while len(pool := children_of(pid)) < 2:  # its pool is up, and a worker has the file
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    started = time.perf_counter()
    service.close()
    assert time.perf_counter() - started < 10
    deadline = time.monotonic() + 10
    while not all(gone(p) for p in [pid, *pool]):
        assert time.monotonic() < deadline, "a worker outlived its extraction process"
        time.sleep(0.1)


def test_an_error_that_skips_close_does_not_hang_the_exit():
    script = textwrap.dedent(
        """
        from opusguard.run import workers
        from opusguard.policy.catalog import load_catalog
        workers._worker_catalog = load_catalog()
        service = workers.ExtractionProcess(jobs=2)
        list(service.arrivals([service.submit((b"x = 1\\n", "a.py", frozenset({"route"}), True))]))
        raise SystemExit(7)  # never closed: the exit handlers stop it
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 7, run.stderr


def test_an_error_after_an_early_start_ends_the_run_at_once(tree):
    # `check` starts the extraction process before it loads the policy; a broken
    # policy then ends the run (exit 2) without waiting for that process.
    files = {f"app/plain{i}.py": f"X{i} = {i}\n" for i in range(250)}
    files["opusguard.yaml"] = "version: 1\ntasks: [\n"
    root = tree(files)
    started = time.perf_counter()
    run = run_cli("check", "--no-cache", ".", cwd=root)
    assert run.returncode == 2, run.stderr
    assert "opusguard.yaml" in run.stderr
    assert time.perf_counter() - started < 10


def test_the_cli_starts_it_early_only_for_a_cold_run(tmp_path):
    from opusguard.cli.main import _early_extraction
    from opusguard.policy.config import load_settings

    settings = load_settings(tmp_path, None, {})
    cold = _early_extraction(settings, 2, False, None, None)  # no cache folder yet: cold
    assert cold is not None
    cold.close()
    (tmp_path / ".opusguard_cache").mkdir()
    assert _early_extraction(settings, 2, False, None, None) is None  # perhaps warm: the engine decides
    assert _early_extraction(settings, 1, True, None, None) is None  # -j 1
    assert _early_extraction(settings, 2, True, "x.py", None) is None  # --stdin-filename
    service = _early_extraction(settings, 2, True, None, None)  # --no-cache
    assert service is not None
    service.close()


def test_prefetched_files_are_not_parsed_twice():
    source = workers.FactsSource(load_catalog(), NAMES, None, jobs=2)
    files = sources(6)
    with source:
        source.start_service()
        first = source.facts_for(files[:3], stream=True)
        source.prefetch(files[3:])
        submitted = source._service._submitted
        later = source.facts_for(files[3:])
        assert source._service._submitted == submitted  # taken from the prefetch
    assert list(first) + list(later) == [path for path, _ in files]
    assert all(facts.calls for facts in later.values())


def test_second_pass_files_are_parsed_while_the_first_pass_arrives(tree, monkeypatch):
    from opusguard.policy.config import load_settings
    from opusguard.run import engine

    files = {f"app/plain{i}.py": f"def f{i}(x):\n    return x * {i}\n" for i in range(250)}
    files["app/config.py"] = 'OPUS = "claude-opus-4-1"\n'
    for i in range(4):  # no SDK name, no model id: found by the second pass
        files[f"app/use{i}.py"] = f"from app.config import OPUS\nllm(model=OPUS)  # {i}\n"
    root = tree(files)
    prefetched = []
    original = workers.FactsSource.prefetch
    monkeypatch.setattr(
        workers.FactsSource,
        "prefetch",
        lambda self, items: (prefetched.extend(p for p, _ in items), original(self, items)),
    )

    def findings(jobs):
        settings = load_settings(root)
        options = engine.RunOptions(paths=["."], jobs=jobs, use_cache=False)
        return [as_data(f) for f in engine.check(settings, options, cwd=root).findings]

    parallel = findings(2)
    assert sorted(prefetched) == [f"app/use{i}.py" for i in range(4)]
    assert parallel == findings(1)
    assert sum(1 for f in parallel if f["path"].startswith("app/use")) == 4
