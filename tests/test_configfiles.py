"""Config files: what is read from them (positions, keys), what is never used, and
calls resolved through them."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import TODAY, analyze_tree, check_tree, write_tree

from opusguard.facts import configfiles
from opusguard.facts.configfiles import parse_config
from opusguard.policy.catalog import load_catalog
from opusguard.policy.config import load_settings
from opusguard.rules.fixplan import plan_rewrites
from opusguard.run import configs_on_disk, engine

OPUS = "claude-opus-4-1-20250805"
SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"

CATALOG = load_catalog()


def is_model_id(text: str) -> bool:
    return CATALOG.recognize(text) is not None


def values(text: str, name: str) -> list[tuple[tuple, str, tuple]]:
    facts = parse_config(text.encode(), name, is_model_id)
    assert facts.error is None, facts.error
    return [(v.keys, v.text, v.span) for v in facts.values]


# --- parsing: values, keys and positions ------------------------------------------------


def test_env_values_quotes_export_comments():
    text = (
        "# CLAUDE_MODEL=claude-opus-4-1-20250805\n"
        f"export SMART={OPUS}  # the big one\n"
        f'FAST="{HAIKU}"\n'
        "OTHER=gpt-4o\n"
        "not a line\n"
    )
    assert values(text, ".env.example") == [
        (("SMART",), OPUS, (2, 14, 2, 14 + len(OPUS))),
        (("FAST",), HAIKU, (3, 6, 3, 6 + len(HAIKU) + 2)),
    ]


def test_yaml_positions_keys_and_lists():
    text = f"# models\nagent:\n  name: x\n  model: {OPUS}\n  fallbacks:\n    - gpt-4o\n    - '{HAIKU}'\n"
    assert values(text, "c.yaml") == [
        (("agent", "model"), OPUS, (4, 10, 4, 10 + len(OPUS))),
        (("agent", "fallbacks", 1), HAIKU, (7, 7, 7, 7 + len(HAIKU) + 2)),
    ]


def test_yaml_documents_int_keys_and_complex_keys():
    text = f"a: 1\n---\n2024: {SONNET}\n? [x, y]\n: {OPUS}\nlist:\n  - {{m: {HAIKU}}}\n"
    assert values(text, "c.yaml") == [
        ((1, 2024), SONNET, (3, 7, 3, 7 + len(SONNET))),
        ((1, "list", 0, "m"), HAIKU, (7, 9, 7, 9 + len(HAIKU))),
    ]


def test_yaml_is_parsed_never_constructed():
    # A Python tag would run code with an unsafe loader; here it is a scalar with a tag, not a str.
    text = f"a: !!python/object/apply:os.system ['echo pwned']\nb: {SONNET}\n"
    assert values(text, "c.yaml") == [(("b",), SONNET, (2, 4, 2, 4 + len(SONNET)))]


def test_yaml_alias_bomb_is_walked_once_per_node():
    # Nine references per level, nine levels: 387 million leaves if expanded.
    lines = [f'a0: &a0 ["{OPUS}"]']
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    facts = parse_config("\n".join(lines).encode(), "bomb.yaml", is_model_id)
    assert facts.error is None
    assert [(v.keys, v.span[0]) for v in facts.values] == [(("a0", 0), 1)]


def test_json_positions_skip_keys_and_count_characters():
    text = '{\n  "prix €": {"claude-opus-4-1-20250805": 15},\n  "llm": {"models": ["gpt", "é", "%s"]}\n}\n' % SONNET
    assert values(text, "m.json") == [(("llm", "models", 2), SONNET, (3, 34, 3, 34 + len(SONNET) + 2))]


def test_toml_positions_by_key_line():
    text = f'[a]\nmodel = "{OPUS}"\n\n[b]\nother = "{OPUS}"\nmodel = \'{OPUS}\'  # same id\n'
    found = values(text, "c.toml")
    assert sorted(found) == sorted(
        [
            (("a", "model"), OPUS, (2, 9, 2, 9 + len(OPUS) + 2)),
            (("b", "other"), OPUS, (5, 9, 5, 9 + len(OPUS) + 2)),
            (("b", "model"), OPUS, (6, 9, 6, 9 + len(OPUS) + 2)),
        ]
    )


def test_ini_sections_and_values():
    text = f'[DEFAULT]\nx = 1\n[llm]\nModel = {HAIKU}\nquoted: "{SONNET}"\n'
    assert values(text, "setup.ini") == [
        (("llm", "model"), HAIKU, (4, 9, 4, 9 + len(HAIKU))),
        (("llm", "quoted"), SONNET, (5, 9, 5, 9 + len(SONNET) + 2)),
    ]


@pytest.mark.parametrize(
    ("name", "text", "message", "line"),
    [
        ("bad.json", '{\n  "model": "%s",\n  oops\n}\n' % OPUS, "invalid JSON", 3),
        ("bad.yaml", f"a:\n  b: {OPUS}\n c: [\n", "invalid YAML", 3),
        ("bad.toml", f'model = "{OPUS}"\nmodel = "x"\n', "invalid TOML", 2),
        ("bad.ini", f"model = {OPUS}\n", "invalid INI", 1),
    ],
)
def test_malformed_file_is_one_error_with_its_line(name, text, message, line):
    facts = parse_config(text.encode(), name, is_model_id)
    assert facts.values == [] and facts.error.startswith(message) and facts.error_line == line


def test_source_lines_keep_no_control_characters():
    facts = parse_config(f"M={OPUS} #\x1b[2J\x07\n".encode(), ".env", is_model_id)
    assert facts.lines == {1: f"M={OPUS} #\\x1b[2J\\x07"}


def test_not_utf8():
    facts = parse_config(b"a: 1\nb: \xff claude\n", "x.yaml", is_model_id)
    assert facts.error.startswith("not UTF-8") and facts.error_line == 2


def test_deep_nesting_is_an_error_not_a_crash():
    facts = parse_config((b"[" * 100_000) + b'"claude"' + (b"]" * 100_000), "deep.json", is_model_id)
    assert facts.values == [] and facts.error is not None


def test_config_kind():
    assert [
        configfiles.config_kind(n)
        for n in (
            ".env",
            ".env.example",
            "a.YAML",
            "b.yml",
            "c.toml",
            "d.json",
            "e.ini",
            "f.py",
            "env",
            ".envrc",
            ".env.json",
            ".env.py",
        )
    ] == ["env", "env", "yaml", "yaml", "toml", "json", "ini", None, None, None, "json", "env"]


# --- the run: discovery, warnings, OG109, resolution --------------------------------------


CREATE = "client.messages.create(model={}, max_tokens=5, messages=[])\n"


def app(*models: str, head: str = "") -> str:
    return (
        "# app\nimport os, json, yaml, tomllib, anthropic\nfrom pathlib import Path\n"
        + head
        + "client = anthropic.Anthropic()\n"
        + "".join(CREATE.format(m) for m in models)
    )


def opus_related(result) -> dict[int, list[tuple[str, int]]]:
    return {f.line: [(r.path, r.line) for r in f.related] for f in result.findings if f.rule == "OG102"}


def unresolved(result) -> dict[int, str]:
    return {f.line: f.message for f in result.findings if f.rule == "OG106"}


def test_env_var_without_default_resolves_to_committed_env_example(tmp_path):
    result = check_tree(
        tmp_path,
        {
            ".env.example": f"ANTHROPIC_API_KEY=x\nCLAUDE_MODEL={OPUS}\n",
            "app/bot.py": app('os.getenv("CLAUDE_MODEL")', 'os.environ["CLAUDE_MODEL"]', 'os.getenv("OTHER")'),
        },
        select={"OG102", "OG106"},
    )
    assert opus_related(result) == {5: [(".env.example", 2)], 6: [(".env.example", 2)]}
    assert "written at .env.example:2 via env CLAUDE_MODEL" in next(f.message for f in result.findings if f.line == 5)
    assert unresolved(result) == {7: "the model this call sends cannot be resolved statically: env var OTHER"}


def test_nearest_env_file_wins_and_other_projects_do_not_count(tmp_path):
    result = check_tree(
        tmp_path,
        {
            ".env.example": f"M={HAIKU}\n",
            "one/.env.example": f"M={OPUS}\n",
            "two/.env.example": f"N={OPUS}\n",
            "one/app.py": app('os.getenv("M")'),
            "two/app.py": app('os.getenv("M")', 'os.getenv("N")'),
            "three/sub/app.py": app('os.getenv("N")'),
        },
        select={"OG102", "OG106"},
    )
    assert rules_lines(result) == {
        ("OG102", "one/app.py", 5),
        ("OG102", "two/app.py", 6),
        ("OG106", "three/sub/app.py", 5),
    }
    summary = result.summary.model_calls
    assert (summary["opus"], summary["haiku"], summary["unresolved"]) == (2, 1, 1)


def rules_lines(result) -> set[tuple[str, str, int]]:
    return {(f.rule, f.path, f.line) for f in result.findings}


def test_gitignored_env_is_not_committed_and_not_used(tmp_path):
    result = check_tree(
        tmp_path,
        {
            ".gitignore": ".env\n",
            ".env": f"CLAUDE_MODEL={OPUS}\n",
            "app.py": app('os.getenv("CLAUDE_MODEL")'),
        },
        select={"OG102", "OG106", "OG109"},
    )
    assert rules_lines(result) == {("OG106", "app.py", 5)}
    # Checking the code file alone (pre-commit, --changed-since) reads no ignored file either.
    alone = engine.check(load_settings(tmp_path), _options(["app.py"]), cwd=tmp_path, select_codes={"OG102", "OG106"})
    assert rules_lines(alone) == {("OG106", "app.py", 5)}


def test_committed_env_file_is_read_although_default_excludes_name_a_dotenv_folder(tmp_path):
    result = check_tree(
        tmp_path,
        {
            ".env": f"CLAUDE_MODEL={OPUS}\n",
            "tools/.env/lib/site.py": app(f'"{OPUS}"'),  # a virtualenv called .env
            "app.py": app('os.getenv("CLAUDE_MODEL")'),
        },
        select={"OG102", "OG109"},
    )
    assert rules_lines(result) == {("OG102", "app.py", 5), ("OG109", ".env", 1)}


def test_code_checked_alone_reads_committed_config_on_demand(tmp_path):
    write_tree(
        tmp_path,
        {
            ".env.example": f"CLAUDE_MODEL={OPUS}\n",
            "conf/agent.yaml": f"model: {SONNET}\n",
            "app.py": app('os.getenv("CLAUDE_MODEL")', 'yaml.safe_load(open("conf/agent.yaml"))["model"]'),
        },
    )
    result = engine.check(load_settings(tmp_path), _options(["app.py"]), cwd=tmp_path, select_codes={"OG102", "OG109"})
    assert opus_related(result) == {5: [(".env.example", 1)]}
    assert result.summary.model_calls["sonnet"] == 1
    assert not any(f.rule == "OG109" for f in result.findings)  # not scanned: no inventory of them


def _options(paths, *, use_cache=False) -> engine.RunOptions:
    return engine.RunOptions(paths=list(paths), use_cache=use_cache, jobs=1, today=TODAY)


LOADED = {
    "config.yaml": f"agent:\n  model: {OPUS}\n  fallbacks: [{HAIKU}]\n",
    "settings.json": '{"llm": {"model": "%s"}}\n' % OPUS,
    "conf/app.toml": f'[llm]\nmodel = "{OPUS}"\n',
}


@pytest.mark.parametrize(
    ("head", "model", "related"),
    [
        ('CFG = yaml.safe_load(open("config.yaml"))\n', 'CFG["agent"]["model"]', ("config.yaml", 2)),
        (
            'with open("config.yaml") as f:\n    CFG = yaml.safe_load(f)\n',
            'CFG.get("agent")["model"]',
            ("config.yaml", 2),
        ),
        ("", 'json.load(open("settings.json"))["llm"]["model"]', ("settings.json", 1)),
        ('CFG = json.loads(Path("settings.json").read_text())\n', 'CFG["llm"]["model"]', ("settings.json", 1)),
        ('CFG = tomllib.load(Path("conf/app.toml").open("rb"))\n', 'CFG["llm"]["model"]', ("conf/app.toml", 2)),
        (
            'P = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conf/app.toml")\n'
            'with open(P, "rb") as f:\n    CFG = tomllib.load(f)\n',
            'CFG["llm"]["model"]',
            ("conf/app.toml", 2),
        ),
        (
            'CFG = yaml.safe_load((Path(__file__).resolve().parent / "config.yaml").read_text())\n',
            'CFG["agent"]["model"]',
            ("config.yaml", 2),
        ),
        (
            'HERE = Path(__file__).parent\nCFG = json.load(open(HERE / "settings.json"))\n',
            'CFG["llm"]["model"]',
            ("settings.json", 1),
        ),
        (
            'CFG = tomllib.load(open(os.path.join("conf", "app.toml"), "rb"))\n',
            'CFG["llm"]["model"]',
            ("conf/app.toml", 2),
        ),
    ],
)
def test_loaded_config_file_resolves(tmp_path, head, model, related):
    result = check_tree(tmp_path, {**LOADED, "app.py": app(model, head=head)}, select={"OG102", "OG106"})
    assert [r for rel in opus_related(result).values() for r in rel] == [related]
    assert unresolved(result) == {}


def test_paths_beside_the_code_are_relative_to_its_folder(tmp_path):
    code = app(
        'CFG["model"]', head='CFG = yaml.safe_load(open(Path(__file__).parent.parent / "conf" / "agent.yaml"))\n'
    )
    result = check_tree(
        tmp_path,
        {
            "conf/agent.yaml": f"model: {OPUS}\n",
            "pkg/conf/agent.yaml": f"model: {HAIKU}\n",  # beside the code, but the code looks one folder up
            "pkg/app.py": code,
        },
        select={"OG102", "OG106"},
    )
    assert [r for rel in opus_related(result).values() for r in rel] == [("conf/agent.yaml", 1)]
    assert result.summary.model_calls["haiku"] == 0


def test_division_that_is_not_a_path_is_left_alone(tmp_path):
    analysis = analyze_tree(
        tmp_path, {"app.py": app("MODELS[1]", head=f'MODELS = ["{OPUS}", "{HAIKU}"]\nHALF = 10 / 2\n')}
    )
    (call,) = analysis.project.calls
    assert [m.ref.model_id for m in call.models] == [HAIKU]


def test_loaded_config_inside_a_function_and_a_list_index(tmp_path):
    code = app(head="") + (
        "def ask():\n"
        '    with open("config.yaml") as handle:\n'
        "        cfg = yaml.safe_load(handle)\n"
        '    client.messages.create(model=cfg["agent"]["fallbacks"][0], max_tokens=5, messages=[])\n'
    )
    analysis = analyze_tree(tmp_path, {**LOADED, "app.py": code})
    (call,) = analysis.project.calls
    assert [(m.ref.model_id, m.literal_path, m.literal_span[0]) for m in call.models] == [(HAIKU, "config.yaml", 3)]


@pytest.mark.parametrize(
    ("model", "why"),
    [
        (
            'yaml.safe_load(open("config.yaml"))["agent"]["name"]',
            "config key ['agent']['name'] of config.yaml (no Claude model there)",
        ),
        (
            'yaml.safe_load(open("missing.yaml"))["model"]',
            "config key ['model'] of missing.yaml: no committed config file there",
        ),
        (
            'yaml.safe_load(open("ignored.yaml"))["model"]',
            "config key ['model'] of ignored.yaml: no committed config file there",
        ),
        ('yaml.safe_load(open("broken.yaml"))["model"]', "config key ['model'] of broken.yaml: line 2: invalid YAML"),
        ('yaml.safe_load(open("config.yaml"))["agent"]', "config table config.yaml['agent']"),
        ("yaml.safe_load(open(PATH))['model']", "call result['model']"),
    ],
)
def test_absent_file_or_key_stays_unresolved(tmp_path, model, why):
    files = {
        **LOADED,
        ".gitignore": "ignored.yaml\n",
        "ignored.yaml": f"model: {OPUS}\n",
        "broken.yaml": f"model: {OPUS}\n  x: [\n",
        "app.py": app(model),
    }
    result = check_tree(tmp_path, files, select={"OG102", "OG106"})
    assert list(unresolved(result)) == [5]
    assert why in unresolved(result)[5]
    assert opus_related(result) == {}


def test_malformed_config_warns_and_the_run_goes_on(tmp_path):
    analysis = analyze_tree(
        tmp_path,
        {
            "tests/fixtures/broken.json": '{"model": "%s",\n oops}\n' % OPUS,
            "plain.json": "{not json, no model}",
            "app.py": app(f'"{OPUS}"'),
        },
    )
    assert analysis.warnings == [
        "tests/fixtures/broken.json:2: invalid JSON: Expecting property name enclosed in "
        "double quotes; its models are not read"
    ]
    assert analysis.project.calls and analysis.project.configs == {}


def test_og109_lists_readers_and_skips_policy_baseline_and_evidence(tmp_path):
    policy = (
        "version: 1\nrouter: app.routing:route\ntasks:\n  review:\n    tier: opus\n    model: claude-opus-4-1-20250805\n"
        "    justification: measured\n    owner: me\n    evidence: evals/review.json\n"
    )
    result = check_tree(
        tmp_path,
        {
            ".env.example": f"CLAUDE_MODEL={OPUS}\n",
            "evals/review.json": '{"bar": 0.9, "scores": {"opus": 0.95}, "model": "%s"}\n' % OPUS,
            "app.py": app('os.getenv("CLAUDE_MODEL")'),
        },
        policy=policy,
        select={"OG109"},
    )
    (finding,) = result.findings
    assert (finding.path, finding.line, finding.column) == (".env.example", 1, 14)
    assert [(r.path, r.line) for r in finding.related] == [("app.py", 5)]
    assert finding.source_line == f"CLAUDE_MODEL={OPUS}"


def test_codemod_leaves_config_resolved_calls_to_a_person(tmp_path):
    analysis = analyze_tree(tmp_path, {".env.example": f"M={OPUS}\n", "app.py": app('os.getenv("M")')})
    plan = plan_rewrites(analysis.project)
    assert plan.rewrites == []
    assert [n.reason for n in plan.needs_person] == [
        "its model is read from .env.example:1; route the call, or change the value there"
    ]


def test_config_facts_come_from_the_cache(tmp_path, monkeypatch):
    write_tree(
        tmp_path, {"config.yaml": f"model: {OPUS}\n", "app.py": app('yaml.safe_load(open("config.yaml"))["model"]')}
    )
    settings = load_settings(tmp_path)
    first = engine.check(settings, _options(["."], use_cache=True), cwd=tmp_path, select_codes={"OG102", "OG109"})

    def parse_again(*args, **kwargs):
        raise AssertionError("parsed again: facts should come from the cache")

    monkeypatch.setattr(configfiles, "parse_config", parse_again)
    second = engine.check(settings, _options(["."], use_cache=True), cwd=tmp_path, select_codes={"OG102", "OG109"})
    assert rules_lines(first) == rules_lines(second) == {("OG102", "app.py", 5), ("OG109", "config.yaml", 1)}
    # A changed file is read again (its bytes are its key).
    (tmp_path / "config.yaml").write_text(f"model: {SONNET}\n")
    monkeypatch.undo()
    third = engine.check(settings, _options(["."], use_cache=True), cwd=tmp_path, select_codes={"OG102", "OG109"})
    assert rules_lines(third) == {("OG109", "config.yaml", 1)}


def test_warm_run_does_not_read_unchanged_config_files(tmp_path, monkeypatch):
    import os

    write_tree(
        tmp_path,
        {
            "config.yaml": f"model: {OPUS}\n",
            "data.json": '{"no": "model here"}\n',
            "app.py": app('yaml.safe_load(open("config.yaml"))["model"]'),
        },
    )
    for path in tmp_path.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))  # settled: verdicts are kept
    settings = load_settings(tmp_path)
    first = engine.check(settings, _options(["."], use_cache=True), cwd=tmp_path, select_codes={"OG102", "OG109"})

    def no_reading(*args, **kwargs):
        raise AssertionError("an unchanged config file was read")

    monkeypatch.setattr(configs_on_disk, "open", no_reading, raising=False)
    second = engine.check(settings, _options(["."], use_cache=True), cwd=tmp_path, select_codes={"OG102", "OG109"})
    assert rules_lines(first) == rules_lines(second) == {("OG102", "app.py", 5), ("OG109", "config.yaml", 1)}


def test_stdin_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(tmp_path)
    options = engine.RunOptions(
        paths=[], use_cache=False, jobs=1, today=TODAY, stdin=("deploy/.env.example", f"CLAUDE_MODEL={OPUS}\n".encode())
    )
    result = engine.check(settings, options, cwd=tmp_path, select_codes={"OG109"})
    assert rules_lines(result) == {("OG109", "deploy/.env.example", 1)}


def test_cli_report_lists_configured_models_and_changed_since_sees_config_files(tmp_path):
    write_tree(tmp_path, {"app.py": app('os.getenv("M")'), ".env.example": "M=gpt-4o\n"})
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=tmp_path, check=True)
    (tmp_path / ".env.example").write_text(f"M={OPUS}\n")
    exe = Path(sys.executable).with_name("opusguard")
    changed = subprocess.run(
        [exe, "check", "--no-cache", "--changed-since", "HEAD", "--select", "OG109"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert changed.returncode == 1 and ".env.example:1:3: OG109" in changed.stdout
    report = subprocess.run([exe, "report", "--no-cache"], cwd=tmp_path, capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    assert "1 model(s) named in 1 config file(s)" in report.stdout
    assert f".env.example:1  {OPUS} (opus)  ['M']  read by app.py:5" in report.stdout


# --- the report's markdown and html: configured models, notebook places -------------------------

HOSTILE_KEY = "<script>alert(1)</script>|x"


def notebook_json(*cells: list[str]) -> str:
    """A notebook of these code cells, with a markdown cell first (so cell numbers count it)."""
    import json

    code = [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": s} for s in cells]
    prose = {"cell_type": "markdown", "metadata": {}, "source": ["# notes"]}
    return json.dumps({"cells": [prose, *code], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)


# app.py:5 and nb.ipynb cell 3, line 2 read M; cell 4, line 1 reads NB; the YAML's model is read by nothing.
REPORTED = {
    "app.py": app('os.getenv("M")'),
    "nb.ipynb": notebook_json(
        ["import os, anthropic\n", "client = anthropic.Anthropic()\n"],
        ["x = 1\n", 'client.messages.create(model=os.getenv("M"), max_tokens=10, messages=[])\n'],
        [
            'client.messages.create(model=os.environ["NB"], max_tokens=10, messages=[])\n',
            f'client.messages.create(model="{OPUS}", max_tokens=10, messages=[])\n',
        ],
    ),
    ".env.example": f"M={OPUS}\nNB={HAIKU}\n",
    "conf/agent.yaml": f'"{HOSTILE_KEY}":\n  model: "{SONNET}"\n',
}


def cli(*args: str, cwd: Path) -> str:
    from conftest import run_cli

    result = run_cli(*args, cwd=cwd)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout


def markdown_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of the table under `heading`, split at unescaped pipes."""
    import re

    section = text.split(heading, 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][2:]  # past the header and the rule
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


class _Table:
    """The rows of one html table (by id): each cell's text and the hrefs in it, and the
    class of the box around the table."""

    def __init__(self, html: str, table_id: str):
        parser = _TableParser(table_id)
        parser.feed(html)
        self.rows = [r for r in parser.rows if r]  # the header row has th cells only
        self.boxes = parser.boxes


class _TableParser(HTMLParser):
    """What _Table keeps, as the html goes by: the rows of the table `table_id`, and
    the class of each div around it."""

    def __init__(self, table_id: str):
        super().__init__()
        self.table_id = table_id
        self.rows: list[list[tuple[str, list[str]]]] = []
        self.boxes: list[str] = []
        self.inside = False
        self.cell: list | None = None
        self.divs: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div":
            self.divs.append(attrs.get("class") or "")
        if tag == "table" and attrs.get("id") == self.table_id:
            self.inside = True
            self.boxes.append(self.divs[-1] if self.divs else "")
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag == "td":
            self.cell = ["", []]
        elif self.cell is not None and tag == "a":
            self.cell[1].append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "div" and self.divs:
            self.divs.pop()
        if tag == "table":
            self.inside = False
        elif tag == "td" and self.cell is not None:
            self.rows[-1].append((self.cell[0], self.cell[1]))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[0] += data


def test_markdown_report_lists_configured_models_with_their_readers_and_notebook_cells(tmp_path):
    write_tree(tmp_path, REPORTED)
    out = cli("report", "--no-cache", "--format", "markdown", cwd=tmp_path)
    assert "3 model(s) named in 2 config file(s), 2 of them read by a call site; they are not call sites" in out
    rows = markdown_rows(out, "### Models named in config files")
    assert all(len(row) == 5 for row in rows)  # the hostile key's pipe stays inside its cell
    by_place = {row[0]: row for row in rows}
    assert by_place[".env.example:1"][1:] == ["\\['M'\\]", OPUS, "opus", "app.py:5, nb.ipynb:cell 3:2"]
    assert by_place[".env.example:2"][1:] == ["\\['NB'\\]", HAIKU, "haiku", "nb.ipynb:cell 4:1"]
    hostile = by_place["conf/agent.yaml:2"]
    assert hostile[1] == "\\['\\<script\\>alert(1)\\</script\\>\\|x'\\]\\['model'\\]" and hostile[4] == "-"
    assert "<script>" not in out
    # the notebook's sites and the literal written in one are placed by cell
    sites = {row[0]: row for row in markdown_rows(out, "### Call sites by task") if row[0].startswith(("nb", "app"))}
    assert set(sites) == {"app.py:5", "nb.ipynb:cell 3:2", "nb.ipynb:cell 4:1", "nb.ipynb:cell 4:2"}
    assert sites["nb.ipynb:cell 3:2"][5] == ".env.example:1"
    assert sites["nb.ipynb:cell 4:2"][5] == "nb.ipynb:cell 4:2"


def test_html_report_lists_configured_models_linked_and_escaped(tmp_path):
    write_tree(tmp_path, REPORTED)
    html = cli(
        "report", "--no-cache", "--format", "html", "--link-base", "https://example.test/blob/abc/", cwd=tmp_path
    )
    assert "<script" not in html and "&lt;script&gt;" in html
    table = _Table(html, "configured")
    assert table.boxes == ["scroll"]
    base = "https://example.test/blob/abc/"
    rows = {cells[0][0]: cells for cells in table.rows}
    assert set(rows) == {".env.example:1", ".env.example:2", "conf/agent.yaml:2"}
    written, keys, model, tier, readers = rows[".env.example:1"]
    assert written == (".env.example:1", [base + ".env.example#L1"])
    assert (keys[0], model[0], tier[0]) == ("['M']", OPUS, "opus")
    # a reader in a notebook shows its cell and links to the notebook (no line anchor inside a cell)
    assert readers == ("app.py:5, nb.ipynb:cell 3:2", [base + "app.py#L5", base + "nb.ipynb"])
    hostile = rows["conf/agent.yaml:2"]
    assert hostile[1][0] == f"['{HOSTILE_KEY}']['model']" and hostile[4] == ("-", [])
    assert hostile[0][1] == [base + "conf/agent.yaml#L2"]


def test_html_places_notebook_sites_and_literals_by_cell(tmp_path):
    write_tree(tmp_path, REPORTED)
    html = cli("report", "--no-cache", "--format", "html", cwd=tmp_path)
    sites = {cells[0][0]: cells for cells in _Table(html, "sites").rows if not cells[0][0].startswith("task ")}
    assert set(sites) == {"app.py:5", "nb.ipynb:cell 3:2", "nb.ipynb:cell 4:1", "nb.ipynb:cell 4:2"}
    assert sites["nb.ipynb:cell 3:2"][0][1] == ["nb.ipynb"] and sites["app.py:5"][0][1] == ["app.py#L5"]
    assert sites["nb.ipynb:cell 3:2"][5] == (".env.example:1", [".env.example#L1"])
    assert sites["nb.ipynb:cell 4:2"][5] == ("nb.ipynb:cell 4:2", ["nb.ipynb"])
    top = [cells[1][0] for cells in _Table(html, "top-opus").rows]
    assert "nb.ipynb:cell 3:2" in top and "nb.ipynb:cell 4:2" in top


def test_text_json_and_og109_name_a_notebook_reader_by_cell(tmp_path):
    import json

    write_tree(tmp_path, REPORTED)
    doc = json.loads(cli("report", "--no-cache", "--format", "json", cwd=tmp_path))
    read_by = {(c["path"], c["line"]): c["read_by"] for c in doc["configured"]}
    assert read_by == {
        (".env.example", 1): ["app.py:5", "nb.ipynb:cell 3:2"],
        (".env.example", 2): ["nb.ipynb:cell 4:1"],
        ("conf/agent.yaml", 2): [],
    }
    assert f".env.example:2  {HAIKU} (haiku)  ['NB']  read by nb.ipynb:cell 4:1" in cli(
        "report", "--no-cache", cwd=tmp_path
    )
    checked = cli("check", "--no-cache", "--select", "OG109", cwd=tmp_path)
    assert "configured at ['NB'], read by nb.ipynb:cell 4:1:" in checked


def test_markdown_and_html_fold_a_long_list_of_configured_models(tmp_path):
    catalog = "models:\n" + "".join(f'  - "{HAIKU}"\n' for _ in range(21))
    write_tree(tmp_path, {"app.py": app(f'"{HAIKU}"'), "models.yaml": catalog})
    out = cli("report", "--no-cache", "--format", "markdown", cwd=tmp_path)
    section = out.split("### Models named in config files", 1)[1]
    assert section.lstrip().startswith("<details>\n<summary>21 model(s) named in 1 config file(s), 0 of them read")
    assert len(markdown_rows(out, "### Models named in config files")) == 21
    assert section.rstrip().endswith("</details>")
    html = cli("report", "--no-cache", "--format", "html", cwd=tmp_path)
    folded = html.split("<h2>Models named in config files</h2>", 1)[1]
    assert folded.startswith("\n<details><summary>21 model(s)") and len(_Table(html, "configured").rows) == 21
    assert folded.index('<table id="configured">') < folded.index("</details>")
    write_tree(tmp_path, {"models.yaml": "models:\n" + "".join(f'  - "{HAIKU}"\n' for _ in range(20))})
    assert "<details>" not in cli("report", "--no-cache", "--format", "markdown", cwd=tmp_path)
    assert "<details><summary>20" not in cli("report", "--no-cache", "--format", "html", cwd=tmp_path)


def test_diff_places_notebook_sites_by_cell_and_follows_a_changed_config_value(tmp_path):
    import json

    write_tree(tmp_path, REPORTED)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=tmp_path, check=True)
    (tmp_path / ".env.example").write_text(f"M={HAIKU}\nNB={HAIKU}\n")
    doc = json.loads(cli("report", "--no-cache", "--diff", "HEAD", "--format", "json", cwd=tmp_path))
    changed = {(c["head"]["path"], c["head"].get("cell"), c["head"]["line"]): c for c in doc["changes"]}
    assert set(changed) == {("app.py", None, 5), ("nb.ipynb", 3, 2)}
    notebook = changed[("nb.ipynb", 3, 2)]
    assert notebook["kind"] == "tier-changed" and (notebook["base"]["cell"], notebook["base"]["line"]) == (3, 2)
    assert "cell" not in changed[("app.py", None, 5)]["base"]
    text = cli("report", "--no-cache", "--diff", "HEAD", "--format", "markdown", cwd=tmp_path)
    assert "| tier-changed | nb.ipynb:cell 3:2 |" in text


def test_the_walk_takes_config_files_by_name_and_leaves_code(tmp_path):
    # (A name ending in .py is code, but for `.env.py`: config_kind's shortcut keeps its rule.)
    from opusguard.run.configs_on_disk import ConfigFiles

    names = ["app.py", ".env.py", "c.yaml", ".env", "sub/x.py", "sub/.env.local"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("MODEL=claude-x\n")
    configs = ConfigFiles(tmp_path, tmp_path, lambda text: False)
    files = [str(tmp_path / name) for name in names]
    assert configs.take_config_files(files) == [path for path in files if not configfiles.is_config_path(path)]
    assert configs.take_config_files(files) == [str(tmp_path / "app.py"), str(tmp_path / "sub/x.py")]
