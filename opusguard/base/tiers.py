"""The tiers of Claude models: one enum, the home of every tier name and order.

A `Tier` is a str (a StrEnum): `Tier.OPUS == "opus"`, and it prints, formats, hashes
and encodes to JSON as its name, so tiers read from a policy or the catalog (plain
strings) compare with it as they are and every output keeps its shape.
"""

from __future__ import annotations

from opusguard.base.strenum import StrEnum


class Tier(StrEnum):
    OPUS = "opus"
    SONNET = "sonnet"
    HAIKU = "haiku"
    OTHER = "other"  # a Claude model of no known tier


# Every tier, most capable first: the order of every table and count.
TIERS: tuple[Tier, ...] = tuple(Tier)
# The tiers that name a model of their own (a policy maps each to one; priced as one).
NAMED_TIERS: tuple[Tier, ...] = (Tier.OPUS, Tier.SONNET, Tier.HAIKU)
# Cheapest first: the order in which evidence is searched for a tier that passes.
CHEAPEST_FIRST: tuple[Tier, ...] = (Tier.HAIKU, Tier.SONNET, Tier.OPUS)
# A count's key beside the tiers: calls whose model could not be followed.
UNRESOLVED = "unresolved"

# The short aliases the Claude Agent SDK and Claude Code accept for `model=`.
SHORT_ALIASES = {**{t.value: t.value for t in NAMED_TIERS}, "opusplan": Tier.OPUS.value}
