"""The one place that decides which Claude model a task gets (see opusguard.yaml)."""

from support_desk.routing_table import TASK_MODELS


def route(task: str) -> str:
    try:
        return TASK_MODELS[task]
    except KeyError:
        raise KeyError(f"task {task!r} is not declared in opusguard.yaml") from None
