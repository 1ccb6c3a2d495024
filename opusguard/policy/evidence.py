"""Evidence files: per-tier eval scores for a task and the bar it must clear.

YAML or JSON:
    bar: 0.95
    scores: {haiku: 0.81, sonnet: 0.96, opus: 0.97}
    samples: 120          # optional
    date: 2026-10-01      # optional
    metric: clause-recall # optional

CSV (one row per tier; `bar` on every row or as a row of its own):
    tier,score,bar,samples,date
    haiku,0.81,0.95,120,2026-10-01
    sonnet,0.96,0.95,120,2026-10-01
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct, field

from opusguard.base.tiers import CHEAPEST_FIRST

if TYPE_CHECKING:
    from opusguard.policy.tasks import Policy, Task


class EvidenceError(Exception):
    """str() is 'path:line: what is wrong'."""


class Evidence(Struct):
    path: str
    bar: float
    scores: dict[str, float]
    samples: int | None = None
    date: str | None = None
    metric: str | None = None
    notes: list[str] = field(default_factory=list)

    def passes(self, tier: str) -> bool | None:
        score = self.scores.get(tier)
        return None if score is None else score >= self.bar

    def cheapest_passing(self, order: tuple[str, ...] = CHEAPEST_FIRST) -> str | None:
        for tier in order:
            if self.passes(tier):
                return tier
        return None


def task_evidence(policy: Policy, task: Task) -> Evidence:
    """The evidence of `task` (which names one) as read with the policy (`read_evidence`,
    or core.analyze from the sources it is given). EvidenceError if it could not be."""
    found = policy.evidence.get(task.name)
    if isinstance(found, Evidence):
        return found
    raise EvidenceError(found or f"{task.source}:{task.line}: task '{task.name}' names no evidence file")


def read_evidence(policy: Policy) -> None:
    """Read the evidence file of each task that names one into `policy.evidence` (or why
    it cannot be read), from inside the policy's roots: the path is written in the
    scanned tree, so it must not lead out of it."""
    for task in policy.tasks.values():
        if task.evidence:
            try:
                policy.evidence[task.name] = load_evidence(evidence_path(task), roots=policy.roots or None)
            except EvidenceError as exc:
                policy.evidence[task.name] = str(exc)


def evidence_path(task: Task) -> Path:
    assert task.evidence is not None  # (asked only for a task that names one)
    return Path(task.source).parent / task.evidence


def load_evidence(path: str | Path, *, roots: Iterable[str | Path] | None = None) -> Evidence:
    from opusguard.base.datafile import DataFileError, read_data_file

    path = Path(path)
    try:
        text = read_data_file(path, "evidence", roots=roots)
    except DataFileError as exc:
        raise EvidenceError(str(exc)) from None
    return parse_evidence(path, text)


def parse_evidence(path: Path, text: str) -> Evidence:
    """Evidence from the text of the file at `path` (YAML, JSON or CSV by its suffix)."""
    from opusguard.base.datafile import DataFileError, load_yaml

    try:
        if path.suffix.lower() == ".csv":
            return _from_csv(path, text)
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data, _ = load_yaml(text, path)
    except DataFileError as exc:
        raise EvidenceError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise EvidenceError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise EvidenceError(f"{path}:1: invalid JSON: nested too deep") from None
    return _from_mapping(path, data)


def _number(path: Path, line: int, what: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise EvidenceError(f"{path}:{line}: {what} must be a number, not {value!r}") from None


def _from_mapping(path: Path, data: object) -> Evidence:
    if not isinstance(data, dict):
        raise EvidenceError(f"{path}:1: evidence is a mapping with 'bar' and 'scores'")
    if "bar" not in data:
        raise EvidenceError(f"{path}:1: evidence has no 'bar' (the score the task must reach)")
    scores = data.get("scores")
    if not isinstance(scores, dict) or not scores:
        raise EvidenceError(f"{path}:1: evidence has no 'scores' (per tier: haiku, sonnet, opus)")
    unknown = [t for t in scores if t not in CHEAPEST_FIRST]
    if unknown:
        raise EvidenceError(f"{path}:1: unknown tier {unknown[0]!r} in scores (allowed: {', '.join(CHEAPEST_FIRST)})")
    return Evidence(
        path=str(path),
        bar=_number(path, 1, "bar", data["bar"]),
        scores={tier: _number(path, 1, f"score of {tier}", v) for tier, v in scores.items()},
        samples=int(data["samples"]) if data.get("samples") is not None else None,
        date=str(data["date"]) if data.get("date") is not None else None,
        metric=data.get("metric"),
    )


def _from_csv(path: Path, text: str) -> Evidence:
    import csv  # only CSV evidence needs it

    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "tier" not in reader.fieldnames or "score" not in reader.fieldnames:
        raise EvidenceError(f"{path}:1: CSV evidence needs a header with 'tier' and 'score' columns")
    bar = None
    scores: dict[str, float] = {}
    samples = date = None
    for line, row in enumerate(reader, start=2):
        tier = (row.get("tier") or "").strip()
        if tier == "bar":
            bar = _number(path, line, "bar", row.get("score"))
            continue
        if tier not in CHEAPEST_FIRST:
            raise EvidenceError(f"{path}:{line}: unknown tier {tier!r} (allowed: {', '.join(CHEAPEST_FIRST)}, bar)")
        scores[tier] = _number(path, line, f"score of {tier}", row.get("score"))
        if row.get("bar"):
            bar = _number(path, line, "bar", row["bar"])
        samples = row.get("samples") or samples
        date = row.get("date") or date
    if bar is None:
        raise EvidenceError(f"{path}:1: CSV evidence has no bar (a 'bar' column or a row with tier 'bar')")
    if not scores:
        raise EvidenceError(f"{path}:1: CSV evidence has no scores")
    return Evidence(str(path), bar, scores, int(samples) if samples else None, date)
