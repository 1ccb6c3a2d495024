"""`check --format json`: the contract's schema, stable and indented."""

from __future__ import annotations

import json
from collections import Counter
from typing import TextIO

from opusguard.base.sanitize import json_safe
from opusguard.rules.findings import Finding, RunSummary


def json_document(findings: list[Finding], summary: RunSummary) -> dict:
    by_rule = Counter(f.rule for f in findings)
    return {
        "version": 1,
        "findings": [f.to_json() for f in findings],
        "summary": {
            "files_scanned": summary.files_scanned,
            "files_parsed": summary.files_parsed,
            "findings": len(findings),
            "by_rule": dict(sorted(by_rule.items())),
            "model_calls": dict(summary.model_calls),
            "skipped_files": [{"path": path, "reason": why} for path, why in summary.skipped.items()],
        },
    }


def render_json(findings: list[Finding], summary: RunSummary, out: TextIO) -> None:
    out.write(json.dumps(json_safe(json_document(findings, summary)), indent=2) + "\n")
