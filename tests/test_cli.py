"""The installed console script, as a user and a CI job run it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
from conftest import OPUS, REPO, SAMPLE_APP, run_cli, run_json

APP = SAMPLE_APP


def test_clean_tree_exits_zero(tree):
    root = tree({"a.py": "print('hello')\n"})
    result = run_cli("check", ".", cwd=root)
    assert result.returncode == 0
    assert "no findings" in result.stdout
    assert "checked 1 file in" in result.stdout


def test_findings_exit_one_and_exit_zero_overrides(tree):
    root = tree(APP)
    assert run_cli("check", ".", cwd=root).returncode == 1
    assert run_cli("check", "--exit-zero", ".", cwd=root).returncode == 0


def test_json_output_follows_the_contract(tree):
    root = tree(APP)
    code, doc = run_json(".", cwd=root)
    assert code == 1
    assert set(doc) == {"version", "findings", "summary"}
    assert set(doc["summary"]) == {
        "files_scanned",
        "files_parsed",
        "findings",
        "by_rule",
        "model_calls",
        "skipped_files",
    }
    assert doc["summary"]["skipped_files"] == []
    assert set(doc["summary"]["model_calls"]) == {"opus", "sonnet", "haiku", "other", "unresolved"}
    og102 = next(f for f in doc["findings"] if f["rule"] == "OG102")
    assert set(og102) == {
        "rule",
        "name",
        "severity",
        "path",
        "line",
        "column",
        "end_line",
        "end_column",
        "message",
        "model",
        "tier",
        "task",
        "related",
    }
    assert (og102["path"], og102["line"], og102["column"]) == ("app/bot.py", 4, 1)
    assert og102["related"] == [{"path": "app/config.py", "line": 1, "column": 8}]
    assert og102["model"] == OPUS and og102["tier"] == "opus" and og102["name"] == "unjustified-opus"
    assert doc["summary"]["model_calls"]["opus"] == 1 and doc["summary"]["model_calls"]["haiku"] == 1
    assert doc["summary"]["by_rule"] == {"OG101": 2, "OG102": 1}


def test_sarif_output_is_valid_sarif_2_1_0(tree):
    root = tree(APP)
    result = run_cli("check", "--format", "sarif", ".", cwd=root)
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    schema = json.loads((REPO / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(doc)
    run = doc["runs"][0]
    result_102 = next(r for r in run["results"] if r["ruleId"] == "OG102")
    assert result_102["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "app/bot.py"
    assert result_102["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 1
    assert result_102["partialFingerprints"]
    assert run["tool"]["driver"]["rules"][result_102["ruleIndex"]]["id"] == "OG102"


def test_github_annotations(tree):
    root = tree(APP)
    lines = run_cli("check", "--format", "github", ".", cwd=root).stdout.splitlines()
    assert any(line.startswith("::error file=app/bot.py,line=4,col=1,") for line in lines)
    assert all(line.startswith("::") for line in lines)
    assert any("title=OG102 unjustified-opus::" in line for line in lines)


def test_statistics(tree):
    root = tree(APP)
    out = run_cli("check", "--statistics", ".", cwd=root).stdout
    assert "findings by rule" in out and "model calls by tier" in out
    assert OPUS in out and "claude-haiku-4-5-20251001" in out


def test_select_and_ignore(tree):
    root = tree(APP)
    _, doc = run_json("--select", "OG102", ".", cwd=root)
    assert {f["rule"] for f in doc["findings"]} == {"OG102"}
    _, doc = run_json("--ignore", "OG1", ".", cwd=root)
    assert doc["findings"] == []


def test_config_from_pyproject(tree):
    files = {
        **APP,
        "pyproject.toml": '[tool.opusguard]\nignore = ["OG101"]\n[tool.opusguard.per-file-ignores]\n"app/bot.py" = ["OG102"]\n',
    }
    root = tree(files)
    code, doc = run_json(".", cwd=root)
    assert code == 0 and doc["findings"] == []


def test_config_discovered_from_a_subfolder(tree):
    root = tree({**APP, "pyproject.toml": '[tool.opusguard]\nselect = ["OG102"]\n'})
    _, doc = run_json(".", cwd=root / "app")
    assert {f["rule"] for f in doc["findings"]} == {"OG102"}


@pytest.mark.parametrize(
    "inner",
    [
        '[project]\nname = "app"\ndependencies = ["opusguard>=0.1"]\n',  # names the tool, has no table
        '[project\nname = "broken"\n',  # not ours to judge: it never mentions opusguard
    ],
)
def test_config_walks_past_a_pyproject_without_an_opusguard_table(tree, inner):
    root = tree({**APP, "pyproject.toml": '[tool.opusguard]\nselect = ["OG102"]\n', "app/pyproject.toml": inner})
    code, doc = run_json(".", cwd=root / "app")
    assert code == 1 and {f["rule"] for f in doc["findings"]} == {"OG102"}


def test_without_a_config_file_the_root_is_the_nearest_project_folder(tmp_path):
    from opusguard.policy.config import load_settings

    billing = tmp_path / "repo" / "services" / "billing"
    (billing / "deep").mkdir(parents=True)
    assert load_settings(billing).root == billing.resolve()  # no marker above: the folder checked
    (tmp_path / "repo" / ".git").mkdir()
    assert load_settings(billing / "deep").root == (tmp_path / "repo").resolve()
    (tmp_path / "repo" / "services" / "opusguard.yaml").write_text("version: 1\n")  # a nearer policy
    assert load_settings(billing / "deep").root == (tmp_path / "repo" / "services").resolve()
    (billing / "pyproject.toml").write_text('[project]\nname = "billing"\n')  # a nearer project
    assert load_settings(billing / "deep").root == billing.resolve()


def test_a_check_of_a_few_files_shares_the_cache_of_the_whole_tree(tree):
    """As pre-commit passes them: the cache is not kept in the first file's folder."""
    root = tree(APP)
    __import__("subprocess").run(["git", "init", "-q"], cwd=root, check=True)
    whole = cached_check(cwd=root)
    few = run_cli("check", "--format", "json", "app/bot.py", "app/config.py", cwd=root)
    assert json.loads(few.stdout)["findings"] == whole["findings"]
    assert [cache.relative_to(root) for cache in root.rglob(".opusguard_cache")] == [Path(".opusguard_cache")]


@pytest.mark.parametrize(
    ("pyproject", "expected"),
    [
        ('[tool.opusguard]\nselcet = ["OG1"]\n', "pyproject.toml:2: unknown key 'selcet' (did you mean 'select'?)"),
        ('[tool.opusguard]\nselect = "OG1\n', "pyproject.toml:2: invalid TOML"),
        ("[tool.opusguard]\nexclude = 3\n", "pyproject.toml:2: 'exclude' must be a list of strings"),
    ],
)
def test_bad_config_is_one_line_and_exit_two(tree, pyproject, expected):
    root = tree({"a.py": "x = 1\n", "pyproject.toml": pyproject})
    result = run_cli("check", ".", cwd=root)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert expected in result.stderr


def test_bad_policy_is_one_line_and_exit_two(tree):
    root = tree({"a.py": "x = 1\n", "opusguard.yaml": "version: 1\ntasks:\n  x:\n    tier: mega\n"})
    result = run_cli("check", ".", cwd=root)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "opusguard: error: "
        + str(root / "opusguard.yaml")
        + ":4:11: unknown tier 'mega' (allowed: opus, sonnet, haiku, other)"
    )


def test_missing_path_is_exit_two(tree):
    root = tree({"a.py": "x = 1\n"})
    result = run_cli("check", "nope", cwd=root)
    assert result.returncode == 2 and "nope: no such file or directory" in result.stderr


def test_stdin_filename(tree):
    root = tree({"app/__init__.py": "", "app/config.py": f'OPUS = "{OPUS}"\n'})
    source = "import anthropic\nfrom app.config import OPUS\nanthropic.Anthropic().messages.create(model=OPUS)\n"
    result = run_cli("check", "--format", "json", "--stdin-filename", "app/new.py", cwd=root, stdin=source)
    doc = json.loads(result.stdout)
    assert [(f["rule"], f["path"], f["line"]) for f in doc["findings"]] == [("OG102", "app/new.py", 3)]


def test_bad_input_never_stops_the_run(tree, tmp_path):
    files = {
        "ok.py": f'llm(model="{OPUS}")\n',
        "syntax.py": f'M = "{OPUS}"\ndef broken(:\n',
        "nul.py": b'M = "claude-opus-4-1"\x00\n',
        "latin1.py": '# -*- coding: latin-1 -*-\nNAME = "caf\xe9"\nllm(model="claude-opus-4-1")\n'.encode("latin-1"),
        "bom_crlf.py": b'\xef\xbb\xbfimport os\r\nllm(model="claude-opus-4-1")\r\n',
        "bad_utf8.py": b'x = "\xff\xfe claude"\n',
        "large.py": b"x = 1\n" * 5_000 + b'llm(model="claude-opus-4-1")\n',
        "huge.py": b"x = 1\n" * 200_000 + b'llm(model="claude-opus-4-1")\n',
    }
    root = tree(files)
    (root / "loop").mkdir()
    os.symlink(root / "loop", root / "loop" / "again")
    os.symlink(root / "missing.py", root / "broken_link.py")
    result = run_cli("check", "--format", "json", "--no-cache", ".", cwd=root)
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    by_path = {}
    for f in doc["findings"]:
        by_path.setdefault(f["path"], set()).add((f["rule"], f["line"]))
    assert ("OG000", 2) in by_path["syntax.py"]
    assert ("OG000", 1) in by_path["nul.py"]
    assert ("OG000", 1) in by_path["bad_utf8.py"]
    assert ("OG102", 3) in by_path["latin1.py"]
    assert ("OG102", 2) in by_path["bom_crlf.py"]
    assert ("OG102", 1) in by_path["ok.py"]
    assert ("OG102", 5_001) in by_path["large.py"]
    # Over the parse limit: literals still checked, and a one-line warning says calls are not followed.
    assert by_path["huge.py"] == {("OG101", 200_001)}
    assert (
        "opusguard: warning: huge.py:1: 1171 KiB is over the 1 MiB limit: its model literals are checked"
        in result.stderr
    )
    assert "loop" in result.stderr and "broken symbolic link" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_file_is_reported_and_the_run_goes_on(tree, monkeypatch, capsys):
    """In-process, so it holds when the tests run as root (who can read any file)."""
    from helpers import check_tree

    real_open = os.open

    def open_(path, *args, **kwargs):
        if os.fspath(path).endswith("b.py"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    root = tree({})
    result = check_tree(root, {"a.py": f'llm(model="{OPUS}")\n', "b.py": "x = 1\n"})
    assert ("OG000", "b.py") in {(f.rule, f.path) for f in result.findings}
    assert ("OG102", "a.py") in {(f.rule, f.path) for f in result.findings}
    assert "b.py:1: cannot read: Permission denied" in result.analysis.warnings


def test_report_unused_ignores(tree):
    root = tree({"a.py": "x = 1  # opusguard: ignore[OG101]\n" + f'y = "{OPUS}"  # opusguard: ignore[OG101]\n'})
    _, doc = run_json(".", cwd=root)
    assert doc["findings"] == []
    result = run_cli("check", "--format", "json", "--report-unused-ignores", ".", cwd=root)
    doc = json.loads(result.stdout)
    assert [(f["rule"], f["line"]) for f in doc["findings"]] == [("OG100", 1)]


def test_version_and_rule_docs():
    assert run_cli("--version", cwd=REPO).stdout.startswith("opusguard, version")
    page = run_cli("rule", "OG102", cwd=REPO).stdout
    assert page.startswith("# OG102 unjustified-opus") and "## Why is this bad?" in page
    assert "OG106  unresolved-model (opt-in)" in run_cli("rule", "--all", cwd=REPO).stdout


def test_findings_identical_cold_warm_and_parallel(tree):
    files = dict(APP)
    for i in range(40):  # enough files to use worker processes
        files[f"app/mod{i}.py"] = (
            f"import anthropic\nfrom app.config import OPUS\nanthropic.Anthropic().messages.create(model=OPUS)  # {i}\n"
        )
    for i in range(200):  # and enough to stream candidates to them while reading
        files[f"app/plain{i}.py"] = f"def f{i}(x):\n    return x * {i}\n"
    root = tree(files)

    def findings(*args):
        result = run_cli("check", "--format", "json", *args, ".", cwd=root)
        return json.loads(result.stdout)["findings"]

    serial = findings("--no-cache", "-j", "1")
    parallel = findings("--no-cache", "-j", "2")
    cold = findings("-j", "2")
    warm = findings("-j", "2")
    assert serial == parallel == cold == warm
    assert len([f for f in serial if f["rule"] == "OG102"]) == 41
    assert (root / ".opusguard_cache" / "CACHEDIR.TAG").is_file()


def cached_check(*args: str, cwd: Path) -> dict:
    """`check --format json` with the cache on (run_json turns it off)."""
    result = run_cli("check", "--format", "json", *args, ".", cwd=cwd)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_warm_runs_see_every_change_to_files_they_skipped(tree):
    root = tree({**APP, "app/other.py": "def helper():\n    return 1\n"})
    first = cached_check("--select", "OG102", cwd=root)
    assert first["summary"]["findings"] == 1
    # A file the last run found could not matter now sends Opus.
    (root / "app/other.py").write_text(
        "import anthropic\nfrom app.config import OPUS\nanthropic.Anthropic().messages.create(model=OPUS)\n"
    )
    assert cached_check("--select", "OG102", cwd=root)["summary"]["findings"] == 2
    # Same size, new content and mtime: read again, not trusted.
    text = (root / "app/other.py").read_text()
    (root / "app/other.py").write_text(text.replace("OPUS)", "FAST)"))
    os.utime(root / "app/other.py", ns=(1, 1))
    assert cached_check("--select", "OG102", cwd=root)["summary"]["findings"] == 1


def test_a_change_in_the_same_clock_tick_as_the_last_run_is_seen(tree):
    """A coarse file clock (1 s on some file systems) can give a second write, of the
    same size, the mtime of the first: a file changed that recently is not trusted."""
    root = tree(APP)
    bot = root / "app" / "bot.py"
    assert cached_check("--select", "OG102", cwd=root)["summary"]["findings"] == 1
    stat = bot.stat()
    bot.write_text(bot.read_text().replace("model=OPUS,", "model=FAST,"))  # same size
    os.utime(bot, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same tick
    assert bot.stat().st_size == stat.st_size
    assert cached_check("--select", "OG102", cwd=root)["summary"]["findings"] == 0


def test_the_second_pass_sees_a_name_that_now_holds_a_model(tree):
    root = tree(
        {
            "app/__init__.py": "",
            "app/config.py": 'SMART = "gpt-4o"\n',
            "app/uses.py": "from app.config import SMART\nllm(model=SMART)\n",  # no Claude word: second pass
        }
    )
    assert cached_check(cwd=root)["summary"]["findings"] == 0
    (root / "app/config.py").write_text(f'SMART = "{OPUS}"\n')
    found = cached_check("--select", "OG102", cwd=root)["findings"]
    assert [(f["path"], f["line"]) for f in found] == [("app/uses.py", 2)]


def cache_format() -> bytes:
    from opusguard.run.cache import _FORMAT

    return _FORMAT


def test_a_corrupt_verdict_index_is_ignored(tree):
    root = tree(APP)
    first = cached_check(cwd=root)["findings"]
    indexes = list((root / ".opusguard_cache").glob("verdicts-*"))
    assert len(indexes) == 1
    indexes[0].write_bytes(cache_format() + b"\x80garbage")  # the right header, a broken entry
    assert cached_check(cwd=root)["findings"] == first
    assert cached_check(cwd=root)["findings"] == first


def test_corrupt_cache_entries_are_rebuilt(tree):
    root = tree(APP)
    first = run_cli("check", "--format", "json", ".", cwd=root).stdout
    for entry in (root / ".opusguard_cache").rglob("*"):
        if entry.is_file() and entry.parent.name != ".opusguard_cache":
            entry.write_bytes(b"OGF1garbage")
    assert run_cli("check", "--format", "json", ".", cwd=root).stdout == first


def test_gitignore_is_respected_unless_the_folder_is_named(tree):
    root = tree(
        {
            ".gitignore": "generated/\n*.gen.py\n!keep.gen.py\n",
            "generated/a.py": f'llm(model="{OPUS}")\n',
            "x.gen.py": f'llm(model="{OPUS}")\n',
            "keep.gen.py": f'llm(model="{OPUS}")\n',
            "venv/lib.py": f'llm(model="{OPUS}")\n',
            "sub/.gitignore": "local.py\n",
            "sub/local.py": f'llm(model="{OPUS}")\n',
            "sub/kept.py": f'llm(model="{OPUS}")\n',
        }
    )
    __import__("subprocess").run(["git", "init", "-q"], cwd=root, check=True)
    _, doc = run_json(".", cwd=root)
    assert {f["path"] for f in doc["findings"]} == {"keep.gen.py", "sub/kept.py"}
    _, doc = run_json("generated", "venv/lib.py", cwd=root)
    assert {f["path"] for f in doc["findings"]} == {"generated/a.py", "venv/lib.py"}


def test_large_output_is_complete_through_the_fast_exit(tree):
    # The console script ends with os._exit after flushing: nothing may be lost.
    files = {"app/__init__.py": ""}
    files.update({f"app/m{i}.py": "".join(f'M{j} = "{OPUS}"\n' for j in range(40)) for i in range(60)})
    root = tree(files)
    code, report = run_json("--exit-zero", ".", cwd=root)
    assert code == 0 and len(report["findings"]) == 60 * 40


@pytest.mark.parametrize(
    ("raised", "code", "printed"),
    [
        (None, 0, ""),
        (SystemExit(0), 0, ""),
        (SystemExit(None), 0, ""),
        (SystemExit(2), 2, ""),
        (SystemExit("cannot go on"), 1, "cannot go on\n"),
    ],
)
def test_the_fast_exit_keeps_exit_codes_and_runs_exit_handlers(monkeypatch, capsys, raised, code, printed):
    import atexit
    import gc

    from opusguard.cli import console
    from opusguard.cli import main as cli

    def fake_main():
        atexit.register(handled.append, "progress bar stopped")
        if raised is not None:
            raise raised

    handled: list[str] = []
    exits: list[int] = []
    monkeypatch.setattr(cli, "main", fake_main)
    monkeypatch.setattr(console.os, "_exit", exits.append)
    monkeypatch.setattr(gc, "set_threshold", lambda *thresholds: None)  # (this process is pytest's)
    console.main()
    assert exits == [code] and handled == ["progress bar stopped"] and capsys.readouterr().err == printed
