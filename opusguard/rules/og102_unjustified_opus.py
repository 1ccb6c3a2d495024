from __future__ import annotations

from collections.abc import Iterator

from opusguard.base.tiers import Tier
from opusguard.resolve.project import Project, ResolvedCall, ResolvedModel
from opusguard.rules.findings import Finding, Location
from opusguard.rules.og103_unknown_task import declare_hint
from opusguard.rules.rule import Example, Rule

_POLICY = """\
version: 1
router: app.routing:route
tasks:
  contract-review:
    tier: opus
    justification: Sonnet missed 9 of 120 clause conflicts in the eval; Opus missed 1.
    owner: legal-platform
    review_by: 2099-01-01
"""


class UnjustifiedOpus(Rule):
    """## What it does
    Reports a call that sends or binds an Opus-tier model — an SDK or framework
    call, or any call given the model as `model=`, `model_name=`, `model_id=` or
    `modelId=` — when no Opus-tier task with a justification covers it. The model
    is followed statically through constants, imports, attributes, enums, dicts,
    parameter defaults and environment-variable defaults to the call.

    A call through the router (`route("TASK")`) is judged at the policy instead
    (OG103, OG104).

    ## Why is this bad?
    Opus costs several times what Sonnet does, and Haiku less still. Most requests
    (classification, extraction, formatting, short answers) clear their quality
    bar on a cheaper tier. An Opus call nobody has justified is usually money
    spent for nothing.

    ## Example
    ```python
    OPUS = "claude-opus-4-1-20250805"          # app/config.py

    from app.config import OPUS                # app/triage.py
    client.messages.create(model=OPUS, max_tokens=5, messages=msgs)
    ```

    ## Use instead
    Route the call to a task whose tier is decided in the policy:
    ```python
    client.messages.create(model=route("classify-ticket"), max_tokens=5, messages=msgs)
    ```
    or, where Opus is really needed, declare an Opus task with a `justification`,
    an `owner` and evidence, and name it at the call:
    ```python
    # opusguard: task=contract-review
    client.messages.create(model=OPUS, max_tokens=4000, messages=msgs)
    ```
    """

    code = "OG102"
    name = "unjustified-opus"
    examples = (
        Example(
            title="an Opus constant imported from another module",
            files={
                "app/__init__.py": "",
                "app/config.py": 'OPUS = "claude-opus-4-1-20250805"\n',
                "app/triage.py": (
                    "import anthropic\n"
                    "from app.config import OPUS\n"
                    "client = anthropic.Anthropic()\n"
                    "client.messages.create(\n"
                    "    model=OPUS, max_tokens=5, messages=[]\n"
                    ")\n"
                ),
            },
            expect=(("app/triage.py", 4),),
        ),
        Example(
            title="a call annotated with a justified Opus task",
            policy=_POLICY,
            files={
                "app/__init__.py": "",
                "app/review.py": (
                    "import anthropic\n"
                    "client = anthropic.Anthropic()\n"
                    "# opusguard: task=contract-review\n"
                    'client.messages.create(model="claude-opus-4-1-20250805", max_tokens=4000, messages=[])\n'
                ),
            },
        ),
        Example(
            title="Sonnet needs no justification",
            files={"app/a.py": 'llm(model="claude-sonnet-4-5-20250929")\n'},
        ),
        Example(
            title="an SDK alias passed through helpers: each call site that chooses Opus",
            files={
                "app/__init__.py": "",
                "app/options.py": (
                    "from claude_agent_sdk import ClaudeAgentOptions\n"
                    "def make_options(model):\n"
                    "    return ClaudeAgentOptions(model=model)\n"
                    "def for_task(task, model):\n"
                    "    return make_options(model)\n"
                ),
                "app/run.py": (
                    "from app.options import for_task, make_options\n"
                    'fixer = make_options("opus")\n'
                    'reader = make_options("haiku")\n'
                    'reviewer = for_task("review", "opus")\n'
                ),
            },
            expect=(("app/run.py", 2), ("app/run.py", 4)),
        ),
        Example(
            title="an f-string built from a module constant",
            files={
                "app/a.py": (
                    "import anthropic\n"
                    'VERSION = "1"\n'
                    'PINNED = f"claude-opus-4-{VERSION}"\n'
                    "anthropic.Anthropic().messages.create(model=PINNED, max_tokens=5, messages=[])\n"
                ),
            },
            expect=(("app/a.py", 4),),
        ),
    )

    def check(self, project: Project) -> Iterator[Finding]:
        for call in project.calls:
            if call.is_router_call:
                continue
            opus = [m for m in call.models if m.ref.tier == Tier.OPUS]
            if not opus:
                continue
            reason = _why_not_covered(call, project)
            if reason is None:
                continue
            first = opus[0]
            # An f-string or concatenation is known only by its fixed start.
            what = (
                f"an Opus model built from '{first.ref.written}…'"
                if first.ref.partial
                else f"Opus model '{first.ref.written}'"
            )
            yield self.finding(
                call.path,
                call.call.span,
                f"call sends {what}{_origin(call, first, project)} and {reason}",
                model=first.ref.written,
                tier=Tier.OPUS.value,
                task=call.annotated_task,
                related=[Location(m.literal_path, m.literal_span[0], m.literal_span[1]) for m in opus],
                facts=project.files.get(call.path),
                fix_available=True,
            )


def _why_not_covered(call: ResolvedCall, project: Project) -> str | None:
    """None when a justified Opus task covers the call, else why it does not."""
    task_name = call.annotated_task
    if task_name is None:
        return 'no justified Opus task covers it; route it (route("TASK")) or name its task (# opusguard: task=NAME)'
    task = project.policy.tasks.get(task_name)
    if task is None:
        return f"its task '{task_name}' is not declared (OG103 reports it too); {declare_hint(project)}"
    if task.tier != Tier.OPUS:
        return f"its task '{task_name}' is {task.tier}-tier in the policy"
    if not (task.justification or "").strip():
        return f"its task '{task_name}' has no justification in the policy"
    return None


def _origin(call: ResolvedCall, model: ResolvedModel, project: Project) -> str:
    if model.literal_path == call.path and model.literal_span[0] == call.call.span[0]:
        return ""
    chain = " via " + " -> ".join(model.via) if model.via else ""
    return f" (written at {project.where(model.literal_path, model.literal_span[0])}{chain})"
