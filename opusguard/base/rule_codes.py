"""Every rule's code and name: the registry's list, below everything that reads a
`select` or `ignore` (the config) so that checking one costs no rule's import.

A new rule is one module in rules/ plus one line here.
"""

from __future__ import annotations

# module name in rules/ -> class name; the registry (rules/__init__.py) imports them lazily.
RULE_MODULES = (
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

# Codes reported outside the registry: the core reports unused suppressions.
ENGINE_CODES = {"OG100": "unused-ignore"}


def rule_names() -> dict[str, str]:
    """Every code a user can select -> its kebab-case name, read from the module
    names above (`og101_hardcoded_model`)."""
    names = dict(ENGINE_CODES)
    for module_name, _ in RULE_MODULES:
        code, _, name = module_name.partition("_")
        names[code.upper()] = name.replace("_", "-")
    return dict(sorted(names.items()))
