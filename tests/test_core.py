"""core.analyze: the analysis as a pure function of file contents.

The same findings as the shell (engine.check) on the same files, for every rule's
examples; and nothing read from disk, forked or cached while it runs."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TODAY, as_data, write_tree

from opusguard import core
from opusguard.facts import configfiles
from opusguard.policy.catalog import load_catalog
from opusguard.policy.config import Settings, load_settings
from opusguard.policy.tasks import empty_policy, load_policy, load_policy_text
from opusguard.rules import all_rules
from opusguard.run import engine
from opusguard.run.discover import discover_file_names

EXAMPLES = [
    pytest.param(rule, example, id=f"{rule.code}-{index}")
    for rule in all_rules()
    for index, example in enumerate(rule.examples)
]


def _shown(result: core.CheckResult) -> list[dict]:
    return [as_data(finding) for finding in [*result.findings, *result.unused_ignores]]


@pytest.mark.parametrize(("rule", "example"), EXAMPLES)
def test_core_agrees_with_the_shell_on_every_rule_example(tmp_path, monkeypatch, rule, example):
    files = {**example.files, **example.extra_files}
    write_tree(tmp_path, files, policy=example.policy)
    monkeypatch.chdir(tmp_path)
    settings = load_settings(tmp_path)
    options = engine.RunOptions(paths=["."], use_cache=False, jobs=1, today=TODAY)
    every, _ = core.default_codes()
    on_disk = engine.check(settings, options, cwd=tmp_path, select_codes=every)

    catalog = load_catalog()
    # The caller loads the policy (its includes from disk); the core reads its evidence from the sources.
    policy = load_policy(tmp_path / "opusguard.yaml", catalog) if example.policy is not None else empty_policy(catalog)
    # The files discovery gives the shell (.gitignore, excludes): the core checks what it is given.
    found = discover_file_names(["."], configfiles.with_config_globs(settings), cwd=tmp_path, warn=print)
    sources = {Path(path).relative_to(tmp_path).as_posix(): Path(path).read_bytes() for path in found}
    if example.policy is not None:
        sources["opusguard.yaml"] = example.policy.encode()
    in_memory = core.analyze(sources, policy, catalog, today=TODAY, settings=settings, select=every)

    assert _shown(in_memory) == _shown(on_disk)
    assert in_memory.summary.model_calls == on_disk.summary.model_calls
    assert in_memory.summary.models == on_disk.summary.models


APP = {
    "app/client.py": (
        "import anthropic\n"
        "from app.models import BIG\n"
        "client = anthropic.Anthropic()\n"
        "def summarize(text):\n"
        "    return client.messages.create(model=BIG, max_tokens=100, messages=[])\n"
    ),
    "app/models.py": 'BIG = "claude-opus-4-1"\n',
    "app/settings.yaml": "model: claude-opus-4-1\n",
}


def test_core_follows_names_across_the_sources_it_is_given():
    catalog = load_catalog()
    result = core.analyze(
        {rel: text.encode() for rel, text in APP.items()}, empty_policy(catalog), catalog, today=TODAY
    )
    calls = [(f.rule, f.path, f.line) for f in result.findings if f.rule == "OG102"]
    assert calls == [("OG102", "app/client.py", 5)]
    assert result.summary.files_parsed == 2  # the call's file, and the module its name is bound in
    assert list(result.analysis.project.configs) == ["app/settings.yaml"]


def test_core_touches_no_file(monkeypatch):
    """With every way of reading the disk refused, the core still checks the sources
    (libcst and the rules imported first: importing reads their modules)."""
    catalog = load_catalog()
    policy = load_policy_text(
        "/nowhere/opusguard.yaml",
        "version: 1\ntasks:\n  summarize:\n    tier: haiku\n    evidence: evals/summarize.yaml\n",
        catalog,
    )
    sources = {rel: text.encode() for rel, text in APP.items()}
    sources["evals/summarize.yaml"] = b"bar: 0.9\nscores: {haiku: 0.8, sonnet: 0.95}\n"
    settings = Settings(root=Path("/nowhere"))
    expected = core.analyze(dict(sources), policy, catalog, today=TODAY, settings=settings)
    touched: list[str] = []

    def refuse(name):
        def refused(*args, **kwargs):
            touched.append(f"{name}{args[:1]}")
            raise PermissionError(f"{name} refused in the core")

        return refused

    for module, name in [(builtins, "open"), (os, "open"), (os, "stat"), (os, "scandir"), (os, "listdir")]:
        monkeypatch.setattr(module, name, refuse(name))
    monkeypatch.setattr(Path, "read_bytes", refuse("read_bytes"))
    monkeypatch.setattr(Path, "read_text", refuse("read_text"))
    result = core.analyze(sources, policy, catalog, today=TODAY, settings=settings)
    monkeypatch.undo()

    assert touched == []
    assert _shown(result) == _shown(expected)
    assert result.analysis.project.policy.evidence["summarize"].cheapest_passing() == "sonnet"  # from the sources
    assert policy.evidence == {}  # the caller's policy is left as it was
    assert {f.rule for f in result.findings} >= {"OG102"}


def test_the_core_imports_no_shell_module():
    code = (
        "import sys, opusguard.core\n"
        "shell = {'opusguard.run.engine', 'opusguard.run.workers', 'opusguard.run.cache', 'opusguard.run.discover',"
        " 'opusguard.cli.main', 'concurrent.futures.process', 'multiprocessing.pool'}\n"
        "print(sorted(shell & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
