from __future__ import annotations

from collections.abc import Iterator

from opusguard.resolve.project import Project
from opusguard.rules.findings import Finding, Severity
from opusguard.rules.rule import Example, Rule


class UnresolvedModel(Rule):
    """## What it does
    Opt-in (select it with `--select OG106`). Reports a Claude call whose model
    cannot be known from the code: an environment variable with no default, a
    parameter with no default, a value read from a config file or a request. The
    message says where the model comes from.

    ## Why is this bad?
    Such a call may be sending Opus today; only the deployment knows. Tools that
    assume a default model hide exactly these calls. opusguard never guesses: it
    counts them as unresolved (`--statistics`, the JSON summary) and lists them
    here, so a team can route them or pin their defaults.

    ## Example
    ```python
    client.messages.create(model=os.environ["SMART_MODEL"], ...)
    ```

    ## Use instead
    ```python
    client.messages.create(model=route("answer-question"), ...)
    ```
    or give the variable a default that the check can see
    (`os.getenv("SMART_MODEL", "claude-sonnet-4-5-20250929")`).
    """

    code = "OG106"
    name = "unresolved-model"
    default_enabled = False
    severity = Severity.WARNING
    examples = (
        Example(
            title="an env var with no default",
            files={
                "app/a.py": (
                    "import os, anthropic\n"
                    "client = anthropic.Anthropic()\n"
                    'client.messages.create(model=os.environ["SMART_MODEL"], max_tokens=5, messages=[])\n'
                )
            },
            expect=(("app/a.py", 3),),
        ),
        Example(
            title="an env var with a default is resolved",
            files={
                "app/a.py": (
                    "import os, anthropic\n"
                    "client = anthropic.Anthropic()\n"
                    'client.messages.create(model=os.getenv("M", "claude-haiku-4-5"), max_tokens=5, messages=[])\n'
                )
            },
        ),
        Example(
            title="a helper's parameter, and the call site that passes it a model known only at run time",
            files={
                "app/a.py": (
                    "import anthropic\n"
                    "def ask(model, text):\n"
                    "    return anthropic.Anthropic().messages.create(model=model, max_tokens=5, messages=[])\n"
                    "def main(args):\n"
                    "    ask(args.model, 'hi')\n"
                    "    ask('claude-haiku-4-5', 'hi')\n"
                )
            },
            expect=(("app/a.py", 3), ("app/a.py", 5)),
        ),
    )

    def check(self, project: Project) -> Iterator[Finding]:
        for call in project.calls:
            if not call.is_claude or call.is_router_call or not call.unresolved:
                continue
            yield self.finding(
                call.path,
                call.call.span,
                "the model this call sends cannot be resolved statically: " + "; ".join(dict.fromkeys(call.unresolved)),
                facts=project.files.get(call.path),
            )
