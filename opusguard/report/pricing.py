"""`opusguard report`: inventory and cost, over the same joined facts as `check`.

Nothing here parses code. `build_inventory` turns the Project's resolved calls
into Sites (where a Claude model is sent, which one, for which task);
`price_report` puts traffic (measured or assumed) and catalog prices on them and
prices each site twice: as the code is today and as the policy would have it;
`advise` ranks the Opus sites whose work looks routine; `diff_reports` compares
two reports (a git ref against the working tree). Sites in test code are priced on
a line of their own, out of the totals, the ranking and the advice. Renderers live
in reporters/.

Money is USD per period; tokens are per period unless a name says "mean".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path

import yaml
from msgspec import Struct, field
from msgspec.structs import replace

from opusguard.base.strenum import StrEnum
from opusguard.base.tiers import NAMED_TIERS, TIERS, UNRESOLVED, Tier
from opusguard.facts.notebook import location, place
from opusguard.facts.records import CallSignals
from opusguard.policy.catalog import Catalog, CatalogError, ModelRef, Price, entry_from_mapping, shipped_catalog_path
from opusguard.policy.tasks import Policy
from opusguard.report.usage import Traffic, Usage
from opusguard.resolve.project import Project, ResolvedCall
from opusguard.rules.fixplan import derive_task_name, site_tasks

BATCH_SINK = "anthropic messages.batches.create"
FREE_SINKS = frozenset({"anthropic messages.count_tokens"})  # token counting is not billed
AGENT_SINKS = frozenset(
    {
        "claude-agent-sdk ClaudeAgentOptions",
        "claude-code-sdk ClaudeCodeOptions",
        "claude-agent-sdk AgentDefinition",
    }
)


# --- assumptions (policies/report.yaml) and prices -------------------------------------


class DefaultTraffic(Struct, frozen=True):
    period: str
    calls: float
    input_tokens: float
    output_tokens: float
    output_from_max_tokens: bool
    cached_share: float
    batch_share: float


class Assumptions(Struct, frozen=True):
    traffic: DefaultTraffic
    unjustified_opus_moves_to: str
    min_score: int
    tiny_max_tokens: int
    small_max_tokens: int
    large_max_tokens: int
    top_opus_sites: int
    source: str


def shipped_assumptions_path() -> Path:
    return shipped_catalog_path().with_name("report.yaml")


def load_assumptions(path: Path | None = None) -> Assumptions:
    path = path or shipped_assumptions_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        traffic, over = data["default_traffic"], data["overprovisioning"]
        return Assumptions(
            traffic=DefaultTraffic(
                period=str(traffic["period"]),
                calls=float(traffic["calls"]),
                input_tokens=float(traffic["input_tokens"]),
                output_tokens=float(traffic["output_tokens"]),
                output_from_max_tokens=bool(traffic["output_from_max_tokens"]),
                cached_share=float(traffic["cached_share"]),
                batch_share=float(traffic["batch_share"]),
            ),
            unjustified_opus_moves_to=str(data["unjustified_opus_moves_to"]),
            min_score=int(over["min_score"]),
            tiny_max_tokens=int(over["tiny_max_tokens"]),
            small_max_tokens=int(over["small_max_tokens"]),
            large_max_tokens=int(over["large_max_tokens"]),
            top_opus_sites=int(over["top_opus_sites"]),
            source=str(path),
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{path}:1: malformed report assumptions: {exc}") from None


class PriceBook(Struct, frozen=True):
    """Catalog prices, with a --prices file's entries (by model id or tier) on top."""

    catalog: Catalog
    overrides: dict[str, Price] = field(default_factory=dict)
    as_of: date | None = None
    source: str = "policies/models.yaml"

    def price_for(self, ref: ModelRef) -> tuple[Price | None, str]:
        """(price, note); the note says when a price is borrowed from the tier."""
        for key in (ref.written, ref.model_id, ref.entry.id if ref.entry else None):
            if key and key in self.overrides:
                return self.overrides[key], ""
        if ref.entry is not None and ref.entry.price is not None:
            note = f"alias '{ref.written}' priced as {ref.entry.id}" if ref.provider == "alias" else ""
            return ref.entry.price, note
        if ref.tier in self.overrides:
            return self.overrides[ref.tier], f"no list price for {ref.model_id}: priced at the {ref.tier} tier's"
        if ref.tier in NAMED_TIERS:
            price = self.catalog.price(ref.tier)
            if price is not None:
                return price, f"no list price for {ref.model_id}: priced at the {ref.tier} tier's"
        return None, f"no price known for {ref.model_id}"


def price_book(catalog: Catalog, prices_file: Path | None = None) -> PriceBook:
    shipped = Path(catalog.source_path or shipped_catalog_path())
    source = "policies/models.yaml" if shipped.resolve() == shipped_catalog_path().resolve() else str(shipped)
    book = PriceBook(catalog, {}, catalog.as_of, source)
    if prices_file is None:
        return book
    return replace(book, **_load_prices(prices_file))


def _load_prices(path: Path) -> dict:
    """A --prices file: {as_of: DATE, prices: {MODEL_OR_TIER: {input, output, ...}}}."""
    from opusguard.base.datafile import DataFileError, load_yaml, read_data_file

    try:
        data, root = load_yaml(read_data_file(path, "prices file"), path)
    except DataFileError as exc:
        raise CatalogError(str(exc)) from None
    if root is None or not isinstance(data, dict) or not isinstance(data.get("prices"), dict):
        raise CatalogError(
            f"{path}:1: a prices file is a mapping with 'prices: {{MODEL_OR_TIER: {{input: .., output: ..}}}}'"
        )
    nodes = {key.value: (key, value) for key, value in root.value}
    price_nodes = {key.value: key for key, _ in nodes["prices"][1].value}
    overrides = {}
    for name, raw in data["prices"].items():
        try:
            entry = entry_from_mapping({"id": str(name), "tier": Tier.OTHER.value, "price": raw})
        except ValueError as exc:
            line = price_nodes[name].start_mark.line + 1 if name in price_nodes else 1
            raise CatalogError(f"{path}:{line}: {str(exc).replace('model ', 'price for ', 1)}") from None
        overrides[str(name)] = entry.price
    as_of = data.get("as_of")
    if as_of is not None and not isinstance(as_of, date):
        line = nodes["as_of"][1].start_mark.line + 1
        raise CatalogError(f"{path}:{line}: as_of must be a date (YYYY-MM-DD)")
    return {"overrides": overrides, "as_of": as_of, "source": str(path)}


# --- inventory -----------------------------------------------------------------------


class ModelUse(Struct, frozen=True):
    written: str
    model_id: str
    tier: str
    literal_path: str  # where the literal is written ("" for a router call's policy model)
    literal_line: int
    literal_column: int
    via: tuple[str, ...] = ()
    ref: ModelRef | None = None
    literal_cell: int | None = None  # in a notebook: literal_line is inside this cell


class TaskSource(StrEnum):
    """Where a call site's task name comes from."""

    ANNOTATION = "annotation"  # a `# opusguard: task=NAME` comment
    ROUTE = "route"  # the router call's argument
    DERIVED = "derived"  # made up from the call, as `fix --codemod` would name it


class Site(Struct):
    """One place the code sends (or binds) a Claude model."""

    path: str
    line: int
    column: int
    callee: str
    function: str | None
    sink: str | None
    models: list[ModelUse]
    tier: str | None  # what it sends today (the highest tier of several); None: unresolved
    task: str | None
    task_source: TaskSource | None
    covered: bool  # a task named in the code (annotation or route) is declared in the policy
    unresolved: list[str]
    signals: CallSignals  # what the call's code says about its work
    # The prompt resolved from templates and constants where the call's own code does
    # not give it: "system" / "prompt" (the user message) -> (its text, where it is written).
    prompts: dict[str, tuple[str, str]] = field(default_factory=dict)
    cell: int | None = None  # in a notebook: line is inside this cell
    test: bool = False  # in test code (the `tests` globs): priced apart, never advised on

    @property
    def where(self) -> str:
        return location(self.path, self.cell, self.line)

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies a site across edits (lines move): file, function, callee."""
        return (self.path, self.function or "", self.callee)

    def prompt(self, part: str) -> tuple[str, str | None]:
        """The system prompt ("system") or the user message ("prompt"): its text (empty
        when unknown), and where it is written when not in the call itself."""
        if part == "system" and self.signals.system:
            return self.signals.system, None
        if part in self.prompts:
            return self.prompts[part]
        return "", None


def build_inventory(project: Project, is_test: Callable[[str], bool] | None = None) -> list[Site]:
    """Every call that sends a Claude model, a routed task, or a model it cannot know.
    `is_test(path)` marks the sites in test code (config.match_tests)."""
    is_test = is_test or (lambda path: False)
    derived = site_tasks(project, is_test)
    policy = project.policy
    sites = []
    for call in project.calls:
        if not (call.is_router_call or call.models or (call.is_claude and call.unresolved)):
            continue
        models = [
            ModelUse(
                m.ref.written, m.ref.model_id, m.ref.tier, m.literal_path, line, m.literal_span[1], m.via, m.ref, cell
            )
            for m in call.models
            for cell, line in [_place(project, m.literal_path, m.literal_span[0])]
        ]
        unresolved = list(dict.fromkeys(call.unresolved))
        if call.annotated_task:
            task, source = call.annotated_task, TaskSource.ANNOTATION
        elif call.is_router_call and call.route_task:
            task, source = call.route_task, TaskSource.ROUTE
        elif models:
            task, source = derived.get((call.path, call.call.span)) or derive_task_name(call), TaskSource.DERIVED
        else:
            task, source = None, None
        if call.is_router_call and not models:
            routed = _routed_model(call, project)
            if routed is None:
                unresolved.append(f"route({call.route_task!r}): the task is not declared in the policy")
            else:
                models = [routed]
        tiers = {m.tier for m in models}
        tier = next((t for t in TIERS if t in tiers), None)
        cell, line = _place(project, call.path, call.line)
        sites.append(
            Site(
                path=call.path,
                line=line,
                cell=cell,
                column=call.call.span[1],
                callee=call.call.callee,
                function=call.call.function,
                sink=call.call.sink,
                models=models,
                tier=tier,
                task=task,
                task_source=source,
                covered=source in (TaskSource.ANNOTATION, TaskSource.ROUTE) and task in policy.tasks,
                unresolved=unresolved,
                signals=call.call.signals,
                prompts=_prompts_not_in_call(call.call.signals, call.prompts),
                test=is_test(call.path),
            )
        )
    sites.sort(key=lambda s: (s.path, s.cell or 0, s.line, s.column))
    return sites


def _place(project: Project, path: str, line: int) -> tuple[int | None, int]:
    """(cell, line inside it) in a notebook; (None, line) elsewhere."""
    facts = project.files.get(path)
    return place(facts.cells if facts is not None else (), line)


def _prompts_not_in_call(signals: CallSignals, prompts: list[tuple[str, str, str]]) -> dict[str, tuple[str, str]]:
    """The prompt text resolved from templates and constants, by part: `system` when the
    call's own literal did not give it, `prompt` (the user message); the first of each."""
    out: dict[str, tuple[str, str]] = {}
    for part, written, text in prompts:
        key = "system" if part == "system" else "prompt"
        if key not in out and not (key == "system" and signals.system):
            out[key] = (text[:300], written)
    return out


def _routed_model(call: ResolvedCall, project: Project) -> ModelUse | None:
    """A routed call sends its task's model; its "literal" is the task in the policy."""
    policy = project.policy
    model = policy.model_for(call.route_task or "")
    ref = project.catalog.recognize(model) if model else None
    if ref is None:
        return None
    task = policy.tasks[call.route_task or ""]
    where = project.display_path(task.source) if task.source else ""
    return ModelUse(
        ref.written, ref.model_id, ref.tier, where, task.line, task.column, (f"route({call.route_task!r})",), ref
    )


# --- cost ----------------------------------------------------------------------------


class Priced(Struct, frozen=True):
    model: str
    tier: str
    cost: float | None  # None: no price known
    note: str = ""


class SiteCost(Struct):
    site: Site
    traffic: Traffic | None
    traffic_source: str  # "usage FILE:LINE (site)", "usage (task, 1/3 of its rows)", "assumed", "none"
    today: Priced | None  # None: unresolved, never priced
    policy: Priced | None

    @property
    def priced_today(self) -> Priced:
        """`today`, for a site known to be priced (as every top Opus site is)."""
        if self.today is None:
            raise ValueError(f"{self.site.where}: not priced")
        return self.today


class Advice(Struct):
    """An Opus site whose work looks routine, and why."""

    cost: SiteCost
    score: int
    reasons: list[str]
    against: list[str]
    suggested_tier: str
    suggested_cost: float | None


class Group(Struct):
    key: str
    sites: int
    today: float
    policy: float
    unresolved: int = 0


class Reader(Struct, frozen=True):
    """A call site that reads a configured model: in a notebook, `line` is inside `cell`."""

    path: str
    line: int
    cell: int | None = None

    @property
    def where(self) -> str:
        return location(self.path, self.cell, self.line)


class ConfiguredModel(Struct, frozen=True):
    """A Claude model written in a config file, and the call sites that read it."""

    path: str
    line: int
    column: int
    keys: str  # "['agent']['model']"
    model: str
    tier: str
    read_by: tuple[Reader, ...] = ()  # the calls resolved to it (priced there)


def configured_models(project: Project) -> list[ConfiguredModel]:
    from opusguard.facts.configfiles import keys_text

    readers: dict[tuple, dict[Reader, None]] = {}
    for call in project.calls:
        for model in call.models:
            cell, line = _place(project, call.path, call.line)
            readers.setdefault((model.literal_path, model.literal_span), {})[Reader(call.path, line, cell)] = None
    out = []
    for path, facts in project.configs.items():
        for value in facts.values:
            ref = project.catalog.recognize(value.text)
            if ref is not None:
                out.append(
                    ConfiguredModel(
                        path,
                        value.span[0],
                        value.span[1],
                        keys_text(value.keys),
                        value.text,
                        ref.tier,
                        tuple(readers.get((path, value.span), ())),
                    )
                )
    return out


def _priced_total(costs: list[SiteCost], side: str) -> float:
    """The sum of `side` ('today' or 'policy') over the sites that have a price."""
    return sum(priced.cost for priced in (getattr(c, side) for c in costs) if priced and priced.cost is not None)


class Report(Struct):
    period: str
    assumed: bool  # traffic from the default profile, not measured
    assumptions: list[str]
    prices_as_of: date | None
    prices_source: str
    costs: list[SiteCost]  # production code's sites: the totals, the ranking and the advice
    advice: list[Advice]
    top_opus: list[SiteCost]
    warnings: list[str] = field(default_factory=list)
    usage_source: str | None = None
    # Models named in committed config files (configfiles.py): listed, not priced as call sites.
    configured: list[ConfiguredModel] = field(default_factory=list)
    # The policy file the "under the policy" figures follow; None: there is none,
    # and no saving is claimed.
    policy_file: str | None = None
    # Files whose calls were not followed (path -> why): their sites may be missing.
    skipped: dict[str, str] = field(default_factory=dict)
    tests: list[SiteCost] = field(default_factory=list)  # test code's sites: the "tests" line, apart

    @property
    def tests_today(self) -> float:
        return _priced_total(self.tests, "today")

    @property
    def tests_policy(self) -> float:
        return _priced_total(self.tests, "policy")

    @property
    def sites(self) -> list[Site]:
        return [c.site for c in self.costs]

    @property
    def today(self) -> float:
        return _priced_total(self.costs, "today")

    @property
    def policy(self) -> float:
        return _priced_total(self.costs, "policy")

    @property
    def saving(self) -> float:
        return self.today - self.policy

    @property
    def saving_percent(self) -> float:
        return 100.0 * self.saving / self.today if self.today else 0.0

    def counts(self, *, tests: bool = False) -> dict[str, int]:
        out = {t: 0 for t in (*TIERS, UNRESOLVED)}
        for cost in self.tests if tests else self.costs:
            out[cost.site.tier or UNRESOLVED] += 1
        return out


def token_cost(traffic: Traffic, price: Price) -> float:
    """USD for a period's traffic at a price (USD per million tokens).

    Batch calls get the batch input/output prices; their cache reads and writes
    get the cache prices with the same batch discount (the discounts stack).
    """
    cache = traffic.cache_read_tokens * price.cache_read + traffic.cache_write_tokens * price.cache_write
    standard = traffic.input_tokens * price.input + cache + traffic.output_tokens * price.output
    batch_factor = price.batch_input / price.input if price.input else 1.0
    batch = traffic.input_tokens * price.batch_input + cache * batch_factor + traffic.output_tokens * price.batch_output
    share = traffic.batch_share
    return ((1 - share) * standard + share * batch) / 1_000_000


def default_traffic(site: Site, assumptions: Assumptions) -> Traffic:
    profile = assumptions.traffic
    output = profile.output_tokens
    max_tokens = site.signals.max_tokens
    if profile.output_from_max_tokens and max_tokens is not None:
        output = float(max_tokens)
    batch = 1.0 if site.sink == BATCH_SINK else profile.batch_share
    calls = profile.calls
    return Traffic(
        calls=calls,
        input_tokens=calls * profile.input_tokens * (1 - profile.cached_share),
        output_tokens=calls * output,
        cache_read_tokens=calls * profile.input_tokens * profile.cached_share,
        batch_share=batch,
    )


def assumption_lines(assumptions: Assumptions, usage: Usage | None) -> list[str]:
    moves = assumptions.unjustified_opus_moves_to
    lines = [
        f"under the policy, an Opus call no declared task covers is priced on {moves} (the policy forbids it on Opus)"
    ]
    if usage is not None:
        lines.insert(0, f"traffic measured: {usage.path}, per {usage.period}; sites it does not name are not counted")
        return lines
    profile = assumptions.traffic
    output = "max_tokens at the call (a ceiling), else " if profile.output_from_max_tokens else ""
    lines.insert(
        0,
        (
            f"ASSUMED traffic, not measured: every site {profile.calls:,.0f} calls per {profile.period}, "
            f"{profile.input_tokens:,.0f} input tokens ({profile.cached_share:.0%} cached), "
            f"output {output}{profile.output_tokens:,.0f} tokens, {profile.batch_share:.0%} batch "
            f"(batches.create: 100%); give real usage with --usage FILE"
        ),
    )
    return lines


def price_report(
    sites: Sequence[Site],
    policy: Policy,
    prices: PriceBook,
    assumptions: Assumptions,
    usage: Usage | None = None,
    *,
    traffic_override: dict[int, tuple[Traffic | None, str]] | None = None,
) -> Report:
    """Price every site today and under the policy. `traffic_override` (by index) serves --diff."""
    traffic = _assign_traffic(sites, assumptions, usage)
    if traffic_override:
        traffic.update(traffic_override)
    costs: list[SiteCost] = []
    tests: list[SiteCost] = []
    for index, site in enumerate(sites):
        flow, source = traffic[index]
        into = tests if site.test else costs
        if site.tier is None:
            into.append(SiteCost(site, flow, source, None, None))
            continue
        today = _price_today(site, flow, prices)
        into.append(SiteCost(site, flow, source, today, _price_policy(site, today, flow, policy, prices, assumptions)))
    top = sorted(
        (c for c in costs if c.site.tier == Tier.OPUS and c.today and c.today.cost),
        key=lambda c: -(c.priced_today.cost or 0.0),
    )[: assumptions.top_opus_sites]
    report = Report(
        period=usage.period if usage else assumptions.traffic.period,
        assumed=usage is None,
        assumptions=assumption_lines(assumptions, usage),
        prices_as_of=prices.as_of,
        prices_source=prices.source,
        costs=costs,
        advice=[],
        top_opus=top,
        usage_source=usage.path if usage else None,
        policy_file=policy.path,
        tests=tests,
    )
    report.advice = advise(costs, assumptions, policy, prices)
    if usage is not None:
        report.warnings.extend(usage.warnings)
        report.warnings.extend(_unmatched_rows(sites, usage))
    return report


def _site_matches(site_path: str, key_path: str) -> bool:
    return site_path == key_path or site_path.endswith("/" + key_path) or key_path.endswith("/" + site_path)


def _assign_traffic(sites: Sequence[Site], assumptions: Assumptions, usage: Usage | None) -> dict[int, tuple]:
    out: dict[int, tuple[Traffic | None, str]] = {}
    if usage is None:
        for index, site in enumerate(sites):
            out[index] = (default_traffic(site, assumptions) if site.tier else None, "assumed")
        return out
    out.update(_site_rows_traffic(sites, usage.by_site()))
    out.update(_task_rows_traffic(sites, usage.by_task(), taken=set(out)))
    for index in range(len(sites)):
        out.setdefault(index, (None, "no usage row"))
    return out


def _site_rows_traffic(sites: Sequence[Site], by_site: dict[str, Traffic]) -> dict[int, tuple[Traffic, str]]:
    """The traffic of each site (by index) that a usage row names by path:line."""
    site_rows = {}
    for key, flow in by_site.items():
        path, _, line = key.rpartition(":")
        site_rows[(path, int(line))] = flow
    out = {}
    for index, site in enumerate(sites):
        match = next(
            (flow for (path, line), flow in site_rows.items() if line == site.line and _site_matches(site.path, path)),
            None,
        )
        if match is not None:
            out[index] = (match, "usage (site)")
    return out


def _task_rows_traffic(
    sites: Sequence[Site], by_task: dict[str, Traffic], taken: set[int]
) -> dict[int, tuple[Traffic, str]]:
    """A task row is shared equally by the task's production sites that have no row of
    their own (`taken`): a test that names the task does not take a share of production traffic."""
    sharing: dict[str, list[int]] = {}
    for index, site in enumerate(sites):
        if index not in taken and not site.test and site.task in by_task:
            sharing.setdefault(site.task, []).append(index)
    out = {}
    for task, indexes in sharing.items():
        for index in indexes:
            share = 1 / len(indexes)
            label = "usage (task)" if len(indexes) == 1 else f"usage (task, 1/{len(indexes)} of its traffic)"
            out[index] = (by_task[task].scaled(share), label)
    return out


def _unmatched_rows(sites: Sequence[Site], usage: Usage) -> list[str]:
    tasks = {s.task for s in sites}
    warnings = []
    for row in usage.rows:
        if row.is_site:
            path, _, line = row.key.rpartition(":")
            if not any(s.line == int(line) and _site_matches(s.path, path) for s in sites):
                warnings.append(f"{row.where}: site {row.key} is not a call site that sends a Claude model")
        elif row.key not in tasks:
            warnings.append(f"{row.where}: task {row.key!r} matches no call site")
    return warnings


def _cost_of(ref: ModelRef, flow: Traffic | None, prices: PriceBook, site: Site) -> tuple[float | None, str]:
    price, note = prices.price_for(ref)
    if site.sink in FREE_SINKS:
        return 0.0, "token counting is not billed"
    if price is None or flow is None:
        return (None if price is None else 0.0), note
    return token_cost(flow, price), note


def _price_today(site: Site, flow: Traffic | None, prices: PriceBook) -> Priced:
    """What the code sends today; with several possible models, the dearest."""
    best: Priced | None = None
    for model in site.models:
        if model.ref is None:  # (build_inventory gives every model its catalog reference)
            raise ValueError(f"{site.where}: model {model.written} was not recognised")
        cost, note = _cost_of(model.ref, flow, prices, site)
        candidate = Priced(model.written, model.tier, cost, note)
        if best is None or (cost or 0.0) > (best.cost or 0.0) or (best.cost is None and cost is not None):
            best = candidate
    assert best is not None
    if len({m.written for m in site.models}) > 1:
        extra = f"may send {len(site.models)} models: priced at the dearest"
        best = replace(best, note="; ".join(filter(None, (best.note, extra))))
    return best


def _price_policy(
    site: Site, today: Priced, flow: Traffic | None, policy: Policy, prices: PriceBook, assumptions: Assumptions
) -> Priced:
    """The model the policy gives the site: its declared task's, else no Opus without a task."""
    if site.covered and site.task is not None:  # (a covered site has its task)
        model = policy.model_for(site.task)
        note = f"task {site.task}"
    elif site.tier == Tier.OPUS:
        target = assumptions.unjustified_opus_moves_to
        model = policy.tiers.get(target)
        note = f"no declared task: off Opus, onto {target}"
    else:
        return today
    ref = prices.catalog.recognize(model) if model else None
    if model is None or ref is None:
        return today
    cost, price_note = _cost_of(ref, flow, prices, site)
    return Priced(model, ref.tier, cost, "; ".join(filter(None, (note, price_note))))


# --- which Opus is probably over-provisioned -----------------------------------------

_LABEL = re.compile(r"\b(?:classif\w*|categor\w*|label\w*|one word|exactly one|one of|sentiment)\b", re.I)
_JSON = re.compile(r"\bjson\b|\bextract\w*|\bfields?\b|\bschema\b", re.I)
_YES_NO = re.compile(r"\byes\b[^.?!]{0,20}\bno\b|\btrue\b[^.?!]{0,12}\bfalse\b|\bboolean\b", re.I)
# "a, b or c": the last "x, y,? or z" of a list is enough to know one is there (a
# repeated group tried from every word of a long list rescans it from each).
_CHOICES = re.compile(r"(?<![\w-])[\w-]+, [\w-]+,? or [\w-]|\bone of\b", re.I)
_ROUTING = re.compile(r"\b(?:which (?:queue|team|department|agent|tool)|route|routing|triage)\b", re.I)
_FORMAT = re.compile(r"\b(?:reformat|format|rewrite as|convert|translate|normali[sz]e)\b", re.I)
# Words in a function or task name that say routine work; predicates (is_/has_/should_) only lead.
_ROUTINE_NAME = re.compile(
    r"(?:^|_|-)(classif[a-z]*|categori[a-z]*|label[a-z]*|tags?|extract[a-z]*|pars[a-z]*|format[a-z]*|triage|"
    r"rout[a-z]*|detect[a-z]*|moderat[a-z]*|sentiment|intent)(?:_|-|$)|^(is|has|should|needs)(?:_|-)",
    re.I,
)
_STRUCTURED = ("response_format", "output_type", "response_model", "output_format", "tool_choice")


# What a prompt asks for: (pattern, points, what, whether the answer is small); the first that matches counts.
_ASKS = (
    (_YES_NO, 2, "yes/no", True),
    (_LABEL, 2, "a label", True),
    (_JSON, 2, "JSON or extracted fields", False),
    (_ROUTING, 2, "a routing decision", False),
    (_FORMAT, 1, "formatting", False),
)


def _evidence(text: str, match: re.Match) -> str:
    """About 60 characters of `text` showing where it matched: from its start when the
    match is near it, else from a little before the match."""
    text = " ".join(text.split())
    start = text.find(match.group(0))
    if start < 40:
        return text if len(text) <= 60 else text[:57] + "…"
    begin = max(0, start - 15)
    excerpt = text[begin : begin + 57]
    return "…" + excerpt + ("…" if begin + 57 < len(text) else "")


def routine_signals(site: Site, assumptions: Assumptions) -> tuple[int, list[str], list[str], str]:
    """(score, reasons, reasons against, suggested tier) from what the code says about the call."""
    found: list[tuple[int, str]] = []  # (points, why), in the order they are weighed
    small_output = _output_size(site.signals.max_tokens, assumptions, found)
    if site.signals.temperature == 0:
        found.append((1, "temperature=0: one right answer is expected"))
    small_output = _prompt_asks(site, found) or small_output
    _shape_of_work(site, found)
    score = sum(points for points, _ in found)
    reasons = [why for points, why in found if points > 0]
    against = [why for points, why in found if points <= 0]
    return score, reasons, against, Tier.HAIKU.value if small_output else Tier.SONNET.value


def _output_size(max_tokens: int | None, assumptions: Assumptions, found: list[tuple[int, str]]) -> bool:
    """Points for max_tokens; whether the output is small enough for a label or a yes/no."""
    if max_tokens is None:
        return False
    if max_tokens <= assumptions.tiny_max_tokens:
        found.append((3, f"max_tokens={max_tokens}: a label or a yes/no fits"))
        return True
    if max_tokens <= assumptions.small_max_tokens:
        found.append((2, f"max_tokens={max_tokens}: a short answer or a small JSON object"))
    elif max_tokens >= assumptions.large_max_tokens:
        found.append((-1, f"max_tokens={max_tokens}: long output"))
    return False


def _prompt_asks(site: Site, found: list[tuple[int, str]]) -> bool:
    """Points for what the system prompt, then the user message, asks for (literals,
    templates, constants): the first that asks for routine output is the evidence,
    quoted where it asks. Whether that output is small."""
    small_output = asked = choices = False
    for part in ("system", "prompt"):
        text, where = site.prompt(part)
        if not text:
            continue
        match = None if asked else _first_ask(text)
        if match is not None:
            pattern_match, points, asks, small_output = match
            what = f"the {where}" if where is not None else "the prompt"
            found.append((points, f"{what} asks for {asks} ({_evidence(text, pattern_match)!r})"))
            asked = True
        if not choices and _CHOICES.search(text):
            found.append((1, "a fixed set of output choices"))
            choices = True
    return small_output


def _first_ask(text: str) -> tuple[re.Match, int, str, bool] | None:
    """(where it asks, points, what, whether the answer is small) of the first of _ASKS that `text` matches."""
    for pattern, points, asks, small in _ASKS:
        match = pattern.search(text)
        if match:
            return match, points, asks, small
    return None


def _shape_of_work(site: Site, found: list[tuple[int, str]]) -> None:
    """Points for how the call is made and named."""
    structured = [key for key in _STRUCTURED if getattr(site.signals, key)]
    if structured:
        found.append((1, f"structured output ({', '.join(structured)})"))
    if site.signals.in_loop:
        found.append((1, "called in a loop over records"))
    if site.sink == BATCH_SINK:
        found.append((1, "sent as a batch: offline bulk work"))
    name = (site.function or "").split(".")[-1]
    match = _ROUTINE_NAME.search(name) or _ROUTINE_NAME.search(site.task or "")
    if match:
        found.append((1, f"'{name or site.task}' names routine work ({(match.group(1) or match.group(2)).lower()})"))
    tools = site.signals.tools
    if tools:
        found.append((-1, "uses tools: agentic work" if tools is True else f"{tools} tools: agentic work"))
    if site.sink in AGENT_SINKS:
        found.append((-2, "Claude Agent SDK: multi-step agentic work"))


def advise(costs: Iterable[SiteCost], assumptions: Assumptions, policy: Policy, prices: PriceBook) -> list[Advice]:
    """Opus sites whose signals say routine work, best case first. Advice only: never a finding."""
    out = []
    for cost in costs:
        if cost.site.tier != Tier.OPUS:
            continue
        score, reasons, against, suggested = routine_signals(cost.site, assumptions)
        if score < assumptions.min_score:
            continue
        model = policy.tiers.get(suggested)
        ref = prices.catalog.recognize(model) if model else None
        suggested_cost = _cost_of(ref, cost.traffic, prices, cost.site)[0] if ref else None
        out.append(Advice(cost, score, reasons, against, suggested, suggested_cost))
    out.sort(key=lambda a: (-a.score, -((a.cost.today.cost or 0.0) if a.cost.today else 0.0), a.cost.site.where))
    return out


# --- grouping ------------------------------------------------------------------------

GROUP_BY = ("task", "tier", "file")


def group_key(site: Site, by: str) -> str:
    if by == "tier":
        return site.tier or UNRESOLVED
    if by == "file":
        return site.path
    return site.task or "(no task: model unresolved)"


def group_costs(report: Report, by: str) -> list[Group]:
    groups: dict[str, Group] = {}
    for cost in report.costs:
        key = group_key(cost.site, by)
        group = groups.setdefault(key, Group(key, 0, 0.0, 0.0))
        group.sites += 1
        if cost.today is None:
            group.unresolved += 1
        group.today += (cost.today.cost or 0.0) if cost.today else 0.0
        group.policy += (cost.policy.cost or 0.0) if cost.policy else 0.0
    ordered = sorted(groups.values(), key=lambda g: (-g.today, g.key))
    if by == "tier":
        rank = {t: i for i, t in enumerate((*TIERS, UNRESOLVED))}
        ordered.sort(key=lambda g: rank.get(g.key, 99))
    return ordered


def spend_by_tier(report: Report) -> dict[str, tuple[float, float]]:
    """tier -> (today, under the policy); a site moved by the policy counts in its new tier."""
    out: dict[str, list[float]] = {t: [0.0, 0.0] for t in TIERS}
    for cost in report.costs:
        if cost.today and cost.today.cost:
            out[cost.today.tier][0] += cost.today.cost
        if cost.policy and cost.policy.cost:
            out[cost.policy.tier][1] += cost.policy.cost
    return {t: (v[0], v[1]) for t, v in out.items()}


# --- change in cost between two trees (--diff REF) ----------------------------------------


class SiteChange(Struct):
    kind: str  # added | removed | tier-changed | model-changed
    base: SiteCost | None
    head: SiteCost | None

    @property
    def cost(self) -> SiteCost:
        """The site as it is (as it was, for a removed one)."""
        either = self.head or self.base
        if either is None:
            raise ValueError("a change with neither side")
        return either

    @property
    def delta(self) -> float:
        def cost(c: SiteCost | None) -> float:
            return (c.today.cost or 0.0) if c is not None and c.today is not None else 0.0

        return cost(self.head) - cost(self.base)


class CostDiff(Struct):
    ref: str
    base: Report
    head: Report
    changes: list[SiteChange]

    @property
    def delta(self) -> float:
        return self.head.today - self.base.today

    @property
    def policy_delta(self) -> float:
        return self.head.policy - self.base.policy

    @property
    def tests_delta(self) -> float:
        return self.head.tests_today - self.base.tests_today


def match_sites(base: Sequence[Site], head: Sequence[Site]) -> tuple[dict[int, int], list[int], list[int]]:
    """Pair sites by (file, function, callee), in order: (head index -> base index, added, removed)."""
    pending: dict[tuple, list[int]] = {}
    for index, site in enumerate(base):
        pending.setdefault(site.key, []).append(index)
    pairs: dict[int, int] = {}
    added = []
    for index, site in enumerate(head):
        queue = pending.get(site.key)
        if queue:
            pairs[index] = queue.pop(0)
        else:
            added.append(index)
    removed = sorted(i for queue in pending.values() for i in queue)
    return pairs, added, removed


def diff_reports(ref: str, base_sites: Sequence[Site], head: Report, price: Callable[..., Report]) -> CostDiff:
    """Compare base sites with the head report. `price(sites, overrides)` prices the base
    with the same traffic as the matching head sites, so the delta is the code's alone."""
    # Production sites are compared (head.costs); test sites only add up to the tests line.
    production = [index for index, site in enumerate(base_sites) if not site.test]
    pairs, added, removed = match_sites([base_sites[i] for i in production], head.sites)
    overrides = {
        production[base_i]: (head.costs[head_i].traffic, head.costs[head_i].traffic_source)
        for head_i, base_i in pairs.items()
    }
    base = price(base_sites, overrides)
    changes = []
    for index in added:
        changes.append(SiteChange("added", None, head.costs[index]))
    for index in removed:
        changes.append(SiteChange("removed", base.costs[index], None))
    for head_i, base_i in pairs.items():
        old, new = base.costs[base_i], head.costs[head_i]
        if old.site.tier != new.site.tier:
            changes.append(SiteChange("tier-changed", old, new))
        elif old.today and new.today and old.today.model != new.today.model:
            changes.append(SiteChange("model-changed", old, new))
    changes.sort(key=lambda c: (-abs(c.delta), c.cost.site.where))
    return CostDiff(ref, base, head, changes)
