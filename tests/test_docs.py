"""Docs generated from code stay in sync with it."""

from __future__ import annotations

from conftest import REPO

from opusguard.rules import all_rules
from opusguard.rules.ruledocs import render_page


def test_rule_pages_match_the_rules():
    for rule in all_rules():
        page = REPO / "docs" / "rules" / f"{rule.code}.md"
        assert page.read_text(encoding="utf-8") == render_page(rule), (
            f"{page} is stale: run `python -m opusguard.rules.ruledocs docs/rules`"
        )


def test_readme_links_every_rule():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for rule in all_rules():
        assert f"[{rule.code}](docs/rules/{rule.code}.md)" in readme
