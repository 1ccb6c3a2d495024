"""The recogniser: every spelling users write gets its tier; look-alikes get None."""

from __future__ import annotations

from datetime import date

import pytest

from opusguard.policy.catalog import CatalogEntry, CatalogError, load_catalog, shipped_catalog_path

CATALOG = load_catalog()

# written -> (tier, model_id, catalog entry id or None)
SPELLINGS = {
    "claude-opus-4-1-20250805": ("opus", "claude-opus-4-1-20250805", "claude-opus-4-1-20250805"),
    "claude-opus-4-1": ("opus", "claude-opus-4-1", "claude-opus-4-1-20250805"),
    "claude-opus-4-0": ("opus", "claude-opus-4-0", "claude-opus-4-20250514"),
    "claude-opus-4-20250514": ("opus", "claude-opus-4-20250514", "claude-opus-4-20250514"),
    "claude-opus-4-5": ("opus", "claude-opus-4-5", "claude-opus-4-5-20251101"),
    "claude-sonnet-4-5-20250929": ("sonnet", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929"),
    "claude-haiku-4-5": ("haiku", "claude-haiku-4-5", "claude-haiku-4-5-20251001"),
    "claude-3-5-sonnet-latest": ("sonnet", "claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022"),
    "claude-3-opus-latest": ("opus", "claude-3-opus-latest", "claude-3-opus-20240229"),
    "claude-3-7-sonnet-20250219": ("sonnet", "claude-3-7-sonnet-20250219", "claude-3-7-sonnet-20250219"),
    "claude-3-haiku-20240307": ("haiku", "claude-3-haiku-20240307", "claude-3-haiku-20240307"),
    "claude-2.1": ("other", "claude-2.1", "claude-2.1"),
    "claude-2.0": ("other", "claude-2.0", "claude-2.0"),
    "claude-instant-1.2": ("other", "claude-instant-1.2", "claude-instant-1.2"),
    "claude-v1": ("other", "claude-v1", None),
    # Bedrock
    "anthropic.claude-opus-4-1-20250805-v1:0": ("opus", "claude-opus-4-1-20250805", "claude-opus-4-1-20250805"),
    "anthropic.claude-3-sonnet-20240229-v1:0:28k": ("sonnet", "claude-3-sonnet-20240229", "claude-3-sonnet-20240229"),
    "anthropic.claude-3-5-sonnet-20241022-v2:0": ("sonnet", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022"),
    "anthropic.claude-v2:1": ("other", "claude-2.1", "claude-2.1"),
    "anthropic.claude-v2": ("other", "claude-2.0", "claude-2.0"),
    "anthropic.claude-instant-v1": ("other", "claude-instant-1.2", "claude-instant-1.2"),
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0": (
        "sonnet",
        "claude-sonnet-4-5-20250929",
        "claude-sonnet-4-5-20250929",
    ),
    "eu.anthropic.claude-opus-4-20250514-v1:0": ("opus", "claude-opus-4-20250514", "claude-opus-4-20250514"),
    "apac.anthropic.claude-3-haiku-20240307-v1:0": ("haiku", "claude-3-haiku-20240307", "claude-3-haiku-20240307"),
    "global.anthropic.claude-haiku-4-5-20251001-v1:0": (
        "haiku",
        "claude-haiku-4-5-20251001",
        "claude-haiku-4-5-20251001",
    ),
    "us-gov.anthropic.claude-3-haiku-20240307-v1:0": ("haiku", "claude-3-haiku-20240307", "claude-3-haiku-20240307"),
    "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0": (
        "haiku",
        "claude-3-haiku-20240307",
        "claude-3-haiku-20240307",
    ),
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-1-20250805-v1:0": (
        "opus",
        "claude-opus-4-1-20250805",
        "claude-opus-4-1-20250805",
    ),
    # Vertex
    "claude-opus-4@20250514": ("opus", "claude-opus-4-20250514", "claude-opus-4-20250514"),
    "claude-3-5-sonnet-v2@20241022": ("sonnet", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022"),
    "claude-sonnet-4-5@20250929": ("sonnet", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929"),
    "publishers/anthropic/models/claude-opus-4-1@20250805": (
        "opus",
        "claude-opus-4-1-20250805",
        "claude-opus-4-1-20250805",
    ),
    # framework prefixes
    "anthropic/claude-opus-4-1": ("opus", "claude-opus-4-1", "claude-opus-4-1-20250805"),
    "bedrock/anthropic.claude-3-haiku-20240307-v1:0": ("haiku", "claude-3-haiku-20240307", "claude-3-haiku-20240307"),
    "bedrock/converse/us.anthropic.claude-sonnet-4-20250514-v1:0": (
        "sonnet",
        "claude-sonnet-4-20250514",
        "claude-sonnet-4-20250514",
    ),
    "vertex_ai/claude-3-5-sonnet-v2@20241022": ("sonnet", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022"),
    "openrouter/anthropic/claude-opus-4.1": ("opus", "claude-opus-4-1", "claude-opus-4-1-20250805"),
    "anthropic/claude-3.5-sonnet": ("sonnet", "claude-3-5-sonnet", "claude-3-5-sonnet-20241022"),
    "anthropic/claude-sonnet-4.5": ("sonnet", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
    "anthropic:claude-3-5-sonnet-latest": ("sonnet", "claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022"),
    "bedrock:us.anthropic.claude-opus-4-20250514-v1:0": ("opus", "claude-opus-4-20250514", "claude-opus-4-20250514"),
    # other frameworks' provider prefixes and variants
    "snowflake:claude-sonnet-4-5": ("sonnet", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
    "heroku:claude-4-sonnet": ("sonnet", "claude-4-sonnet", None),
    "gateway/anthropic:claude-opus-4-7": ("opus", "claude-opus-4-7", "claude-opus-4-7"),
    "openrouter:anthropic/claude-3.5-sonnet": ("sonnet", "claude-3-5-sonnet", "claude-3-5-sonnet-20241022"),
    "~anthropic/claude-opus-latest": ("opus", "claude-opus-latest", None),
    "anthropic/claude-3.7-sonnet:thinking": ("sonnet", "claude-3-7-sonnet", "claude-3-7-sonnet-20250219"),
    # future ids that follow the scheme
    "claude-opus-5-20270101": ("opus", "claude-opus-5-20270101", None),
    "claude-sonnet-5": ("sonnet", "claude-sonnet-5", "claude-sonnet-5"),
    "claude-sonnet-7": ("sonnet", "claude-sonnet-7", None),
    "claude-haiku-4-7": ("haiku", "claude-haiku-4-7", None),
    # families the catalog declares beyond opus/sonnet/haiku
    "claude-mythos-preview": ("opus", "claude-mythos-preview", "claude-mythos-preview"),
    "claude-mythos-5": ("opus", "claude-mythos-5", "claude-mythos-5"),
    "claude-fable-5": ("other", "claude-fable-5", "claude-fable-5"),
    "claude-opus-4-6": ("opus", "claude-opus-4-6", "claude-opus-4-6"),
    "us.anthropic.claude-opus-4-6-v1:0": ("opus", "claude-opus-4-6", "claude-opus-4-6"),
    # Bedrock's context-window variants, and its versioned Claude 2.0
    "anthropic.claude-v2:0:18k": ("other", "claude-2.0", "claude-2.0"),
    "anthropic.claude-v2:1:200k": ("other", "claude-2.1", "claude-2.1"),
    "anthropic.claude-3-haiku-20240307-v1:0:200k": ("haiku", "claude-3-haiku-20240307", "claude-3-haiku-20240307"),
    "anthropic.claude-v2:0": ("other", "claude-2.0", "claude-2.0"),
    "bedrock/anthropic.claude-v2:1:200k": ("other", "claude-2.1", "claude-2.1"),
    # written in capitals, lowered before use
    "CLAUDE-SONNET-4-5": ("sonnet", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
    "Claude-Opus-4-1-20250805": ("opus", "claude-opus-4-1-20250805", "claude-opus-4-1-20250805"),
    "ANTHROPIC.CLAUDE-3-HAIKU-20240307-V1:0": ("haiku", "claude-3-haiku-20240307", "claude-3-haiku-20240307"),
}

LOOK_ALIKES = [
    "we use claude-opus-4 for this",
    "https://docs.anthropic.com/claude/docs",
    "claude-opus-4.md",
    "CLAUDE.md",
    "langchain-anthropic",
    "anthropic",
    "claude-agent-sdk",
    "claude-code",
    "claude.ai",
    "claude-desktop",
    "Claude",
    "Claude Shannon",
    "claude",
    "claude_opus_config",
    "CLAUDE_OPUS_MODEL",
    "opus",
    "sonnet",
    "haiku",
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123",
    "gpt-4o",
    "",
    "https://example.com/claude-opus-4-1",
    "claude-sonet-4-5",
    "claude:sonnet-5",
    "anthropic-claude-v1",
    "narnia.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "bedrock_claude",
    "CLAUDE_SONNET_4_5",
    "Claude Opus 4.1",
    "Claude-Code",
    "CLAUDE-OPUS-4-1.md",
    "anthropic.claude-v2:1:2k0",
]


@pytest.mark.parametrize(("written", "expected"), SPELLINGS.items())
def test_every_spelling_gets_its_tier(written, expected):
    ref = CATALOG.recognize(written)
    assert ref is not None
    assert (ref.tier, ref.model_id, ref.entry.id if ref.entry else None) == expected
    assert ref.written == written


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_are_rejected(text):
    assert CATALOG.recognize(text) is None


@pytest.mark.parametrize(
    ("prefix", "tier"),
    [
        ("claude-opus-4-", "opus"),
        ("us.anthropic.claude-3-haiku", "haiku"),
        ("claude-3-5-sonnet-", "sonnet"),
        ("anthropic/claude-sonnet-4-", "sonnet"),
        ("claude-", None),
        ("gpt-", None),
        ("CLAUDE-OPUS-4-", "opus"),
    ],
)
def test_prefix_of_an_fstring(prefix, tier):
    ref = CATALOG.recognize_prefix(prefix)
    assert (ref.tier if ref else None) == tier
    if ref:
        assert ref.partial


def test_short_aliases_only_through_their_own_door():
    assert CATALOG.recognize_short_alias("opus").tier == "opus"
    assert CATALOG.recognize_short_alias("haiku").tier == "haiku"
    assert CATALOG.recognize_short_alias("gpt") is None
    assert CATALOG.recognize("opus") is None


def test_lifecycle():
    retired = CATALOG.recognize("claude-3-opus-20240229")
    assert CATALOG.lifecycle(retired, date(2026, 11, 24))[0] == "retired"
    assert CATALOG.lifecycle(retired, date(2025, 7, 1))[0] == "deprecated"
    assert CATALOG.lifecycle(retired, date(2025, 1, 1)) is None
    assert CATALOG.lifecycle(CATALOG.recognize("claude-sonnet-4-5"), date(2026, 11, 24)) is None
    assert CATALOG.lifecycle(CATALOG.recognize("claude-opus-9"), date(2026, 11, 24)) is None


def test_prices_by_id_alias_and_tier():
    opus41 = CATALOG.price("claude-opus-4-1-20250805")
    assert (opus41.input, opus41.output) == (15.0, 75.0)
    assert CATALOG.price("anthropic.claude-opus-4-1-20250805-v1:0") == opus41
    assert CATALOG.price("claude-opus-4-1") == opus41
    assert opus41.cache_read == pytest.approx(1.5) and opus41.cache_write == pytest.approx(18.75)
    assert opus41.batch_input == pytest.approx(7.5) and opus41.batch_output == pytest.approx(37.5)
    assert CATALOG.price("haiku").input == 1.0
    assert CATALOG.latest("opus").id == "claude-opus-4-5-20251101"


def test_overrides_add_a_private_model():
    private = CatalogEntry(id="claude-opus-4-1-acme-ft", tier="opus", family="claude-opus-4-1", generation="4.1")
    catalog = CATALOG.with_overrides([private])
    assert catalog.entries["claude-opus-4-1-acme-ft"] is private
    assert catalog.digest() != CATALOG.digest()


def test_shipped_catalog_is_consistent():
    assert shipped_catalog_path().is_file()
    for entry in CATALOG.entries.values():
        ref = CATALOG.recognize(entry.id)
        assert ref is not None and ref.tier == entry.tier, entry.id
        assert entry.tier in ("opus", "sonnet", "haiku", "other")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("models: [\n", 2, "invalid YAML"),
        ("models:\n  - id: x\n    tier: mega\n", 2, "tier 'mega'"),
        ("models:\n  - tier: opus\n", 2, "without an 'id'"),
        ("version: 1\n", 1, "'models' list"),
    ],
)
def test_catalog_errors_name_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "models.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert str(info.value).startswith(f"{path}:{line}:")
    assert message in str(info.value)
