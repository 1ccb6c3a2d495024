"""Run `check --format json`, `report --format json` and `fix --codemod --diff` with a
given opusguard executable over a list of trees, and save or compare the outputs.

Each tree is copied to a fresh temporary folder first (fix --diff writes nothing,
but a scanned tree is never touched), and every command runs there with --no-cache.

    python scripts/compare_outputs.py --opusguard .venv/bin/opusguard --save /tmp/before TREE...
    python scripts/compare_outputs.py --opusguard .venv/bin/opusguard --against /tmp/before TREE...

--against exits 1 and prints a unified diff when any stdout, stderr or exit code differs.
The saved outputs are not meant to be committed."""

from __future__ import annotations

import argparse
import difflib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

COMMANDS = {
    "check": ["check", "--format", "json", "--no-cache", "."],
    "report": ["report", "--format", "json", "--no-cache", "."],
    "fix": ["fix", "--codemod", "--diff", "--no-cache", "."],
}


def tree_key(tree: Path) -> str:
    return "+".join(tree.resolve().parts[-2:])


def run_tree(exe: str, tree: Path) -> dict[str, bytes]:
    out = {}
    with tempfile.TemporaryDirectory(prefix="og-compare-") as tmp:
        copy = Path(tmp) / tree.resolve().name
        shutil.copytree(tree, copy, symlinks=True)
        for name, args in COMMANDS.items():
            proc = subprocess.run([exe, *args], cwd=copy, capture_output=True, timeout=1800)
            out[f"{name}.stdout"] = proc.stdout
            out[f"{name}.stderr"] = proc.stderr.replace(str(copy).encode(), b"<TREE>")
            out[f"{name}.rc"] = str(proc.returncode).encode() + b"\n"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opusguard", required=True, help="the opusguard executable to run")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--save", type=Path, help="folder to save the outputs in")
    mode.add_argument("--against", type=Path, help="folder of a saved run to compare with")
    parser.add_argument("trees", nargs="+", type=Path)
    args = parser.parse_args(argv)
    exe = str(Path(args.opusguard).resolve()) if "/" in args.opusguard else args.opusguard
    differ = 0
    for tree in args.trees:
        outputs = run_tree(exe, tree)
        key = tree_key(tree)
        if args.save:
            folder = args.save / key
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in outputs.items():
                (folder / name).write_bytes(data)
            print(f"{key}: saved " + ", ".join(f"{n}={outputs[n + '.rc'].decode().strip()}" for n in COMMANDS))
            continue
        before = differ
        for name, data in outputs.items():
            saved_file = args.against / key / name
            saved = saved_file.read_bytes() if saved_file.exists() else b"<missing>\n"
            if saved == data:
                continue
            differ += 1
            sys.stdout.writelines(
                difflib.unified_diff(
                    saved.decode("utf-8", "replace").splitlines(keepends=True),
                    data.decode("utf-8", "replace").splitlines(keepends=True),
                    f"saved/{key}/{name}",
                    f"now/{key}/{name}",
                )
            )
        print(f"{key}: {'same' if differ == before else 'DIFFERENT'}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
