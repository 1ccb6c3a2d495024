from __future__ import annotations

from collections.abc import Iterable, Iterator

from opusguard.resolve.project import Project
from opusguard.rules.findings import Finding
from opusguard.rules.rule import Example, Rule

_POLICY = """\
version: 1
router: app.routing:route
tasks:
  classify-ticket:
    tier: haiku
"""


class UnknownTask(Rule):
    """## What it does
    Reports a task the policy does not declare, named either in a router call
    (`route("TASK")`) or in a `# opusguard: task=NAME` annotation.

    ## Why is this bad?
    The router cannot know which model an undeclared task should get: at run time
    it fails, or falls back to whatever default someone left in it. A typo in a
    task name silently moves a call out of the policy's review.

    ## Example
    ```python
    client.messages.create(model=route("clasify-ticket"), ...)
    ```

    ## Use instead
    Name a declared task, or declare the task in the policy file (`tasks:`), with
    its tier and, for Opus, its justification and owner.
    """

    code = "OG103"
    name = "unknown-task"
    examples = (
        Example(
            title="a router call with a misspelt task",
            policy=_POLICY,
            files={
                "app/__init__.py": "",
                "app/routing.py": "def route(task):\n    return TABLE[task]\n",
                "app/triage.py": 'from app.routing import route\nllm(model=route("clasify-ticket"))\n',
            },
            expect=(("app/triage.py", 2),),
        ),
        Example(
            title="an annotation naming an undeclared task",
            policy=_POLICY,
            files={
                "app/a.py": '# opusguard: task=summarise\nllm(model="claude-sonnet-4-5-20250929")\n',
            },
            expect=(("app/a.py", 2),),
        ),
        Example(
            title="a declared task",
            policy=_POLICY,
            files={
                "app/__init__.py": "",
                "app/routing.py": "def route(task):\n    return TABLE[task]\n",
                "app/triage.py": 'from app.routing import route\nllm(model=route("classify-ticket"))\n',
            },
        ),
    )

    def check(self, project: Project) -> Iterator[Finding]:
        tasks = project.policy.tasks
        for call in project.calls:
            named = [(call.route_task, "router call"), (call.annotated_task, "annotation")]
            named += [(task, "routed default") for task in call.routed_tasks[1:]]
            for task, how in named:
                if task is not None and task not in tasks:
                    yield self.finding(
                        call.path,
                        call.call.span,
                        f"task '{task}' ({how}) is not declared{_suggest(task, tasks)}; {declare_hint(project)}",
                        task=task,
                        facts=project.files.get(call.path),
                    )


def _suggest(task: str, tasks: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(task, list(tasks), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def declare_hint(project: Project) -> str:
    """Where an undeclared task should be declared: the policy file, or `opusguard init`."""
    path = project.policy.path
    if path is None:
        return "there is no policy file: `opusguard init` writes opusguard.yaml, then declare the task under tasks:"
    return f"declare it under tasks: in {project.display_path(path)}, with its tier"
