"""The few git questions opusguard asks: what changed, what a file was at a ref."""

from __future__ import annotations

import os
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


def _check_ref(ref: str) -> None:
    if not ref or ref.startswith("-"):  # never an option to git
        raise GitError(f"{ref!r} is not a git ref")


def git_root(cwd: Path) -> Path | None:
    try:
        return Path(os.fsdecode(_git(["rev-parse", "--show-toplevel"], cwd).strip()))
    except GitError:
        return None


def changed_files(ref: str, cwd: Path) -> list[Path]:
    """Python files, notebooks and config files changed against REF: committed since, staged, unstaged and untracked."""
    from opusguard.facts.configfiles import is_config_path

    root = git_root(cwd)
    if root is None:
        raise GitError(f"{cwd}: not a git repository (needed by --changed-since)")
    _check_ref(ref)
    _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
    names = set(_git(["diff", "--name-only", "-z", ref, "--"], root).split(b"\0"))
    names |= set(_git(["ls-files", "--others", "--exclude-standard", "-z"], root).split(b"\0"))
    out = []
    for name in sorted(os.fsdecode(n) for n in names if n):  # a non-UTF-8 name is still a file
        path = root / name
        if (path.suffix in (".py", ".pyi", ".ipynb") or is_config_path(name)) and path.is_file():
            out.append(path)
    return out


def export_tree(ref: str, cwd: Path, dest: Path) -> Path:
    """Write the tree of REF (the whole repository) into `dest`; return where `cwd` is in it.

    `git archive` reads the object store only: the working tree, index and refs
    are left alone.
    """
    import io
    import tarfile

    root = git_root(cwd)
    if root is None:
        raise GitError(f"{cwd}: not a git repository (needed by --diff)")
    _check_ref(ref)
    _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
    archive = _git(["archive", "--format=tar", ref], root)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python < 3.12 without the backported filter
            tar.extractall(dest)  # noqa: S202 - our own repository's archive
    return dest / cwd.resolve().relative_to(root.resolve())
