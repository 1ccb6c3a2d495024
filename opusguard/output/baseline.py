"""Baselines: accept today's findings, fail only on new ones.

An entry's fingerprint is the rule, the path, the model and the normalised code
of the offending line, never its number, so unrelated edits that move lines do
not turn old findings into new ones; in a notebook, the cell's number too (a line
is only known inside its cell). Identical fingerprints are counted.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from msgspec import Struct

from opusguard.base.atomic import write_atomic
from opusguard.rules.findings import Finding


class BaselineError(Exception):
    """One line: 'path: what is wrong'."""


class BaselineEntry(Struct, frozen=True):
    fingerprint: str
    rule: str
    path: str
    model: str | None
    line_hint: int
    count: int = 1
    cell: int | None = None


def fingerprint(finding: Finding) -> str:
    import hashlib  # (here: every `check` imports this module, and most never fingerprint; OpenSSL costs a warm run ~5%)

    code = " ".join(finding.source_line.split())
    parts: tuple[str, ...] = (finding.rule, finding.path, finding.model or "", code)
    if finding.cell is not None:
        parts += (f"cell {finding.cell}",)
    material = "\0".join(parts)
    # surrogatepass: a non-UTF-8 file name (surrogateescape) still has one stable fingerprint
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def write_baseline(path: Path, findings: list[Finding]) -> None:
    counts: Counter[str] = Counter()
    first: dict[str, Finding] = {}
    for finding in sorted(findings, key=Finding.sort_key):
        key = fingerprint(finding)
        counts[key] += 1
        first.setdefault(key, finding)
    entries = [
        {
            "fingerprint": key,
            "rule": first[key].rule,
            "path": first[key].path,
            "model": first[key].model,
            "line_hint": first[key].line,
            "count": counts[key],
            **({"cell": first[key].cell} if first[key].cell is not None else {}),
        }
        for key in sorted(counts, key=lambda k: (first[k].path, first[k].cell or 0, first[k].line, first[k].rule, k))
    ]
    from opusguard.base.sanitize import json_safe

    text = json.dumps(json_safe({"version": 1, "tool": "opusguard", "entries": entries}), indent=2) + "\n"
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise BaselineError(f"{path}: cannot write baseline: {exc.strerror or exc}") from None


class Baseline:
    def __init__(self, entries: list[BaselineEntry]):
        self.entries = entries

    def split(self, findings: list[Finding]) -> tuple[list[Finding], list[Finding], list[BaselineEntry]]:
        """(new findings, baselined findings, stale entries)."""
        remaining = Counter({e.fingerprint: e.count for e in self.entries})
        new, known = [], []
        for finding in sorted(findings, key=Finding.sort_key):
            key = fingerprint(finding)
            if remaining[key] > 0:
                remaining[key] -= 1
                known.append(finding)
            else:
                new.append(finding)
        stale = [e for e in self.entries if remaining[e.fingerprint] > 0]
        return new, known, stale


def load_baseline(path: Path) -> Baseline:
    from opusguard.base.datafile import MAX_USAGE_BYTES, DataFileError, read_data_file

    try:
        data = json.loads(read_data_file(path, "baseline", max_bytes=MAX_USAGE_BYTES))
    except DataFileError as exc:
        raise BaselineError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}:{exc.lineno}: not a baseline file: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise BaselineError(f"{path}:1: not a baseline file: JSON nested too deep") from None
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("entries"), list):
        raise BaselineError(f"{path}: not an opusguard baseline (expected version 1 with 'entries')")
    entries = []
    for index, item in enumerate(data["entries"]):
        try:
            entries.append(
                BaselineEntry(
                    fingerprint=str(item["fingerprint"]),
                    rule=str(item["rule"]),
                    path=str(item["path"]),
                    model=item.get("model"),
                    line_hint=int(item.get("line_hint", 0)),
                    count=int(item.get("count", 1)),
                    cell=int(item["cell"]) if item.get("cell") is not None else None,
                )
            )
        except (KeyError, TypeError, ValueError):
            raise BaselineError(f"{path}: entry {index + 1} is malformed") from None
    return Baseline(entries)
