from __future__ import annotations

from collections.abc import Iterator

from opusguard.resolve.project import Project
from opusguard.rules.findings import Finding
from opusguard.rules.rule import Example, Rule

_POLICY = "version: 1\nrouter: app.routing:route\ntasks:\n  classify:\n    tier: haiku\n"


class StaleRouteTable(Rule):
    """## What it does
    Reports, at the policy's `router:` line, a generated routing table
    (`<router module>_table.py`, written by `opusguard init` / `opusguard policy sync`)
    that no longer matches the policy's tasks and models, or that is missing.

    ## Why is this bad?
    The router sends what the table says, not what the policy says. A policy edit
    that never reached the table is a review that changed nothing at run time.

    ## Example
    The policy moves `classify` from Sonnet to Haiku, but `app/routing_table.py`
    still maps it to the Sonnet id.

    ## Use instead
    Run `opusguard policy sync` and commit the regenerated table with the policy.
    """

    code = "OG108"
    name = "stale-route-table"
    examples = (
        Example(
            title="a table generated from an older policy",
            policy=_POLICY,
            files={
                "app/__init__.py": "",
                "app/routing.py": "from .routing_table import TASK_MODELS\n",
                "app/routing_table.py": 'POLICY_DIGEST = "0000"\nTASK_MODELS = {"classify": "claude-sonnet-4-5-20250929"}\n',
            },
            expect=(("opusguard.yaml", 2),),
        ),
        Example(title="no router, nothing to keep in sync", policy="version: 1\n", files={"a.py": "x = 1\n"}),
    )

    def check(self, project: Project) -> Iterator[Finding]:
        policy = project.policy
        if not policy.router or not policy.path:
            return
        from opusguard.policy.scaffold import policy_digest, route_table_path, table_digest

        table = route_table_path(policy)
        found = table_digest(table)
        if found == policy_digest(policy):
            return
        state = "is missing" if not table.exists() else "is stale (the policy changed since it was generated)"
        line, column = policy.line_of("router")
        yield self.finding(
            project.display_path(policy.path),
            (line, column, line, column + len(policy.router)),
            f"routing table {project.display_path(table)} {state}; run `opusguard policy sync`",
        )
