"""The model catalog (policies/models.yaml) and the recogniser of Claude model ids.

`Catalog.recognize` decides whether a whole string is a Claude model id, in any of
the spellings users write (Anthropic API, Bedrock, Vertex, framework prefixes),
and which tier it is. Ids not in the catalog still get a tier when they follow the
naming scheme, so a model released tomorrow is recognised today.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct
from msgspec.structs import replace

from opusguard.base.digest import hexdigest
from opusguard.base.strenum import StrEnum
from opusguard.base.tiers import NAMED_TIERS, SHORT_ALIASES, TIERS, Tier

if TYPE_CHECKING:
    import yaml


class Lifecycle(StrEnum):
    """Where a model is in its life, once it is no longer current."""

    DEPRECATED = "deprecated"
    RETIRED = "retired"


class CatalogError(Exception):
    """A malformed catalog; str() is 'path:line: what is wrong'."""


class Price(Struct, frozen=True):
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float
    batch_input: float
    batch_output: float


class CatalogEntry(Struct, frozen=True):
    id: str
    tier: str
    family: str
    generation: str
    aliases: tuple[str, ...] = ()
    price: Price | None = None
    released: date | None = None
    deprecated: date | None = None
    retired: date | None = None
    replacement: str | None = None
    bedrock: str | None = None
    vertex: str | None = None


class ModelRef(Struct, frozen=True):
    written: str  # exactly as written in code
    model_id: str  # Anthropic API form, provider prefix/suffix stripped
    tier: str
    family: str
    provider: str  # anthropic | bedrock | vertex | litellm | openrouter | pydantic-ai | alias
    entry: CatalogEntry | None
    partial: bool = False


# --- the recogniser ----------------------------------------------------------------

# Provider wrappers, outermost first. Each strips a prefix and names the provider.
_ARN = re.compile(
    r"arn:aws[a-z-]*:bedrock:[a-z0-9-]*:\d*:"
    r"(?:foundation-model|inference-profile|system-defined-inference-profile|provisioned-model|custom-model)/"
)
_PREFIXES = (
    ("openrouter/anthropic/", "openrouter"),
    ("openrouter/", "openrouter"),
    ("bedrock/converse/", "litellm"),
    ("bedrock/invoke/", "litellm"),
    ("bedrock/", "litellm"),
    ("vertex_ai_beta/", "litellm"),
    ("vertex_ai/", "litellm"),
    ("anthropic/", "litellm"),
    ("anthropic:", "pydantic-ai"),
    ("bedrock:", "pydantic-ai"),
    ("google-vertex:", "pydantic-ai"),
    ("vertexai:", "pydantic-ai"),
)
_VERTEX_PATH = re.compile(r"(?:projects/[^/\s]+/locations/[^/\s]+/)?publishers/anthropic/models/")
_BEDROCK_PREFIX = re.compile(r"(?:(?:us|eu|apac|global|us-gov|jp|au|ca|ap|sa|me|af)\.)?anthropic\.")
_BEDROCK_SUFFIX = re.compile(r"-v\d+(?::\d+)?(?::\d+k)?$")
# Bedrock's context-window variants: anthropic.claude-v2:1:200k, ...-v1:0:200k.
_CONTEXT_WINDOW = re.compile(r"(?<=:\d):\d+k$")
_VERTEX_DATE = re.compile(r"(?:-v\d)?@(\d{8})$")
_OPENROUTER_DOTTED = re.compile(r"(?<=\d)\.(?=\d)")

DEFAULT_FAMILIES = {t.value: t.value for t in NAMED_TIERS}


def _new_scheme(families: Iterable[str]) -> re.Pattern[str]:
    """claude-<family>-<major>[-<minor>][-<date>]: every current id, and tomorrow's."""
    names = "|".join(sorted(map(re.escape, families), key=len, reverse=True))
    return re.compile(
        rf"claude-(?P<tier>{names})-(?P<major>\d{{1,2}})(?:-(?P<minor>\d))?"
        r"(?:-(?P<date>\d{8}))?(?P<latest>-latest)?(?:-thinking)?"
    )


def _prefix_tier(families: Iterable[str]) -> re.Pattern[str]:
    names = "|".join(sorted(map(re.escape, families), key=len, reverse=True))
    return re.compile(
        rf"claude-(?:(?P<new>{names})(?:-|$)|\d(?:-\d)?-(?P<old>opus|sonnet|haiku)(?:-|$)|(?P<legacy>instant|2\.|v2))"
    )


_OLD_SCHEME = re.compile(
    r"claude-(?P<major>\d)(?:-(?P<minor>\d))?-(?P<tier>opus|sonnet|haiku)"
    r"(?:-v\d)?(?:-(?P<date>\d{8}))?(?P<latest>-latest)?"
)
_LEGACY = re.compile(
    r"claude-(?:(?P<v>[12](?:\.\d)?)|instant(?:-v?1(?:\.\d)?)?|v[12](?:\.\d)?(?::\d)?)(?:-\d{8})?(?:-\d+k)?"
)


class _Parsed(Struct, frozen=True):
    model_id: str
    tier: str
    family: str
    dated: bool


# Any other framework's provider prefix ("snowflake:", "gateway/anthropic:",
# OpenRouter's "~anthropic/" aliases), stripped while a Claude id remains.
_GENERIC_PREFIX = re.compile(r"~?[a-z][a-z0-9_-]*[:/]")
# OpenRouter variants: anthropic/claude-3.7-sonnet:thinking
_VARIANT_SUFFIX = re.compile(r":(?:thinking|beta|extended|free)$")


def _unwrap(text: str) -> tuple[str, str]:
    """Strip provider wrappers: (core id, provider)."""
    provider = "anthropic"
    match = _ARN.match(text)
    if match:
        text, provider = text[match.end() :], "bedrock"
    for _ in range(3):
        for prefix, name in _PREFIXES:
            if text.startswith(prefix):
                text, provider = text[len(prefix) :], name
                break
        else:
            match = _GENERIC_PREFIX.match(text)
            if match is None or "claude" not in text[match.end() :] or text.startswith("publishers/"):
                break
            text, provider = text[match.end() :], match.group().strip("~:/")
    text = _VARIANT_SUFFIX.sub("", text)
    match = _VERTEX_PATH.match(text)
    if match:
        text, provider = text[match.end() :], "vertex"
    match = _BEDROCK_PREFIX.match(text)
    if match:
        text = _CONTEXT_WINDOW.sub("", text[match.end() :])
        provider = "bedrock" if provider in ("anthropic", "bedrock") else provider
    return text, provider


def _parse_core(core: str, provider: str, new_scheme: re.Pattern[str], families: dict[str, str]) -> _Parsed | None:
    """Parse a prefix-free id; None when it is not a Claude model id."""
    if provider == "bedrock" or _BEDROCK_SUFFIX.search(core):
        stripped = _BEDROCK_SUFFIX.sub("", core)
        if stripped != "claude":  # anthropic.claude-v2:1 keeps its suffix
            core = stripped
    date_match = _VERTEX_DATE.search(core)
    if date_match:
        core = core[: date_match.start()] + "-" + date_match.group(1)
    if "." in core and provider in ("openrouter", "litellm", "anthropic"):
        core = _OPENROUTER_DOTTED.sub("-", core) if not _LEGACY.fullmatch(core) else core
    family_alias = re.fullmatch(r"claude-([a-z]+)-latest", core)
    if family_alias and family_alias.group(1) in families:
        return _Parsed(core, families[family_alias.group(1)], core, False)
    match = new_scheme.fullmatch(core)
    if match:
        name, major, minor, day = match["tier"], match["major"], match["minor"], match["date"]
        family = f"claude-{name}-{major}" + (f"-{minor}" if minor and minor != "0" else "")
        model_id = f"{family}-{day}" if day else core.replace("-thinking", "")
        return _Parsed(model_id, families[name], family, bool(day))
    match = _OLD_SCHEME.fullmatch(core)
    if match:
        tier, major, minor, day = match["tier"], match["major"], match["minor"], match["date"]
        family = f"claude-{major}" + (f"-{minor}" if minor else "") + f"-{tier}"
        model_id = f"{family}-{day}" if day else family + ("-latest" if match["latest"] else "")
        return _Parsed(model_id, tier, family, bool(day))
    if _LEGACY.fullmatch(core):
        return _Parsed(core, Tier.OTHER.value, core, False)
    return None


class CatalogData(Struct, frozen=True):
    """A Catalog as data: what its constructor takes (see Catalog.to_data)."""

    entries: tuple[CatalogEntry, ...]
    as_of: date | None
    source_path: str | None
    source_digest: str
    override_entries: tuple[CatalogEntry, ...]
    families: dict[str, str]


class Catalog:
    def __init__(
        self,
        entries: Iterable[CatalogEntry],
        *,
        as_of: date | None = None,
        source_path: str | None = None,
        source_digest: str = "",
        override_entries: tuple[CatalogEntry, ...] = (),
        families: dict[str, str] | None = None,
    ):
        self.entries: dict[str, CatalogEntry] = {e.id: e for e in entries}
        self.families = dict(families or DEFAULT_FAMILIES)
        self._new_scheme = _new_scheme(self.families)
        self._prefix_tier = _prefix_tier(self.families)
        self.as_of = as_of
        self.source_path = source_path
        self.override_entries = override_entries
        self._source_digest = source_digest
        self._by_name: dict[str, CatalogEntry] = {}
        for entry in sorted(self.entries.values(), key=lambda e: e.released or date.min):
            # Later releases win a shared alias or family name.
            for name in (entry.family, *entry.aliases):
                self._by_name[name] = entry
            for provider_id in (entry.bedrock, entry.vertex):
                if provider_id:
                    self._by_name[provider_id] = entry
        for entry in self.entries.values():
            self._by_name[entry.id] = entry

    def to_data(self) -> CatalogData:
        """What the catalog is made of, as data (for the parsed-object cache)."""
        return CatalogData(
            tuple(self.entries.values()),
            self.as_of,
            self.source_path,
            self._source_digest,
            tuple(self.override_entries),
            dict(self.families),
        )

    @classmethod
    def from_data(cls, data: CatalogData) -> Catalog:
        return cls(
            data.entries,
            as_of=data.as_of,
            source_path=data.source_path,
            source_digest=data.source_digest,
            override_entries=data.override_entries,
            families=data.families,
        )

    def digest(self) -> str:
        overrides = repr(sorted(self.override_entries, key=lambda e: e.id))
        return hexdigest((self._source_digest + overrides).encode(), 16)

    # -- recognition --

    def recognize(self, text: str) -> ModelRef | None:
        if "://" in text:  # a URL, never a model id
            return None
        exact = self.entries.get(text)
        if exact is not None:  # includes a policy's private ids, whatever their spelling
            return ModelRef(text, exact.id, exact.tier, exact.family, "anthropic", exact)
        lowered = text.lower()
        if lowered != text:
            # An id written in capitals ("CLAUDE-SONNET-4-5", lowered before use) is
            # an id; the API's spelling is lowercase, so that is the one recognised.
            ref = self.recognize(lowered) if "claude" in lowered else None
            return replace(ref, written=text) if ref is not None else None
        if "claude" not in text or len(text) > 200:
            return None
        return self._recognize_spelling(text)

    def _recognize_spelling(self, text: str) -> ModelRef | None:
        """A lowercase text holding "claude" (the rare literal: `recognize` keeps the
        common ones out cheaply): an id as some provider or SDK spells it, or None."""
        core, provider = _unwrap(text)
        if core in self.entries and core != text:
            known = self.entries[core]
            return ModelRef(text, known.id, known.tier, known.family, provider, known)
        if provider == "anthropic" and "@" in core:
            provider = "vertex"
        parsed = _parse_core(core, provider, self._new_scheme, self.families)
        if parsed is None:
            entry = self._by_name.get("anthropic." + core)  # anthropic.claude-v2:1
            if entry is None:
                return None
            return ModelRef(text, entry.id, entry.tier, entry.family, provider, entry)
        entry = self.entries.get(parsed.model_id) or self._by_name.get(parsed.model_id)
        if entry is None and not parsed.dated:
            entry = self._by_name.get(parsed.family) if parsed.model_id == parsed.family else None
        if entry is None and parsed.tier == Tier.OTHER:
            entry = self._by_name.get("anthropic." + core)  # Bedrock's legacy spellings
            if entry is not None:
                return ModelRef(text, entry.id, entry.tier, entry.family, provider, entry)
        return ModelRef(text, parsed.model_id, parsed.tier, parsed.family, provider, entry)

    def recognize_prefix(self, prefix: str) -> ModelRef | None:
        """The tier told by the fixed leading part of an f-string or concatenation."""
        lowered = prefix.lower()
        if lowered != prefix:
            ref = self.recognize_prefix(lowered) if "claude" in lowered else None
            return replace(ref, written=prefix) if ref is not None else None
        if "claude" not in prefix:
            return None
        full = self.recognize(prefix)
        if full is not None:
            return replace(full, partial=True)
        core, provider = _unwrap(prefix)
        match = self._prefix_tier.match(core)
        if match is None:
            return None
        tier = self.families[match["new"]] if match["new"] else (match["old"] or Tier.OTHER.value)
        return ModelRef(prefix, core, tier, core.rstrip("-"), provider, None, partial=True)

    def recognize_short_alias(self, text: str) -> ModelRef | None:
        tier = SHORT_ALIASES.get(text)
        if tier is None:
            return None
        return ModelRef(text, text, tier, text, "alias", self.latest(tier))

    # -- lookups --

    def lifecycle(self, ref: ModelRef, today: date) -> tuple[Lifecycle, CatalogEntry] | None:
        entry = ref.entry
        if entry is None:
            return None
        if entry.retired and today >= entry.retired:
            return (Lifecycle.RETIRED, entry)
        if entry.deprecated and today >= entry.deprecated:
            return (Lifecycle.DEPRECATED, entry)
        return None

    def latest(self, tier: str) -> CatalogEntry | None:
        current = [e for e in self.entries.values() if e.tier == tier and e.retired is None and e.deprecated is None]
        if not current:
            return None
        return max(current, key=lambda e: (e.released or date.min, e.id))

    def lookup(self, model_id: str) -> CatalogEntry | None:
        """The entry for an id in any spelling, or an alias."""
        if model_id in self._by_name:
            return self._by_name[model_id]
        ref = self.recognize(model_id)
        return ref.entry if ref is not None else None

    def price(self, model_id_or_tier: str) -> Price | None:
        if model_id_or_tier in TIERS:
            entry = self.latest(model_id_or_tier)
        else:
            entry = self.lookup(model_id_or_tier)
        return entry.price if entry else None

    def with_overrides(self, entries: Iterable[CatalogEntry]) -> Catalog:
        entries = tuple(entries)
        if not entries:
            return self
        merged = {**self.entries, **{e.id: e for e in entries}}
        return Catalog(
            merged.values(),
            as_of=self.as_of,
            source_path=self.source_path,
            source_digest=self._source_digest,
            override_entries=self.override_entries + entries,
            families=self.families,
        )


# --- loading -------------------------------------------------------------------------


def shipped_catalog_path() -> Path:
    here = Path(__file__).resolve().parent.parent  # the opusguard package
    installed = here / "_policies" / "models.yaml"
    if installed.is_file():
        return installed
    return here.parent / "policies" / "models.yaml"


@functools.lru_cache(maxsize=8)
def _load_cached(path: str) -> Catalog:
    return read_catalog(Path(path))


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog at `path` (default: the shipped one); run/parsed_cache.py keeps one
    built by an earlier run while its file is unchanged."""
    return _load_cached(str(Path(path) if path else shipped_catalog_path()))


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def read_catalog(path: Path) -> Catalog:
    """The catalog in the file at `path`, parsed now (load_catalog keeps one a process)."""
    import yaml  # here, not at the top: a warm run loads a cached catalog without it

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}:1: cannot read catalog: {exc.strerror or exc}") from None
    try:
        # libyaml's loader where installed: the catalog is read on every run.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        root = yaml.compose(text, Loader=loader)
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise CatalogError(f"{path}:{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if root is None or not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise CatalogError(f"{path}:1: a catalog is a mapping with a 'models' list")
    model_nodes = dict((k.value, v) for k, v in root.value)["models"].value
    defaults = data.get("defaults") or {}
    entries = [_entry(item, node, defaults, path) for item, node in zip(data["models"], model_nodes)]
    families = data.get("families") or DEFAULT_FAMILIES
    bad = [name for name, tier in families.items() if tier not in TIERS or not str(name).isalpha()]
    if bad:
        raise CatalogError(
            f"{path}:1: family {bad[0]!r}: a family is a lowercase word mapped to one of {', '.join(TIERS)}"
        )
    return Catalog(
        entries,
        as_of=data.get("as_of"),
        source_path=str(path),
        source_digest=hexdigest(text.encode()),
        families=families,
    )


def entry_from_mapping(item: dict, defaults: dict | None = None) -> CatalogEntry:
    """A CatalogEntry from a YAML mapping (the catalog's or a policy's `models:` override).

    Raises ValueError with what is wrong; callers add file and line.
    """
    defaults = defaults or {}
    if not isinstance(item, dict):
        raise ValueError("a model entry is a mapping")
    model_id = item.get("id")
    if not isinstance(model_id, str) or not model_id:
        raise ValueError("model entry without an 'id'")
    tier = item.get("tier")
    if tier not in TIERS:
        raise ValueError(f"model {model_id}: tier {tier!r} is not one of {', '.join(TIERS)}")
    price = None
    if item.get("price") is not None:
        raw = item["price"]
        try:
            inp, out = float(raw["input"]), float(raw["output"])
            batch = float(defaults.get("batch", 0.5))
            price = Price(
                input=inp,
                output=out,
                cache_write=float(raw.get("cache_write", inp * float(defaults.get("cache_write", 1.25)))),
                cache_read=float(raw.get("cache_read", inp * float(defaults.get("cache_read", 0.1)))),
                batch_input=float(raw.get("batch_input", inp * batch)),
                batch_output=float(raw.get("batch_output", out * batch)),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ValueError(f"model {model_id}: price needs numeric 'input' and 'output'") from None
        if not all(
            0 <= value < math.inf
            for value in (
                price.input,
                price.output,
                price.cache_write,
                price.cache_read,
                price.batch_input,
                price.batch_output,
            )
        ):
            raise ValueError(f"model {model_id}: a price is a finite number of 0 or more (USD per million tokens)")
    for key in ("released", "deprecated", "retired"):
        if item.get(key) is not None and not isinstance(item[key], date):
            raise ValueError(f"model {model_id}: {key} must be a date (YYYY-MM-DD)")
    return CatalogEntry(
        id=model_id,
        tier=tier,
        family=str(item.get("family") or model_id),
        generation=str(item.get("generation") or ""),
        aliases=tuple(item.get("aliases") or ()),
        price=price,
        released=item.get("released"),
        deprecated=item.get("deprecated"),
        retired=item.get("retired"),
        replacement=item.get("replacement"),
        bedrock=item.get("bedrock"),
        vertex=item.get("vertex"),
    )


def _entry(item: Any, node: yaml.Node, defaults: dict[str, Any], path: Path) -> CatalogEntry:
    try:
        return entry_from_mapping(item, defaults)
    except ValueError as exc:
        raise CatalogError(f"{path}:{_line(node)}: {exc}") from None
