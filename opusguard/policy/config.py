"""Configuration: `[tool.opusguard]` in the nearest pyproject.toml, like ruff's.

Command-line options override the file. Paths in the file are relative to it.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct, field

from opusguard.base.datafile import DataFileError, read_data_file, toml_module

if TYPE_CHECKING:
    import pathspec


@functools.lru_cache(maxsize=8)
def _parse_toml(text: str) -> dict:
    """tomllib.loads, once per text: the config search and the load both read the
    chosen file (callers only read the result)."""
    return toml_module().loads(text)


DEFAULT_INCLUDE = ["*.py", "*.pyi", "*.ipynb"]
CACHE_DIR_NAME = ".opusguard_cache"
POLICY_FILE_NAMES = ("opusguard.yaml", ".opusguard.yaml", "opusguard.yml")
# What marks a project's top folder when no config file does (as black finds a
# project's root): version control, a pyproject.toml, or a policy file.
PROJECT_MARKERS = (".git", ".hg", "pyproject.toml", *POLICY_FILE_NAMES)
DEFAULT_EXCLUDE = [
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".env",
    "env",
    "node_modules",
    "build",
    "dist",
    "__pycache__",
    "site-packages",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    CACHE_DIR_NAME,
    ".eggs",
    "*.egg-info",
]
# In the default excludes `.env` is a virtualenv folder: it does not exclude a `.env` file.
FOLDER_ONLY_EXCLUDES = frozenset({".env"})
# Test code (gitignore-style, from the project root): checked like any code, but
# `report` prices it apart from production and `fix --codemod` leaves it alone.
DEFAULT_TESTS = ["tests/", "test_*.py", "*_test.py", "conftest.py"]
KEYS = (
    "policy",
    "include",
    "exclude",
    "extend-exclude",
    "select",
    "extend-select",
    "ignore",
    "per-file-ignores",
    "baseline",
    "tests",
)


class ConfigError(Exception):
    """str() is 'path:line: what is wrong'."""


class Settings(Struct):
    root: Path
    config_path: Path | None = None
    policy: Path | None = None
    include: list[str] = field(default_factory=lambda: list(DEFAULT_INCLUDE))
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    extend_exclude: list[str] = field(default_factory=list)
    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    baseline: Path | None = None
    tests: list[str] = field(default_factory=lambda: list(DEFAULT_TESTS))
    _per_file_specs: list[tuple[Any, set[str]]] = field(default_factory=list)  # (a pathspec spec, its codes)

    @property
    def cache_dir(self) -> Path:
        """Where facts, verdicts and parsed policies are kept between runs."""
        return self.root / CACHE_DIR_NAME


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above `start` that holds a PROJECT_MARKERS entry;
    `start` itself if none does.

    Without a config file this is the root: where the cache is kept and where the
    policy is looked for from. A check of a few files (as pre-commit passes them)
    then shares the root, and the cache, of a check of the whole tree, instead of
    keeping a cache in the folder of whichever file came first."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if any(os.path.exists(os.path.join(directory, marker)) for marker in PROJECT_MARKERS):
            return directory
    return start


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.opusguard] table, walking up."""
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        try:
            if stat.S_ISDIR(os.stat(candidate).st_mode):
                continue
        except OSError:  # absent (or a dangling link)
            continue
        try:
            text = read_data_file(candidate, "config")  # not a FIFO's blocking read
        except DataFileError:
            return candidate  # report the error when loading it
        # Any spelling of the table names the tool; most pyproject.toml files don't,
        # and they are not parsed (tomllib costs more to import than the check reads).
        if "opusguard" not in text:
            continue
        try:
            data = _parse_toml(text)
        except toml_module().TOMLDecodeError:
            return candidate
        if "opusguard" in data.get("tool", {}):
            return candidate
    return None


def _line_of(text: str, key: str) -> int:
    match = re.search(rf'^[ \t]*"?{re.escape(key)}"?[ \t]*=', text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def _read_table(path: Path) -> tuple[dict, str]:
    try:
        text = read_data_file(path, "config")
    except DataFileError as exc:
        raise ConfigError(str(exc)) from None
    try:
        data = _parse_toml(text)
    except toml_module().TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _toml_error_line(str(exc))
        raise ConfigError(f"{path}:{line}: invalid TOML: {str(exc).split(' (at')[0]}") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("opusguard", {})
    else:
        table = data.get("tool", {}).get("opusguard", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}:1: [tool.opusguard] must be a table")
    return table, text


def _toml_error_line(message: str) -> int:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else 1


def _string_list(path: Path, text: str, key: str, value: object) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}:{_line_of(text, key)}: '{key}' must be a list of strings")
    return value


def load_settings(cwd: Path, config_file: Path | None = None, overrides: dict | None = None) -> Settings:
    path = config_file if config_file is not None else find_config(cwd)
    if path is not None and not path.is_file():
        raise ConfigError(f"{path}:1: no such config file")
    settings = Settings(root=path.parent.resolve() if path else find_project_root(cwd), config_path=path)
    if path is not None:
        table, text = _read_table(path)
        _apply_table(settings, table, path, text)
        if config_file is None and settings.policy is not None and "policy" not in (overrides or {}):
            _policy_inside(settings, path, text)
    for key, value in (overrides or {}).items():
        if key == "policy" or key == "baseline":
            value = Path(value)
        setattr(settings, key, value)
    settings._per_file_specs = _compile_per_file(settings.per_file_ignores)
    return settings


def _policy_inside(settings: Settings, path: Path, text: str) -> None:
    """A policy named by a config file found in the tree (not one given with --config)
    must be inside the project: the tree may be someone else's (docs/security.md)."""
    if settings.policy is None:
        return
    real = os.path.realpath(settings.policy)
    root = os.path.realpath(settings.root)
    if os.path.commonpath([real, root]) != root:
        raise ConfigError(
            f"{path}:{_line_of(text, 'policy')}: 'policy' is outside the project ({real}); "
            "name it with --policy or --config instead"
        )


def _apply_table(settings: Settings, table: dict, path: Path, text: str) -> None:
    for key, value in table.items():
        if key not in KEYS:
            import difflib  # only for the message

            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(KEYS)})"
            raise ConfigError(f"{path}:{_line_of(text, key)}: unknown key '{key}'{hint}")
        if key in ("policy", "baseline"):
            if not isinstance(value, str):
                raise ConfigError(f"{path}:{_line_of(text, key)}: '{key}' must be a path")
            setattr(settings, key, settings.root / value)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}:{_line_of(text, key)}: 'per-file-ignores' maps globs to lists of codes")
            settings.per_file_ignores = {
                glob: parse_selectors(_string_list(path, text, glob, codes), f"{path}:{_line_of(text, glob)}")
                for glob, codes in value.items()
            }
        else:
            values = _string_list(path, text, key, value)
            if key in ("select", "extend-select", "ignore"):
                values = parse_selectors(values, f"{path}:{_line_of(text, key)}: '{key}'")
            setattr(settings, key.replace("-", "_"), values)


def parse_selectors(values: Iterable[str], where: str) -> list[str]:
    """Rule selectors (codes, prefixes such as "OG1", or ALL), upper-cased; a value
    that selects no rule is a ConfigError naming `where`, as ruff refuses one.

    Rule names (`hardcoded-model`) are not selectors, as in ruff: the error names the code."""
    from opusguard.base.rule_codes import rule_names

    names = rule_names()
    out = []
    for raw in values:
        value = raw.strip().upper()
        if value == "ALL" or (value.startswith("OG") and any(code.startswith(value) for code in names)):
            out.append(value)
            continue
        raise ConfigError(f"{where}: unknown rule code or prefix '{raw.strip()}'{_selector_hint(raw.strip(), names)}")
    return out


def _selector_hint(raw: str, names: dict[str, str]) -> str:
    import difflib  # only for the message

    by_name = {name: code for code, name in names.items()}
    if raw.lower() in by_name:
        return f" (did you mean '{by_name[raw.lower()]}'? rules are selected by code; '{raw.lower()}' is its name)"
    close = difflib.get_close_matches(raw.upper(), list(names), n=1) or [
        by_name[name] for name in difflib.get_close_matches(raw.lower(), list(by_name), n=1)
    ]
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (codes: {', '.join(names)}; `opusguard rule --all` lists them)"


def _compile_per_file(per_file: dict[str, list[str]]) -> list[tuple[pathspec.GitIgnoreSpec, set[str]]]:
    if not per_file:
        return []  # (pathspec costs a tenth of a warm run to import)
    import pathspec

    return [(pathspec.GitIgnoreSpec.from_lines([glob]), set(codes)) for glob, codes in per_file.items()]


def file_excludes(exclude: list[str]) -> list[str]:
    """The `exclude` patterns that apply to files (see FOLDER_ONLY_EXCLUDES)."""
    return [pattern for pattern in exclude if pattern not in FOLDER_ONLY_EXCLUDES]


def code_matches(code: str, selectors: Iterable[str]) -> bool:
    return any(sel == "ALL" or code.startswith(sel) for sel in selectors)


def selected_rules(settings: Settings, all_codes: Iterable[str], default_codes: Iterable[str]) -> set[str]:
    """select / extend-select / ignore, with ruff's prefix matching ("OG1" is OG1xx)."""
    all_codes = set(all_codes)
    chosen = {c for c in all_codes if code_matches(c, settings.select)} if settings.select else set(default_codes)
    chosen |= {c for c in all_codes if code_matches(c, settings.extend_select)}
    return {c for c in chosen if not code_matches(c, settings.ignore)}


def match_tests(settings: Settings, cwd: Path) -> Callable[[str], bool]:
    """Whether a path as findings show it (relative to cwd) is test code: one of the
    `tests` globs matches it relative to the project root (or as given, outside it)."""
    is_test_below_root = tests_matcher(settings)
    root, base = settings.root.resolve(), cwd.resolve()

    @functools.lru_cache(maxsize=None)
    def is_test(path: str) -> bool:
        try:
            rel = (base / path).resolve().relative_to(root).as_posix()
        except ValueError:
            rel = path
        return is_test_below_root(rel)

    return is_test


def tests_matcher(settings: Settings) -> Callable[[str], bool]:
    """Whether a path relative to the project root is test code (the `tests` globs).
    The globs are compiled at the first question: a run without a finding `fix` can
    rewrite never asks, and pathspec costs a tenth of a warm run to import."""
    globs = list(settings.tests)

    @functools.lru_cache(maxsize=1)
    def spec() -> pathspec.GitIgnoreSpec:
        import pathspec

        return pathspec.GitIgnoreSpec.from_lines(globs)

    return lambda path: spec().match_file(path)


def ignored_for_path(settings: Settings, rel_path: str) -> set[str]:
    """Codes or prefixes per-file-ignores turns off for a path (see code_matches)."""
    if not settings._per_file_specs:
        return set()
    candidate = rel_path
    try:
        candidate = Path(rel_path).resolve().relative_to(settings.root).as_posix()
    except ValueError:
        pass
    out: set[str] = set()
    for spec, codes in settings._per_file_specs:
        if spec.match_file(candidate) or spec.match_file(rel_path):
            out |= codes
    return out
