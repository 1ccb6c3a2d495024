"""The shell around the core (core.py): the files on disk, the cache, the workers.

`check`, `fix` and `report` all start from `analyze()`, which runs core.analyze's
steps over the files discovery finds: each read once and pre-filtered, a file's facts
taken from the cache or parsed in a worker process, a file unchanged since the last
run (the verdict index) not even read.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import NamedTuple

from msgspec import Struct, field

from opusguard import __version__, core
from opusguard.base.digest import code_digest, hexdigest
from opusguard.base.paths import DISK, display_path
from opusguard.core import Analysis, CheckResult, default_codes, run_rules
from opusguard.facts import configfiles
from opusguard.facts.records import FileFacts
from opusguard.policy.catalog import Catalog, load_catalog
from opusguard.policy.config import POLICY_FILE_NAMES, Settings, match_tests, selected_rules
from opusguard.policy.evidence import read_evidence
from opusguard.policy.tasks import Policy, discover_policy, empty_policy, load_policy
from opusguard.resolve.join import build_project
from opusguard.resolve.project import Project
from opusguard.rules.findings import RunSummary
from opusguard.run.cache import FactsCache, VerdictIndex
from opusguard.run.configs_on_disk import ConfigFiles
from opusguard.run.discover import discover_file_names
from opusguard.run.parsed_cache import load_catalog_cached, load_policy_cached
from opusguard.run.workers import ExtractionProcess, FactsSource
from opusguard.select import prefilter
from opusguard.select.prefilter import HeldName, Imports

# From this many files to read, candidates go to workers while the rest is read.
MIN_FILES_TO_STREAM = 200
# The verdict index keeps a parsed file's verdict as this prefix and the facts
# cache key of its bytes (FactsCache.key), so that while its size and mtime hold,
# a later run takes its facts without reading and hashing it.
_PARSED = f"{prefilter.PARSE}:"


class _SecondPassFile(NamedTuple):
    """A file that makes a model-taking call: it matters if it reads a model name."""

    rel: str  # as shown
    key: str  # its absolute path, in the verdict index
    size: int
    mtime_ns: int
    verdict: str
    content: bytes | None  # None: read again if the second pass needs it


# Contents of second-pass files kept in memory between the passes, at most; the
# rest are read again (from the page cache) if the second pass needs them.
SECOND_PASS_MEMORY = 64 * 1024 * 1024


def load_run_policy(settings: Settings, catalog: Catalog, cwd: Path, cache_dir: Path | None = None) -> Policy:
    """The policy named by --policy / config, else the nearest opusguard.yaml, else empty,
    with the evidence its tasks name.

    With `cache_dir`, a policy built by an earlier run is reused while its files are unchanged."""
    path = settings.policy or discover_policy(settings.root)
    if path is None:
        return empty_policy(catalog)
    policy = (
        load_policy_cached(path, catalog, cache_dir, root=settings.root)
        if cache_dir is not None
        else load_policy(path, catalog, root=settings.root)
    )
    read_evidence(policy)
    return policy


def cache_salt(catalog: Catalog, names: frozenset[str]) -> str:
    return f"{__version__}|{code_digest()}|{catalog.digest()}|{','.join(sorted(names))}"


# --- the pipeline --------------------------------------------------------------------


class RunOptions(Struct):
    paths: Sequence[str]
    jobs: int = 0  # 0: all cores
    use_cache: bool = True
    stdin: tuple[str, bytes] | None = None  # (--stdin-filename, source)
    explicit_files: Sequence[Path] | None = None  # --changed-since: these files only
    today: date = field(default_factory=date.today)
    progress: Callable[[int, int], None] | None = None
    # False for a throw-away tree (report --diff's export of REF): its paths would
    # only fill the verdict index it shares with the working tree.
    remember_verdicts: bool = True
    # An extraction process the CLI started before loading much (workers.start_extraction).
    extraction: ExtractionProcess | None = None
    # Read every file to parse, even one whose facts the verdict index can name:
    # `fix` rewrites those bytes, so they must be the ones its facts came from.
    read_candidates: bool = False
    # The cache folder, in place of the project's (report --diff's export of REF shares the working tree's).
    cache_dir: Path | None = None
    # A named file of the policy (as pre-commit passes a changed policy or evidence
    # file) widens the run to the whole project: a policy change can change any
    # call's finding. `fix` does not widen: it rewrites only what it is given.
    widen_for_policy_files: bool = True


def analyze(settings: Settings, options: RunOptions, *, cwd: Path) -> Analysis:
    """core.analyze's steps over the files on disk: read once, pre-filtered, their facts
    from the cache or parsed in worker processes."""
    started = time.perf_counter()
    cache_dir = (options.cache_dir or settings.cache_dir) if options.use_cache else None
    catalog = load_catalog_cached(None, cache_dir) if cache_dir is not None else load_catalog()
    policy = load_run_policy(settings, catalog, cwd, cache_dir)
    assert policy.catalog is not None  # (loaded with one)
    catalog = policy.catalog
    names = core.router_names(policy)
    cache, verdicts = _open_cache(cache_dir, catalog, names, options)
    # The worker pool is closed on the way out, Ctrl-C included.
    with FactsSource(catalog, names, cache, options.jobs or os.cpu_count() or 1, service=options.extraction) as source:
        run = _Run(settings, options, cwd, policy, catalog, cache, verdicts, source)
        facts = run.first_pass()
        parsed_sources = dict(run.candidates)
        parsed_sources.update(core.second_pass(facts, source, catalog, run.choose_second_pass))
        project = run.join(facts, parsed_sources)
    if verdicts is not None:
        verdicts.save()
    if cache is not None and cache.wrote:  # (a run that only read never prunes)
        cache.prune()
    project.cwd = cwd
    summary = run.summary
    summary.files_parsed = len(source.parsed)
    summary.skipped = core.skipped(facts, [rel for rel, _ in run.large])
    summary.no_policy = policy.path is None
    core.count_models(project, summary)
    summary.elapsed_seconds = time.perf_counter() - started
    return Analysis(project=project, summary=summary, sources=dict(run.candidates), warnings=run.warnings)


def _open_cache(
    cache_dir: Path | None, catalog: Catalog, names: frozenset[str], options: RunOptions
) -> tuple[FactsCache | None, VerdictIndex | None]:
    if cache_dir is None:
        return None, None
    cache = FactsCache(cache_dir, cache_salt(catalog, names))
    if not options.remember_verdicts:
        return cache, None
    verdicts = VerdictIndex(cache)
    verdicts.load()
    try:  # before the walk, so that making it does not change the tree the walk saw
        cache.prepare()
    except OSError:
        pass  # a read-only tree: the run goes on without writing
    return cache, verdicts


class _Run:
    """One run's files on disk: what was read, what waits for the second pass, what
    could not be parsed, and the warnings to print."""

    def __init__(
        self,
        settings: Settings,
        options: RunOptions,
        cwd: Path,
        policy: Policy,
        catalog: Catalog,
        cache: FactsCache | None,
        verdicts: VerdictIndex | None,
        source: FactsSource,
    ):
        self.settings = settings
        self.options = options
        self.cwd = cwd
        self.policy = policy
        self.catalog = catalog
        self.cache = cache
        self.verdicts = verdicts
        self.source = source
        self.warnings: list[str] = []
        self.summary = RunSummary()
        self.candidates: list[tuple[str, bytes]] = []  # read and parsed in the first pass
        self.others: list[_SecondPassFile] = []  # parsed if they read a name held elsewhere
        self.large: list[tuple[str, bytes]] = []  # core.LITERALS_ONLY
        self.unreadable: dict[str, str] = {}  # OG000 without a parse
        self.configs = _config_files(settings, policy, catalog, cwd, cache, verdicts)
        self._kept_bytes = 0  # of second-pass files kept in memory
        self.scanned: dict[str, Imports] = {}  # the imports of second-pass files kept in memory, by path

    def first_pass(self) -> dict[str, FileFacts]:
        """Discover and pre-filter (each file read once; most never parsed), then the
        facts of the files that may hold one, of the unreadable and of the large ones."""
        options = self.options
        if (
            options.stdin is None
            and options.explicit_files is None
            and (self.verdicts is None or not self.verdicts.entries)
        ):
            self.source.start_service()  # a cold run of a tree: it will parse
        facts = self._from_stdin(*options.stdin) if options.stdin is not None else self._from_tree()
        for rel, error in self.unreadable.items():
            facts[rel] = FileFacts(path=rel, parse_error=error, parse_error_line=1)
        for rel, content in self.large:
            facts[rel] = self._literal_facts(rel, content)
        return facts

    def _from_stdin(self, name: str, content: bytes) -> dict[str, FileFacts]:
        self.summary.files_scanned = 1
        rel = display_path(Path(name), self.cwd)
        if configfiles.is_config_path(name):
            self.configs.add_content(rel, content)
        else:
            self.candidates.append((rel, content))
        return self.source.facts_for(self.candidates)

    def _from_tree(self) -> dict[str, FileFacts]:
        files = self._discover()
        # Large trees: parse each candidate in a worker while the rest is still read.
        stream = len(files) >= MIN_FILES_TO_STREAM
        if not stream:
            self.source.stop_unused()  # a small tree: parsing here is quicker than starting workers
        return self.source.facts_for(
            self._prefilter(files),
            stream=stream,
            on_result=_EarlySecondPass(self.others, self.catalog, self.source, self.scanned).see,
        )

    def _discover(self) -> list[str]:
        """The absolute paths of the code files to read (config files are taken apart)."""
        settings, options, cwd = self.settings, self.options, self.cwd
        paths = options.paths or ["."]
        if options.explicit_files is None:
            paths, named = _split_named_files(paths, settings, self.policy, cwd, self.warnings)
            if named and options.widen_for_policy_files:
                paths, self.summary.policy_files_named = [os.fspath(settings.root)], named
            for path in named if not options.widen_for_policy_files else ():
                self.warnings.append(f"{path}: not Python (a policy or config file); not rewritten")
        if options.explicit_files is not None:
            files = [os.path.join(cwd, path) for path in options.explicit_files]
        elif paths:
            files = discover_file_names(
                paths,
                configfiles.with_config_globs(settings),
                cwd=cwd,
                warn=self.warnings.append,
                listings=self.verdicts.listings if self.verdicts is not None else None,
            )
        else:
            files = []
        self.summary.files_scanned = len(files)
        files = self.configs.take_config_files(files)
        # Nothing found: no code and no config file naming a model under the folders
        # walked (a file named explicitly, as pre-commit names them, is always checked).
        self.summary.nothing_found = (
            not files
            and not self.configs.files
            and bool(paths)
            and options.explicit_files is None
            and not any(os.path.isfile(os.path.join(cwd, path)) for path in paths)
        )
        return files

    def _prefilter(self, files: Sequence[str]) -> Iterator[tuple[str, bytes | FileFacts]]:
        """Yield the files to parse now (also kept in `candidates`), as they are read.

        A file whose size and mtime match the verdict index is not read: one that cannot
        matter is skipped, one for the second pass waits in `others` unread, and one that
        was parsed is yielded with its cached facts in place of its bytes (unless `fix`
        needs the bytes, and while the entry is there)."""
        progress, reuse_facts = self.options.progress, not self.options.read_candidates
        known_verdicts = self.verdicts.entries if self.verdicts is not None else {}
        for index, key in enumerate(files):
            if progress is not None and index % 256 == 0:
                progress(index, len(files))
            try:
                known = self._known(key, known_verdicts, reuse_facts) if known_verdicts else None
                if isinstance(known, tuple):  # (rel, facts): its facts, unread
                    yield known
                    continue
                if known == _SETTLED:
                    continue
                content, stat = _read(key)
            except OSError as exc:
                rel = display_path(key, self.cwd)
                self.unreadable[rel] = f"cannot read: {exc.strerror or exc}"
                self.warnings.append(f"{rel}:1: {self.unreadable[rel]}")
                continue
            if self._sort(key, content, stat, known):
                yield self.candidates[-1]
        if progress is not None:
            progress(len(files), len(files))

    def _known(
        self, key: str, known_verdicts: dict[str, tuple[int, int, str]], reuse_facts: bool
    ) -> str | None | tuple[str, FileFacts]:
        """What the verdict index says of an unchanged file: _SETTLED (skipped, or waiting
        in `others`), its path and cached facts, its verdict to read it with, or None."""
        stat = os.stat(key)
        entry = known_verdicts.get(key)
        known = entry[2] if entry is not None and entry[:2] == (stat.st_size, stat.st_mtime_ns) else None
        if known is None or known == prefilter.SKIP:
            return None if known is None else _SETTLED
        rel = display_path(key, self.cwd)
        if known.startswith(prefilter.SECOND_PASS):
            self.others.append(_SecondPassFile(rel, key, stat.st_size, stat.st_mtime_ns, known, None))
            return _SETTLED
        if known.startswith(_PARSED):
            assert self.verdicts is not None
            facts = self.verdicts.cache.get_by_key(known[len(_PARSED) :]) if reuse_facts else None
            if facts is not None:
                return rel, facts
            return prefilter.PARSE  # its facts are gone (pruned, corrupt): read and parse it
        return known

    def _sort(self, key: str, content: bytes, stat: os.stat_result, known: str | None) -> bool:
        """File a file just read by what it is (core.sort_source); True for one to parse now."""
        # A file read again keeps its verdict, if it did not change meanwhile (known comes
        # from an entry of the same size and mtime).
        entry = self.verdicts.entries.get(key) if known is not None and self.verdicts is not None else None
        unchanged = entry is not None and entry[:2] == (stat.st_size, stat.st_mtime_ns) and len(content) == stat.st_size
        verdict = known if known is not None and unchanged else prefilter.classify(content)
        remember = self.verdicts is not None and len(content) == stat.st_size
        if verdict == prefilter.SKIP:
            if remember:
                self._remember(key, stat, verdict)
            return False
        rel = display_path(key, self.cwd)
        kind = core.sort_source(rel, content, verdict)
        if kind == prefilter.SKIP:  # too large to read for a name held elsewhere
            return False
        if kind == core.NOT_ANALYSED:
            self.unreadable[rel] = core.not_analysed_error(content)
            return False
        if kind == core.LITERALS_ONLY:
            self.large.append((rel, content))
            self.warnings.append(core.literals_only_warning(rel, content))
            return False
        if verdict == prefilter.PARSE:
            self.candidates.append((rel, content))
            # The facts it is about to get will be under this key.
            verdict = _PARSED + self.verdicts.cache.key(content) if self.verdicts is not None else verdict
        elif verdict == prefilter.SECOND_PASS:
            kept = content if self._kept_bytes + len(content) <= SECOND_PASS_MEMORY else None
            self._kept_bytes += len(kept or b"")
            self.others.append(_SecondPassFile(rel, key, stat.st_size, stat.st_mtime_ns, verdict, kept))
        if remember:
            self._remember(key, stat, verdict)
        return verdict.startswith(_PARSED) or verdict == prefilter.PARSE

    def _remember(self, key: str, stat: os.stat_result, verdict: str) -> None:
        assert self.verdicts is not None
        self.verdicts.put(key, stat.st_size, stat.st_mtime_ns, verdict)

    def _literal_facts(self, rel: str, content: bytes) -> FileFacts:
        found = self.cache.get(content, "literals") if self.cache is not None else None
        if found is None:
            found = core.literal_facts(rel, content, self.catalog)
            if self.cache is not None and found.parse_error is None:
                self.cache.put(content, found, "literals")
        found.path = rel
        return found

    def choose_second_pass(
        self, names: frozenset[HeldName], done: Collection[str]
    ) -> list[tuple[str, bytes | FileFacts]]:
        """core.Chooser over the files waiting in `others`."""
        self.others = [other for other in self.others if other.rel not in done]
        return _second_pass(
            self.others, names, self.verdicts, self.scanned, reuse_facts=not self.options.read_candidates
        )

    def join(self, facts: dict[str, FileFacts], parsed_sources: dict[str, bytes]) -> Project:
        """Names followed across files; files outside the scanned set are loaded on demand."""
        roots = _import_roots(self.settings, self.cwd)
        lazily_loaded: dict[str, FileFacts] = {}

        def find_module(module: str) -> FileFacts | None:
            path = _module_file(module, roots)
            if path is None:
                return None
            rel = display_path(path, self.cwd)
            if rel in facts:
                return facts[rel]
            if rel not in lazily_loaded:
                try:
                    content = path.read_bytes()
                except OSError:
                    return None
                if len(content) > core.MAX_PARSE_BYTES:
                    return None  # (its names stay unresolved, as for a module not found)
                lazily_loaded[rel] = self.source.facts_for([(rel, content)])[rel]
            return lazily_loaded[rel]

        def read(rel: str) -> bytes | None:
            try:
                return parsed_sources[rel] if rel in parsed_sources else (self.cwd / rel).read_bytes()
            except OSError:
                return None

        project = build_project(
            facts,
            policy=self.policy,
            catalog=self.catalog,
            today=self.options.today,
            find_module=find_module,
            facts_naming=core.OnDemand(self.source, read),
            configs=self.configs,
        )
        self.warnings.extend(self.configs.finish())
        return project


# What _Run._known says of a file the verdict index settles without reading it.
_SETTLED = "settled"


def _config_files(
    settings: Settings,
    policy: Policy,
    catalog: Catalog,
    cwd: Path,
    cache: FactsCache | None,
    verdicts: VerdictIndex | None,
) -> ConfigFiles:
    """The run's config files: never the policy, its evidence, the baseline or the catalog."""
    skip = [*core.governing_files(policy), settings.baseline, catalog.source_path]
    return ConfigFiles(
        cwd,
        settings.root,
        lambda text: catalog.recognize(text) is not None,
        cache,
        excludes=(settings.exclude, settings.extend_exclude),
        skip=frozenset(os.path.abspath(path) for path in skip if path),
        verdicts=verdicts,
    )


def _split_named_files(
    paths: Sequence[str], settings: Settings, policy: Policy, cwd: Path, warnings: list[str]
) -> tuple[list[str], list[str]]:
    """The paths to walk, and the named files that are the policy's (as pre-commit
    passes a changed policy, evidence or config file). Any other named data file
    (YAML, TOML, JSON, INI, .env) is read as a config file, and any other named
    file is checked as Python, whatever its name (a script)."""
    from opusguard.run.discover import _name_matcher

    is_python = _name_matcher(settings.include)
    governing: set[str] | None = None  # (made only when a named file needs it)
    kept, named = [], []
    for path in paths:
        full = os.path.join(cwd, path)
        if not os.path.isfile(full) or is_python(os.path.basename(full)):
            kept.append(path)
            continue
        if governing is None:
            governing = _policy_files(settings, policy, cwd)
        if os.path.realpath(full) in governing or os.path.basename(full) in _CONFIG_NAMES:
            named.append(display_path(full, cwd))
        else:  # a config file (read for model ids, OG109) or a script checked as Python
            kept.append(path)
    return kept, named


_CONFIG_NAMES = frozenset({"pyproject.toml", "opusguard.toml", *POLICY_FILE_NAMES})


def _policy_files(settings: Settings, policy: Policy, cwd: Path) -> set[str]:
    """Real paths of the files a check reads beside the code: the policy and its
    includes, the evidence its tasks point at, the config file and the catalog."""
    files = [
        *core.governing_files(policy),
        settings.config_path,
        policy.catalog.source_path if policy.catalog else None,
    ]
    files += [task.source for task in policy.tasks.values()]  # (includes: the files tasks are written in)
    return {os.path.realpath(os.path.join(cwd, file)) for file in files if file}


def _read(path: str) -> tuple[bytes, os.stat_result]:
    """A file's bytes and its stat, at the cost of an open, an fstat and two reads
    (Path.stat() and read_bytes() cost twice as much on a tree of small files)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        stat = os.fstat(fd)
        chunks = []
        size = stat.st_size + 1  # one read for the whole file, one more to see its end
        while chunk := os.read(fd, size):
            chunks.append(chunk)
            size = 1 << 20
        return b"".join(chunks) if len(chunks) != 1 else chunks[0], stat
    finally:
        os.close(fd)


class _EarlySecondPass:
    """Sends second-pass files to be parsed while first-pass facts are still arriving.

    A file that reads a name one first-pass file binds to a model is in the second
    pass whatever the other files bind (more names only add files), so it can be
    parsed in the meantime. The second pass still chooses its files itself; this
    only moves work earlier (workers.FactsSource.prefetch)."""

    def __init__(
        self, others: list[_SecondPassFile], catalog: Catalog, source: FactsSource, scanned: dict[str, Imports]
    ):
        self.others = others
        self.catalog = catalog
        self.source = source
        self.scanned = scanned  # each file's imports, scanned once for all the names that come
        self.names: set[HeldName] = set()
        self.sent: set[str] = set()

    def see(self, facts: FileFacts) -> None:
        new = core.names_holding_models([facts], self.catalog) - self.names
        if not new:
            return
        self.names |= new
        names = frozenset(new)
        found = [
            (other.rel, other.content)
            for other in self.others
            if other.content is not None
            and other.rel not in self.sent
            and prefilter.reads_names(other.content, names, self.scanned, other.rel)
        ]
        self.sent.update(rel for rel, _ in found)
        self.source.prefetch(found)


def _second_pass(
    others: Iterable[_SecondPassFile],
    names: frozenset[HeldName],
    verdicts: VerdictIndex | None,
    scanned: dict[str, Imports],
    *,
    reuse_facts: bool = True,
) -> list[tuple[str, bytes | FileFacts]]:
    """Files that read one of `names` (bound to models elsewhere), read again; a file
    the verdict index has already answered for the same names is not read: it is
    left out, or comes with its cached facts in place of its bytes (as in _prefilter)."""
    digest = hexdigest(repr(sorted(names)).encode(), 16)
    answered_no, answered_yes = f"{prefilter.SECOND_PASS}:{digest}:no", f"{prefilter.SECOND_PASS}:{digest}:yes:"
    found: list[tuple[str, bytes | FileFacts]] = []
    for rel, key, size, mtime_ns, verdict, content in others:
        if verdict == answered_no:
            continue
        if reuse_facts and verdicts is not None and verdict.startswith(answered_yes):
            facts = verdicts.cache.get_by_key(verdict[len(answered_yes) :])
            if facts is not None:
                found.append((rel, facts))
                continue
        if content is None:
            try:
                content, _ = _read(key)
            except OSError:
                continue
            uses = prefilter.reads_names(content, names)  # (read again: its bytes may have changed)
        else:
            uses = prefilter.reads_names(content, names, scanned, rel)
        if uses:
            found.append((rel, content))
        if verdicts is not None and len(content) == size:
            # A yes keeps the key its facts will be under (see _PARSED).
            answer = answered_yes + verdicts.cache.key(content) if uses else answered_no
            verdicts.put(key, size, mtime_ns, answer)
    return found


def _import_roots(settings: Settings, cwd: Path) -> list[Path]:
    roots = []
    for root in (settings.root, settings.root / "src", cwd, cwd / "src"):
        if root.is_dir() and root not in roots:
            roots.append(root)
    return roots


def _module_file(module: str, roots: Sequence[Path]) -> Path | None:
    parts = module.split(".")
    for root in roots:
        base = root.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def check(settings: Settings, options: RunOptions, *, cwd: Path, select_codes: set[str] | None = None) -> CheckResult:
    if select_codes is None:
        every, defaults = default_codes()
        select_codes = selected_rules(settings, every, defaults)
    analysis = analyze(settings, options, cwd=cwd)
    return run_rules(
        analysis, settings, select_codes=select_codes, tree=DISK, is_test=match_tests(settings, analysis.project.cwd)
    )


def print_warnings(warnings: Iterable[str]) -> None:
    from opusguard.base.sanitize import printable

    for warning in warnings:
        print(f"opusguard: warning: {printable(warning)}", file=sys.stderr)
