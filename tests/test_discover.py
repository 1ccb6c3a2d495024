"""Discovery, and the warm run's reuse of the last walk (discover.py's listings)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import run_cli, write_tree

from opusguard.policy.config import load_settings
from opusguard.run import discover

OPUS = "claude-opus-4-1-20250805"


def _age(root: Path, seconds: int = 60) -> None:
    """Make every folder and file look untouched for a while (a settled tree)."""
    past = time.time() - seconds
    for path in [root, *root.rglob("*")]:
        os.utime(path, (past, past))


def _names(root: Path, listings) -> list[str]:
    found = discover.discover_file_names(["."], load_settings(root), cwd=root, listings=listings)
    return [os.path.relpath(f, root).replace(os.sep, "/") for f in found]


@pytest.fixture
def settled_tree(tmp_path):
    write_tree(tmp_path, {"app/a.py": "", "app/sub/b.py": "", "build/skip.py": "", "notes.txt": ""})
    _age(tmp_path)
    return tmp_path


def _no_walking(monkeypatch) -> None:
    def scandir(*args, **kwargs):
        raise AssertionError("walked although the last walk still holds")

    monkeypatch.setattr(discover.os, "scandir", scandir)


def test_a_settled_walk_is_kept_and_reused(settled_tree, monkeypatch):
    listings: dict = {}
    assert _names(settled_tree, listings) == ["app/a.py", "app/sub/b.py"]
    assert len(listings) == 1
    _no_walking(monkeypatch)
    assert _names(settled_tree, listings) == ["app/a.py", "app/sub/b.py"]


def test_editing_a_file_keeps_the_walk(settled_tree, monkeypatch):
    listings: dict = {}
    _names(settled_tree, listings)
    (settled_tree / "app" / "a.py").write_text("x = 1\n")  # content: the pre-filter's business
    _no_walking(monkeypatch)
    assert _names(settled_tree, listings) == ["app/a.py", "app/sub/b.py"]


@pytest.mark.parametrize(
    "change",
    [
        "add a file",
        "remove a file",
        "rename a folder",
        "add a .gitignore",
        "edit a .gitignore",
        "edit a parent's .gitignore",
        "add a folder",
    ],
)
def test_any_change_to_what_the_walk_read_walks_again(settled_tree, change):
    root = settled_tree / "proj"
    write_tree(root, {"m.py": "", "deep/n.py": "", ".gitignore": "ignored.py\n", "ignored.py": ""})
    (settled_tree / ".gitignore").write_text("*.tmp\n")
    _age(settled_tree)
    listings: dict = {}
    assert _names(root, listings) == ["deep/n.py", "m.py"]
    expected = {
        "add a file": ["deep/n.py", "deep/o.py", "m.py"],
        "remove a file": ["m.py"],
        "rename a folder": ["deeper/n.py", "m.py"],
        "add a .gitignore": ["m.py"],
        "edit a .gitignore": ["deep/n.py", "ignored.py", "m.py"],
        "edit a parent's .gitignore": ["deep/n.py"],
        "add a folder": ["deep/n.py", "m.py", "new/p.py"],
    }[change]
    if change == "add a file":
        (root / "deep" / "o.py").write_text("")
    elif change == "remove a file":
        (root / "deep" / "n.py").unlink()
    elif change == "rename a folder":
        (root / "deep").rename(root / "deeper")
    elif change == "add a .gitignore":
        (root / "deep" / ".gitignore").write_text("n.py\n")
    elif change == "edit a .gitignore":
        (root / ".gitignore").write_text("other.py\n")
    elif change == "edit a parent's .gitignore":
        (settled_tree / ".gitignore").write_text("m.py\n")
    elif change == "add a folder":
        write_tree(root, {"new/p.py": ""})
    assert _names(root, listings) == expected


def test_a_folder_changed_just_before_the_walk_is_listed_again(tmp_path):
    # A coarse clock can give a change made just after the walk the same time as
    # the folder had: such a folder's entries are kept and compared next time.
    write_tree(tmp_path, {"a.py": "", "sub/b.py": ""})
    _age(tmp_path / "sub")  # settled; the root was just written to
    listings: dict = {}
    assert _names(tmp_path, listings) == ["a.py", "sub/b.py"]
    (listing,) = listings.values()
    recent = {path: entries for path, _, _, entries in listing.depends_on if entries is not None}
    assert list(recent) == [str(tmp_path)]
    stat = os.stat(tmp_path)
    (tmp_path / "c.py").write_text("")
    os.utime(tmp_path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same tick
    assert _names(tmp_path, listings) == ["a.py", "c.py", "sub/b.py"]


def test_a_walk_that_read_a_just_edited_ignore_file_is_not_kept(settled_tree):
    (settled_tree / ".gitignore").write_text("*.tmp\n")
    listings: dict = {}
    _names(settled_tree, listings)
    assert listings == {}


def test_named_files_are_not_kept(settled_tree):
    listings: dict = {}
    found = discover.discover_file_names(["app/a.py"], load_settings(settled_tree), cwd=settled_tree, listings=listings)
    assert [Path(f).name for f in found] == ["a.py"] and listings == {}


def test_a_warm_run_sees_a_file_added_after_the_walk_was_kept(tmp_path):
    write_tree(tmp_path, {"app/__init__.py": "", "app/a.py": "x = 1\n"})
    _age(tmp_path)

    def findings() -> list[str]:
        result = run_cli("check", "--format", "json", ".", cwd=tmp_path)
        return [f["path"] for f in json.loads(result.stdout)["findings"]]

    assert findings() == [] and findings() == []  # the first run keeps the walk, the second reuses it
    (tmp_path / "app" / "b.py").write_text(f'M = "{OPUS}"\n')
    assert findings() == ["app/b.py"]


def test_a_warm_run_over_an_unchanged_tree_writes_nothing(tmp_path):
    write_tree(tmp_path, {"app/__init__.py": "", "app/a.py": f'M = "{OPUS}"\n'})
    _age(tmp_path)
    run_cli("check", ".", cwd=tmp_path)
    (index,) = (tmp_path / ".opusguard_cache").glob("verdicts-*")
    written = index.stat().st_mtime_ns
    result = run_cli("check", ".", cwd=tmp_path)
    assert result.returncode == 1 and index.stat().st_mtime_ns == written
