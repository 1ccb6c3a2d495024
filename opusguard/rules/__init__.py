"""The rule registry: every rule class, in code order (base/rule_codes.py lists them).

A new rule is one module in this folder plus one line in base/rule_codes.py.
"""

from __future__ import annotations

import importlib

from opusguard.base.rule_codes import RULE_MODULES
from opusguard.rules.rule import Rule


def all_rules() -> list[type[Rule]]:
    rules = []
    for module_name, class_name in RULE_MODULES:
        module = importlib.import_module(f"opusguard.rules.{module_name}")
        rules.append(getattr(module, class_name))
    return rules


def rules_by_code() -> dict[str, type[Rule]]:
    return {rule.code: rule for rule in all_rules()}
