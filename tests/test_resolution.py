"""Every way a model reaches a call, resolved statically to the call that sends it (OG102)."""

from __future__ import annotations

import pytest
from helpers import check_sources

OPUS = "claude-opus-4-1-20250805"
SONNET = "claude-sonnet-4-5-20250929"
CALL = "import anthropic\nclient = anthropic.Anthropic()\n"

# (id, files, path:line of the call that must be flagged)
CASES = [
    (
        "literal at the call",
        {"app/a.py": CALL + f'client.messages.create(model="{OPUS}", messages=[])\n'},
        "app/a.py:3",
    ),
    ("module constant", {"app/a.py": CALL + f'M = "{OPUS}"\nclient.messages.create(model=M)\n'}, "app/a.py:4"),
    (
        "from pkg.config import MODEL",
        {
            "pkg/__init__.py": "",
            "pkg/config.py": f'MODEL = "{OPUS}"\n',
            "pkg/a.py": CALL + "from pkg.config import MODEL\nclient.messages.create(model=MODEL)\n",
        },
        "pkg/a.py:4",
    ),
    (
        "import pkg.config as c",
        {
            "pkg/__init__.py": "",
            "pkg/config.py": f'MODEL = "{OPUS}"\n',
            "pkg/a.py": CALL + "import pkg.config as c\nclient.messages.create(model=c.MODEL)\n",
        },
        "pkg/a.py:4",
    ),
    (
        "import pkg.config (dotted access)",
        {
            "pkg/__init__.py": "",
            "pkg/config.py": f'MODEL = "{OPUS}"\n',
            "pkg/a.py": CALL + "import pkg.config\nclient.messages.create(model=pkg.config.MODEL)\n",
        },
        "pkg/a.py:4",
    ),
    (
        "relative import from .config",
        {
            "pkg/__init__.py": "",
            "pkg/config.py": f'MODEL = "{OPUS}"\n',
            "pkg/a.py": CALL + "from .config import MODEL as M\nclient.messages.create(model=M)\n",
        },
        "pkg/a.py:4",
    ),
    (
        "relative import from ..settings",
        {
            "pkg/__init__.py": "",
            "pkg/settings.py": f'MODEL = "{OPUS}"\n',
            "pkg/sub/__init__.py": "",
            "pkg/sub/a.py": CALL + "from ..settings import MODEL\nclient.messages.create(model=MODEL)\n",
        },
        "pkg/sub/a.py:4",
    ),
    (
        "re-export through __init__",
        {
            "pkg/__init__.py": "from pkg.config import MODEL\n",
            "pkg/config.py": f'MODEL = "{OPUS}"\n',
            "app.py": CALL + "from pkg import MODEL\nclient.messages.create(model=MODEL)\n",
        },
        "app.py:4",
    ),
    (
        "a chain across three files",
        {
            "pkg/__init__.py": "",
            "pkg/base.py": f'OPUS = "{OPUS}"\n',
            "pkg/config.py": "from pkg.base import OPUS\nSMART = OPUS\n",
            "pkg/a.py": CALL + "from pkg.config import SMART\nclient.messages.create(model=SMART)\n",
        },
        "pkg/a.py:4",
    ),
    (
        "src/ layout",
        {
            "src/app/__init__.py": "",
            "src/app/config.py": f'MODEL = "{OPUS}"\n',
            "src/app/a.py": CALL + "from app.config import MODEL\nclient.messages.create(model=MODEL)\n",
        },
        "src/app/a.py:4",
    ),
    (
        "class attribute via self.",
        {
            "a.py": CALL
            + f'class Bot:\n    MODEL = "{OPUS}"\n    def run(self):\n        return client.messages.create(model=self.MODEL)\n'
        },
        "a.py:6",
    ),
    (
        "class attribute via cls.",
        {
            "a.py": CALL
            + f'class Bot:\n    MODEL = "{OPUS}"\n    @classmethod\n    def run(cls):\n        return client.messages.create(model=cls.MODEL)\n'
        },
        "a.py:7",
    ),
    (
        "class attribute via ClassName.",
        {"a.py": CALL + f'class Bot:\n    MODEL = "{OPUS}"\nclient.messages.create(model=Bot.MODEL)\n'},
        "a.py:5",
    ),
    (
        "instance attribute from an __init__ default",
        {
            "a.py": CALL
            + f'class Bot:\n    def __init__(self, model="{OPUS}"):\n        self.model = model\n    def run(self):\n        return client.messages.create(model=self.model)\n'
        },
        "a.py:7",
    ),
    (
        "inherited class attribute across files",
        {
            "base.py": f'class Base:\n    MODEL = "{OPUS}"\n',
            "a.py": CALL
            + "from base import Base\nclass Bot(Base):\n    def run(self):\n        return client.messages.create(model=self.MODEL)\n",
        },
        "a.py:6",
    ),
    (
        "subclass override",
        {
            "a.py": CALL
            + f'class Base:\n    MODEL = "{SONNET}"\n    def run(self):\n        return client.messages.create(model=self.MODEL)\n'
            f'class Deep(Base):\n    MODEL = "{OPUS}"\n'
        },
        "a.py:6",
    ),
    (
        "subclass override, the base imported under another name",
        {
            "a.py": CALL
            + f'class Base:\n    MODEL = "{SONNET}"\n    def run(self):\n        return client.messages.create(model=self.MODEL)\n',
            "b.py": f'from a import Base as Parent\nclass Deep(Parent):\n    MODEL = "{OPUS}"\n',
        },
        "a.py:6",
    ),
    (
        "subclass override, the base through its module",
        {
            "a.py": CALL
            + f'class Base:\n    MODEL = "{SONNET}"\n    def run(self):\n        return client.messages.create(model=self.MODEL)\n',
            "b.py": f'import a\nclass Deep(a.Base):\n    MODEL = "{OPUS}"\n',
        },
        "a.py:6",
    ),
    (
        "subclass override, the base through an alias",
        {
            "a.py": CALL
            + f'class Base:\n    MODEL = "{SONNET}"\n    def run(self):\n        return client.messages.create(model=self.MODEL)\n',
            "b.py": f'from a import Base\nAlias = Base\nclass Deep(Alias):\n    MODEL = "{OPUS}"\n',
        },
        "a.py:6",
    ),
    (
        "Enum member",
        {
            "a.py": CALL
            + f'from enum import Enum\nclass M(str, Enum):\n    OPUS = "{OPUS}"\nclient.messages.create(model=M.OPUS)\n'
        },
        "a.py:6",
    ),
    (
        "Enum member .value, imported",
        {
            "models.py": f'import enum\nclass M(enum.Enum):\n    OPUS = "{OPUS}"\n',
            "a.py": CALL + "from models import M\nclient.messages.create(model=M.OPUS.value)\n",
        },
        "a.py:4",
    ),
    (
        "Enum lookup by name",
        {
            "a.py": CALL
            + f'from enum import Enum\nclass M(Enum):\n    OPUS = "{OPUS}"\nclient.messages.create(model=M["OPUS"].value)\n'
        },
        "a.py:6",
    ),
    (
        "dict subscript with a constant key",
        {
            "a.py": CALL
            + f'MODELS = {{"smart": "{OPUS}", "fast": "{SONNET}"}}\nclient.messages.create(model=MODELS["smart"])\n'
        },
        "a.py:4",
    ),
    (
        "dict .get with a constant key, from another module",
        {
            "cfg.py": f'MODELS = {{"smart": "{OPUS}"}}\n',
            "a.py": CALL + 'import cfg\nclient.messages.create(model=cfg.MODELS.get("smart"))\n',
        },
        "a.py:4",
    ),
    (
        "nested dict",
        {"a.py": CALL + f'CFG = {{"llm": {{"model": "{OPUS}"}}}}\nclient.messages.create(model=CFG["llm"]["model"])\n'},
        "a.py:4",
    ),
    (
        "function parameter default",
        {"a.py": CALL + f'def ask(prompt, model="{OPUS}"):\n    return client.messages.create(model=model)\n'},
        "a.py:4",
    ),
    (
        "parameter default from a constant",
        {
            "a.py": CALL
            + f'OPUS = "{OPUS}"\ndef ask(prompt, *, model=OPUS):\n    return client.messages.create(model=model)\n'
        },
        "a.py:5",
    ),
    (
        "local variable",
        {"a.py": CALL + f'def ask():\n    chosen = "{OPUS}"\n    return client.messages.create(model=chosen)\n'},
        "a.py:5",
    ),
    (
        "os.getenv default",
        {"a.py": CALL + f'import os\nclient.messages.create(model=os.getenv("SMART", "{OPUS}"))\n'},
        "a.py:4",
    ),
    (
        "os.environ.get default through a constant",
        {"a.py": CALL + f'import os\nM = os.environ.get("SMART", "{OPUS}")\nclient.messages.create(model=M)\n'},
        "a.py:5",
    ),
    (
        "os.environ.setdefault default",
        {"a.py": CALL + f'import os\nM = os.environ.setdefault("SMART", "{OPUS}")\nclient.messages.create(model=M)\n'},
        "a.py:5",
    ),
    (
        "from os import getenv",
        {"a.py": CALL + f'from os import getenv\nclient.messages.create(model=getenv("SMART", default="{OPUS}"))\n'},
        "a.py:4",
    ),
    (
        "f-string with a fixed Opus prefix",
        {"a.py": CALL + 'V = load()\nclient.messages.create(model=f"claude-opus-4-{V}")\n'},
        "a.py:4",
    ),
    (
        "concatenation with a fixed prefix",
        {"a.py": CALL + 'DATE = "20250805"\nclient.messages.create(model="claude-opus-4-1-" + DATE)\n'},
        "a.py:4",
    ),
    (
        "bedrock region prefix concatenated",
        {
            "a.py": 'import boto3\nbr = boto3.client("bedrock-runtime")\nREGION = "us"\n'
            f'br.converse(modelId=f"{{REGION}}.anthropic.{OPUS}-v1:0", messages=[])\n'
        },
        "a.py:4",
    ),
    (
        "one of two branches",
        {"a.py": CALL + f'if PROD:\n    M = "{OPUS}"\nelse:\n    M = "{SONNET}"\nclient.messages.create(model=M)\n'},
        "a.py:7",
    ),
    (
        "conditional expression",
        {"a.py": CALL + f'client.messages.create(model="{OPUS}" if hard else "{SONNET}")\n'},
        "a.py:3",
    ),
    (
        "pydantic settings Field default",
        {
            "a.py": CALL
            + f'from pydantic import BaseModel, Field\nclass S(BaseModel):\n    model: str = Field(default="{OPUS}")\n'
            "def go(s: S):\n    pass\nclient.messages.create(model=S.model)\n"
        },
        "a.py:8",
    ),
    (
        "dataclass field default",
        {
            "a.py": CALL
            + f'from dataclasses import dataclass, field\n@dataclass\nclass S:\n    model: str = "{OPUS}"\n'
            "    def go(self):\n        return client.messages.create(model=self.model)\n"
        },
        "a.py:8",
    ),
]


@pytest.mark.parametrize(("files", "where"), [pytest.param(f, w, id=i) for i, f, w in CASES])
def test_opus_is_followed_to_the_call(tmp_path, files, where):
    result = check_sources(files, select={"OG102"})
    flagged = {f"{f.path}:{f.line}" for f in result.findings}
    assert flagged == {where}


def test_related_location_points_at_the_literal(tmp_path):
    files = {
        "pkg/__init__.py": "",
        "pkg/config.py": f'\n\nMODEL = "{OPUS}"\n',
        "pkg/a.py": CALL + "from pkg.config import MODEL\nclient.messages.create(model=MODEL)\n",
    }
    result = check_sources(files, select={"OG102"})
    (finding,) = result.findings
    assert [(r.path, r.line, r.column) for r in finding.related] == [("pkg/config.py", 3, 9)]
    assert finding.model == OPUS and finding.tier == "opus"


def test_sonnet_constants_are_not_opus(tmp_path):
    files = {"a.py": CALL + f'M = "{SONNET}"\nclient.messages.create(model=M)\n'}
    assert check_sources(files, select={"OG102"}).findings == []


@pytest.mark.parametrize(
    ("source", "origin"),
    [
        ('import os\nclient.messages.create(model=os.environ["SMART_MODEL"])\n', "env var SMART_MODEL"),
        ('import os\nclient.messages.create(model=os.getenv("SMART_MODEL"))\n', "env var SMART_MODEL"),
        ("def ask(model):\n    return client.messages.create(model=model)\n", "parameter 'model' of ask()"),
        ("client.messages.create(model=settings['model'])\n", "settings"),
        ("client.messages.create(model=load_config().model)\n", "load_config"),
        ("client.messages.create(model=request.json['model'])\n", "request"),
    ],
)
def test_unknowable_models_are_unresolved_never_guessed(tmp_path, source, origin):
    result = check_sources({"a.py": CALL + source}, select={"OG102", "OG106"})
    assert [f.rule for f in result.findings] == ["OG106"]
    assert origin in result.findings[0].message
    assert result.summary.model_calls["unresolved"] == 1


def test_a_generic_call_with_an_unknown_model_is_not_a_claude_call(tmp_path):
    source = "import openai\nopenai.chat.completions.create(model=os.environ['M'])\n"
    result = check_sources({"a.py": source}, select={"OG106"})
    assert result.findings == []


def test_circular_constants_do_not_hang(tmp_path):
    files = {
        "a.py": "from b import X\nY = X\n",
        "b.py": "from a import Y\nX = Y\n",
        "c.py": CALL + "from a import Y\nclient.messages.create(model=Y)\n",
    }
    result = check_sources(files, select={"OG102", "OG106"})
    assert [f.rule for f in result.findings] == ["OG106"]


def test_nearest_module_wins_when_names_collide(tmp_path):
    files = {
        "svc1/config.py": f'MODEL = "{OPUS}"\n',
        "svc1/a.py": CALL + "from config import MODEL\nclient.messages.create(model=MODEL)\n",
        "svc2/config.py": f'MODEL = "{SONNET}"\n',
        "svc2/a.py": CALL + "from config import MODEL\nclient.messages.create(model=MODEL)\n",
    }
    result = check_sources(files, select={"OG102"})
    assert {f.path for f in result.findings} == {"svc1/a.py"}


def test_partial_ids_say_what_is_known(tmp_path):
    files = {"a.py": CALL + 'V = load()\nclient.messages.create(model=f"claude-opus-4-{V}")\n'}
    (finding,) = check_sources(files, select={"OG102"}).findings
    assert "an Opus model built from 'claude-opus-4-…'" in finding.message
