from __future__ import annotations

from collections.abc import Iterator

from opusguard.facts.configfiles import keys_text
from opusguard.facts.notebook import location, place
from opusguard.resolve.project import Project
from opusguard.rules.findings import Finding, Location, Severity
from opusguard.rules.rule import Example, Rule


class ConfiguredModel(Rule):
    """## What it does
    Opt-in (select it with `--select OG109`). Reports every Claude model id written
    as a value in a committed config file — `.env`, `.env.example` (any `.env.*`),
    YAML, TOML, JSON or INI — other than the policy, its evidence files, the
    baseline and the model catalog. A file that `.gitignore` or `exclude` leaves
    out (a local `.env`, usually) is not committed and is not read. Keys that are
    model ids (a price table keyed by model) and commented-out lines are not
    values.

    ## Why is this bad?
    A model named in a config file is a model choice that bypasses the policy as
    much as one written in code: the code that reads it sends whatever the file
    says. Where opusguard can see which call reads the value
    (`os.getenv("CLAUDE_MODEL")` with no default and `CLAUDE_MODEL=…` in a
    committed `.env`; `yaml.safe_load(open("config.yaml"))["model"]`), that call
    is resolved to it and judged like any other (OG102), and this finding lists
    the call under `related`.

    It is not selected by default because most model ids in committed config
    files are not choices: recorded API responses in test fixtures (VCR
    cassettes, snapshots), a tool's own catalog of the models it supports,
    leaderboards and other data. `opusguard report` lists them all as an
    inventory either way.

    ## Example
    `.env.example`:
    ```sh
    CLAUDE_MODEL=claude-opus-4-1-20250805
    ```

    ## Use instead
    Let the code ask the router for its task, and keep the choice in the policy:
    ```python
    client.messages.create(model=route("answer-question"), ...)
    ```

    ## Options
    Fixtures and data are left out per file:
    ```toml
    [tool.opusguard.per-file-ignores]
    "tests/**/cassettes/*" = ["OG109"]
    ```
    """

    code = "OG109"
    name = "configured-model"
    default_enabled = False
    severity = Severity.WARNING
    examples = (
        Example(
            title="a model in a committed .env.example, read by the code",
            files={
                ".env.example": "ANTHROPIC_API_KEY=sk-ant-...\nCLAUDE_MODEL=claude-opus-4-1-20250805\n",
                "app/bot.py": (
                    "import os, anthropic\n"
                    "client = anthropic.Anthropic()\n"
                    'client.messages.create(model=os.getenv("CLAUDE_MODEL"), max_tokens=5, messages=[])\n'
                ),
            },
            expect=((".env.example", 2),),
        ),
        Example(
            title="YAML, TOML and JSON values",
            files={
                "config/agent.yaml": "agent:\n  name: support\n  model: claude-sonnet-4-5-20250929\n",
                "pyproject.toml": '[tool.myapp]\nmodel = "claude-haiku-4-5-20251001"\n',
                "models.json": '{"fallbacks": ["gpt-4o", "claude-3-5-haiku-20241022"]}\n',
            },
            expect=(("config/agent.yaml", 3), ("pyproject.toml", 2), ("models.json", 1)),
        ),
        Example(
            title="not values: a .gitignored .env, a commented line, a key, the policy",
            policy=("version: 1\ntasks:\n  summarize:\n    tier: sonnet\n    model: claude-sonnet-4-5-20250929\n"),
            files={
                ".gitignore": ".env\n",
                ".env": "CLAUDE_MODEL=claude-opus-4-1-20250805\n",
                ".env.example": "# CLAUDE_MODEL=claude-opus-4-1-20250805\n",
                "prices.json": '{"claude-opus-4-1-20250805": {"input": 15}}\n',
            },
        ),
    )

    def check(self, project: Project) -> Iterator[Finding]:
        readers: dict[tuple[str, tuple], list[Location]] = {}
        for call in project.calls:
            for model in call.models:
                readers.setdefault((model.literal_path, model.literal_span), []).append(
                    Location(call.path, call.call.span[0], call.call.span[1])
                )
        for path, facts in project.configs.items():
            for value in facts.values:
                ref = project.catalog.recognize(value.text)
                if ref is None:
                    continue
                read_by = readers.get((path, value.span), [])
                where = f" by {_where(project, read_by[0])}" if read_by else ""
                yield self.finding(
                    path,
                    value.span,
                    f"Claude model '{value.text}' ({ref.tier} tier) is configured at {keys_text(value.keys)}"
                    f"{', read' + where if where else ''}: a model chosen outside the policy; "
                    "route the code that reads it through the policy's router",
                    model=value.text,
                    tier=ref.tier,
                    related=read_by,
                    facts=facts,
                )


def _where(project: Project, at: Location) -> str:
    """`app.py:12`, or `nb.ipynb:cell 3:2` for a call in a notebook."""
    facts = project.files.get(at.path)
    return location(at.path, *place(facts.cells if facts is not None else (), at.line))
