from __future__ import annotations

from collections.abc import Iterator

from opusguard.resolve.project import Project
from opusguard.rules.findings import Finding
from opusguard.rules.rule import Example, Rule


class ParseError(Rule):
    """## What it does
    Reports a file that cannot be read or parsed as Python: a syntax error, bytes
    that do not decode in the file's encoding, a null byte, an unreadable file.
    Also a file past the limits that keep a hostile file from crashing or
    stalling the parser, which is then not parsed: an expression nested more
    than 400 levels deep, brackets more than 200 deep, a file over 4 MiB
    (docs/security.md).
    A Jupyter notebook that is not valid JSON is reported at the JSON's line; a
    notebook code cell with a syntax error is reported in that cell, and the
    notebook's other cells are still checked.

    ## Why is this bad?
    opusguard cannot see the models a file it cannot parse sends, so a file that
    does not parse is a hole in the check. The run goes on with the other files.

    ## Example
    ```python
    MODEL = "claude-opus-4-1-20250805"
    def broken(:
    ```

    ## Use instead
    Fix the syntax error, or exclude the file (`extend-exclude` in
    `[tool.opusguard]`) if it is not Python (a template, a fixture of bad code)
    or is generated past the limits.
    """

    code = "OG000"
    name = "parse-error"
    examples = (
        Example(
            title="a syntax error",
            files={"app/broken.py": 'MODEL = "claude-opus-4-1-20250805"\ndef broken(:\n    pass\n'},
            expect=(("app/broken.py", 2),),
        ),
        Example(
            title="a notebook that is not valid JSON",
            files={
                "nb/analysis.ipynb": '{"cells": [\n  {"cell_type": "code", "source": ["MODEL = \\"claude-opus-4-1-20250805\\""]}\n  {"cell_type": "markdown", "source": []}\n]}\n'
            },
            expect=(("nb/analysis.ipynb", 3),),
        ),
        Example(
            title="a notebook cell with a syntax error (reported at line 1 of cell 2)",
            files={
                "nb/analysis.ipynb": (
                    '{"cells": [\n'
                    '  {"cell_type": "code", "source": ["MODEL = \\"claude-opus-4-1-20250805\\"\\n"]},\n'
                    '  {"cell_type": "code", "source": ["def broken(:\\n", "    pass\\n"]}\n'
                    '], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'
                )
            },
            expect=(("nb/analysis.ipynb", 1),),
        ),
        Example(title="valid code", files={"app/ok.py": "x = 1\n"}),
    )

    def check(self, project: Project) -> Iterator[Finding]:
        for path, facts in project.files.items():
            if facts.parse_error is not None:
                line = facts.parse_error_line
                yield self.finding(
                    path,
                    (line, 1, line, 1),
                    f"cannot parse: {facts.parse_error}",
                    facts=facts,
                )
