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


# Codes reported outside the registry: the engine reports unused suppressions.
ENGINE_CODES = {"OG100": "unused-ignore"}


def rule_names() -> dict[str, str]:
    """Every code a user can select -> its kebab-case name, read from the module
    names above (`og101_hardcoded_model`), so that checking a --select costs no import."""
    names = dict(ENGINE_CODES)
    for module_name, _ in _RULE_MODULES:
        code, _, name = module_name.partition("_")
        names[code.upper()] = name.replace("_", "-")
    return dict(sorted(names.items()))


def all_rules() -> list[type[Rule]]:
    rules = []
    for module_name, class_name in _RULE_MODULES:
        module = importlib.import_module(f"opusguard.rules.{module_name}")
        rules.append(getattr(module, class_name))
    return rules


def rules_by_code() -> dict[str, type[Rule]]:
    return {rule.code: rule for rule in all_rules()}
