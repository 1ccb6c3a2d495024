"""The pipeline: discover -> pre-filter -> per-file facts (cached, parallel) -> join -> rules.

`check`, `fix` and `report` all start from `analyze()`, so a file is parsed at
most once per run (and not at all when its facts are cached).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import NamedTuple

from msgspec import Struct, field

from opusguard import __version__, configfiles, limits, notebook, prefilter
from opusguard.cache import FactsCache, VerdictIndex
from opusguard.catalog import Catalog, load_catalog
from opusguard.config import POLICY_FILE_NAMES, Settings, code_matches, ignored_for_path, match_tests, selected_rules
from opusguard.digest import hexdigest
from opusguard.discover import discover_file_names
from opusguard.facts import Attr, FileFacts, Name, Str, Value
from opusguard.findings import Finding, RunSummary, Severity
from opusguard.fixplan import attach_plans, default_plan
from opusguard.notebook import is_notebook, place_findings
from opusguard.paths import display_path
from opusguard.policy import Policy, discover_policy, empty_policy, load_policy
from opusguard.prefilter import HeldName
from opusguard.project import Project
from opusguard.resolve import build_project
from opusguard.rules import all_rules
from opusguard.tiers import TIERS, UNRESOLVED, Tier
from opusguard.workers import ExtractionProcess, FactsSource, is_model_id

# Files larger than this are not parsed (generated code, vendored bundles: libcst
# takes seconds per MiB); a warning names them so the gap is visible. Files over
# limits.MAX_SOURCE_BYTES are not analysed at all (OG000).
MAX_PARSE_BYTES = 1024 * 1024
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


class Analysis(Struct):
    project: Project
    summary: RunSummary
    # Source bytes of the files that were parsed, by relative path (for fix/report).
    sources: dict[str, bytes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def load_run_policy(settings: Settings, catalog: Catalog, cwd: Path, cache_dir: Path | None = None) -> Policy:
    """The policy named by --policy / config, else the nearest opusguard.yaml, else empty.

    With `cache_dir`, a policy built by an earlier run is reused while its files are unchanged."""
    path = settings.policy or discover_policy(settings.root)
    if path is None:
        return empty_policy(catalog)
    return load_policy(path, catalog, cache_dir=cache_dir, root=settings.root)


def router_names(policy: Policy) -> frozenset[str]:
    return frozenset({policy.router_function or "route"})


def cache_salt(catalog: Catalog, names: frozenset[str]) -> str:
    return f"{__version__}|{catalog.digest()}|{','.join(sorted(names))}"


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
    started = time.perf_counter()
    cache_dir = (options.cache_dir or settings.cache_dir) if options.use_cache else None
    catalog = load_catalog(cache_dir=cache_dir)
    policy = load_run_policy(settings, catalog, cwd, cache_dir)
    assert policy.catalog is not None  # (loaded with one)
    catalog = policy.catalog
    names = router_names(policy)
    jobs = options.jobs or os.cpu_count() or 1
    cache = verdicts = None
    if cache_dir is not None:
        cache = FactsCache(cache_dir, cache_salt(catalog, names))
        if options.remember_verdicts:
            verdicts = VerdictIndex(cache)
            verdicts.load()
            try:  # before the walk, so that making it does not change the tree the walk saw
                cache.prepare()
            except OSError:
                pass  # a read-only tree: the run goes on without writing
    # The worker pool is closed on the way out, Ctrl-C included.
    with FactsSource(catalog, names, cache, jobs, service=options.extraction) as source:
        if (
            options.stdin is None
            and options.explicit_files is None
            and (cache is None or verdicts is None or not verdicts.entries)
        ):
            source.start_service()  # a cold run of a tree: it will parse
        warnings: list[str] = []
        large: list[tuple[str, bytes]] = []
        unreadable: dict[str, str] = {}
        summary = RunSummary()
        configs = _config_files(settings, policy, catalog, cwd, cache, verdicts)

        # 1. discover and pre-filter: read each file once; most never get parsed.
        candidates: list[tuple[str, bytes]] = []
        others: list[_SecondPassFile] = []
        if options.stdin is not None:
            stdin_name, stdin_bytes = options.stdin
            summary.files_scanned = 1
            if configfiles.is_config_path(stdin_name):
                configs.add_content(display_path(Path(stdin_name), cwd), stdin_bytes)
            else:
                candidates.append((display_path(Path(stdin_name), cwd), stdin_bytes))
            facts = source.facts_for(candidates)
        else:
            paths = options.paths or ["."]
            if options.explicit_files is None:
                paths, named = _split_named_files(paths, settings, policy, cwd, warnings)
                if named and options.widen_for_policy_files:
                    paths, summary.policy_files_named = [os.fspath(settings.root)], named
                for path in named if not options.widen_for_policy_files else ():
                    warnings.append(f"{path}: not Python (a policy or config file); not rewritten")
            files = (
                [os.path.join(cwd, path) for path in options.explicit_files]
                if options.explicit_files is not None
                else discover_file_names(
                    paths,
                    configfiles.with_config_globs(settings),
                    cwd=cwd,
                    warn=warnings.append,
                    listings=verdicts.listings if verdicts is not None else None,
                )
                if paths
                else []
            )
            summary.files_scanned = len(files)
            files = configs.take_config_files(files)
            # Nothing found: no code and no config file naming a model under the folders
            # walked (a file named explicitly, as pre-commit names them, is always checked).
            summary.nothing_found = (
                not files
                and not configs.files
                and bool(paths)
                and options.explicit_files is None
                and not any(os.path.isfile(os.path.join(cwd, path)) for path in paths)
            )
            # Large trees: parse each candidate in a worker while the rest is still read.
            stream = len(files) >= MIN_FILES_TO_STREAM
            if not stream:
                source.stop_unused()  # a small tree: parsing here is quicker than starting workers
            facts = source.facts_for(
                _prefilter(
                    files,
                    cwd,
                    warnings,
                    options.progress,
                    verdicts,
                    candidates,
                    others,
                    large,
                    unreadable,
                    reuse_facts=not options.read_candidates,
                ),
                stream=stream,
                on_result=_EarlySecondPass(others, catalog, source).see,
            )
        for rel, error in unreadable.items():
            facts[rel] = FileFacts(path=rel, parse_error=error, parse_error_line=1)
        for rel, content in large:
            from opusguard.extract import extract_literals_only

            found = cache.get(content, "literals") if cache is not None else None
            if found is None:
                found = extract_literals_only(content, rel, is_model_id=is_model_id)
                if cache is not None and found.parse_error is None:
                    cache.put(content, found, "literals")
            found.path = rel
            facts[rel] = found

        # 2. second pass: files that read names which hold models in the first-pass files.
        # Rounds until no file parsed defines a subclass of a class whose attribute
        # holds or receives a model (each round looks for the new names only).
        every_name: frozenset[HeldName] = frozenset()
        model_names = _with_subclasses(facts.values(), _names_holding_models(facts.values(), catalog), every_name)
        parsed_sources = dict(candidates)
        while model_names and others:
            every_name |= model_names
            second = _second_pass(others, model_names, verdicts, reuse_facts=not options.read_candidates)
            found_now = source.facts_for(second)
            facts.update(found_now)
            parsed_sources.update((rel, content) for rel, content in second if isinstance(content, bytes))
            others = [other for other in others if other.rel not in found_now]
            model_names = _with_subclasses(found_now.values(), every_name, every_name)

        # 3. join across files; files outside the scanned set are loaded on demand.
        roots = _import_roots(settings, cwd)
        lazily_loaded: dict[str, FileFacts] = {}

        def find_module(module: str) -> FileFacts | None:
            path = _module_file(module, roots)
            if path is None:
                return None
            rel = display_path(path, cwd)
            if rel in facts:
                return facts[rel]
            if rel not in lazily_loaded:
                try:
                    content = path.read_bytes()
                except OSError:
                    return None
                if len(content) > MAX_PARSE_BYTES:
                    return None  # (its names stay unresolved, as for a module not found)
                lazily_loaded[rel] = source.facts_for([(rel, content)])[rel]
            return lazily_loaded[rel]

        wanted: dict[str, frozenset[str]] = {}

        def whole_file(rel: str, name: str) -> FileFacts | None:
            """The file's facts with what binds `name` parsed too: its statements that
            name it are kept (and all asked for before); the whole file if it was."""
            content = parsed_sources.get(rel)
            if content is None:
                try:
                    content = (cwd / rel).read_bytes()
                except OSError:
                    return None
            asked = wanted.get(rel, frozenset())
            if name in asked:
                return source.facts_for([(rel, content)], cut_bodies=False)[rel]
            wanted[rel] = asked | {name}
            return source.facts_for([(rel, content)], cut_bodies=wanted[rel])[rel]

        project = build_project(
            facts,
            policy=policy,
            catalog=catalog,
            today=options.today,
            find_module=find_module,
            whole_file=whole_file,
            configs=configs,
        )
        warnings.extend(configs.finish())
    if verdicts is not None:
        verdicts.save()
    if cache is not None and cache.wrote:  # (a run that only read never prunes)
        cache.prune()
    project.cwd = cwd
    summary.files_parsed = len(source.parsed)
    summary.skipped = _skipped(facts, large)
    summary.no_policy = policy.path is None
    _count_models(project, summary)
    summary.elapsed_seconds = time.perf_counter() - started
    return Analysis(project=project, summary=summary, sources=dict(candidates), warnings=warnings)


def _config_files(
    settings: Settings,
    policy: Policy,
    catalog: Catalog,
    cwd: Path,
    cache: FactsCache | None,
    verdicts: VerdictIndex | None,
) -> configfiles.ConfigFiles:
    """The run's config files: never the policy, its evidence, the baseline or the catalog."""
    skip = [policy.path, settings.baseline, catalog.source_path]
    skip += [
        Path(task.source or policy.path or ".").parent / task.evidence
        for task in policy.tasks.values()
        if task.evidence
    ]
    return configfiles.ConfigFiles(
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
    from opusguard.discover import _name_matcher

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
    files = [policy.path, settings.config_path, policy.catalog.source_path if policy.catalog else None]
    for task in policy.tasks.values():
        files.append(task.source or None)
        if task.evidence:
            files.append(os.path.join(os.path.dirname(task.source), task.evidence))
    return {os.path.realpath(os.path.join(cwd, file)) for file in files if file}


def _skipped(facts: dict[str, FileFacts], large: list[tuple[str, bytes]]) -> dict[str, str]:
    """The files whose calls were not followed, and why, sorted by path."""
    out = {rel: f"over the {MAX_PARSE_BYTES // 1048576} MiB limit" for rel, _ in large}
    for rel, file_facts in facts.items():
        if file_facts.parse_error is not None:
            error = file_facts.parse_error
            if error.startswith("cannot read"):
                out[rel] = error
            elif file_facts.cells:  # a notebook: the broken cell is left out, the others are read
                cell, line = notebook.place(file_facts.cells, file_facts.parse_error_line)
                out[rel] = f"parse error in cell {cell} at line {line}; its other cells are read"
            else:
                out[rel] = f"parse error at line {file_facts.parse_error_line}"
    return dict(sorted(out.items()))


def _prefilter(
    files: Sequence[str],
    cwd: Path,
    warnings: list[str],
    progress: Callable[[int, int], None] | None,
    verdicts: VerdictIndex | None,
    candidates: list[tuple[str, bytes]],
    others: list[_SecondPassFile],
    large: list[tuple[str, bytes]],
    unreadable: dict[str, str],
    *,
    reuse_facts: bool = True,
) -> Iterator[tuple[str, bytes | FileFacts]]:
    """Yield the files to parse now (also kept in `candidates`), as they are read.

    `files` are absolute paths, as discovery gives them. Files that may matter in
    the second pass go to `others` (their bytes too, up to SECOND_PASS_MEMORY),
    oversized files to `large`, files that cannot be read to `unreadable` (OG000).
    A file whose size and mtime match the verdict index is not read: one that
    cannot matter is skipped, and one that was parsed is yielded with its cached
    facts in place of its bytes (with `reuse_facts`, and while the entry is there).
    """
    kept_bytes = 0
    # On a warm run this loop is a stat and a lookup per file, a sixth of the run on a
    # large tree: the names it uses are bound once here, not looked up per file.
    skip, stat_of, known_verdicts = prefilter.SKIP, os.stat, verdicts.entries if verdicts is not None else {}
    for index, key in enumerate(files):
        if progress is not None and index % 256 == 0:
            progress(index, len(files))
        rel = None  # (shown paths cost a little per file: made only for files that get further)
        try:
            if verdicts is not None:
                stat = stat_of(key)
                looked_up = (stat.st_size, stat.st_mtime_ns)
                entry = known_verdicts.get(key)
                known = entry[2] if entry is not None and entry[:2] == looked_up else None
                if known == skip:
                    continue
                rel = display_path(key, cwd)
                if known is not None and known.startswith(prefilter.SECOND_PASS):
                    others.append(_SecondPassFile(rel, key, stat.st_size, stat.st_mtime_ns, known, None))
                    continue
                if known is not None and known.startswith(_PARSED):
                    facts = verdicts.cache.get_by_key(known[len(_PARSED) :]) if reuse_facts else None
                    if facts is not None:
                        yield rel, facts
                        continue
                    known = prefilter.PARSE  # its facts are gone (pruned, corrupt): read and parse it
            else:
                known = looked_up = None
            content, stat = _read(key)
        except OSError as exc:
            rel = rel or display_path(key, cwd)
            unreadable[rel] = f"cannot read: {exc.strerror or exc}"
            warnings.append(f"{rel}:1: {unreadable[rel]}")
            continue
        # A candidate read again keeps its verdict, if it did not change meanwhile.
        unchanged = looked_up == (stat.st_size, stat.st_mtime_ns) and len(content) == stat.st_size
        verdict = known if known is not None and unchanged else prefilter.classify(content)
        if verdict == prefilter.SKIP:
            if verdicts is not None and len(content) == stat.st_size:
                verdicts.put(key, stat.st_size, stat.st_mtime_ns, verdict)
            continue
        rel = rel or display_path(key, cwd)
        if len(content) > MAX_PARSE_BYTES and not is_notebook(rel):  # (a notebook's outputs are not parsed)
            if verdict == prefilter.PARSE and len(content) > limits.MAX_SOURCE_BYTES:
                unreadable[rel] = (
                    f"{len(content) // 1048576} MiB is over the {limits.MAX_SOURCE_BYTES // 1048576} MiB limit: not analysed"
                )
            elif verdict == prefilter.PARSE:
                large.append((rel, content))
                warnings.append(
                    f"{rel}:1: {len(content) // 1024} KiB is over the {MAX_PARSE_BYTES // 1048576} MiB limit: "
                    "its model literals are checked, its calls are not followed"
                )
            continue
        if verdict == prefilter.PARSE:
            candidates.append((rel, content))
            yield rel, content
        elif verdict == prefilter.SECOND_PASS:
            kept = content if kept_bytes + len(content) <= SECOND_PASS_MEMORY else None
            kept_bytes += len(kept or b"")
            others.append(_SecondPassFile(rel, key, stat.st_size, stat.st_mtime_ns, verdict, kept))
        if verdicts is not None and len(content) == stat.st_size:
            if verdict == prefilter.PARSE:  # the facts it is about to get will be under this key
                verdict = _PARSED + verdicts.cache.key(content)
            verdicts.put(key, stat.st_size, stat.st_mtime_ns, verdict)
    if progress is not None:
        progress(len(files), len(files))


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

    def __init__(self, others: list[_SecondPassFile], catalog: Catalog, source: FactsSource):
        self.others = others
        self.catalog = catalog
        self.source = source
        self.names: set[HeldName] = set()
        self.sent: set[str] = set()

    def see(self, facts: FileFacts) -> None:
        new = _names_holding_models([facts], self.catalog) - self.names
        if not new:
            return
        self.names |= new
        names = frozenset(new)
        found = [
            (other.rel, other.content)
            for other in self.others
            if other.content is not None and other.rel not in self.sent and prefilter.reads_names(other.content, names)
        ]
        self.sent.update(rel for rel, _ in found)
        self.source.prefetch(found)


def _second_pass(
    others: Iterable[_SecondPassFile],
    names: frozenset[HeldName],
    verdicts: VerdictIndex | None,
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
        uses = prefilter.reads_names(content, names)  # a second-pass file makes a model-taking call
        if uses:
            found.append((rel, content))
        if verdicts is not None and len(content) == size:
            # A yes keeps the key its facts will be under (see _PARSED).
            answer = answered_yes + verdicts.cache.key(content) if uses else answered_no
            verdicts.put(key, size, mtime_ns, answer)
    return found


def _names_holding_models(all_facts: Iterable[FileFacts], catalog: Catalog) -> frozenset[HeldName]:
    """The names other files may read a model through (prefilter.HeldName): names
    bound at module level to a value that mentions a Claude model, and attributes
    of a class that hold one (with the class's name)."""
    names: set[HeldName] = set()
    for facts in all_facts:
        module = _module_part(facts.path)
        for name, value in facts.bindings.items():
            if value_mentions_model(value, catalog):
                names.add(HeldName(name, module))
        for cls in facts.classes.values():
            short = cls.name.rsplit(".", 1)[-1]
            hits = [attr for attr, value in cls.attrs.items() if value_mentions_model(value, catalog)]
            if hits:
                names.add(HeldName(short, module))
                names.update(HeldName(attr, module, short) for attr in hits)
    return frozenset(names)


def _subclass_names(all_facts: Iterable[FileFacts], names: frozenset[HeldName]) -> frozenset[HeldName]:
    """The attributes of `names` again, for subclasses (of their classes) the files
    define: a file that reads `self.model` in a subclass of a subclass imports only
    the class in between."""
    by_class: dict[str, set[str]] = {}
    for held in names:
        if held.cls:
            by_class.setdefault(held.cls, set()).add(held.name)
    found: set[HeldName] = set()
    for facts in all_facts:
        module = _module_part(facts.path)
        for cls in facts.classes.values():
            for base in cls.bases:
                spelled = base.attr if isinstance(base, Attr) else base.id if isinstance(base, Name) else None
                for attr in by_class.get(spelled or "", ()):
                    found.add(HeldName(attr, module, cls.name.rsplit(".", 1)[-1]))
    return frozenset(found)


def _with_subclasses(
    all_facts: Iterable[FileFacts], names: frozenset[HeldName], known: frozenset[HeldName]
) -> frozenset[HeldName]:
    """`names` and the names of the subclasses `all_facts` define, transitively, less `known`."""
    all_facts = list(all_facts)
    while more := _subclass_names(all_facts, names) - names:
        names |= more
    return names - known


def _module_part(path: str) -> str:
    """The last part of a file's dotted module name (its package's, for `__init__.py`)."""
    parts = path.removesuffix(".py").split("/")
    return parts[-2] if parts[-1] == "__init__" and len(parts) > 1 else parts[-1]


def value_mentions_model(value: Value, catalog: Catalog) -> bool:
    """Whether a Claude id is written anywhere inside a Value tree."""
    if isinstance(value, Str):
        return catalog.recognize(value.text) is not None or catalog.recognize_prefix(value.text) is not None
    return any(value_mentions_model(child, catalog) for child in _children(value))


def _children(value: Value) -> Iterator[Value]:
    for name in getattr(value, "__struct_fields__", ()):
        child = getattr(value, name)
        if isinstance(child, tuple):
            for item in child:
                # DictV items are (key, value) pairs
                yield item[1] if isinstance(item, tuple) else item
        elif child is not None and hasattr(child, "__struct_fields__"):
            yield child


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


def _count_models(project: Project, summary: RunSummary) -> None:
    for lit in project.literals:
        summary.models[lit.literal.text] = summary.models.get(lit.literal.text, 0) + 1
    for call in project.calls:
        if call.is_router_call:
            task = project.policy.tasks.get(call.route_task or "")
            summary.model_calls[task.tier if task else UNRESOLVED] += 1
        elif call.models:
            tiers = {m.ref.tier for m in call.models}
            tier = next(t for t in TIERS if t in tiers or t == Tier.OTHER)
            summary.model_calls[tier] += 1
        elif call.is_claude and call.unresolved:
            summary.model_calls[UNRESOLVED] += 1


# --- rules and suppressions ----------------------------------------------------------


class CheckResult(Struct):
    findings: list[Finding]
    summary: RunSummary
    analysis: Analysis
    unused_ignores: list[Finding] = field(default_factory=list)


def run_rules(analysis: Analysis, settings: Settings, *, select_codes: set[str]) -> CheckResult:
    project = analysis.project
    findings: list[Finding] = []
    for rule_class in all_rules():
        if rule_class.code in select_codes:
            findings.extend(rule_class().check(project))
    if any(f.fix_available for f in findings):  # each finding `fix --codemod` routes carries its edits
        policy_path = Path(project.policy.path) if project.policy.path else settings.root / POLICY_FILE_NAMES[0]
        plan = default_plan(project, policy_path, match_tests(settings, project.cwd))
        if plan is not None:
            attach_plans(findings, project, plan)
    kept, unused = _apply_suppressions(findings, project, settings)
    place_findings([*kept, *unused], project.files)
    kept.sort(key=Finding.sort_key)
    return CheckResult(findings=kept, summary=analysis.summary, analysis=analysis, unused_ignores=unused)


def default_codes() -> tuple[set[str], set[str]]:
    rules = all_rules()
    return {r.code for r in rules}, {r.code for r in rules if r.default_enabled}


def _apply_suppressions(
    findings: list[Finding], project: Project, settings: Settings
) -> tuple[list[Finding], list[Finding]]:
    kept: list[Finding] = []
    used: set[tuple[str, int]] = set()
    ignored_cache: dict[str, set[str]] = {}
    for finding in findings:
        if finding.path not in ignored_cache:
            ignored_cache[finding.path] = ignored_for_path(settings, finding.path)
        if code_matches(finding.rule, ignored_cache[finding.path]):
            continue
        facts = project.files.get(finding.path)
        annotation = facts.annotations.get(finding.line) if facts else None
        if annotation is not None and annotation.ignore is not None:
            if not annotation.ignore or finding.rule in annotation.ignore:
                used.add((finding.path, finding.line))
                continue
        kept.append(finding)
    unused = []
    for path, facts in project.files.items():
        for line, annotation in facts.annotations.items():
            if annotation.ignore is not None and (path, line) not in used:
                codes = ",".join(sorted(annotation.ignore)) or "all"
                comment_line = annotation.comment_line or line
                unused.append(
                    Finding(
                        rule="OG100",
                        name="unused-ignore",
                        severity=Severity.WARNING,
                        path=path,
                        line=comment_line,
                        column=1,
                        message=f"unused suppression ({codes}): nothing is reported on line {line}",
                        source_line=facts.lines.get(comment_line, ""),
                    )
                )
    return kept, unused


def check(settings: Settings, options: RunOptions, *, cwd: Path, select_codes: set[str] | None = None) -> CheckResult:
    if select_codes is None:
        every, defaults = default_codes()
        select_codes = selected_rules(settings, every, defaults)
    analysis = analyze(settings, options, cwd=cwd)
    return run_rules(analysis, settings, select_codes=select_codes)


def print_warnings(warnings: Iterable[str]) -> None:
    from opusguard.sanitize import printable

    for warning in warnings:
        print(f"opusguard: warning: {printable(warning)}", file=sys.stderr)
