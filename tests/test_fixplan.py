"""Fix plans on findings: `check` attaches the edits `fix --codemod` makes, `fix` applies
them, `report` names tasks from them without the codemod, and the import libcst's
AddImportsVisitor would add is added the same way without it."""

from __future__ import annotations

import subprocess
import sys

import libcst as cst
import pytest
from helpers import check_tree
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from opusguard.fix.codemod import add_from_import, compute_fix
from opusguard.rules.findings import FixPlan

POLICY = """\
version: 1
router: app.routing:route
tasks:
  classify:
    tier: haiku
"""

FILES = {
    "app/__init__.py": "",
    "app/config.py": 'SMART = "claude-opus-4-1-20250805"\n',
    "app/bot.py": (
        "import anthropic\n"
        "from app.config import SMART\n"
        "client = anthropic.Anthropic()\n"
        "def summarize_ticket(text):\n"
        "    return client.messages.create(\n"
        "        model=SMART, max_tokens=5, messages=[])\n"
        "def label(text):\n"
        '    return client.messages.create(model="claude-haiku-4-5-20251001", max_tokens=5, messages=[])\n'
    ),
}


def test_findings_carry_the_edits_fix_applies(tmp_path):
    result = check_tree(tmp_path, FILES, policy=POLICY)
    og102 = next(f for f in result.findings if f.rule == "OG102")
    assert og102.fix == [
        FixPlan("app/bot.py", (6, 15, 6, 20), "summarize-ticket", 'route("summarize-ticket")', "app.routing", "route")
    ]
    literal = next(f for f in result.findings if f.rule == "OG101" and f.path == "app/bot.py")
    assert [(p.span, p.task, p.call) for p in literal.fix] == [((8, 41, 8, 68), "classify", 'route("classify")')]
    # The constant in config.py is sent through an argument that is rewritten: its finding has no edit of its own.
    constant = next(f for f in result.findings if f.rule == "OG101" and f.path == "app/config.py")
    assert constant.fix == []
    fix = compute_fix(
        result.analysis.project, result.analysis.sources, policy_path=tmp_path / "opusguard.yaml", cwd=tmp_path
    )
    applied = sorted((r.path, r.span, r.task) for r in fix.plan.rewrites)
    found = sorted({(p.path, p.span, p.task) for f in result.findings for p in f.fix})
    assert applied == found
    after = fix.changed["app/bot.py"][1].decode()
    assert 'model=route("summarize-ticket")' in after and 'model=route("classify")' in after
    assert after.count("from app.routing import route\n") == 1


def test_test_code_findings_carry_no_edit(tmp_path):
    files = {
        "tests/test_bot.py": 'import anthropic\nanthropic.Anthropic().messages.create(model="claude-opus-4-1-20250805")\n'
    }
    result = check_tree(tmp_path, files, policy=POLICY)
    assert {f.rule for f in result.findings} >= {"OG101", "OG102"}
    assert all(f.fix == [] for f in result.findings)  # fix leaves test code alone unless --include-tests


def test_report_never_imports_the_codemod(tmp_path):
    (tmp_path / "a.py").write_text('import anthropic\nanthropic.Anthropic().messages.create(model="claude-opus-4-1")\n')
    code = (
        "import sys\nfrom opusguard.cli.main import main\n"
        "try:\n    main.main(['report', '--format', 'json', '--no-cache', '.'], standalone_mode=False)\n"
        "except SystemExit:\n    pass\n"
        "print('codemod' if 'opusguard.fix.codemod' in sys.modules else 'clean', file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert '"task": "a"' in run.stdout or '"a"' in run.stdout, run.stderr
    assert run.stderr.strip().splitlines()[-1] == "clean"


SOURCES = [
    "x = 1\n",
    '"""Doc."""\nx = 1\n',
    '"""Doc."""\nimport os\nfrom a import b\n# note\ny = 2\n',
    "__strict__ = True\nimport os\n\nz = 3\n",
    "from app.routing import other\nx = 1\n",
    "from app.routing import (\n    other,\n)\nx = 1\n",
    "from app.routing import route\nx = 1\n",
    "from app.routing import route as r\nx = 1\n",
    "from app.routing import *\nx = 1\n",
    "import os\nx = 1\nfrom app.routing import other\n",
    "import os; import sys\nx = 1\n",
    "from . import routing\nfrom .routing import other\nx = 1\n",
    "from app.routing import a\nfrom app.routing import b\n",
    "from __future__ import annotations\n# comment\n\nimport os\n",
    "",
    "# only a comment\n",
    "if True:\n    from app.routing import route\n",
    '"a" "b"\nx = 1\n',
    "\r\nimport os\r\nx = 1\r\n",
]


@pytest.mark.parametrize("source", SOURCES)
def test_the_import_is_added_as_libcsts_add_imports_visitor_adds_it(source):
    module = cst.parse_module(source)
    context = CodemodContext()
    AddImportsVisitor.add_needed_import(context, "app.routing", "route")
    expected = AddImportsVisitor(context).transform_module(module).code
    assert add_from_import(module, "app.routing", "route").code == expected


def test_edits_in_decorators_and_parameter_defaults_on_later_lines_are_applied(tmp_path):
    """Only the statements on an edit's lines are walked: a decorator above its `def` and a
    default on a line of its own (a parameter's position does not cover its default) count."""
    files = {
        "app/agents.py": (
            "import anthropic\n"
            "from pydantic_ai import Agent\n"
            "client = anthropic.Anthropic()\n"
            "X = 1\n"
            '@agent_tool(model="claude-haiku-4-5-20251001")\n'
            "def first():\n"
            "    return X\n"
            "def ask(\n"
            "    text,\n"
            '    model="claude-opus-4-1-20250805",\n'
            "):\n"
            "    return client.messages.create(model=model, max_tokens=5, messages=[])\n"
            "Y = 2\n"
        )
    }
    result = check_tree(tmp_path, files, policy=POLICY)
    fix = compute_fix(
        result.analysis.project, result.analysis.sources, policy_path=tmp_path / "opusguard.yaml", cwd=tmp_path
    )
    after = fix.changed["app/agents.py"][1].decode()
    assert '@agent_tool(model=route("classify"))' in after
    assert '    model=route("ask"),\n' in after
    assert after.count('"claude-') == 0 and after.endswith("Y = 2\n")


def test_the_starter_task_names_are_those_yaml_reads():
    import yaml

    from opusguard.policy.scaffold import ROUTER_CHOICES, starter_policy_text
    from opusguard.rules.fixplan import starter_task_names

    expected = frozenset(yaml.safe_load(starter_policy_text(ROUTER_CHOICES[0]))["tasks"])
    assert expected and starter_task_names() == expected
