"""Side-by-side benchmark: opusguard (cold, warm, 10 changed files) vs ruff and grep.

    python3 benchmarks/run.py [--rounds 21]

From a fresh clone this makes benchmarks/.venv with opusguard (from the clone)
and a pinned ruff, builds the corpus if missing, then times every command on
the same tree in one run and prints medians, ratios and peak memory. Results go
to benchmarks/results/<date>T<time>.json, every round's times included.

A round times each command once, so the commands of a round run within seconds
of each other. Besides the ratio of medians, the script gives each ratio's range
over the rounds: how far one round's ratio strays when the machine drifts.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RUFF = "ruff==0.14.0"
# Part of the tree (about 56% of its lines) for the linear-growth measure.
PART = ["django", "networkx", "pandas", "acme_ai"]
MEASURE = r"""
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
wall = time.perf_counter() - start
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


def venv_bin() -> Path:
    venv = HERE / ".venv"
    if not (venv / "bin" / "opusguard").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-e", str(REPO), RUFF], check=True)
    # Bytecode, as an install from a wheel has it: the editable install compiles on
    # first import, or on every run where PYTHONDONTWRITEBYTECODE is set (~30 ms).
    subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-q", str(REPO / "opusguard")], check=True)
    return venv / "bin"


def measure(cmd: list[str], cwd: Path) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one run, in a fresh process."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], cwd=cwd, capture_output=True, text=True, check=True)
    wall, rss, _code = out.stdout.split()
    return float(wall), int(rss)


def run(rounds: int) -> dict:
    bins = venv_bin()
    corpus = HERE / "corpus"
    subprocess.run([str(bins / "python"), str(HERE / "make_corpus.py"), "--dest", str(corpus)], check=True)
    cache = corpus / ".opusguard_cache"
    # The default text output, piped, as pre-commit and CI run it.
    opusguard = [str(bins / "opusguard"), "check", "--exit-zero"]
    injected = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*.py") if b"injected by benchmarks" in p.read_bytes())
    changed = injected[:5] + sorted(p.relative_to(corpus).as_posix() for p in (corpus / "django" / "utils").glob("*.py"))[:5]

    def cold():
        shutil.rmtree(cache, ignore_errors=True)
        return measure([*opusguard, "--no-cache", "."], corpus)

    def cold_part():  # for linear growth: the same run on part of the tree
        shutil.rmtree(cache, ignore_errors=True)
        return measure([*opusguard, "--no-cache", *PART], corpus)

    def warm():
        subprocess.run([*opusguard, "."], cwd=corpus, capture_output=True)  # fill the cache, not timed
        return measure([*opusguard, "."], corpus)
    commands = {
        "opusguard cold": cold,
        "opusguard cold -j 1": lambda: measure([*opusguard, "--no-cache", "-j", "1", "."], corpus),
        "opusguard cold, part of the tree": cold_part,
        "opusguard warm": warm,
        "opusguard 10 changed files (warm)": lambda: measure([*opusguard, *changed], corpus),
        "ruff --no-cache --select E902": lambda: measure([str(bins / "ruff"), "check", "--no-cache", "--select", "E902", "--exit-zero", "-q", "."], corpus),
        "grep -rIl claude": lambda: measure(["grep", "-rIl", "claude", "."], corpus),
    }
    results: dict[str, dict] = {name: {"wall": [], "rss_kib": []} for name in commands}
    for _ in range(rounds):
        for name, fn in commands.items():
            wall, rss = fn()
            results[name]["wall"].append(wall)
            results[name]["rss_kib"].append(rss)
    lines = sum(p.read_bytes().count(b"\n") for p in corpus.rglob("*.py"))
    part_lines = sum(p.read_bytes().count(b"\n") for folder in PART for p in (corpus / folder).rglob("*.py"))
    med = {name: statistics.median(r["wall"]) for name, r in results.items()}

    def ratios_of(walls: dict[str, float]) -> dict[str, float]:
        return {
            "cold / ruff": walls["opusguard cold"] / walls["ruff --no-cache --select E902"],
            "cold / grep": walls["opusguard cold"] / walls["grep -rIl claude"],
            "warm / cold": walls["opusguard warm"] / walls["opusguard cold"],
            # 1.0 is linear: seconds per line on the whole tree over seconds per line on part of it
            "growth (whole / part, per line)": (walls["opusguard cold"] / lines)
            / (walls["opusguard cold, part of the tree"] / part_lines),
        }

    per_round = [ratios_of({name: r["wall"][i] for name, r in results.items()}) for i in range(rounds)]
    return {
        "date": datetime.date.today().isoformat(),
        "machine": {"cores": os.cpu_count(), "cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "corpus": {"files": sum(1 for _ in corpus.rglob("*.py")), "lines": lines, "part": PART, "part_lines": part_lines},
        "rounds": rounds,
        "median_seconds": med,
        "peak_rss_mib": {name: max(r["rss_kib"]) / 1024 for name, r in results.items()},
        "ratios": ratios_of(med),
        "ratio_range_over_rounds": {name: [min(r[name] for r in per_round), max(r[name] for r in per_round)] for name in per_round[0]},
        "seconds_per_round": {name: r["wall"] for name, r in results.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    # One round's cold / grep strayed over 3.8-5.8 x in a run on a 2-core VM; a median
    # of 9 rounds still moved by +-3.5% between runs, one of 21 by +-2.5%.
    parser.add_argument("--rounds", type=int, default=21)
    report = run(parser.parse_args().rounds)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    # One file per run: several runs a day are kept side by side.
    (out / f"{datetime.datetime.now():%Y-%m-%dT%H%M%S}.json").write_text(json.dumps(report, indent=2))
    print(f"corpus: {report['corpus']['files']:,} files, {report['corpus']['lines']:,} lines; "
          f"{report['machine']['cores']} cores, Python {report['machine']['python']}; median of {report['rounds']}")
    for name, seconds in report["median_seconds"].items():
        print(f"  {name:<36} {seconds:8.3f} s   peak {report['peak_rss_mib'][name]:7.1f} MiB")
    for name, ratio in report["ratios"].items():
        low, high = report["ratio_range_over_rounds"][name]
        print(f"  {name:<36} {ratio:8.3f} x   rounds {low:.3f}-{high:.3f} x")


if __name__ == "__main__":
    main()
