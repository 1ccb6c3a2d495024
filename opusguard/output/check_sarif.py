"""`check --format sarif`: SARIF 2.1.0, as GitHub code scanning reads it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TextIO

from opusguard.base.sanitize import json_safe, uri_path
from opusguard.output.baseline import fingerprint
from opusguard.rules.findings import Finding, Severity

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _location(
    path: str,
    line: int,
    column: int,
    end_line: int | None = None,
    end_column: int | None = None,
    cell: int | None = None,
) -> dict:
    region = {"startLine": line, "startColumn": column}
    if end_line is not None:
        region["endLine"] = end_line
    if end_column is not None:
        region["endColumn"] = end_column
    location = {
        "physicalLocation": {
            "artifactLocation": {"uri": uri_path(path), "uriBaseId": "%SRCROOT%"},
            "region": region,
        }
    }
    if cell is not None:  # a notebook: the region's lines are inside this cell
        location["properties"] = {"cell": cell}
    return location


def sarif_document(findings: list[Finding], rules: Mapping, tool_version: str) -> dict:
    codes = sorted({*rules.keys(), *(f.rule for f in findings)})
    index = {code: i for i, code in enumerate(codes)}
    driver_rules = []
    for code in codes:
        meta = rules.get(code)
        name = meta.name if meta else code
        entry = {
            "id": code,
            "name": name,
            "shortDescription": {"text": meta.summary if meta else name},
            "defaultConfiguration": {
                "level": "warning" if meta and meta.default_level == Severity.WARNING else "error"
            },
        }
        if meta:
            entry["helpUri"] = meta.help_uri
        driver_rules.append(entry)
    results = []
    for f in findings:
        result = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": "warning" if f.severity == Severity.WARNING else "error",
            "message": {"text": f.message if f.cell is None else f"cell {f.cell}: {f.message}"},
            "locations": [_location(f.path, f.line, f.column, f.end_line, f.end_column, f.cell)],
            "partialFingerprints": {"opusguard/v1": fingerprint(f)},
        }
        if f.cell is not None:
            result["properties"] = {"cell": f.cell}
        if f.related:
            result["relatedLocations"] = [
                {"id": i, **_location(r.path, r.line, r.column, cell=r.cell), "message": {"text": "model literal"}}
                for i, r in enumerate(f.related)
            ]
        results.append(result)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "opusguard",
                        "informationUri": "https://github.com/opusguard/opusguard",
                        "semanticVersion": tool_version or "0.0.0",
                        "rules": driver_rules,
                    }
                },
                "results": results,
            }
        ],
    }


def render_sarif(findings: list[Finding], out: TextIO, rules: Mapping, tool_version: str) -> None:
    document = sarif_document(findings, rules, tool_version)
    out.write(json.dumps(json_safe(document), indent=2) + "\n")
