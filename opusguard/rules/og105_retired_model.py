from __future__ import annotations

from collections.abc import Iterator

from opusguard.policy.catalog import Lifecycle
from opusguard.resolve.project import Project
from opusguard.rules.findings import Finding, Severity
from opusguard.rules.rule import Example, Rule


class RetiredModel(Rule):
    """## What it does
    Reports a model id that the shipped catalog (`policies/models.yaml`) lists as
    retired (an error: requests to it fail) or deprecated (a warning: it will be
    retired on the date the catalog gives). The router module is checked too: a
    retired id in the routing table breaks every call of its task.

    ## Why is this bad?
    A retired model's requests fail at run time. A deprecated one is a dated
    outage nobody has put in their calendar. Newer models of the same tier are
    usually both better and no more expensive.

    ## Example
    ```python
    client.messages.create(model="claude-3-opus-20240229", ...)
    ```

    ## Use instead
    The catalog's `replacement`, through the router:
    ```python
    client.messages.create(model=route("contract-review"), ...)
    ```
    """

    code = "OG105"
    name = "retired-model"
    examples = (
        Example(
            title="a retired model",
            files={"app/a.py": 'llm(model="claude-2.1")\n'},
            expect=(("app/a.py", 1),),
        ),
        Example(title="a current model", files={"app/a.py": 'llm(model="claude-sonnet-4-5-20250929")\n'}),
    )

    def check(self, project: Project) -> Iterator[Finding]:
        for lit in project.literals:
            status = project.catalog.lifecycle(lit.ref, project.today)
            if status is None:
                continue
            state, entry = status
            when = entry.retired if state == Lifecycle.RETIRED else entry.deprecated
            instead = f"; use {entry.replacement}" if entry.replacement else ""
            tail = f", retires {entry.retired}" if state == Lifecycle.DEPRECATED and entry.retired else ""
            finding = self.finding(
                lit.path,
                lit.literal.span,
                f"model '{lit.literal.text}' is {state} (since {when}{tail}){instead}",
                model=lit.literal.text,
                tier=lit.ref.tier,
                facts=project.files.get(lit.path),
            )
            if state == Lifecycle.DEPRECATED:
                finding.severity = Severity.WARNING
            yield finding
