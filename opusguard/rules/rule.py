"""The rule base class. A rule is one small module under opusguard/rules/.

Its docstring is its documentation page (What it does / Why is this bad? /
Example / Use instead / Options, as ruff's pages), and its ``EXAMPLES`` are both
tests (tests/test_rule_examples.py runs every one) and the examples the docs show.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from msgspec import Struct, field

from opusguard.facts.records import Span
from opusguard.resolve.project import Project
from opusguard.rules.findings import Finding, Severity


class Example(Struct, frozen=True):
    """A small project and the rule's expected findings in it.

    ``files`` maps relative paths to source; ``policy`` is policy YAML (or None for
    no policy); ``expect`` lists (path, line) of the findings this rule reports.
    """

    files: dict[str, str]
    expect: tuple[tuple[str, int], ...] = ()
    policy: str | None = None
    title: str = ""
    extra_files: dict[str, str] = field(default_factory=dict)  # evidence files etc.


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    default_enabled: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.ERROR
    examples: ClassVar[tuple[Example, ...]] = ()

    def check(self, project: Project) -> Iterator[Finding]:
        raise NotImplementedError

    def finding(self, path: str, span: Span, message: str, **extra: Any) -> Finding:
        line, column, end_line, end_column = span
        source_line = ""
        facts = extra.pop("facts", None)
        if facts is not None:
            source_line = facts.lines.get(line, "")
        return Finding(
            rule=self.code,
            name=self.name,
            severity=self.severity,
            path=path,
            line=line,
            column=column,
            end_line=end_line,
            end_column=end_column,
            message=message,
            source_line=source_line,
            **extra,
        )
