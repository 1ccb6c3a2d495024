"""In-process runs over a small tree: the core in memory (check_sources), or the shell
over files written to a folder (analyze_tree, check_tree); the CLI tests use the
console script."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from msgspec import Struct

from opusguard import core
from opusguard.policy.catalog import load_catalog
from opusguard.policy.config import Settings, load_settings
from opusguard.policy.tasks import empty_policy, load_policy_text
from opusguard.run import engine

TODAY = date(2026, 11, 24)


def write_tree(root: Path, files: dict[str, str], *, policy: str | None = None) -> None:
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if policy is not None:
        (root / "opusguard.yaml").write_text(policy, encoding="utf-8")


def run_options(paths=(".",)) -> engine.RunOptions:
    return engine.RunOptions(paths=list(paths), use_cache=False, jobs=1, today=TODAY)


def analyze_tree(root: Path, files: dict[str, str], *, policy: str | None = None, paths=(".",)) -> core.Analysis:
    write_tree(root, files, policy=policy)
    return engine.analyze(load_settings(root), run_options(paths), cwd=root)


def check_tree(root: Path, files: dict[str, str], *, policy: str | None = None, select=None, paths=(".",)):
    write_tree(root, files, policy=policy)
    every, _ = core.default_codes()
    codes = set(select) if select else every
    return engine.check(load_settings(root), run_options(paths), cwd=root, select_codes=codes)


# Where check_sources' files are, as far as anything asks: nothing is read from there.
MEMORY_ROOT = Path("/project")


def check_sources(files: dict[str, str], *, policy: str | None = None, select=None) -> core.CheckResult:
    """core.analyze over `files` (and `policy`, the text of opusguard.yaml at the root), in memory."""
    catalog = load_catalog()
    loaded = (
        load_policy_text(MEMORY_ROOT / "opusguard.yaml", policy, catalog, root=MEMORY_ROOT)
        if policy is not None
        else empty_policy(catalog)
    )
    sources = {rel: text.encode() for rel, text in files.items()}
    if policy is not None:
        sources["opusguard.yaml"] = policy.encode()
    every, _ = core.default_codes()
    return core.analyze(
        sources,
        loaded,
        catalog,
        today=TODAY,
        settings=Settings(root=MEMORY_ROOT),
        select=set(select) if select else every,
    )


def as_data(value):
    """A record as plain dicts, all the way down (msgspec's own asdict is one level)."""
    if isinstance(value, Struct):
        return {name: as_data(getattr(value, name)) for name in value.__struct_fields__}
    if isinstance(value, (list, tuple)):
        return type(value)(as_data(item) for item in value)
    if isinstance(value, dict):
        return {key: as_data(item) for key, item in value.items()}
    return value


def rules_at(result, path: str) -> set[tuple[str, int]]:
    return {(f.rule, f.line) for f in result.findings if f.path == path}


def generated_program_settings(examples: int) -> settings:
    """Property tests on hypothesmith programs: the same examples every CI run, and
    no shrinking (on generated programs it can take many minutes)."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
