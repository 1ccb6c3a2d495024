from __future__ import annotations

from collections.abc import Iterator

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


class HardcodedModel(Rule):
    """## What it does
    Reports every Claude model identifier written in code — a string literal, not a
    comment or a docstring — outside the router module the policy names. Every
    spelling counts: Anthropic API ids and aliases, Bedrock ids, profiles and ARNs,
    Vertex ids, and framework prefixes such as `anthropic/…` or `anthropic:…`.

    ## Why is this bad?
    A model written at a call site is a pricing decision nobody reviews. When the
    choice lives in one router driven by a policy, moving a task from Opus to
    Sonnet or Haiku is one reviewed line, and a model's retirement is one edit.

    ## Example
    ```python
    client.messages.create(model="claude-opus-4-1-20250805", ...)
    ```

    ## Use instead
    ```python
    from app.routing import route

    client.messages.create(model=route("classify-ticket"), ...)
    ```
    `opusguard fix --codemod` makes this change without changing which model is sent.

    ## Options
    A module that legitimately keeps a catalogue of ids (a `Literal[...]` of
    supported models, a price table) is accepted in one line of configuration:
    ```toml
    [tool.opusguard.per-file-ignores]
    "app/model_registry.py" = ["OG101"]
    ```
    For a single line, `# opusguard: ignore[OG101]`.
    """

    code = "OG101"
    name = "hardcoded-model"
    examples = (
        Example(
            title="a literal at the call",
            files={
                "app/bot.py": (
                    "import anthropic\n"
                    "client = anthropic.Anthropic()\n"
                    'client.messages.create(model="claude-sonnet-4-5-20250929", max_tokens=10, messages=[])\n'
                )
            },
            expect=(("app/bot.py", 3),),
        ),
        Example(
            title="the router module may hold ids; comments and docstrings are not code",
            policy=_POLICY,
            files={
                "app/__init__.py": "",
                "app/routing.py": 'TABLE = {"classify-ticket": "claude-haiku-4-5-20251001"}\n',
                "app/notes.py": '"""We moved off claude-opus-4-1 last year."""\n# claude-3-opus-20240229 was retired\n',
            },
        ),
        Example(
            title="a catalogue of ids in one string, split into a list: each id where it is written; prose is not a catalogue",
            files={
                "app/models.py": (
                    'ANTHROPIC_MODELS = """\n'
                    "claude-3-5-haiku-20241022\n"
                    "claude-opus-4-20250514\n"
                    '""".split()\n'
                    'SUPPORTED = "gpt-4o, claude-sonnet-4-5-20250929"\n'
                    'NOTE = "claude-opus-4-1 replaced claude-3-opus-20240229 in May"\n'
                ),
            },
            expect=(("app/models.py", 2), ("app/models.py", 3), ("app/models.py", 5)),
        ),
        Example(
            title="Bedrock's context-window variants",
            files={
                "app/bedrock.py": (
                    'LEGACY = "anthropic.claude-v2:1:200k"\n'
                    'SHORT = "anthropic.claude-v2:0:18k"\n'
                    'HAIKU = "anthropic.claude-3-haiku-20240307-v1:0:200k"\n'
                ),
            },
            expect=(("app/bedrock.py", 1), ("app/bedrock.py", 2), ("app/bedrock.py", 3)),
        ),
        Example(
            title="an id written in capitals and lowered before use",
            files={"app/a.py": 'MODEL = "CLAUDE-SONNET-4-5".lower()\n'},
            expect=(("app/a.py", 1),),
        ),
        Example(
            title="an f-string built from a module constant is the id it builds; with an unknown part, its family",
            files={
                "app/__init__.py": "",
                "app/version.py": 'VERSION = "1"\n',
                "app/a.py": (
                    "import os\n"
                    "from app.version import VERSION\n"
                    'PINNED = f"claude-opus-4-{VERSION}"\n'
                    "LATEST = f\"claude-sonnet-4-{os.environ['MINOR']}\"\n"
                    'MESSAGE = f"now on claude-opus-4-{VERSION}"\n'
                ),
            },
            expect=(("app/a.py", 3), ("app/a.py", 4)),
        ),
    )

    def check(self, project: Project) -> Iterator[Finding]:
        for lit in project.literals:
            if lit.in_router_module:
                continue
            ref = lit.ref
            where = f" ({lit.literal.context})" if lit.literal.context else ""
            what = (
                f"a Claude model built from '{lit.literal.text}…' ({ref.tier} tier, version unknown)"
                if ref.partial
                else f"Claude model '{lit.literal.text}' ({ref.tier} tier)"
            )
            yield self.finding(
                lit.path,
                lit.literal.span,
                f"{what[0].upper()}{what[1:]} is hard-coded{where}; send it through the policy's router instead",
                model=lit.literal.text,
                tier=ref.tier,
                facts=project.files.get(lit.path),
                fix_available=True,
            )
