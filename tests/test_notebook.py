"""Jupyter notebooks: code cells read as one module, findings placed by cell, fixes
written back into the JSON (in memory, then through the installed console script)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import OPUS, REPO, run_cli, run_json, settle

from opusguard.facts import notebook
from opusguard.select.parse import facts_of

HAIKU = "claude-haiku-4-5-20251001"


def code(source, **extra) -> dict:
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
    cell.update(extra)
    return cell


def markdown(source) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def notebook_bytes(cells: list[dict], *, indent=1, metadata=None) -> bytes:
    document = {
        "cells": cells,
        "metadata": metadata
        if metadata is not None
        else {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return (json.dumps(document, indent=indent, ensure_ascii=False) + "\n").encode()


def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


# A notebook whose calls read constants of other cells and of a module; cell 3 is prose.
DEMO = notebook_bytes(
    [
        code(["%pip install anthropic\n", "import anthropic\n", "from mymod import SMART\n", f'MODEL = "{OPUS}"\n']),
        markdown([f"We use {OPUS} here.\n", "```python\n", f'model = "{OPUS}"\n', "```"]),
        {"cell_type": "raw", "metadata": {}, "source": [f'"{OPUS}"']},
        code(
            [
                "!ls\n",
                "client = anthropic.Anthropic()\n",
                "client.messages.create(\n",
                "    model=MODEL, max_tokens=10, messages=[])\n",
            ]
        ),
        code(["client.messages.create(model=SMART, max_tokens=5, messages=[])\n", "client?"]),
    ]
)
MYMOD = f'SMART = "{OPUS}"\n'


def is_model_id(text: str) -> bool:
    return text.startswith("claude-")


# --- the joined code and its map -------------------------------------------------------


def test_code_cells_are_joined_and_lines_map_back_to_their_cell():
    code_text = notebook.code_text(DEMO)
    assert code_text.cells == ((1, 1), (5, 4), (9, 5))  # markdown and raw cells are left out
    assert code_text.text.splitlines()[3] == f'MODEL = "{OPUS}"'
    assert notebook.place(code_text.cells, 4) == (1, 4)
    assert notebook.place(code_text.cells, 7) == (4, 3)
    assert notebook.place(code_text.cells, 9) == (5, 1)
    assert notebook.place((), 7) == (None, 7)  # a Python file
    assert notebook.location("nb.ipynb", 3, 2, 5) == "nb.ipynb:cell 3:2:5"
    assert notebook.location("a.py", None, 2, 5) == "a.py:2:5"


def test_a_cell_without_a_final_newline_still_ends_its_lines():
    text = notebook.code_text(notebook_bytes([code("a = 1"), code(["b = 2"])])).text
    assert text == "a = 1\nb = 2\n"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("%pip install anthropic\nx = 1", "pass\nx = 1"),
        ("!ls -la\nfiles = !ls\nout = %sx ls", "pass\npass\npass"),
        ("len?\nlen??\n?len\nnp.load?", "pass\npass\npass\npass"),
        ('q = """Why?\n"""\nprint("ok?")', 'q = """Why?\n"""\nprint("ok?")'),  # not help
        ("if x:\n    !echo hi\n    y = 1", "if x:\n    pass\n    y = 1"),
        ("!pip install a \\\n    b \\\n    c\nx = 1", "pass\npass\npass\nx = 1"),  # continued lines too
        ("%%bash\necho claude\nls", "\n\n"),  # a cell in another language: no code
        ("%%time\nx = 1", "pass\nx = 1"),  # a cell magic whose body is Python
        ('s = """\n%not a magic\n!nor this?\n"""', 's = """\n%not a magic\n!nor this?\n"""'),
        ("f(1,\n  2)\n# %comment?\nx = 5 % 2", "f(1,\n  2)\n# %comment?\nx = 5 % 2"),
    ],
)
def test_ipython_syntax_is_masked_line_for_line(source, expected):
    assert notebook.mask_ipython(source) == expected


@pytest.mark.parametrize(
    "content, message, line",
    [
        # (A missing comma: every Python names its line alike; a trailing one, 3.13 names the comma's.)
        (b'{"cells": [\n  {"cell_type": "code"\n  "source": []}]}', "invalid notebook JSON", 3),
        (b"[1, 2]", "not a Jupyter notebook", 1),
        (b'{"cells": [{"cell_type": "code", "source": 3}]}', "cell 1: 'source' is not text", 1),
    ],
)
def test_what_is_not_a_notebook_is_one_error_with_its_line(content, message, line):
    with pytest.raises(notebook.NotebookError) as error:
        notebook.code_text(content)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert error.value.line == line


def test_a_notebook_in_another_language_has_no_code():
    content = notebook_bytes([code([f'model = "{OPUS}"'])], metadata={"language_info": {"name": "R"}})
    assert notebook.code_text(content).cells == ()


# --- facts -----------------------------------------------------------------------------


def test_facts_of_a_notebook_are_those_of_its_code_cells():
    facts = facts_of(DEMO, "demo.ipynb", is_model_id=is_model_id)
    assert facts.parse_error is None and facts.path == "demo.ipynb"
    assert [lit.span[0] for lit in facts.literals] == [4]  # not the markdown's or the raw cell's
    assert sorted(call.span[0] for call in facts.calls) == [7, 9]
    assert facts.cells == [(1, 1), (5, 4), (9, 5)]


def test_a_cell_that_does_not_parse_is_an_og000_there_and_the_others_are_still_read():
    content = notebook_bytes([code(["x = 1\n"]), code(["def broken(:\n", "    pass\n"]), code([f'MODEL = "{OPUS}"\n'])])
    facts = facts_of(content, "nb.ipynb", is_model_id=is_model_id)
    assert facts.parse_error is not None
    assert notebook.place(facts.cells, facts.parse_error_line) == (2, 1)
    assert [notebook.place(facts.cells, lit.span[0]) for lit in facts.literals] == [(3, 1)]


# --- rewriting -------------------------------------------------------------------------

# Outputs, metadata, execution counts and a source written as one string: all kept.
RICH = notebook_bytes(
    [
        markdown("# Title\n"),
        code(
            ["import anthropic\n", "%matplotlib inline\n", "client = anthropic.Anthropic()\n", f'MODEL = "{OPUS}"'],
            execution_count=3,
            metadata={"tags": ["parameters"], "collapsed": False},
            outputs=[
                {"output_type": "stream", "name": "stdout", "text": ["héllo\n", "wörld\n"]},
                {
                    "output_type": "display_data",
                    "data": {"image/png": "iVBORw0KGgo=", "text/plain": ["<Figure>"]},
                    "metadata": {},
                },
            ],
        ),
        code(
            f'resp = client.messages.create(model="{HAIKU}", max_tokens=5, messages=[])\nprint(resp)', execution_count=4
        ),
    ]
)


def _rename_models(source: bytes) -> bytes:
    return source.replace(f'"{OPUS}"'.encode(), b'route("a")').replace(f'"{HAIKU}"'.encode(), b'route("b")')


def test_a_rewrite_changes_only_the_source_of_the_cells_it_touches():
    after = notebook.rewrite_code(RICH, _rename_models)
    assert isinstance(after, bytes)
    before_doc, after_doc = json.loads(RICH), json.loads(after)
    assert after_doc["cells"][1]["source"][3] == 'MODEL = route("a")'  # no newline added to a last line
    assert after_doc["cells"][1]["source"][1] == "%matplotlib inline\n"  # IPython syntax as written
    assert after_doc["cells"][2]["source"].startswith(
        'resp = client.messages.create(model=route("b")'
    )  # still a string
    for doc in (before_doc, after_doc):
        for cell in doc["cells"]:
            cell.pop("source")
    assert after_doc == before_doc
    # Byte for byte, only the two changed lines differ.
    changed = [(a, b) for a, b in zip(lines(RICH.decode()), lines(after.decode())) if a != b]
    assert len(lines(RICH.decode())) == len(lines(after.decode())) and len(changed) == 2


def test_a_rewrite_keeps_the_file_s_own_formatting():
    # Two-space indentation, keys in the writer's order, no final newline, escaped non-ASCII.
    document = {
        "nbformat": 4,
        "nbformat_minor": 2,
        "metadata": {},
        "cells": [code(["# caf\u00e9\n", f'm = "{OPUS}"\n', "x = 1\n"])],
    }
    content = json.dumps(document, indent=2).encode()
    after = notebook.rewrite_code(content, _rename_models)
    expected = content.replace(f'\\"{OPUS}\\"'.encode(), b'route(\\"a\\")')
    assert after == expected


def test_an_added_line_goes_into_the_cell_it_is_written_in():
    content = notebook_bytes([code(["import os\n", f'M = "{OPUS}"\n']), code(["f(model=M)\n"])])
    after = notebook.rewrite_code(content, lambda s: s.replace(b"import os\n", b"import os\nfrom r import route\n"))
    assert json.loads(after)["cells"][0]["source"] == ["import os\n", "from r import route\n", f'M = "{OPUS}"\n']


def test_a_rewrite_that_cannot_be_carried_back_says_why():
    content = notebook_bytes([code(["!ls\n", "x = 1\n"]), code(["y = 2\n"])])
    assert notebook.rewrite_code(content, lambda s: s.replace(b"pass\n", b"")) == "the change touches IPython syntax"
    assert (
        notebook.rewrite_code(content, lambda s: s.replace(b"x = 1\ny = 2\n", b"z = 3\n"))
        == "the change spans several cells"
    )
    assert notebook.rewrite_code(content, lambda s: s) == content


# --- through the console script --------------------------------------------------------


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "demo.ipynb").write_bytes(DEMO)
    (tmp_path / "mymod.py").write_text(MYMOD)
    return tmp_path


def test_check_reports_ids_and_calls_in_code_cells_by_cell(project):
    code_, data = run_json(cwd=project)
    assert code_ == 1
    found = {(f["rule"], f["path"], f.get("cell"), f["line"], f["column"]) for f in data["findings"]}
    assert found == {
        ("OG101", "demo.ipynb", 1, 4, 9),
        ("OG102", "demo.ipynb", 4, 3, 1),  # MODEL of cell 1
        ("OG102", "demo.ipynb", 5, 1, 1),  # SMART of mymod.py
        ("OG101", "mymod.py", None, 1, 9),
    }
    call = next(f for f in data["findings"] if f.get("cell") == 4)
    assert call["end_line"] == 4 and call["related"] == [{"path": "demo.ipynb", "line": 4, "column": 9, "cell": 1}]
    assert "written at demo.ipynb:cell 1:4" in call["message"]
    assert all("cell" not in f for f in data["findings"] if f["path"] == "mymod.py")  # Python keeps its shape
    text = run_cli("check", "--no-cache", cwd=project).stdout
    assert "demo.ipynb:cell 4:3:1: OG102" in text
    assert "    3 | client.messages.create(" in text


def test_a_finding_in_a_notebook_has_the_contract_s_keys_and_a_cell(project):
    _, data = run_json(cwd=project)
    keys = {
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
    for finding in data["findings"]:
        in_notebook = finding["path"].endswith(".ipynb")
        assert set(finding) == (keys | {"cell"} if in_notebook else keys)
        assert not in_notebook or (isinstance(finding["cell"], int) and finding["cell"] >= 1)


def test_sarif_github_and_baseline_name_the_cell(project):
    import jsonschema

    sarif = json.loads(run_cli("check", "--no-cache", "--format", "sarif", cwd=project).stdout)
    schema = json.loads((REPO / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(sarif)
    results = [
        r
        for r in sarif["runs"][0]["results"]
        if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "demo.ipynb"
    ]
    call = next(r for r in results if r["properties"]["cell"] == 4)
    assert call["locations"][0]["properties"] == {"cell": 4}
    assert call["locations"][0]["physicalLocation"]["region"]["startLine"] == 3
    assert call["message"]["text"].startswith("cell 4: ")
    assert call["relatedLocations"][0]["properties"] == {"cell": 1}
    github = run_cli("check", "--no-cache", "--format", "github", cwd=project).stdout
    assert any(
        line.startswith("::error file=demo.ipynb,line=3,col=1,") and "::cell 4: call sends" in line
        for line in github.splitlines()
    )
    assert run_cli("check", "--no-cache", "--write-baseline", "base.json", cwd=project).returncode == 0
    entries = json.loads((project / "base.json").read_text())["entries"]
    assert sorted(e.get("cell") for e in entries if e["path"] == "demo.ipynb") == [1, 4, 5]
    assert run_cli("check", "--no-cache", "--baseline", "base.json", cwd=project).returncode == 0
    # The same line moved to another cell is another finding.
    document = json.loads(DEMO)
    document["cells"].insert(4, code([f'MODEL = "{OPUS}"\n']))
    (project / "demo.ipynb").write_text(json.dumps(document, indent=1))
    result = run_cli("check", "--no-cache", "--baseline", "base.json", cwd=project)
    assert result.returncode == 1 and "demo.ipynb:cell 5:1:9: OG101" in result.stdout


def test_a_broken_notebook_is_one_og000_and_the_run_goes_on(project):
    (project / "broken.ipynb").write_text('{"cells": [{"cell_type": "code", "source": ["claude"]}\n')
    (project / "other.ipynb").write_bytes(notebook_bytes([code(["x = (\n"]), code([f'M = "{OPUS}"\n'])]))
    _, data = run_json(cwd=project)
    broken = [f for f in data["findings"] if f["rule"] == "OG000"]
    assert [(f["path"], f.get("cell"), f["line"]) for f in broken] == [("broken.ipynb", None, 2), ("other.ipynb", 1, 1)]
    assert "invalid notebook JSON" in broken[0]["message"]
    assert ("OG101", "other.ipynb", 2) in {(f["rule"], f["path"], f.get("cell")) for f in data["findings"]}
    assert ("OG102", "demo.ipynb", 4) in {(f["rule"], f["path"], f.get("cell")) for f in data["findings"]}


def test_notebooks_are_discovered_by_default_and_can_be_excluded(project):
    (project / "pyproject.toml").write_text('[tool.opusguard]\nextend-exclude = ["*.ipynb"]\n')
    _, data = run_json(cwd=project)
    assert {f["path"] for f in data["findings"]} == {"mymod.py"}


def test_a_notebook_without_a_fact_is_not_parsed(project):
    (project / "plain.ipynb").write_bytes(notebook_bytes([code(["print(1)\n"])]))
    _, data = run_json(cwd=project)
    assert data["summary"]["files_scanned"] == 3 and data["summary"]["files_parsed"] == 2


def test_a_cached_run_gives_the_same_cells_and_parses_nothing(project):
    # A notebook with a cell that does not parse is cached too (its other cells have facts).
    (project / "other.ipynb").write_bytes(notebook_bytes([code(["x = (\n"]), code([f'M = "{OPUS}"\n'])]))
    settle(project)
    first = run_cli("check", "--format", "json", cwd=project)
    second = run_cli("check", "--format", "json", cwd=project)
    assert json.loads(first.stdout)["findings"] == json.loads(second.stdout)["findings"]
    assert {f.get("cell") for f in json.loads(second.stdout)["findings"]} == {None, 1, 2, 4, 5}
    assert json.loads(second.stdout)["summary"]["files_parsed"] == 0


def test_changed_since_takes_a_changed_notebook(project):
    def git(*args):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "start")
    _, data = run_json("--changed-since", "HEAD", cwd=project)
    assert {f["path"] for f in data["findings"]} == {"demo.ipynb", "mymod.py"}


def test_report_prices_notebook_calls_by_cell(project):
    result = run_cli("report", "--no-cache", "--format", "json", cwd=project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    sites = data["sites"] if "sites" in data else data["inventory"]
    placed = sorted((s["path"], s.get("cell"), s["line"]) for s in sites)
    assert placed == [("demo.ipynb", 4, 3), ("demo.ipynb", 5, 1)]
    text = run_cli("report", "--no-cache", cwd=project, env={"COLUMNS": "200"}).stdout
    assert "demo.ipynb:cell 4:3" in text


def test_fix_rewrites_code_cells_and_leaves_every_other_byte(tmp_path):
    (tmp_path / "nb.ipynb").write_bytes(RICH)
    result = run_cli("fix", "--codemod", "--no-cache", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    after = (tmp_path / "nb.ipynb").read_bytes()
    document = json.loads(after)
    # The import goes after the imports at the top of the module: the first code cell.
    assert document["cells"][1]["source"][:4] == [
        "import anthropic\n",
        "from app.routing import route\n",
        "\n",
        "%matplotlib inline\n",
    ]
    assert (
        document["cells"][2]["source"]
        == 'resp = client.messages.create(model=route("nb"), max_tokens=5, messages=[])\nprint(resp)'
    )
    before_lines, after_lines = lines(RICH.decode()), lines(after.decode())
    added = [line for line in after_lines if line not in before_lines]
    removed = [line for line in before_lines if line not in after_lines]
    assert len(removed) == 1 and len(added) == 3  # the model's line, and the import with a blank line
    document["cells"][1]["source"][1:3] = []
    document["cells"][2]["source"] = json.loads(RICH)["cells"][2]["source"]
    assert (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode() == RICH
    assert "from nb.ipynb:cell 3:1" in (tmp_path / "opusguard.yaml").read_text()
    check = run_json(cwd=tmp_path)[1]
    assert [(f["rule"], f.get("cell"), f["line"]) for f in check["findings"]] == [
        ("OG101", 2, 6)
    ]  # MODEL, sent by no call


def test_fix_lists_a_cell_it_cannot_rewrite_for_a_person(tmp_path):
    content = notebook_bytes(
        [
            code([f'M = "{OPUS}"\n']),
            code(["import anthropic\n", "anthropic.Anthropic().messages.create(model=M, max_tokens=5, messages=[])\n"]),
        ]
    )
    (tmp_path / "nb.ipynb").write_bytes(content)
    result = run_cli("fix", "--codemod", "--diff", "--no-cache", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # Routing at the call of cell 2 needs an import in cell 1's place at the top: it is carried
    # into cell 2 (the first statement it precedes), never a reason to fail.
    assert "needs a person" not in result.stderr
    assert '+    "from app.routing import route\\n",' in result.stdout


def test_the_pre_commit_hooks_take_notebooks():
    import identify.identify
    import yaml

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    tags = identify.identify.tags_from_filename("analysis.ipynb")
    assert all(set(hook["types_or"]) & tags for hook in hooks)


def test_annotations_in_code_cells_apply_to_their_lines(tmp_path):
    from helpers import check_tree

    content = notebook_bytes(
        [
            code([f'A = "{OPUS}"  # opusguard: ignore[OG101]\n']),
            code(["# opusguard: ignore[OG105]\n", f'B = "{HAIKU}"\n']),  # nothing to ignore there
        ]
    )
    result = check_tree(tmp_path, {"nb.ipynb": content.decode()}, select=["OG101"])
    assert [(f.rule, f.cell, f.line) for f in result.findings] == [("OG101", 2, 2)]
    assert [(f.rule, f.cell, f.line) for f in result.unused_ignores] == [("OG100", 2, 1)]


def test_what_fix_leaves_in_a_notebook_is_counted_as_a_check_then_finds_it(tmp_path):
    """The plan counts lines of the joined cells, findings lines inside a cell: both
    must meet, or the rewritten cells' findings are counted as left."""
    (tmp_path / "nb.ipynb").write_bytes(
        notebook_bytes(
            [
                markdown("# intro"),
                code('PROMPT = "hi"\n'),
                code(
                    f'import anthropic\nclient = anthropic.Anthropic()\nclient.messages.create(model="{HAIKU}", max_tokens=5, messages=[])\n'
                ),
                code(f'CATALOGUE = ["{OPUS}"]\n'),
            ]
        )
    )
    result = run_cli("fix", "--codemod", "--no-cache", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 call site(s) routed" in result.stderr
    left = int(result.stderr.split("left after the fix: ")[1].split(" ")[0])
    check = run_cli("check", "--no-cache", cwd=tmp_path)
    assert f": {left} finding" in check.stdout.splitlines()[-1], (result.stderr, check.stdout)
