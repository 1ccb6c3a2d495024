"""The facts cache: entries, their reuse, and pruning what is no longer used."""

import os
import time
from pathlib import Path

from conftest import settle

from opusguard.facts.records import FileFacts
from opusguard.policy.config import load_settings
from opusguard.run import engine
from opusguard.run.cache import _DAY_S, SETTLED_NS, STALE_AFTER_DAYS, FactsCache, VerdictIndex
from tests.helpers import TODAY
from tests.test_cli import APP, cached_check

OLD = time.time() - (STALE_AFTER_DAYS + 1) * _DAY_S


def age(path, when=OLD):
    os.utime(path, (when, when))


def entries(directory):
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def test_an_entry_round_trips_and_another_content_misses(tmp_path):
    cache = FactsCache(tmp_path / "c", "salt")
    cache.put(b"x = 1\n", FileFacts(path="a.py"))
    assert cache.get(b"x = 1\n") == FileFacts(path="")  # the path is the caller's
    assert cache.get(b"x = 2\n") is None
    assert cache.get(b"x = 1\n", "whole") is None
    assert FactsCache(tmp_path / "c", "other salt").get(b"x = 1\n") is None


def test_pruning_removes_what_went_unused_and_keeps_the_rest(tmp_path):
    directory = tmp_path / "c"
    cache = FactsCache(directory, "salt")
    for text in (b"old", b"used", b"new"):
        cache.put(text, FileFacts(path=""))
    old, used = (cache._path(cache.key(text, "")) for text in (b"old", b"used"))
    age(old)
    age(used)
    leftover = directory / ".tmp-killed-run"  # a temp file a killed run left
    leftover.write_bytes(b"half")
    age(leftover, time.time() - 2 * _DAY_S)
    young_temp = old.parent / ".tmp-writing-now"
    young_temp.write_bytes(b"")

    later = FactsCache(directory, "salt")
    assert later.get(b"used") is not None  # reading it marks it used
    later.prune()
    kept = entries(directory)
    assert old.relative_to(directory).as_posix() not in kept
    assert used.relative_to(directory).as_posix() in kept
    assert cache._path(cache.key(b"new", "")).relative_to(directory).as_posix() in kept
    assert ".tmp-killed-run" not in kept and young_temp.relative_to(directory).as_posix() in kept
    assert {".gitignore", "CACHEDIR.TAG", "last-pruned"} <= set(kept)


def test_pruning_runs_at_most_once_a_day(tmp_path):
    directory = tmp_path / "c"
    cache = FactsCache(directory, "salt")
    cache.put(b"a", FileFacts(path=""))
    cache.prune()
    entry = cache._path(cache.key(b"a", ""))
    age(entry)
    FactsCache(directory, "salt").prune()
    assert entry.exists()  # pruned less than a day ago
    age(directory / "last-pruned", time.time() - 2 * _DAY_S)
    FactsCache(directory, "salt").prune()
    assert not entry.exists()


def test_a_check_that_writes_prunes_and_one_that_only_reads_does_not(tree):
    root = tree(APP)
    first = cached_check(cwd=root)
    cache_dir = root / ".opusguard_cache"
    before = entries(cache_dir)
    for path in cache_dir.rglob("*"):
        if path.is_file():
            age(path)
    cached_check(cwd=root)  # reads only (and marks what it read as used)
    assert entries(cache_dir) == before

    (root / "app" / "orphan.py").write_text("x = 1\n")
    stale = cache_dir / "ab" / "cdef"  # an entry for an old version of some file
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"OGF5")
    age(stale)
    (cache_dir / "last-pruned").unlink(missing_ok=True)
    assert cached_check(cwd=root)["findings"] == first["findings"]  # writes the new file's verdict
    assert not stale.exists()
    assert set(before) <= set(entries(cache_dir))  # everything the runs use is still there


def analyze_cached(root, **options):
    """engine.analyze with the cache on, in this process (so that reads can be counted)."""
    return engine.analyze(load_settings(root), engine.RunOptions(paths=["."], jobs=1, today=TODAY, **options), cwd=root)


def test_a_warm_run_takes_an_unchanged_parsed_files_facts_without_reading_it(tree, monkeypatch):
    # app/uses.py has no Claude word: the second pass finds that it reads a model name.
    root = settle(
        tree({**APP, "app/uses.py": "from app.config import OPUS\nllm(model=OPUS)\n", "app/plain.py": "x = 1\n"})
    )
    cold = analyze_cached(root)
    parsed = set(cold.sources) | {"app/uses.py"}  # (sources: the first pass's files)
    assert "app/bot.py" in parsed and cold.summary.files_parsed >= len(parsed)
    assert any(call.path == "app/uses.py" for call in cold.project.calls)
    read = []
    real_read = engine._read
    monkeypatch.setattr(
        engine, "_read", lambda path: read.append(Path(path).relative_to(root).as_posix()) or real_read(path)
    )

    warm = analyze_cached(root)
    assert parsed.isdisjoint(read) and warm.sources == {}
    assert warm.summary.files_parsed == 0
    assert warm.project.files == cold.project.files

    # `fix` rewrites what it parsed: it reads every such file, and its facts still come from the cache.
    read.clear()
    for_fix = analyze_cached(root, read_candidates=True)
    assert parsed <= set(read) and for_fix.sources == cold.sources and for_fix.summary.files_parsed == 0
    assert for_fix.project.files == cold.project.files

    # Facts gone from the cache (pruned, corrupt): the file is read and parsed again.
    for entry in (root / ".opusguard_cache").glob("??/*"):
        entry.write_bytes(b"garbage")
    read.clear()
    again = analyze_cached(root)
    assert parsed <= set(read) and set(again.sources) == parsed - {"app/uses.py"}
    assert again.summary.files_parsed >= len(parsed)
    assert again.project.files == cold.project.files


def test_another_build_of_the_same_version_does_not_reuse_the_cache(tree, monkeypatch):
    # A pre-commit hook moved to a new `rev` keeps the version number, and may make
    # other facts and verdicts: the digest of opusguard's own code is in the key.
    root = settle(tree(APP))
    assert analyze_cached(root).summary.files_parsed > 0
    assert analyze_cached(root).summary.files_parsed == 0
    monkeypatch.setattr(engine, "code_digest", lambda: "another build")
    assert analyze_cached(root).summary.files_parsed > 0


def test_a_file_changed_within_the_settling_time_gets_no_verdict(tmp_path):
    index = VerdictIndex(FactsCache(tmp_path / "c", "salt"))
    just_now, settled = time.time_ns(), time.time_ns() - SETTLED_NS - 10**9
    index.put("/a.py", 10, just_now, "skip")
    assert index.entries == {} and not index.changed
    index.put("/a.py", 10, settled, "skip")
    assert index.entries == {"/a.py": (10, settled, "skip")} and index.changed


def test_cached_records_name_their_types_unquoted():
    # On Python 3.10, `tuple["Value", ...]` under postponed annotations stays a tuple
    # of the string 'Value' (3.11 resolves it): msgspec could not decode any cached
    # facts there, and every warm run failed. Annotations name types without quotes.
    import ast

    from opusguard.facts import records

    tree = ast.parse(Path(records.__file__).read_text(encoding="utf-8"))
    quoted = [
        (node.lineno, inner.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign)
        for inner in ast.walk(node.annotation)
        if isinstance(inner, ast.Constant) and isinstance(inner.value, str)
    ]
    assert quoted == []
