"""Jupyter notebooks: their code cells read as one Python module, and mapped back.

Jupyter runs a notebook's code cells in one namespace, in order, so their
sources are joined into one module (each cell on new lines) and analysed like
a `.py` file: a constant in cell 1 resolves in a call of cell 5. Markdown and
raw cells are prose and are left out. IPython syntax (`%pip`, `!ls`, `x = !ls`,
`obj?`, cell magics) is masked line for line, as ruff does, so line numbers
hold; nothing is executed.

Facts of a notebook are in the lines of that joined text; `FileFacts.cells`
((first line, cell number) of each code cell) maps them back to a cell and a
line inside it (`place`). `rewrite_code` carries a rewrite of the joined text
back into the notebook's JSON, leaving every other byte as it was.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from opusguard.facts.records import FileFacts

SUFFIX = ".ipynb"

# Cell magics whose body is Python run in the notebook (ruff's list); any other
# (`%%bash`, `%%writefile`, `%%html` ...) makes the cell not Python.
PYTHON_CELL_MAGICS = frozenset({"capture", "debug", "prun", "pypy", "python", "python3", "time", "timeit"})
# What a masked line becomes: a statement, so an indented block stays one.
_MASK = "pass"
# `x = !ls`, `files = %sx ls`: an IPython escape on the right of an assignment.
_ASSIGNED_ESCAPE = re.compile(r"^[\w.\[\], ]+=\s*[%!]")
# `obj?`, `obj.attr??`, `np.*load*?`: help (a line such as `q = """Why?` is not).
_HELP = re.compile(r"^[\w.*]+\?\??$")


def is_notebook(path: str) -> bool:
    return path.endswith(SUFFIX)


class NotebookError(ValueError):
    """Not a notebook opusguard can read; `line` is a line of the file itself."""

    def __init__(self, message: str, line: int = 1):
        super().__init__(message)
        self.line = line


class Cell(NamedTuple):
    number: int  # 1-based, counting every cell
    kind: str  # "code", "markdown", "raw"
    source: str  # as Jupyter shows it (a list of lines joined)


class CodeText(NamedTuple):
    """The code cells as one module: `cells` are (first line in `text`, cell number)."""

    text: str
    cells: tuple[tuple[int, int], ...]
    pieces: tuple[str, ...]  # each code cell's masked text, in the order of `cells`


# --- reading -------------------------------------------------------------------------


def read_cells(content: bytes) -> list[Cell]:
    """Every cell of a notebook (nbformat 4). Raises NotebookError, never anything else."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"invalid notebook JSON: {exc.msg} at column {exc.colno}", exc.lineno) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise NotebookError(
            f"invalid notebook JSON: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotebookError("not a Jupyter notebook (nbformat 4): no 'cells' list")
    cells = []
    for number, cell in enumerate(data["cells"], 1):
        if not isinstance(cell, dict):
            raise NotebookError(f"cell {number} is not an object")
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotebookError(f"cell {number}: 'source' is not text")
        cells.append(Cell(number, str(cell.get("cell_type", "")), source))
    if not _is_python(data.get("metadata")):
        return [cell for cell in cells if cell.kind != "code"]  # an R or Julia notebook: no Python
    return cells


def _is_python(metadata: object) -> bool:
    """Whether the kernel runs Python: no language named, or any of the names it gives
    says Python (a Coconut kernel's editor mode is Python, and its code is Python)."""
    if not isinstance(metadata, dict):
        return True
    language_info, kernelspec = metadata.get("language_info"), metadata.get("kernelspec")
    info = language_info if isinstance(language_info, dict) else {}
    kernel = kernelspec if isinstance(kernelspec, dict) else {}
    mode = info.get("codemirror_mode")
    names = [
        info.get("name"),
        info.get("mimetype"),
        mode.get("name") if isinstance(mode, dict) else mode,
        kernel.get("language"),
    ]
    given = [name.lower() for name in names if isinstance(name, str) and name]
    return not given or any("python" in name for name in given)


def code_text(content: bytes) -> CodeText:
    """The code cells' masked sources joined into one module. Raises NotebookError."""
    starts: list[tuple[int, int]] = []
    pieces: list[str] = []
    line = 1
    for cell in read_cells(content):
        if cell.kind != "code":
            continue
        text = mask_ipython(cell.source)
        if text and not text.endswith("\n"):
            text += "\n"
        if not text:
            continue
        starts.append((line, cell.number))
        pieces.append(text)
        line += text.count("\n")
    return CodeText("".join(pieces), tuple(starts), tuple(pieces))


def place(cells: Sequence[tuple[int, int]], line: int) -> tuple[int | None, int]:
    """(cell number, line inside the cell) of a line of the joined text; (None, line)
    for a file that is not a notebook's code (`cells` empty)."""
    if not cells:
        return None, line
    index = max(bisect.bisect_right(cells, (line, float("inf"))) - 1, 0)
    start, number = cells[index]
    return number, line - start + 1


def location(path: str, cell: int | None, line: int, column: int | None = None) -> str:
    """`nb.ipynb:cell 3:2:5`, or `app.py:2:5`, as the text format prints places."""
    where = f"{path}:cell {cell}:{line}" if cell is not None else f"{path}:{line}"
    return where if column is None else f"{where}:{column}"


# --- IPython syntax ------------------------------------------------------------------


def mask_ipython(source: str) -> str:
    """`source` with each line of IPython syntax made `pass` (same indentation),
    every other line as written: the line count never changes."""
    lines = source.split("\n")
    first = lines[0].strip()
    if first.startswith("%%"):
        magic = first[2:].split(maxsplit=1)[0] if first[2:].strip() else ""
        if magic not in PYTHON_CELL_MAGICS:
            return "\n".join("" for _ in lines)  # a cell in another language
        lines[0] = _MASK
        start = 1
    else:
        start = 0
    depth, quote, joined, escape_goes_on, indent = 0, None, False, False, ""
    for index in range(start, len(lines)):
        line = lines[index]
        if escape_goes_on or (depth == 0 and quote is None and not joined and _is_escape(line)):
            if not escape_goes_on:  # (a continued line keeps the indentation of the first)
                indent = line[: len(line) - len(line.lstrip())]
            escape_goes_on = line.rstrip("\r").endswith("\\")
            lines[index] = indent + _MASK + ("\r" if line.endswith("\r") else "")
            continue
        depth, quote, joined = _scan(line, depth, quote)
    return "\n".join(lines)


def _is_escape(line: str) -> bool:
    text = line.strip()
    if not text or text.startswith("#"):
        return False
    if text[0] in "%!?":
        return True
    return _HELP.match(text) is not None or _ASSIGNED_ESCAPE.match(text) is not None


def _scan(line: str, depth: int, quote: str | None) -> tuple[int, str | None, bool]:
    """Bracket depth, open string quote and backslash continuation after `line`,
    enough to know whether the next line starts a statement."""
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if quote is not None:
            if c == "\\":
                i += 2
                continue
            if line.startswith(quote, i):
                i += len(quote)
                quote = None
                continue
            i += 1
            continue
        if c == "#":
            break
        if c in "\"'":
            quote = c * 3 if line.startswith(c * 3, i) else c
            i += len(quote)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(depth - 1, 0)
        i += 1
    joined = line.rstrip("\r").endswith("\\") and (quote is None or len(quote) == 1)
    if quote is not None and len(quote) == 1 and not joined:
        quote = None  # an unterminated one-line string ends with its line
    return depth, quote, joined


# --- facts ---------------------------------------------------------------------------

# At most this many cells that do not parse are left out before a notebook is
# given up as a whole (each retry parses it again).
MAX_BROKEN_CELLS = 8


def notebook_facts(content: bytes, path: str, extract_python: Callable[[bytes], FileFacts]) -> FileFacts:
    """The facts of a notebook's code cells (lines of the joined text; `cells` maps them).

    Invalid JSON is an OG000 at its line. A code cell that does not parse is an
    OG000 in that cell, and is left out so that the other cells are still checked
    (Jupyter runs them too)."""
    from opusguard.facts.records import FileFacts

    try:
        code = code_text(content)
    except NotebookError as exc:
        return FileFacts(path=path, parse_error=str(exc), parse_error_line=exc.line)
    pieces = list(code.pieces)
    first_error: tuple[str, int] | None = None
    for _ in range(MAX_BROKEN_CELLS + 1):
        facts = extract_python("".join(pieces).encode("utf-8", "surrogatepass"))
        if facts.parse_error is None:
            break
        if first_error is None:
            first_error = (facts.parse_error, facts.parse_error_line)
        index = max(bisect.bisect_right(code.cells, (facts.parse_error_line, float("inf"))) - 1, 0)
        if not pieces or not pieces[index].strip():
            break  # nothing left to take out: report the first error
        pieces[index] = "\n" * pieces[index].count("\n")
    else:
        facts = FileFacts(path=path)
    facts.path = path
    facts.cells = list(code.cells)
    if first_error is not None:
        facts.parse_error, facts.parse_error_line = first_error
    return facts


# --- rewriting -----------------------------------------------------------------------


class CellEdit(NamedTuple):
    cell: int  # number
    source: str  # its new source, IPython lines as written


def _lines(text: str) -> list[str]:
    """Lines ending in "\\n" (the last may not): the lines Jupyter and `place` count."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def split_rewrite(code: CodeText, sources: Sequence[str], new_text: str) -> list[CellEdit] | str:
    """The cells a rewrite of `code.text` changes, with their new sources (`sources`:
    each code cell's source as written); or why the rewrite cannot be carried back
    into the cells (it changes IPython syntax, or spans cells)."""
    import difflib

    old_lines, new_lines = _lines(code.text), _lines(new_text)
    owner: list[int] = []  # the cell index of each old line
    for index, piece in enumerate(code.pieces):
        owner += [index] * piece.count("\n")
    # Each cell's lines as written: masked lines come back from here.
    new_pieces = [_lines(source if source.endswith("\n") else source + "\n") for source in sources]
    masked = [_lines(piece) for piece in code.pieces]
    changed: set[int] = set()
    offsets = [0] * len(code.pieces)  # lines added so far, per cell
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, a0, a1, b0, b1 in _line_by_line(matcher.get_opcodes(), owner):
        if tag == "equal":
            continue
        cells = {owner[i] for i in range(a0, a1)}
        if not cells:  # an insertion: into the cell of the next line (or the last cell)
            cells = {owner[a0] if a0 < len(owner) else len(code.pieces) - 1}
        if len(cells) != 1:
            return "the change spans several cells"
        index = cells.pop()
        first = a0 - (code.cells[index][0] - 1)
        if any(masked[index][i] != new_pieces[index][i] for i in range(first, first + a1 - a0)):
            return "the change touches IPython syntax"
        local = first + offsets[index]
        new_pieces[index][local : local + (a1 - a0)] = new_lines[b0:b1]
        offsets[index] += (b1 - b0) - (a1 - a0)
        changed.add(index)
    edits = []
    for index in sorted(changed):
        source = "".join(new_pieces[index])
        if not sources[index].endswith("\n") and source.endswith("\n"):
            source = source[:-1]
        edits.append(CellEdit(code.cells[index][1], source))
    return edits


_Opcode = tuple[str, int, int, int, int]


def _line_by_line(opcodes: Iterable[_Opcode], owner: list[int]) -> Iterator[_Opcode]:
    """The opcodes, a replacement of as many lines as it replaces that spans cells
    (edits in adjacent cells' last and first lines) split into one per line."""
    for tag, a0, a1, b0, b1 in opcodes:
        if tag == "replace" and a1 - a0 == b1 - b0 and len({owner[i] for i in range(a0, a1)}) > 1:
            yield from (("replace", a0 + i, a0 + i + 1, b0 + i, b0 + i + 1) for i in range(a1 - a0))
        else:
            yield tag, a0, a1, b0, b1


def rewrite_code(content: bytes, rewrite: Callable[[bytes], bytes]) -> bytes | str:
    """The notebook with `rewrite` (Python bytes -> Python bytes) applied to its code
    cells, every byte outside the changed cells' `source` values kept; or, as a str,
    why the rewrite cannot be carried back (the caller lists the cell for a person)."""
    code = code_text(content)
    before = code.text.encode("utf-8")
    after = rewrite(before)
    if after == before:
        return content
    cells = read_cells(content)
    by_number = {cell.number: cell.source for cell in cells}
    edits = split_rewrite(code, [by_number[number] for _, number in code.cells], after.decode("utf-8"))
    if isinstance(edits, str):
        return edits
    text = content.decode("utf-8")
    spans = source_spans(text)
    out, last = [], 0
    for edit in sorted(edits):
        start, end = spans[edit.cell - 1]
        out += [text[last:start], _source_json(text[start:end], edit.source)]
        last = end
    out.append(text[last:])
    result = "".join(out).encode("utf-8")
    expected = {**by_number, **{edit.cell: edit.source for edit in edits}}
    if [(cell.number, cell.source) for cell in read_cells(result)] != sorted(expected.items()):
        return "the rewritten notebook does not read back as written"
    return result


def _source_json(raw: str, source: str) -> str:
    """A cell's new `source` value, written in the shape of the old one `raw`: a list
    of lines with its separators and indentation, or one string."""
    ensure_ascii = "\\u" in raw
    if raw.lstrip().startswith('"'):
        return json.dumps(source, ensure_ascii=ensure_ascii)
    lines = _lines(source)
    items = _list_items(raw)
    if not items:
        return json.dumps(lines, ensure_ascii=ensure_ascii)
    opening = raw[1 : items[0][0]]  # between "[" and the first item
    closing = raw[items[-1][1] : len(raw) - 1]  # between the last item and "]"
    separator = raw[items[0][1] : items[1][0]] if len(items) > 1 else "," + opening
    old = {json.loads(raw[a:b]): raw[a:b] for a, b in items}  # unchanged lines keep their spelling
    written = [old.get(line) or json.dumps(line, ensure_ascii=ensure_ascii) for line in lines]
    return "[" + opening + separator.join(written) + closing + "]"


def _list_items(raw: str) -> list[tuple[int, int]]:
    """(start, end) of each string item of a JSON list of strings `raw`."""
    decoder = json.JSONDecoder()
    items: list[tuple[int, int]] = []
    i = 1
    while True:
        while i < len(raw) and raw[i] in " \t\r\n,":
            i += 1
        if i >= len(raw) or raw[i] == "]":
            return items
        _, end = decoder.raw_decode(raw, i)
        items.append((i, end))
        i = end


def source_spans(text: str) -> dict[int, tuple[int, int]]:
    """(start, end) in `text` of each cell's `source` value, by cell index (0-based)."""
    spans: dict[int, tuple[int, int]] = {}
    _value_end(text, 0, (), spans, json.JSONDecoder())
    return spans


def _skip_blank(text: str, i: int) -> int:
    while text[i] in " \t\r\n":
        i += 1
    return i


def _value_end(text: str, i: int, path: tuple, spans: dict[int, tuple[int, int]], decoder: json.JSONDecoder) -> int:
    """The end of the JSON value at `i` (valid JSON), whose keys are `path`; notes in
    `spans` where each cells[n].source inside it is."""
    i = _skip_blank(text, i)
    if text[i] == "{":
        i = _skip_blank(text, i + 1)
        if text[i] == "}":
            return i + 1
        while True:
            key, i = decoder.raw_decode(text, _skip_blank(text, i))
            i = _skip_blank(text, i) + 1  # ":"
            start = _skip_blank(text, i)
            i = _value_end(text, i, (*path, key), spans, decoder)
            if len(path) == 2 and path[0] == "cells" and key == "source":
                spans[path[1]] = (start, i)
            i = _skip_blank(text, i)
            if text[i] == "}":
                return i + 1
            i += 1  # ","
    if text[i] == "[":
        i = _skip_blank(text, i + 1)
        if text[i] == "]":
            return i + 1
        index = 0
        while True:
            i = _value_end(text, i, (*path, index), spans, decoder)
            index += 1
            i = _skip_blank(text, i)
            if text[i] == "]":
                return i + 1
            i += 1  # ","
    return decoder.raw_decode(text, i)[1]


# --- findings ------------------------------------------------------------------------
