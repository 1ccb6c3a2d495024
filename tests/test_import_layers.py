"""scripts/import_layers.py: the cycles and floors of a package's imports."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "import_layers.py"


def _load():
    spec = importlib.util.spec_from_file_location("import_layers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_lazy_import_closes_a_cycle_and_type_checking_does_not(tmp_path):
    root = _package(
        tmp_path,
        {
            "a.py": "from pkg import b\n",
            "b.py": "def f():\n    from pkg.a import x\n",
            "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n",
        },
    )
    layers = _load()
    edges = layers.graph(root, top_level=False)
    assert edges["pkg.a"] == {"pkg.b"} and edges["pkg.b"] == {"pkg.a"} and edges["pkg.c"] == set()
    assert layers.cycles(edges) == [["pkg.a", "pkg.b"]]
    assert layers.cycles(layers.graph(root, top_level=True)) == []
    run = subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True)
    assert run.returncode == 1
    assert "pkg.a <-> pkg.b" in run.stdout and "pkg.b -> pkg.a  (inside a function)" in run.stdout


def test_floors_count_from_the_modules_that_import_nothing(tmp_path):
    root = _package(
        tmp_path,
        {
            "low.py": "import os\n",
            "mid.py": "from . import low\n",
            "top.py": "from .sub.deep import y\nimport pkg.mid\n",
            "sub/__init__.py": "",
            "sub/deep.py": "from ..low import z\n",
        },
    )
    layers = _load()
    edges = layers.graph(root, top_level=False)
    assert edges["pkg.top"] == {"pkg.sub.deep", "pkg.mid"} and edges["pkg.sub.deep"] == {"pkg.low"}
    floors = layers.floors(edges, layers.cycles(edges))
    assert floors["pkg.low"] == 0 and floors["pkg.mid"] == 1 and floors["pkg.top"] == 2
    run = subprocess.run([sys.executable, str(SCRIPT), str(root), "--floors"], capture_output=True, text=True)
    assert run.returncode == 0 and "cycles: 0" in run.stdout and "floors: 3" in run.stdout
    assert "  2: pkg.top" in run.stdout


def test_the_basic_modules_stand_on_the_lowest_floors():
    layers = _load()
    edges = layers.graph(SCRIPT.parent.parent / "opusguard", top_level=False)
    floors = layers.floors(edges, layers.cycles(edges))
    assert edges["opusguard.base.paths"] == set() and edges["opusguard.base.strenum"] == set()
    assert edges["opusguard.base.tiers"] == {"opusguard.base.strenum"} and floors["opusguard.base.tiers"] == 1
    assert "opusguard.run.engine" not in edges["opusguard.resolve.project"] | edges["opusguard.facts.configfiles"]


def test_packages_are_layered_by_their_modules_imports(tmp_path):
    root = _package(
        tmp_path,
        {
            "base/__init__.py": "",
            "base/util.py": "import os\n",
            "facts/__init__.py": "",
            "facts/extract.py": "from pkg.base import util\n",
            "shell/__init__.py": "",
            "shell/run.py": "from pkg.facts.extract import x\nfrom pkg import core\n",
            "core.py": "from pkg.facts import extract\n",
        },
    )
    layers = _load()
    packages = layers.package_graph(layers.graph(root, top_level=False))
    assert packages["pkg.shell"] == {"pkg.facts", "pkg.core"} and packages["pkg.base"] == set()
    run = subprocess.run([sys.executable, str(SCRIPT), str(root), "--packages"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout
    assert "cycles: 0" in run.stdout and "layers: 4" in run.stdout
    assert "  3: pkg.shell" in run.stdout

    (root / "base" / "util.py").write_text("from pkg.shell.run import y\n")  # a base that reaches back up
    run = subprocess.run([sys.executable, str(SCRIPT), str(root), "--packages"], capture_output=True, text=True)
    assert run.returncode == 1
    assert "pkg.base <-> pkg.core <-> pkg.facts <-> pkg.shell" in run.stdout
    assert "    pkg.base.util -> pkg.shell.run" in run.stdout


def test_opusguard_packages_import_one_way_on_at_most_eight_layers():
    run = subprocess.run([sys.executable, str(SCRIPT), "--packages"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout  # no cycle between packages
    layers = int(next(line for line in run.stdout.splitlines() if line.startswith("layers: ")).split()[1])
    assert layers <= 8, run.stdout
    placed = {
        package: int(line.split(":")[0])
        for line in run.stdout.splitlines()
        if line.startswith("  ")
        for package in line.split(":")[1].split()
    }
    # The core never reaches into the shell (files, cache, workers), nor the shell into the commands;
    # extraction never calls the selection that decides what it is given.
    assert placed["opusguard.core"] < placed["opusguard.run"] < placed["opusguard.cli"]
    assert placed["opusguard.base"] < placed["opusguard.facts"] < placed["opusguard.select"]
