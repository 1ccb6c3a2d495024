"""The basic things with one home each: tiers (tiers.py), dotted names (facts.py),
display paths (paths.py)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from opusguard.base.paths import display_path
from opusguard.base.tiers import CHEAPEST_FIRST, NAMED_TIERS, TIERS, Tier
from opusguard.facts.records import Attr, CallV, Name, Param, SelfAttr, Unknown, dotted_name
from opusguard.policy.catalog import Lifecycle
from opusguard.report.pricing import TaskSource
from opusguard.rules.findings import Finding, Severity


def test_a_tier_is_its_name_wherever_it_goes():
    assert Tier.OPUS == "opus" and "opus" in TIERS and Tier("haiku") is Tier.HAIKU
    assert f"{Tier.SONNET}" == str(Tier.SONNET) == "sonnet" and f"{Tier.OPUS:>6}" == "  opus"
    assert {Tier.OPUS: 1}["opus"] == 1  # a tier read from YAML finds a count keyed by the enum
    assert json.dumps({Tier.OTHER: [Tier.OPUS]}) == '{"other": ["opus"]}'
    assert msgspec.json.encode({Tier.OTHER: Tier.OPUS}) == b'{"other":"opus"}'
    assert ", ".join(TIERS) == "opus, sonnet, haiku, other"
    assert set(NAMED_TIERS) == set(CHEAPEST_FIRST) == set(TIERS) - {Tier.OTHER}


def test_dotted_name_spells_chains_of_names():
    chain = Attr(Attr(Name("client"), "messages"), "create")
    assert dotted_name(chain) == "client.messages.create"
    assert dotted_name(Attr(SelfAttr("Agent", "client"), "create")) == "self.client.create"
    assert dotted_name(Attr(Param("run", "options", None), "model")) == "options.model"
    assert dotted_name(Attr(CallV(Name("f"), ()), "x")) == "....x"
    assert dotted_name(Attr(Unknown("?"), "x"), "?") == "?.x"


def test_display_path_is_relative_with_slashes(tmp_path):
    (tmp_path / "a").mkdir()
    assert display_path(tmp_path / "a" / "b.py", tmp_path) == "a/b.py"
    assert display_path(str(tmp_path / "a" / ".." / "c.py"), tmp_path) == "c.py"
    assert display_path(tmp_path / "x.py", tmp_path / "a") == "../x.py"
    assert display_path(Path("rel/p.py"), Path.cwd()) == "rel/p.py"


def test_verdicts_are_enums_that_read_as_their_words():
    finding = Finding(rule="OG105", name="retired-model", path="a.py", line=1, column=1, message="m")
    assert finding.severity is Severity.ERROR and finding.to_json()["severity"] == "error"
    assert (
        json.dumps(
            Finding(
                rule="x", name="y", path="a.py", line=1, column=1, message="m", severity=Severity.WARNING
            ).to_json()["severity"]
        )
        == '"warning"'
    )
    assert f"covered ({TaskSource.ROUTE})" == "covered (route)" and TaskSource("derived") is TaskSource.DERIVED
    assert f"is {Lifecycle.RETIRED}" == "is retired" and Lifecycle.DEPRECATED == "deprecated"
