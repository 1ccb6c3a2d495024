from __future__ import annotations

from collections.abc import Iterator

from opusguard.base.tiers import Tier
from opusguard.resolve.project import Project
from opusguard.rules.findings import Finding
from opusguard.rules.rule import Example, Rule


class TierBelowBar(Rule):
    """## What it does
    Reports a Sonnet- or Haiku-tier task whose evidence shows its tier scoring
    below the task's bar: the task needs escalating. The message names the
    cheapest tier that does pass.

    ## Why is this bad?
    Routing down only pays while quality holds. A task whose own eval says its
    tier falls short is shipping worse answers to save money nobody asked to save.

    ## Example
    ```yaml
    tasks:
      extract-invoice:
        tier: haiku
        evidence: evals/extract-invoice.yaml   # bar 0.98, haiku 0.91, sonnet 0.99
    ```

    ## Use instead
    ```yaml
    tasks:
      extract-invoice:
        tier: sonnet
        evidence: evals/extract-invoice.yaml
    ```
    """

    code = "OG107"
    name = "tier-below-bar"
    examples = (
        Example(
            title="a Haiku task below its bar",
            policy="version: 1\ntasks:\n  extract-invoice:\n    tier: haiku\n    evidence: evals/x.yaml\n",
            files={"app/a.py": "x = 1\n"},
            extra_files={"evals/x.yaml": "bar: 0.98\nscores: {haiku: 0.91, sonnet: 0.99}\n"},
            expect=(("opusguard.yaml", 3),),
        ),
        Example(
            title="a Haiku task that clears its bar",
            policy="version: 1\ntasks:\n  extract-invoice:\n    tier: haiku\n    evidence: evals/x.yaml\n",
            files={"app/a.py": "x = 1\n"},
            extra_files={"evals/x.yaml": "bar: 0.9\nscores: {haiku: 0.91}\n"},
        ),
    )

    def check(self, project: Project) -> Iterator[Finding]:
        for task in project.policy.tasks.values():
            if task.tier not in (Tier.HAIKU, Tier.SONNET) or not task.evidence:
                continue
            from opusguard.policy.evidence import (  # (only a policy with evidence needs it)
                EvidenceError,
                task_evidence,
            )

            try:
                evidence = task_evidence(project.policy, task)
            except EvidenceError:
                continue  # OG104 reports unreadable evidence for Opus; others are reported by `policy validate`
            if evidence.passes(task.tier) is False:
                better = evidence.cheapest_passing()
                advice = f"; {better} clears it" if better else "; no tier in the evidence clears it"
                yield self.finding(
                    project.display_path(task.source),
                    (task.line, task.column, task.line, task.column + len(task.name)),
                    f"task '{task.name}' is {task.tier}-tier but its evidence scores {task.tier} "
                    f"{evidence.scores[task.tier]:.2f}, below the bar {evidence.bar:.2f}{advice}",
                    tier=task.tier,
                    task=task.name,
                )
