"""Build a tree of N small files, each with one Opus call, for timing
`opusguard fix --codemod` against `opusguard check` on the same tree.

    python benchmarks/make_fix_tree.py /tmp/fixtree [--files 300]

Each file is a module of ~20 lines with one `client.messages.create(model="claude-opus-...")`
in a function of its own, so every file is rewritten and gets one derived task.
The folder is made afresh (removed first if it exists) with a `pyproject.toml`
(the project's root) and no policy, as a user's first `fix` meets it.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

MODULE = '''"""Service {index}: answers one kind of request."""

import anthropic

client = anthropic.Anthropic()
LIMIT = {limit}


def handle_request_{index}(text: str) -> str:
    """Send the text and return the first block of the answer."""
    reply = client.messages.create(
        model="claude-opus-4-1-20250805",
        max_tokens=LIMIT,
        messages=[{{"role": "user", "content": text}}],
    )
    return reply.content[0].text


def helper_{index}(values: list[int]) -> int:
    return sum(value * {index} for value in values)
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--files", type=int, default=300)
    args = parser.parse_args()
    if args.dest.exists():
        shutil.rmtree(args.dest)
    package = args.dest / "services"
    package.mkdir(parents=True)
    (args.dest / "pyproject.toml").write_text('[project]\nname = "fixtree"\nversion = "0"\n')
    (package / "__init__.py").write_text("")
    for index in range(args.files):
        (package / f"service_{index:03d}.py").write_text(MODULE.format(index=index, limit=100 + index))
    print(f"{args.dest}: {args.files} files")


if __name__ == "__main__":
    main()
