"""The joined view of a scanned tree that rules, the codemod and the report read.

resolve.py builds a Project from per-file facts (facts.py), the policy and the
catalog. Nothing here parses code.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct, field

from opusguard.base.paths import display_path
from opusguard.facts.records import CallFact, FileFacts, LiteralFact, Span

if TYPE_CHECKING:
    from opusguard.facts.configfiles import ConfigFacts
    from opusguard.policy.catalog import Catalog, ModelRef
    from opusguard.policy.tasks import Policy


class ResolvedModel(Struct):
    """One model a call may send, and where its literal is written."""

    ref: "ModelRef"
    literal_path: str
    literal_span: Span
    # How the value reached the call, outermost first, e.g. ("MODEL", "app.config.OPUS").
    via: tuple[str, ...] = ()


class ResolvedCall(Struct):
    path: str
    call: CallFact
    models: list[ResolvedModel] = field(default_factory=list)
    # Where each unresolvable model argument comes from: "env var SMART_MODEL",
    # "parameter 'model' of ask()", "config key settings['model']".
    unresolved: list[str] = field(default_factory=list)
    # route("TASK") through the policy's router: the task named, else None.
    route_task: str | None = None
    is_router_call: bool = False
    # Task from a `# opusguard: task=NAME` annotation on the call.
    annotated_task: str | None = None
    # True when the call is a Claude call (an SDK shape for Claude, or a Claude model reaches it).
    is_claude: bool = False
    # Tasks of `route("task")` values reaching the call from where they are defined
    # (a routed env default, parameter default or class attribute); route_task is the first.
    routed_tasks: list[str] = field(default_factory=list)
    # The prompt's text where it is known statically: (part, where it is written, text),
    # part "system" or "user"; where: "system prompt", "user message", "template NAME".
    prompts: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def task(self) -> str | None:
        return self.annotated_task or self.route_task

    @property
    def line(self) -> int:
        return self.call.span[0]


class ResolvedLiteral(Struct):
    path: str
    literal: LiteralFact
    ref: "ModelRef"
    in_router_module: bool = False


class Project(Struct):
    files: dict[str, FileFacts]
    calls: list[ResolvedCall]
    literals: list[ResolvedLiteral]
    policy: "Policy"
    catalog: "Catalog"
    today: date
    # module name -> path, for messages and the codemod
    modules: dict[str, str] = field(default_factory=dict)
    # Paths in findings are relative to this folder (the engine sets it).
    cwd: Path = field(default_factory=Path.cwd)
    # Discovered config files that name Claude models, by path (configfiles.py): OG109, the report.
    configs: dict[str, "ConfigFacts"] = field(default_factory=dict)

    def display_path(self, path: str | Path) -> str:
        """A path outside the scanned files (the policy, evidence) as findings show it."""
        return display_path(Path(path), self.cwd)

    def where(self, path: str, line: int) -> str:
        """`path:line` for a message, `nb.ipynb:cell 3:2` in a notebook."""
        from opusguard.facts.notebook import location, place

        facts = self.files.get(path)
        cell, line = place(facts.cells if facts is not None else (), line)
        return location(path, cell, line)
