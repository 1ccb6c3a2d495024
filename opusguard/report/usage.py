"""Usage files: the traffic a team measured, per task or per call site (`--usage FILE`).

CSV, JSON or JSON Lines. Each row names a `task` or a `site` ("path:line") and
gives its calls per period and its tokens, either as means per call
(`mean_input_tokens`, `mean_output_tokens`, optional `cached_share`) or as the
sums of the Anthropic API's `usage` fields over the period (`input_tokens`,
`output_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens`).
`batch_share` (of calls) is optional in both. A bad row is one UsageError:
'file:line: what is wrong'. The format is documented in docs/report.md.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from msgspec import Struct, field


class UsageError(Exception):
    """str() is 'path:line: what is wrong'."""


class Traffic(Struct, frozen=True):
    """Per-period totals for one task or site. Tokens are totals, not means."""

    calls: float
    input_tokens: float  # billed at the input price (not read from or written to the cache)
    output_tokens: float
    cache_read_tokens: float = 0.0
    cache_write_tokens: float = 0.0
    batch_share: float = 0.0  # of calls (and their tokens), billed at batch prices

    def scaled(self, factor: float) -> Traffic:
        return Traffic(
            self.calls * factor,
            self.input_tokens * factor,
            self.output_tokens * factor,
            self.cache_read_tokens * factor,
            self.cache_write_tokens * factor,
            self.batch_share,
        )

    def plus(self, other: Traffic) -> Traffic:
        calls = self.calls + other.calls
        share = (self.batch_share * self.calls + other.batch_share * other.calls) / calls if calls else 0.0
        return Traffic(
            calls,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            share,
        )


class UsageRow(Struct, frozen=True):
    key: str  # a task name, or "path:line" for a site
    is_site: bool
    traffic: Traffic
    where: str  # "usage.csv:4", for messages


class Usage(Struct):
    path: str
    period: str = "month"
    rows: list[UsageRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def by_task(self) -> dict[str, Traffic]:
        return _summed(row for row in self.rows if not row.is_site)

    def by_site(self) -> dict[str, Traffic]:
        return _summed(row for row in self.rows if row.is_site)


def _summed(rows: Iterable[UsageRow]) -> dict[str, Traffic]:
    out: dict[str, Traffic] = {}
    for row in rows:
        out[row.key] = out[row.key].plus(row.traffic) if row.key in out else row.traffic
    return out


MEAN_COLUMNS = ("mean_input_tokens", "mean_output_tokens", "cached_share")
API_COLUMNS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
KNOWN_COLUMNS = ("task", "site", "calls", "period", "batch_share", *MEAN_COLUMNS, *API_COLUMNS)


def load_usage(path: str | Path) -> Usage:
    from opusguard.base.datafile import MAX_USAGE_BYTES, DataFileError, read_data_file

    path = Path(path)
    try:
        text = read_data_file(path, "usage file", max_bytes=MAX_USAGE_BYTES, encoding="utf-8-sig")
    except DataFileError as exc:
        raise UsageError(str(exc)) from None
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        records, period = _json_lines(text, path), None
    elif suffix == ".json" or text.lstrip().startswith(("[", "{")):
        records, period = _json_records(text, path)
    else:
        records, period = _csv_records(text, path), None
    usage = Usage(path=str(path))
    periods = set()
    ignored: set[str] = set()
    for line, record in records:
        where = f"{path}:{line}"
        row, row_period = _row(record, where, ignored)
        usage.rows.append(row)
        if row_period:
            periods.add(row_period)
    if period:
        periods.add(period)
    if len(periods) > 1:
        raise UsageError(f"{path}:1: rows give different periods ({', '.join(sorted(periods))}); use one")
    usage.period = periods.pop() if periods else "month"
    if ignored:
        usage.warnings.append(f"{path}:1: ignored column(s): {', '.join(sorted(ignored))}")
    if not usage.rows:
        raise UsageError(f"{path}:1: no usage rows")
    return usage


# --- reading the three formats into (line, mapping) records ----------------------------


def _csv_records(text: str, path: Path) -> list[tuple[int, dict]]:
    # Comment lines become blank lines, which csv skips, so line numbers stay right.
    lines = ["\n" if line.lstrip().startswith("#") else line for line in io.StringIO(text)]
    reader = csv.reader(lines)
    header: list[str] | None = None
    records = []
    for fields in reader:
        if not fields or not any(f.strip() for f in fields):
            continue
        if header is None:
            header = [f.strip().lower() for f in fields]
            if "calls" not in header:
                raise UsageError(
                    f"{path}:{reader.line_num}: the header needs a 'calls' column (columns: {', '.join(KNOWN_COLUMNS)})"
                )
            continue
        if len(fields) != len(header):
            raise UsageError(f"{path}:{reader.line_num}: {len(fields)} fields, the header has {len(header)}")
        records.append((reader.line_num, {k: v.strip() for k, v in zip(header, fields)}))
    return records


def _json_lines(text: str, path: Path) -> list[tuple[int, dict]]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
        records.append((number, value))
    return records


def _json_records(text: str, path: Path) -> tuple[list[tuple[int, dict]], str | None]:
    """A list of rows, or {"period": ..., "usage": [rows]}; each row with its line."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    period = None
    if isinstance(document, dict):
        unknown = set(document) - {"period", "usage", "version"}
        if unknown or not isinstance(document.get("usage"), list):
            raise UsageError(f'{path}:1: a JSON usage file is a list of rows or {{"period": ..., "usage": [rows]}}')
        period = document.get("period")
        if period is not None and not (isinstance(period, str) and period.isalpha() and period.isascii()):
            raise UsageError(f"{path}:1: period must be a word (day, week, month)")
        rows = document["usage"]
        start = _array_start(text, "usage")
    elif isinstance(document, list):
        rows, start = document, text.index("[")
    else:
        raise UsageError(f'{path}:1: a JSON usage file is a list of rows or {{"period": ..., "usage": [rows]}}')
    lines = _element_lines(text, start)
    return list(zip(lines, rows)), period


def _array_start(text: str, key: str) -> int:
    """Index of the '[' that holds the top-level `key` (the document is known valid)."""
    decoder = json.JSONDecoder()
    index = text.index("{") + 1
    while True:
        index = _skip_space(text, index)
        name, index = decoder.raw_decode(text, index)
        index = _skip_space(text, index) + 1  # ':'
        index = _skip_space(text, index)
        if name == key:
            return index
        _, index = decoder.raw_decode(text, index)
        index = _skip_space(text, index) + 1  # ',' (or '}', never reached: the key exists)


def _element_lines(text: str, start: int) -> list[int]:
    """The line each element of the JSON array starting at `start` begins on."""
    decoder = json.JSONDecoder()
    lines = []
    index = _skip_space(text, start + 1)
    while index < len(text) and text[index] != "]":
        lines.append(text.count("\n", 0, index) + 1)
        _, index = decoder.raw_decode(text, index)
        index = _skip_space(text, index)
        if index < len(text) and text[index] == ",":
            index = _skip_space(text, index + 1)
    return lines


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


# --- one row ---------------------------------------------------------------------------


def _row(record: object, where: str, ignored: set[str]) -> tuple[UsageRow, str | None]:
    if not isinstance(record, dict):
        raise UsageError(f"{where}: a usage row is an object with 'task' or 'site', 'calls' and tokens")
    present = _present_columns(_with_api_usage(record, where), where, ignored)
    key, is_site = _row_key(present, where)
    if "calls" not in present:
        raise UsageError(f"{where}: missing 'calls' (calls per period)")
    calls = _number(present["calls"], "calls", where)
    batch = _share(present.get("batch_share", 0), "batch_share", where)
    traffic = _traffic(present, calls, batch, where)
    period = present.get("period")
    if period and not (isinstance(period, str) and period.strip().isalpha() and period.strip().isascii()):
        raise UsageError(f"{where}: period must be a word (day, week, month), not {period!r}")
    return UsageRow(key, is_site, traffic, where), (period.strip() if period else None)


def _with_api_usage(record: dict, where: str) -> dict:
    """The row with the API's `usage` object (summed over the period) spread into its columns."""
    record = dict(record)
    nested = record.pop("usage", None)
    if isinstance(nested, dict):
        for key, value in nested.items():
            if key in API_COLUMNS:
                record.setdefault(key, value)
    elif nested is not None:
        raise UsageError(f"{where}: 'usage' must be an object of token counts")
    return record


def _present_columns(record: dict, where: str, ignored: set[str]) -> dict:
    """The row's non-empty columns; an unknown column close to a known one is an error,
    any other goes to `ignored`."""
    present = {k: v for k, v in record.items() if v not in (None, "")}
    for key in present:
        if key not in KNOWN_COLUMNS:
            close = difflib.get_close_matches(key, KNOWN_COLUMNS, n=1, cutoff=0.8)
            if close:
                raise UsageError(f"{where}: unknown column '{key}' (did you mean '{close[0]}'?)")
            ignored.add(key)
    return present


def _row_key(present: dict, where: str) -> tuple[str, bool]:
    """The row's task name, or its site as "path:line" (with '/'); and whether it is a site."""
    task, site = present.get("task"), present.get("site")
    if (task is None) == (site is None):
        raise UsageError(f"{where}: a row names either a 'task' or a 'site' (path:line)")
    if site is not None:
        key = str(site).strip()
        head, _, line = key.rpartition(":")
        if not head or not line.isdigit():
            raise UsageError(f"{where}: site {key!r} is not path:line")
        return f"{head.replace(chr(92), '/').removeprefix('./')}:{int(line)}", True
    key = str(task).strip()
    if not key:
        raise UsageError(f"{where}: empty task name")
    return key, False


def _traffic(present: dict, calls: float, batch: float, where: str) -> Traffic:
    """The row's traffic, from tokens given as means per call or as API usage sums."""
    means = [k for k in MEAN_COLUMNS if k in present]
    sums = [k for k in API_COLUMNS if k in present]
    if means and sums:
        raise UsageError(
            f"{where}: give tokens either as means ({', '.join(MEAN_COLUMNS)}) "
            f"or as API usage sums ({', '.join(API_COLUMNS)}), not both"
        )
    if means:
        return _traffic_from_means(present, calls, batch, where)
    if sums:
        return _traffic_from_sums(present, calls, batch, where)
    raise UsageError(
        f"{where}: no token counts: give mean_input_tokens and mean_output_tokens, "
        "or input_tokens and output_tokens summed from the API's usage"
    )


def _traffic_from_means(present: dict, calls: float, batch: float, where: str) -> Traffic:
    for required in ("mean_input_tokens", "mean_output_tokens"):
        if required not in present:
            raise UsageError(f"{where}: missing '{required}'")
    mean_in = _number(present["mean_input_tokens"], "mean_input_tokens", where)
    mean_out = _number(present["mean_output_tokens"], "mean_output_tokens", where)
    cached = _share(present.get("cached_share", 0), "cached_share", where)
    return Traffic(
        calls=calls,
        input_tokens=calls * mean_in * (1 - cached),
        output_tokens=calls * mean_out,
        cache_read_tokens=calls * mean_in * cached,
        batch_share=batch,
    )


def _traffic_from_sums(present: dict, calls: float, batch: float, where: str) -> Traffic:
    for required in ("input_tokens", "output_tokens"):
        if required not in present:
            raise UsageError(f"{where}: missing '{required}' (the sum of usage.{required} over the period)")
    return Traffic(
        calls=calls,
        input_tokens=_number(present["input_tokens"], "input_tokens", where),
        output_tokens=_number(present["output_tokens"], "output_tokens", where),
        cache_read_tokens=_number(present.get("cache_read_input_tokens", 0), "cache_read_input_tokens", where),
        cache_write_tokens=_number(present.get("cache_creation_input_tokens", 0), "cache_creation_input_tokens", where),
        batch_share=batch,
    )


def _number(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool):
        raise UsageError(f"{where}: {name} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{where}: {name} must be a number, not {value!r}") from None
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise UsageError(f"{where}: {name} must be a number of 0 or more, not {value!r}")
    return number


def _share(value: Any, name: str, where: str) -> float:
    text = str(value).strip()
    if text.endswith("%"):
        share = _number(text[:-1], name, where) / 100
    else:
        share = _number(value, name, where)
    if share > 1:
        raise UsageError(f"{where}: {name} is a share between 0 and 1 (or a percentage like 40%), not {value!r}")
    return share
