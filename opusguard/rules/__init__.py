"""The rule registry: every rule class, in code order.

A new rule is one module in this folder plus one line here.
"""

from __future__ import annotations

import importlib

from opusguard.rule import Rule

# module name -> class name; imported lazily so a rule's import cost is paid once.
_RULE_MODULES = (
    ("og000_parse_error", "ParseError"),
    ("og101_hardcoded_model", "HardcodedModel"),
    ("og102_unjustified_opus", "UnjustifiedOpus"),
    ("og103_unknown_task", "UnknownTask"),
    ("og104_opus_governance", "OpusGovernance"),
    ("og105_retired_model", "RetiredModel"),
    ("og106_unresolved_model", "UnresolvedModel"),
    ("og107_tier_below_bar", "TierBelowBar"),
    ("og108_stale_route_table", "StaleRouteTable"),
    ("og109_configured_model", "ConfiguredModel"),
)


def all_rules() -> list[type[Rule]]:
    rules = []
    for module_name, class_name in _RULE_MODULES:
        module = importlib.import_module(f"opusguard.rules.{module_name}")
        rules.append(getattr(module, class_name))
    return rules


def rules_by_code() -> dict[str, type[Rule]]:
    return {rule.code: rule for rule in all_rules()}
