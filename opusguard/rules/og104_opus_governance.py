from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from opusguard.base.tiers import Tier
from opusguard.policy.tasks import Policy, Task
from opusguard.resolve.project import Project
from opusguard.rules.findings import Finding
from opusguard.rules.rule import Example, Rule

PLACEHOLDER_PREFIXES = ("todo", "placeholder", "tbd", "fixme")


class OpusGovernance(Rule):
    """## What it does
    Reports, at its line in the policy file, an Opus-tier task that:
    - has no `justification` (or still the starter policy's placeholder) or no `owner`;
    - has a `review_by` date that has passed;
    - points at `evidence:` that does not exist or cannot be read;
    - has evidence showing a cheaper tier clears the task's bar — the message names
      the cheapest tier that passes and what moving saves per million tokens.

    ## Why is this bad?
    Opus is the right choice only where the evidence says the cheaper tiers fall
    short. A justification nobody owns, or evidence nobody has re-run since the
    models changed, keeps paying Opus prices out of habit.

    ## Example
    ```yaml
    tasks:
      summarize-ticket:
        tier: opus
        description: Summaries for the support dashboard.
    ```

    ## Use instead
    ```yaml
    tasks:
      summarize-ticket:
        tier: sonnet
        description: Summaries for the support dashboard.
    ```
    or keep Opus with a `justification`, an `owner`, a `review_by` date and
    `evidence:` (see docs/evidence.md).
    """

    code = "OG104"
    name = "opus-governance"
    examples = (
        Example(
            title="an Opus task with no justification or owner",
            policy="version: 1\ntasks:\n  summarize-ticket:\n    tier: opus\n",
            files={"app/a.py": "x = 1\n"},
            expect=(("opusguard.yaml", 3),),
        ),
        Example(
            title="evidence shows Sonnet clears the bar",
            policy=(
                "version: 1\ntasks:\n  review:\n    tier: opus\n    justification: needs depth\n"
                "    owner: legal\n    review_by: 2099-01-01\n    evidence: evals/review.yaml\n"
            ),
            files={"app/a.py": "x = 1\n"},
            extra_files={"evals/review.yaml": "bar: 0.9\nscores: {haiku: 0.7, sonnet: 0.93, opus: 0.97}\n"},
            expect=(("opusguard.yaml", 3),),
        ),
        Example(
            title="a governed Opus task",
            policy=(
                "version: 1\ntasks:\n  review:\n    tier: opus\n    justification: Sonnet missed 9 of 120\n"
                "    owner: legal\n    review_by: 2099-01-01\n    evidence: evals/review.yaml\n"
            ),
            files={"app/a.py": "x = 1\n"},
            extra_files={"evals/review.yaml": "bar: 0.95\nscores: {haiku: 0.7, sonnet: 0.9, opus: 0.97}\n"},
        ),
    )

    def check(self, project: Project) -> Iterator[Finding]:
        for task, message in governance_findings(project.policy, project.today):
            yield self.finding(
                project.display_path(task.source),
                (task.line, task.column, task.line, task.column + len(task.name)),
                message,
                tier=Tier.OPUS.value,
                task=task.name,
            )


def governance_findings(policy: Policy, today: date) -> Iterator[tuple[Task, str]]:
    """(task, message) of each governance problem of the policy's Opus tasks: what
    OG104 reports in a check and `opusguard policy validate` reports alone."""
    for task in policy.tasks.values():
        if task.tier != Tier.OPUS:
            continue
        for problem in governance_problems(task, policy, today):
            yield task, f"Opus task '{task.name}' {problem}"


def is_placeholder(text: str | None) -> bool:
    return not text or text.strip().lower().startswith(PLACEHOLDER_PREFIXES)


def governance_problems(task: Task, policy: Policy, today: date) -> list[str]:
    problems = []
    if is_placeholder(task.justification):
        problems.append("has no justification" if not task.justification else "has a placeholder justification")
    if is_placeholder(task.owner):
        problems.append("has no owner" if not task.owner else "has a placeholder owner")
    if task.review_by is not None and task.review_by < today:
        problems.append(f"was due for review on {task.review_by}")
    if task.evidence:
        from opusguard.policy.evidence import (  # (only a policy with evidence needs it)
            EvidenceError,
            task_evidence,
        )

        try:
            evidence = task_evidence(policy, task)
        except EvidenceError as exc:
            problems.append(f"has unreadable evidence: {exc}")
        else:
            cheaper = evidence.cheapest_passing()
            if cheaper in (Tier.HAIKU, Tier.SONNET):
                problems.append(
                    f"has evidence that {cheaper} clears the bar "
                    f"({evidence.scores[cheaper]:.2f} >= {evidence.bar:.2f}){_saving(policy, cheaper)}"
                )
    return problems


def _saving(policy: Policy, cheaper: str) -> str:
    catalog = policy.catalog
    opus = catalog.price(policy.tiers.get(Tier.OPUS, Tier.OPUS.value)) if catalog else None
    low = catalog.price(policy.tiers.get(cheaper, cheaper)) if catalog else None
    if opus is None or low is None:
        return ""
    return (
        f"; moving it saves ${opus.input - low.input:.2f} per million input tokens "
        f"and ${opus.output - low.output:.2f} per million output tokens"
    )
