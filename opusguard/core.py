"""The analysis as a pure function of file contents: sources in, findings out.

`analyze(sources, policy, catalog)` touches no filesystem, cache, clock or process
pool: it is to `opusguard check` what black's `format_str` is to its `main`. The
shell (engine.py) finds and reads the files, keeps the cache and the verdict index,
runs the workers, and calls the same steps defined here:

1. `sort_source`: what a file's bytes make it (parse it, parse it if it reads a
   name another file binds to a model, its literals only, or nothing);
2. the first pass parses what may hold a fact (`Parser.facts_for`);
3. `second_pass`: rounds over the files that read a name the parsed files bind
   to a model (and, while subclasses appear, their attributes);
4. `join`: names followed across files (resolve.py), with a file parsed again on
   demand where selection left out what binds a name (`OnDemand`);
5. `check_project`: the rules, their fix plans, suppressions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Protocol

from msgspec import Struct, field

from opusguard.base import limits
from opusguard.base.paths import MemoryTree, Tree
from opusguard.base.strenum import StrEnum
from opusguard.base.tiers import TIERS, UNRESOLVED, Tier
from opusguard.facts import configfiles, notebook
from opusguard.facts.notebook import is_notebook
from opusguard.facts.records import Attr, FileFacts, Name, Str, Value
from opusguard.policy.catalog import Catalog
from opusguard.policy.config import POLICY_FILE_NAMES, Settings, code_matches, ignored_for_path, tests_matcher
from opusguard.policy.tasks import Policy
from opusguard.resolve.join import build_project
from opusguard.resolve.project import Project
from opusguard.rules import all_rules
from opusguard.rules.findings import Finding, RunSummary, Severity, place_findings
from opusguard.rules.fixplan import attach_plans, default_plan
from opusguard.select import prefilter
from opusguard.select.prefilter import HeldName, Verdict

# Files larger than this are not parsed (generated code, vendored bundles: libcst
# takes seconds per MiB); a warning names them so the gap is visible. Files over
# limits.MAX_SOURCE_BYTES are not analysed at all (OG000).
MAX_PARSE_BYTES = 1024 * 1024


class Oversize(StrEnum):
    """What `sort_source` makes of a file too large to parse (beside prefilter's verdicts)."""

    LITERALS_ONLY = "literals-only"  # its model literals are still checked
    NOT_ANALYSED = "not-analysed"  # OG000


LITERALS_ONLY, NOT_ANALYSED = Oversize.LITERALS_ONLY, Oversize.NOT_ANALYSED


class Analysis(Struct):
    project: Project
    summary: RunSummary
    # Source bytes of the files that were parsed, by relative path (for fix/report).
    sources: dict[str, bytes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class CheckResult(Struct):
    findings: list[Finding]
    summary: RunSummary
    analysis: Analysis
    unused_ignores: list[Finding] = field(default_factory=list)


def router_names(policy: Policy) -> frozenset[str]:
    return frozenset({policy.router_function or "route"})


# --- 1. what a file is ----------------------------------------------------------------


def sort_source(rel: str, content: bytes, verdict: str) -> str | Verdict | Oversize:
    """prefilter's `verdict` for a file; for a file too large to parse, LITERALS_ONLY
    (its model literals are still checked), NOT_ANALYSED (OG000), or SKIP (one that
    would only be read for a name held elsewhere). A notebook's size is mostly
    outputs, which are never parsed."""
    if len(content) <= MAX_PARSE_BYTES or is_notebook(rel) or verdict == prefilter.SKIP:
        return verdict
    if verdict != prefilter.PARSE:
        return prefilter.SKIP
    return NOT_ANALYSED if len(content) > limits.MAX_SOURCE_BYTES else LITERALS_ONLY


def not_analysed_error(content: bytes) -> str:
    return f"{len(content) // 1048576} MiB is over the {limits.MAX_SOURCE_BYTES // 1048576} MiB limit: not analysed"


def literals_only_warning(rel: str, content: bytes) -> str:
    return (
        f"{rel}:1: {len(content) // 1024} KiB is over the {MAX_PARSE_BYTES // 1048576} MiB limit: "
        "its model literals are checked, its calls are not followed"
    )


def literal_facts(rel: str, content: bytes, catalog: Catalog) -> FileFacts:
    """A file too large to parse: its model literals only."""
    from opusguard.facts.extract import extract_literals_only  # libcst: imported only when a file is parsed

    return extract_literals_only(content, rel, is_model_id=lambda text: catalog.recognize(text) is not None)


# --- 2. parsing -----------------------------------------------------------------------


class Parser(Protocol):
    """Turns (path, content) into facts; in place of its content a file may come with
    facts taken from a cache. `cut_bodies`: see select/parse.facts_of."""

    parsed: set[str]  # paths parsed (a file parsed again for a name counts once)

    def facts_for(
        self, items: Iterable[tuple[str, bytes | FileFacts]], *, cut_bodies: bool | frozenset[str] = True
    ) -> dict[str, FileFacts]: ...


class InProcessParser:
    """The core's parser: each file parsed here, in order, nothing kept between runs
    (workers.FactsSource is the shell's, with the cache and worker processes)."""

    def __init__(self, catalog: Catalog, names: frozenset[str]):
        self.catalog = catalog
        self.names = names
        self.parsed: set[str] = set()

    def facts_for(
        self, items: Iterable[tuple[str, bytes | FileFacts]], *, cut_bodies: bool | frozenset[str] = True
    ) -> dict[str, FileFacts]:
        from opusguard.select.parse import facts_of  # libcst: imported only when a file is parsed

        out: dict[str, FileFacts] = {}
        for path, content in items:
            if isinstance(content, bytes):
                out[path] = facts_of(
                    content, path, is_model_id=self._is_model_id, router_names=self.names, cut_bodies=cut_bodies
                )
                self.parsed.add(path)
            else:
                content.path = path
                out[path] = content
        return out

    def _is_model_id(self, text: str) -> bool:
        return self.catalog.recognize(text) is not None


# --- 3. the second pass -----------------------------------------------------------------

# Chooses, among the files not parsed yet, those that read one of the names (with
# their bytes, or the facts a cache holds for them).
Chooser = Callable[[frozenset[HeldName], Collection[str]], list[tuple[str, bytes | FileFacts]]]


def second_pass(facts: dict[str, FileFacts], parser: Parser, catalog: Catalog, choose: Chooser) -> dict[str, bytes]:
    """Parse the files that read names which hold models in `facts` (added to it), in
    rounds until no file parsed defines a subclass of a class whose attribute holds or
    receives a model (each round looks for the new names only). Returns the bytes of
    the files parsed."""
    every_name: frozenset[HeldName] = frozenset()
    names = with_subclasses(facts.values(), names_holding_models(facts.values(), catalog), every_name)
    done: set[str] = set()
    parsed: dict[str, bytes] = {}
    while names:
        every_name |= names
        chosen = choose(names, done)
        found = parser.facts_for(chosen)
        facts.update(found)
        parsed.update((rel, content) for rel, content in chosen if isinstance(content, bytes))
        done.update(found)
        names = with_subclasses(found.values(), every_name, every_name)
    return parsed


def names_holding_models(all_facts: Iterable[FileFacts], catalog: Catalog) -> frozenset[HeldName]:
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


def with_subclasses(
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


# --- 4. the join ------------------------------------------------------------------------


class OnDemand:
    """The facts of a file's statements that bind what the resolver asks for (a name
    or attribute whose binding the selection left out), parsed on demand; the
    resolver takes that name's values from them (join.with_name_parsed)."""

    def __init__(self, parser: Parser, read: Callable[[str], bytes | None]):
        self.parser = parser
        self.read = read

    def __call__(self, rel: str, name: str) -> FileFacts | None:
        content = self.read(rel)
        if content is None:
            return None
        return self.parser.facts_for([(rel, content)], cut_bodies=frozenset({name}))[rel]


def skipped(facts: Mapping[str, FileFacts], literals_only: Iterable[str]) -> dict[str, str]:
    """The files whose calls were not followed, and why, sorted by path."""
    out = {rel: f"over the {MAX_PARSE_BYTES // 1048576} MiB limit" for rel in literals_only}
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


def count_models(project: Project, summary: RunSummary) -> None:
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


# --- 5. rules and suppressions ------------------------------------------------------------


def default_codes() -> tuple[set[str], set[str]]:
    rules = all_rules()
    return {r.code for r in rules}, {r.code for r in rules if r.default_enabled}


def run_rules(
    analysis: Analysis,
    settings: Settings,
    *,
    select_codes: Collection[str],
    tree: Tree,
    is_test: Callable[[str], bool],
) -> CheckResult:
    """The findings of the rules in `select_codes`, each `fix --codemod` can route with
    its edits, less what the settings and `# opusguard: ignore` comments suppress.
    `tree`: where a router's file would be free; `is_test`: the test code (by shown
    path) that `fix` leaves alone."""
    project = analysis.project
    findings: list[Finding] = []
    for rule_class in all_rules():
        if rule_class.code in select_codes:
            findings.extend(rule_class().check(project))
    if any(f.fix_available for f in findings):
        policy_path = Path(project.policy.path) if project.policy.path else settings.root / POLICY_FILE_NAMES[0]
        plan = default_plan(project, policy_path, is_test, tree)
        if plan is not None:
            attach_plans(findings, project, plan)
    kept, unused = _apply_suppressions(findings, project, settings)
    place_findings([*kept, *unused], project.files)
    kept.sort(key=Finding.sort_key)
    return CheckResult(findings=kept, summary=analysis.summary, analysis=analysis, unused_ignores=unused)


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
    return kept, _unused_ignores(project, used)


def _unused_ignores(project: Project, used: set[tuple[str, int]]) -> list[Finding]:
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
    return unused


# --- the whole analysis, in memory ----------------------------------------------------------


class _MemoryConfigFiles(configfiles.ConfigView):
    """The config files among the sources: a file the code names is one of them or absent."""

    def __init__(self, root: Path, catalog: Catalog, contents: Mapping[str, bytes]):
        super().__init__(root, root, lambda text: catalog.recognize(text) is not None)
        for rel, content in contents.items():
            self.add_content(rel, content)

    def read(self, absolute: str) -> configfiles.ConfigFacts | None:
        return self.files.get(os.path.relpath(os.path.abspath(absolute), self.root))

    def _env_files(self, directory: str) -> list[configfiles.ConfigFacts]:
        folder = os.path.relpath(directory, self.root)
        return [
            facts
            for rel, facts in sorted(self.files.items())
            if facts.kind == "env" and os.path.dirname(rel) == ("" if folder == "." else folder)
        ]


def analyze(
    sources: Mapping[str, bytes],
    policy: Policy,
    catalog: Catalog | None = None,
    *,
    today: date,
    settings: Settings | None = None,
    select: Collection[str] | None = None,
) -> CheckResult:
    """Check `sources` (paths relative to the project root, as findings show them) against
    `policy`: the same steps as `opusguard check`, with nothing read, cached or forked.
    Config files (YAML, TOML, JSON, .env) among them are read as config; an import of a
    module that is not among them stays unresolved. `select`: rule codes (the default
    ones if None)."""
    catalog = catalog or policy.catalog
    assert catalog is not None  # (a loaded policy has one)
    root = settings.root if settings is not None else Path(os.sep, "project")
    settings = settings or Settings(root=root)
    policy = _with_evidence(sources, policy, root)
    parser = InProcessParser(catalog, router_names(policy))
    code = {rel: content for rel, content in sorted(sources.items()) if not configfiles.is_config_path(rel)}
    # Never read as config: the policy and its evidence (as the shell's ConfigFiles skips them).
    governing = {_relative(root, path) for path in governing_files(policy)}
    configs = _MemoryConfigFiles(
        root,
        catalog,
        {rel: data for rel, data in sorted(sources.items()) if rel not in code and rel not in governing},
    )
    kinds = {rel: sort_source(rel, content, prefilter.classify(content)) for rel, content in code.items()}
    facts = parser.facts_for((rel, code[rel]) for rel, kind in kinds.items() if kind == prefilter.PARSE)
    warnings: list[str] = []
    for rel, kind in kinds.items():
        if kind == NOT_ANALYSED:
            facts[rel] = FileFacts(path=rel, parse_error=not_analysed_error(code[rel]), parse_error_line=1)
        elif kind == LITERALS_ONLY:
            facts[rel] = literal_facts(rel, code[rel], catalog)
            warnings.append(literals_only_warning(rel, code[rel]))

    def choose(names: frozenset[HeldName], done: Collection[str]) -> list[tuple[str, bytes | FileFacts]]:
        return [
            (rel, code[rel])
            for rel, kind in kinds.items()
            if kind == prefilter.SECOND_PASS and rel not in done and prefilter.reads_names(code[rel], names)
        ]

    second_pass(facts, parser, catalog, choose)
    modules = {_module_name(rel): rel for rel in code}
    loaded: dict[str, FileFacts] = {}  # (modules parsed for the join only are not in the project's files)
    project = build_project(
        facts,
        policy=policy,
        catalog=catalog,
        today=today,
        find_module=lambda module: _facts_of_module(module, modules, facts, loaded, code, parser),
        facts_naming=OnDemand(parser, code.get),
        configs=configs,
    )
    warnings.extend(configs.finish())
    project.cwd = root
    summary = RunSummary(files_scanned=len(sources), files_parsed=len(parser.parsed), no_policy=policy.path is None)
    summary.skipped = skipped(facts, [rel for rel, kind in kinds.items() if kind == LITERALS_ONLY])
    count_models(project, summary)
    analysis = Analysis(project=project, summary=summary, sources=dict(code), warnings=warnings)
    return run_rules(
        analysis,
        settings,
        select_codes=default_codes()[1] if select is None else select,
        tree=MemoryTree(root, sources),
        is_test=tests_matcher(settings),  # (the sources' paths are relative to the root)
    )


def governing_files(policy: Policy) -> list[Path]:
    """The policy's file and its tasks' evidence files: never read as config or code."""
    from opusguard.policy.evidence import evidence_path

    files = [evidence_path(task) for task in policy.tasks.values() if task.evidence]
    return [Path(policy.path), *files] if policy.path else files


def _relative(root: Path, path: Path) -> str:
    return os.path.relpath(os.path.normpath(root / path), root).replace(os.sep, "/")


def _with_evidence(sources: Mapping[str, bytes], policy: Policy, root: Path) -> Policy:
    """The policy with the evidence files its tasks name, read from `sources` (as
    evidence.read_evidence reads them from disk) for the tasks the caller gave none."""
    from msgspec.structs import replace

    from opusguard.policy.evidence import Evidence, EvidenceError, evidence_path, parse_evidence

    evidence: dict[str, Evidence | str] = dict(policy.evidence)
    for task in policy.tasks.values():
        if not task.evidence or task.name in evidence:
            continue
        path = evidence_path(task)
        content = sources.get(_relative(root, path))
        try:
            if content is None:
                raise EvidenceError(f"{path}:1: cannot read evidence: not among the sources")
            evidence[task.name] = parse_evidence(path, content.decode("utf-8", "replace"))
        except EvidenceError as exc:
            evidence[task.name] = str(exc)
    return replace(policy, evidence=evidence) if evidence != policy.evidence else policy


def _module_name(rel: str) -> str:
    parts = rel.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _facts_of_module(
    module: str,
    modules: Mapping[str, str],
    facts: Mapping[str, FileFacts],
    loaded: dict[str, FileFacts],
    code: Mapping[str, bytes],
    parser: Parser,
) -> FileFacts | None:
    """An imported module among the sources that no pass parsed: parsed now (the shell's
    find_module does the same for files outside the scanned folders)."""
    rel = modules.get(module) or modules.get(f"src.{module}")
    if rel is None:
        return None
    if rel in facts:
        return facts[rel]
    if rel not in loaded:
        loaded[rel] = parser.facts_for([(rel, code[rel])])[rel]
    return loaded[rel]
