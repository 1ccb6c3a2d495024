"""A new user's first minutes, as README tells them: a fresh `git clone`, then the
quick start's commands, taken from the README's own text, with the output README
shows. The console script installed for the tests stands in for the quick start's
fresh virtual environment (building one takes too long for a test)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess

import pytest
from conftest import OPUSGUARD, REPO, run_cli


def _blocks(readme: str, language: str) -> list[tuple[int, str]]:
    """(offset, body) of each fenced block in that language."""
    return [(m.start(), m.group(1)) for m in re.finditer(rf"```{language}\n(.*?)```", readme, re.DOTALL)]


def _normal(text: str) -> str:
    """Whitespace folded (README wraps long lines; tables pad cells) and timings masked."""
    return re.sub(r"\s+", " ", re.sub(r"\b\d+\.\d+ s\b", "N s", text)).strip()


def _quick_start(readme: str) -> list[list[str]]:
    """The opusguard commands of the quick start's shell block, as argument lists."""
    section = readme[readme.index("## Quick start") :]
    _, body = _blocks(section, "sh")[0]
    commands = [shlex.split(part) for part in re.split(r"&&|;", body) if part.strip()]
    return [command for command in commands if command[0].endswith("/opusguard")]


def _shown(readme: str, sentence: str) -> tuple[int, list[str]]:
    """The exit code a README sentence states, and the pieces of the text block after
    it (pieces are separated by '...' lines: each is a run of consecutive output)."""
    at = readme.index(sentence)
    code = int(re.search(r"\(exit code (\d)\)", readme[at : at + 200]).group(1))
    offset, body = next((o, b) for o, b in _blocks(readme, "text") if o > at)
    pieces = [piece for piece in re.split(r"^\.\.\.$", body, flags=re.MULTILINE) if piece.strip()]
    return code, pieces


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    target = tmp_path_factory.mktemp("fresh") / "opusguard"
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True, capture_output=True)
    subprocess.run(["git", "checkout", "-q", head], cwd=target, check=True, capture_output=True)
    return target


def test_readme_quick_start_in_a_fresh_clone_prints_what_readme_shows(clone):
    readme = (clone / "README.md").read_text(encoding="utf-8")
    commands = _quick_start(readme)
    assert [command[1] for command in commands] == ["check", "report"], commands
    expected = {
        "check": _shown(readme, "The check prints findings like these"),
        "report": _shown(readme, "and the report (exit code"),
    }
    for command in commands:
        result = run_cli(*command[1:], cwd=clone, real=True)  # the installed console script itself
        code, pieces = expected[command[1]]
        assert result.returncode == code, (command, result.stderr)
        output = _normal(result.stdout)
        for piece in pieces:
            assert _normal(piece) in output, (command, piece)
        assert "error" not in result.stderr, result.stderr
    assert OPUSGUARD.is_file()
