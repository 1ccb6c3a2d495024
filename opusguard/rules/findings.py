"""A finding: one rule firing at one place. What every reporter formats."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from msgspec import Struct, field

from opusguard.base.strenum import StrEnum
from opusguard.base.tiers import TIERS, UNRESOLVED
from opusguard.facts.notebook import is_notebook, place
from opusguard.facts.records import FileFacts


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Location(Struct, frozen=True):
    """A place in a file. Lines and columns are 1-based; path is relative, with '/'."""

    path: str
    line: int
    column: int = 1
    cell: int | None = None  # in a notebook: the cell (1-based, every cell counted); line is inside it


class FixPlan(Struct, frozen=True):
    """One edit: the expression at `span` in `path` becomes `call`, and the module
    imports `import_name` from `import_module` (unless it is the router module)."""

    path: str
    span: tuple[int, int, int, int]  # the model argument's value expression, or a literal where it is defined
    task: str
    call: str  # the replacement: route("task")
    import_module: str
    import_name: str


class Finding(Struct):
    rule: str  # "OG102"
    name: str  # "unjustified-opus"
    path: str  # relative to the current directory, '/'-separated
    line: int
    column: int
    message: str
    end_line: int | None = None
    end_column: int | None = None
    severity: Severity = Severity.ERROR
    model: str | None = None  # the model id as written
    tier: str | None = None  # opus | sonnet | haiku | other
    task: str | None = None
    related: list[Location] = field(default_factory=list)
    # The source line the finding points at, for text output and baseline fingerprints.
    source_line: str = ""
    fix_available: bool = False
    # The edits `fix --codemod` makes for this finding (fixplan.attach_plans); not in the JSON.
    fix: list[FixPlan] = field(default_factory=list)
    cell: int | None = None  # in a notebook: the cell (1-based, every cell counted); lines are inside it

    def sort_key(self) -> tuple:
        return (self.path, self.cell or 0, self.line, self.column, self.rule)

    def to_json(self) -> dict:
        data = {
            "rule": self.rule,
            "name": self.name,
            "severity": self.severity,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line if self.end_line is not None else self.line,
            "end_column": self.end_column if self.end_column is not None else self.column,
            "message": self.message,
            "model": self.model,
            "tier": self.tier,
            "task": self.task,
            "related": [
                {"path": r.path, "line": r.line, "column": r.column, **({"cell": r.cell} if r.cell is not None else {})}
                for r in self.related
            ],
        }
        if self.cell is not None:  # (only in a notebook: Python findings keep their shape)
            data["cell"] = self.cell
        return data


class RunSummary(Struct):
    """Counts that the JSON summary and --statistics print."""

    files_scanned: int = 0
    files_parsed: int = 0
    model_calls: dict[str, int] = field(default_factory=lambda: {t: 0 for t in (*TIERS, UNRESOLVED)})
    # model id -> number of literals written in code
    models: dict[str, int] = field(default_factory=dict)
    elapsed_seconds: float = 0.0
    # Files whose calls were not followed (path -> why: parse error, unreadable,
    # too big): call sites in them may be missing from every output.
    skipped: dict[str, str] = field(default_factory=dict)
    # Files of the policy named on the command line (as pre-commit passes a changed
    # policy or evidence file): the whole project was checked against it.
    policy_files_named: list[str] = field(default_factory=list)
    # A walk of the paths given found no file to check (wrong path, all excluded).
    nothing_found: bool = False
    # No policy file was found or named: no task is declared.
    no_policy: bool = False


def place_findings(findings: Iterable[Finding], files: Mapping[str, FileFacts]) -> None:
    """Move findings (and their related places) in notebooks from lines of the joined
    code cells to a cell and a line inside it. `files`: path -> FileFacts."""

    def cells_of(path: str) -> Sequence[tuple[int, int]]:
        facts = files.get(path) if is_notebook(path) else None
        return facts.cells if facts is not None else ()

    for finding in findings:
        cells = cells_of(finding.path)
        if cells and finding.cell is None:
            finding.cell, line = place(cells, finding.line)
            if finding.end_line is not None:
                end_cell, end_line = place(cells, finding.end_line)
                finding.end_line = end_line if end_cell == finding.cell else line
            finding.line = line
        if any(cells_of(r.path) and r.cell is None for r in finding.related):
            finding.related = [_placed(r, cells_of(r.path)) for r in finding.related]


def _placed(where: Location, cells: Sequence[tuple[int, int]]) -> Location:
    if not cells or where.cell is not None:
        return where
    cell, line = place(cells, where.line)
    return Location(where.path, line, where.column, cell)
