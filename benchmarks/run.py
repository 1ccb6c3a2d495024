"""Side-by-side benchmark: opusguard (cold, warm, 10 changed files) vs ruff, grep and llm-sunset.

    python3 benchmarks/run.py [--corpus sparse|dense|both] [--rounds N]

From a fresh clone this makes benchmarks/.venv with opusguard (from the clone),
a pinned ruff and a pinned llm-sunset, builds the corpora if missing
(make_corpus.py), then times every command on the same tree in one run and
prints medians, ratios and peak memory, one block per corpus. Results go to
benchmarks/results/<date>T<time>.json, every round's times included.

A round times each command once, so the commands of a round run within seconds
of each other; each round starts one command further along the list, so no tool
always runs first or last. Besides the ratio of medians, the script gives each
ratio's range over the rounds: how far one round's ratio strays when the
machine drifts.
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
LLM_SUNSET = "llm-sunset==0.3.1"
# Rounds per corpus unless --rounds says otherwise: a cold run on the dense
# corpus takes minutes on 2 cores.
DEFAULT_ROUNDS = {"sparse": 21, "dense": 3}
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
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-e", str(REPO), RUFF, LLM_SUNSET], check=True)
    if not (venv / "bin" / "llm-sunset").exists():  # a venv made before llm-sunset joined
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", LLM_SUNSET], check=True)
    # opusguard again each time: its console script names a module of this checkout,
    # which a later commit may have moved (an editable install keeps the old script).
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "-e", str(REPO)], check=True)
    # Bytecode, as an install from a wheel has it: the editable install compiles on
    # first import, or on every run where PYTHONDONTWRITEBYTECODE is set (~30 ms).
    subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-q", str(REPO / "opusguard")], check=True)
    return venv / "bin"


def measure(cmd: list[str], cwd: Path) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one run, in a fresh process."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], cwd=cwd, capture_output=True, text=True, check=True)
    wall, rss, _code = out.stdout.split()
    return float(wall), int(rss)


def versions(bins: Path) -> dict:
    def out(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    return {
        "opusguard": out(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
        "ruff": out([str(bins / "ruff"), "--version"]),
        "llm-sunset": out([str(bins / "llm-sunset"), "--version"]),
        "grep": out(["grep", "--version"]),
    }


def py_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*.py") if ".git" not in p.relative_to(corpus).parts)


def changed_files_of(
    name: str, corpus: Path, files: list[Path], rel: list[str], data: dict[Path, bytes], mentioning: list[Path]
) -> list[str]:
    """The ten files of the "10 changed files" run."""
    if name == "sparse":
        injected = [r for p, r in zip(files, rel) if b"injected by benchmarks" in data[p]]
        return (
            injected[:5]
            + sorted(p.relative_to(corpus).as_posix() for p in (corpus / "django" / "utils").glob("*.py"))[:5]
        )
    # five files that mention Claude and five that do not, as a commit might touch
    return [r for p, r in zip(files, rel) if p in set(mentioning)][:5] + [
        r for p, r in zip(files, rel) if p not in set(mentioning)
    ][:5]


def ratios(walls: dict[str, float], lines: int, part_lines: int) -> dict[str, float]:
    """The ratios of a round's (or the medians') wall times."""
    out = {
        "cold / ruff": walls["opusguard cold"] / walls["ruff --no-cache --select E902"],
        "cold / grep": walls["opusguard cold"] / walls["grep -rIl claude"],
        "cold / llm-sunset": walls["opusguard cold"] / walls["llm-sunset scan --offline"],
        "warm / cold": walls["opusguard warm"] / walls["opusguard cold"],
    }
    if part_lines:  # 1.0 is linear: seconds per line on the whole tree over seconds per line on part of it
        out["growth (whole / part, per line)"] = (walls["opusguard cold"] / lines) / (
            walls["opusguard cold, part of the tree"] / part_lines
        )
    return out


def run(name: str, rounds: int, bins: Path) -> dict:
    corpus = HERE / "corpus" / name
    subprocess.run(
        [str(bins / "python"), str(HERE / "make_corpus.py"), "--corpus", name, "--dest", str(corpus)], check=True
    )
    cache = corpus / ".opusguard_cache"
    # The default text output, piped, as pre-commit and CI run it.
    opusguard = [str(bins / "opusguard"), "check", "--exit-zero"]
    files = py_files(corpus)
    data = {p: p.read_bytes() for p in files}
    lines = sum(d.count(b"\n") for d in data.values())
    mentioning = [p for p in files if b"claude" in data[p].lower()]
    rel = [p.relative_to(corpus).as_posix() for p in files]
    changed = changed_files_of(name, corpus, files, rel, data, mentioning)
    del data

    def fill():  # the warm runs' cache: filled by an untimed run when missing
        if not cache.is_dir():
            subprocess.run([*opusguard, "."], cwd=corpus, capture_output=True)

    def cold():  # --no-cache neither reads nor writes the cache, so the warm runs' cache stays
        return measure([*opusguard, "--no-cache", "."], corpus)

    def warm():
        fill()
        return measure([*opusguard, "."], corpus)

    def changed_files():
        fill()
        return measure([*opusguard, *changed], corpus)

    commands = {
        "opusguard cold": cold,
        "opusguard cold -j 1": lambda: measure([*opusguard, "--no-cache", "-j", "1", "."], corpus),
        "opusguard cold, part of the tree": lambda: measure([*opusguard, "--no-cache", *PART], corpus),
        "opusguard warm": warm,
        "opusguard 10 changed files (warm)": changed_files,
        "ruff --no-cache --select E902": lambda: measure(
            [str(bins / "ruff"), "check", "--no-cache", "--select", "E902", "--exit-zero", "-q", "."], corpus
        ),
        "grep -rIl claude": lambda: measure(["grep", "-rIl", "claude", "."], corpus),
        # As a user scans a folder; --offline: the bundled deprecation data, no network in the timing.
        "llm-sunset scan --offline": lambda: measure([str(bins / "llm-sunset"), "scan", "--offline", "."], corpus),
    }
    if name == "dense":  # minutes a run there: the cold run with all cores only
        del commands["opusguard cold -j 1"], commands["opusguard cold, part of the tree"]
    shutil.rmtree(cache, ignore_errors=True)  # no cache from another version of opusguard
    names = list(commands)
    results: dict[str, dict] = {n: {"wall": [], "rss_kib": []} for n in names}
    for index in range(rounds):
        for n in names[index % len(names) :] + names[: index % len(names)]:
            wall, rss = commands[n]()
            results[n]["wall"].append(wall)
            results[n]["rss_kib"].append(rss)
            print(f"  {name} round {index + 1}/{rounds}: {n:<36} {wall:8.3f} s", file=sys.stderr, flush=True)
    part_lines = (
        sum(p.read_bytes().count(b"\n") for folder in PART for p in (corpus / folder).rglob("*.py"))
        if name == "sparse"
        else 0
    )
    med = {n: statistics.median(r["wall"]) for n, r in results.items()}

    per_round = [ratios({n: r["wall"][i] for n, r in results.items()}, lines, part_lines) for i in range(rounds)]
    return {
        "corpus": {
            "name": name,
            "files": len(files),
            "lines": lines,
            "files_mentioning_claude": len(mentioning),
            "manifest": json.loads((corpus / "MANIFEST.json").read_text()),
            **({"part": PART, "part_lines": part_lines} if part_lines else {}),
            "changed": changed,
        },
        "rounds": rounds,
        "median_seconds": med,
        "range_seconds": {n: [min(r["wall"]), max(r["wall"])] for n, r in results.items()},
        "peak_rss_mib": {n: max(r["rss_kib"]) / 1024 for n, r in results.items()},
        "ratios": ratios(med, lines, part_lines),
        "ratio_range_over_rounds": {
            n: [min(r[n] for r in per_round), max(r[n] for r in per_round)] for n in per_round[0]
        },
        "seconds_per_round": {n: r["wall"] for n, r in results.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", choices=["sparse", "dense", "both"], default="both")
    # One round's cold / grep strayed over 3.8-5.8 x in a run on a 2-core VM; a median
    # of 9 rounds still moved by +-3.5% between runs, one of 21 by +-2.5%.
    parser.add_argument("--rounds", type=int, help="rounds per corpus (default: 21 sparse, 3 dense)")
    args = parser.parse_args()
    names = ["sparse", "dense"] if args.corpus == "both" else [args.corpus]
    bins = venv_bin()
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": {
            "cores": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "versions": versions(bins),
        "corpora": {},
    }
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    # One file per run: several runs a day are kept side by side.
    path = out / f"{datetime.datetime.now():%Y-%m-%dT%H%M%S}.json"
    for name in names:
        report["corpora"][name] = run(name, args.rounds or DEFAULT_ROUNDS[name], bins)
        path.write_text(json.dumps(report, indent=2))  # after each corpus: a long run keeps what it has
    print(
        f"{report['date']}, {report['machine']['cores']} cores, Python {report['machine']['python']}; "
        + ", ".join(f"{k} {v}" for k, v in report["versions"].items() if k != "grep")
    )
    for name, result in report["corpora"].items():
        corpus = result["corpus"]
        print(
            f"{name} corpus: {corpus['files']:,} files, {corpus['lines']:,} lines, "
            f"{corpus['files_mentioning_claude']:,} mention Claude; median of {result['rounds']}"
        )
        for cmd, seconds in result["median_seconds"].items():
            low, high = result["range_seconds"][cmd]
            print(
                f"  {cmd:<36} {seconds:8.3f} s   ({low:.3f}-{high:.3f})   peak {result['peak_rss_mib'][cmd]:7.1f} MiB"
            )
        for ratio_name, ratio in result["ratios"].items():
            low, high = result["ratio_range_over_rounds"][ratio_name]
            print(f"  {ratio_name:<36} {ratio:8.3f} x   rounds {low:.3f}-{high:.3f} x")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
