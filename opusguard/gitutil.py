"""The few git questions opusguard asks: what changed, what a file was at a ref."""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitError(Exception):
    """One line: what git could not do."""


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git {' '.join(args)}: {message[-1] if message else 'failed'}")
    return result.stdout


def git_root(cwd: Path) -> Path | None:
    try:
        return Path(_git(["rev-parse", "--show-toplevel"], cwd).decode().strip())
    except GitError:
        return None


def changed_files(ref: str, cwd: Path) -> list[Path]:
    """Python files changed against REF: committed since, staged, unstaged and untracked."""
    root = git_root(cwd)
    if root is None:
        raise GitError(f"{cwd}: not a git repository (needed by --changed-since)")
    _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
    names = set(_git(["diff", "--name-only", "-z", ref, "--"], root).split(b"\0"))
    names |= set(_git(["ls-files", "--others", "--exclude-standard", "-z"], root).split(b"\0"))
    out = []
    for name in sorted(n.decode() for n in names if n):
        path = root / name
        if path.suffix in (".py", ".pyi") and path.is_file():
            out.append(path)
    return out
