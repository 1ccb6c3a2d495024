"""Cutting irrelevant functions and statements before parsing (slicing.py) never
changes what is found.

The strongest checks are at the end: on real installed code, with model calls
injected into random functions, the facts from the cut text equal the facts from
the whole file (less the names the cuts record), and the findings are the same
with slicing turned off.
"""

from __future__ import annotations

import random
from pathlib import Path

import click
import libcst
import pytest
from helpers import as_data, check_tree

from opusguard.policy.catalog import load_catalog
from opusguard.resolve.join import with_name_parsed
from opusguard.select import parse, selection

OPUS = "claude-opus-4-1-20250805"
CATALOG = load_catalog()


def is_model_id(text: str) -> bool:
    return CATALOG.recognize(text) is not None


def cut(source: str) -> selection.SlicedSource | None:
    return selection.select_statements(source.encode())


def facts(source: bytes, *, cut_bodies: bool):
    return parse.facts_of(source, "m.py", is_model_id=is_model_id, cut_bodies=cut_bodies)


def comparable(file_facts, *, cut_attributes=None, cut_names=frozenset(), kept_lines=None) -> dict:
    """Facts as a dict, less what a cut function may hide (its parameters, and in
    its body imports, nested functions and classes, and the attributes it assigns)
    and the names and class attributes bound by cut statements."""
    data = as_data(file_facts)
    data.pop("cut_attributes")
    data.pop("cut_names")
    data["bindings"] = {k: v for k, v in data["bindings"].items() if k not in cut_names}
    functions = data["functions"]
    data["function_names"] = set(functions)

    def nested_in_function(qualname: str) -> bool:
        parts = qualname.split(".")
        return any(".".join(parts[:i]) in functions for i in range(1, len(parts)))

    data["function_names"] = {k for k in functions if not nested_in_function(k)}
    data.pop("functions")
    data["classes"] = {k: v for k, v in data["classes"].items() if not nested_in_function(k)}
    for qualname, cls in data["classes"].items():
        cut = (cut_attributes or {}).get(qualname, ())
        cls["attrs"] = {k: v for k, v in cls["attrs"].items() if k not in cut}
    if kept_lines is not None:
        data["imports"] = [i for i in data["imports"] if i["span"][0] in kept_lines]
    return data


def assert_same_facts(source: bytes, whole=None) -> selection.SlicedSource | None:
    """`whole`: the facts of the whole file, when the caller has them already."""
    if whole is None:
        whole = facts(source, cut_bodies=False)
    sliced_facts = facts(source, cut_bodies=True)
    sliced = selection.select_statements(source)
    kept = None
    if sliced is not None:  # file lines that stand in the cut text as themselves (not as a stub)
        original = source.splitlines()
        kept = {line for line, text in zip(sliced.line_map, sliced.text.splitlines()) if text == original[line - 1]}
    attributes, names = sliced_facts.cut_attributes, sliced_facts.cut_names
    assert comparable(sliced_facts, cut_attributes=attributes, cut_names=names) == comparable(
        whole, cut_attributes=attributes, cut_names=names, kept_lines=kept
    )
    for name, params in sliced_facts.functions.items():  # a kept function keeps its parameters
        assert params in ((), whole.functions[name]), name
    return sliced


# --- what is cut ---------------------------------------------------------------------


def test_irrelevant_bodies_are_cut_and_lines_map_back():
    source = (
        "import anthropic\n"  # 1
        "\n"
        "def helper(x, y=2):\n"  # 3
        "    total = x + y\n"
        "    return total\n"
        "\n"
        "def ask(q):\n"  # 7
        f'    return anthropic.Anthropic().messages.create(model="{OPUS}", messages=[])\n'  # 8
    )
    sliced = cut(source)
    assert sliced is not None
    text = sliced.text.decode()
    # The body goes first, then the stub it leaves; the facts still name the function.
    assert "total" not in text and "helper" not in text and sliced.cut_functions == {"helper"}
    assert OPUS in text
    libcst.parse_module(sliced.text)
    call_line = text.splitlines().index(
        f'    return anthropic.Anthropic().messages.create(model="{OPUS}", messages=[])'
    )
    assert sliced.line_map[call_line] == 8
    found = facts(source.encode(), cut_bodies=True)
    assert [c.span[0] for c in found.calls] == [8]
    assert "helper" in found.functions and found.functions["ask"] == ("q",)


@pytest.mark.parametrize(
    "source",
    [
        # a string whose lines start at column 0 is not the end of the body
        'def f():\n    s = """\nx = 1\ndef g():\n"""\n    return s\nX = f\n',
        # a multi-line signature whose closing parenthesis sits at the def's indent
        "def f(\n    a: int = 1,\n    b: str = ':',\n) -> dict[str, int]:\n    return {}\nX = 1\n",
        # decorators, async, methods, one-liners, comments with quotes
        "import functools\n@functools.cache\n@functools.wraps(\n    print\n)\nasync def f():\n    # it's\n    return 1\n"
        "class A:\n    @property\n    def p(self): return 2\n    def q(self):\n        return 3\n",
        # backslash continuation at a lower indent
        "def f():\n    x = 1 + \\\n2\n    return x\nY = 2\n",
        # CRLF line endings and tabs
        "def f():\r\n\tx = 1\r\n\treturn x\r\nZ = 3\r\n",
        # defs nested in module-level blocks
        "import sys\nif sys.version_info > (3,):\n    def f():\n        return 1\nelse:\n    def f():\n        return 2\n",
    ],
    ids=["string-at-column-0", "multiline-signature", "decorators", "backslash", "crlf-tabs", "if-else"],
)
def test_awkward_syntax_is_cut_to_valid_code_with_the_same_facts(source):
    sliced = assert_same_facts(source.encode())
    assert sliced is not None
    libcst.parse_module(sliced.text)  # no fallback was needed


def test_statements_with_a_trigger_are_kept_with_their_function_header():
    for body in (
        f'    m = "{OPUS}"',
        "    llm(model=m)",
        "    client.messages.stream(**kw)",
        '    route("classify")',
        "    x = 1  # opusguard: ignore",
        "    ChatAnthropic(m)",
    ):
        source = f"def f(m, kw):\n    unrelated = 2\n{body}\n    return 1\n"
        sliced = cut(source)
        assert sliced.text.decode() == f"def f(m, kw):\n{body}\n", body
        assert sliced.line_map[:2] == (1, 3)
        assert_same_facts(source.encode())


def test_a_bracket_below_the_body_indent_is_no_end_of_the_body():
    # Lines are chosen from CPython's tree, not from indentation: `1, 2]` at column
    # 0 is inside the bracket, and the kept text parses.
    source = f'import anthropic\ndef f():\n    x = [\n1, 2]\n    return x\nM = "{OPUS}"\n'.encode()
    sliced = selection.select_statements(source)
    assert sliced is not None and b"1, 2]" not in sliced.text
    libcst.parse_module(sliced.text)
    assert_same_facts(source)


@pytest.mark.parametrize("source", ["def f(:\n    pass\n", "s = '''never closed\ndef f():\n    pass\n", "import os\n"])
def test_odd_or_broken_files_are_left_to_the_whole_parse(source):
    assert cut(source) is None


def test_lone_carriage_returns_are_left_to_the_whole_parse():
    # Python ends a line at a lone CR; the line map counts LF only.
    assert cut("def f():\r    x = 1\rdef g():\n    return 2\n") is None
    assert cut("def f():\r\n    x = 1\r\n") is not None


def test_non_ascii_names_and_other_encodings():
    # CPython's parser reads "Aª" as "Aa" (NFKC); the facts keep the name as written.
    sliced = cut("class K:\n    def Aª(self):\n        self.ñame = 1\nfﬁ = 1\n")
    assert sliced.text == b"class K:\n    pass\n" and sliced.cut_attributes == {"K": {"ñame"}}
    assert sliced.cut_functions == {"K.Aª"} and sliced.cut_names == {"fﬁ"}
    assert "K.Aª" in facts("class K:\n    def Aª(self):\n        self.ñame = 1\n".encode(), cut_bodies=True).functions
    latin1 = "# -*- coding: latin-1 -*-\nclass K:\n    def f(self):\n        self.ñ = 'é'\n".encode("latin-1")
    assert selection.select_statements(latin1) is None  # parsed whole
    assert facts(latin1, cut_bodies=True).classes["K"].attrs["ñ"].text == "é"


def test_attributes_assigned_in_cut_bodies_are_named():
    sliced = cut(
        "class A:\n    def __init__(self, x):\n        self.a, self.b = x, 1\n"
        "        self.c: int = 3\n        self.d += 1\n        self.e = self.f = x\n        print(self.g == 1)\n"
        "        (self.h) = [self.i, self.j] = 1, 2\n        self . k = self.\\\n  l = 1\n"
    )
    assert {"a", "b", "c", "d", "e", "f", "h", "i", "j", "k", "l"} <= sliced.cut_attributes["A"]
    assert "g" not in sliced.cut_attributes["A"]


def test_cut_attributes_are_those_of_the_class_whose_method_assigns_them():
    # The facts take `self.x = ...` for a class's attribute only in its own methods'
    # code (through their first parameter), not in a function nested in one, nor in
    # another class's or a module-level function: the resolver asks only for those.
    source = (
        "class A:\n"
        "    def run(me, other):\n"
        f'        client.messages.create(model="{OPUS}")\n'
        "        me.kept = other.not_a = 1\n"
        "        def inner(self):\n"
        "            self.nested = 1\n"
        "    def cut(this, *, other):\n"
        "        this.a = 1\n"
        "    def kwonly(*, first):\n"
        "        first.b = 1\n"
        "    class B:\n"
        "        def __init__(self):\n"
        "            self.c = 1\n"
        "    attribute = 1\n"
        "def module_level(self):\n"
        "    self.d = 1\n"
    )
    sliced = cut(source)
    assert sliced.cut_attributes == {"A": {"kept", "a", "b", "attribute"}, "A.B": {"c"}}
    assert_same_facts(source.encode())


def test_module_and_class_statements_without_a_trigger_are_cut():
    source = (
        '"""Docs."""\n'  # 1
        "from __future__ import annotations\n"
        "import os\n"
        "LANG = {\n"  # 4
        "    'af': 1,\n"
        "}\n"
        "A, (B, *C) = 1, (2, 3)\n"  # 7
        f'M = "{OPUS}"\n'  # 8
        "Alias = os.path\n"  # 9: an alias is kept
        "T: int = 1\n"  # 10: annotated with a value: cut like an assignment
        "class K:\n"
        '    """Docs."""\n'
        "    x = [1,\n"  # 13
        "         2]\n"
        "    u: int\n"  # 15: a bare annotation binds nothing: kept (a field's place)
        "    def f(self):\n"
        "        return 1\n"
        "x = 1; y = 2\n"  # 18: shares its line, kept
        "os.environ['A'] = 'b'\n"  # 19: through a subscript, kept
    )
    sliced = cut(source)
    text = sliced.text.decode()
    assert text.startswith("from __future__ import annotations\n")  # the docstring is gone
    compile(sliced.text, "m.py", "exec")  # still valid Python, the future import included
    assert "LANG" not in text and "'af'" not in text and "A, (B" not in text and "x = [1" not in text
    for kept in (f'M = "{OPUS}"', "Alias = os.path", "x = 1; y = 2", "os.environ['A'] = 'b'"):
        assert kept in text
    assert "T: int" not in text
    assert sliced.cut_names == {"LANG", "A", "B", "C", "T"} and sliced.cut_attributes == {"K": {"x"}}
    assert "class K:\n    u: int\n" in text and sliced.cut_functions == {"K.f"}
    lines = text.splitlines()
    assert sliced.line_map[lines.index(f'M = "{OPUS}"')] == 8
    assert sliced.line_map[lines.index("x = 1; y = 2")] == 18
    assert_same_facts(source.encode())


def test_statements_are_cut_in_files_without_functions_too():
    sliced = cut("X = {\n    1: 2,\n}\nprint(X)\n")
    assert sliced is not None and sliced.text == b"" and sliced.cut_names == {"X"}


def test_stubs_blank_lines_and_comments_between_statements_are_removed():
    source = (
        "# -*- coding: utf-8 -*-\n"  # 1: before the first statement, kept (an encoding line)
        "import os\n"
        "\n"
        "# a comment between statements\n"
        "def helper(x):\n"  # 5
        "    return x\n"
        "\n"
        "\n"
        "class K:\n"  # 9
        "    def ask(self):\n"
        "\n"  # 11: inside a kept body, kept
        f'        return llm(model="{OPUS}")\n'
        "\n"
        "    def other(self): ...\n"  # 14: written so by hand, the same as a stub
        '    s = """\n'  # 15: a string's blank line is its text
        "\n"
        '    """ + "claude"\n'
    )
    sliced = cut(source)
    assert sliced.text.decode() == (
        "# -*- coding: utf-8 -*-\nimport os\nclass K:\n    def ask(self):\n\n"
        f'        return llm(model="{OPUS}")\n    s = """\n\n    """ + "claude"\n'
    )
    assert sliced.line_map == (1, 2, 9, 10, 11, 12, 15, 16, 17, 18)
    assert sliced.cut_functions == {"helper", "K.other"}
    assert_same_facts(source.encode())


def test_a_function_defined_twice_keeps_its_stubs_in_order():
    # A property and its setter: one qualified name, two definitions. The facts
    # record the last; recording cut ones by name would lose which came last.
    source = (
        "class A:\n"
        "    @property\n    def x(self):\n        return self._x\n"
        "    @x.setter\n    def x(self, value):\n        self._x = value\n"
        "def f(a):\n    return a\n"
        "if a:\n    def g(): ...\nelse:\n    def g(): ...\n"
    )
    sliced = cut(source)
    assert sliced.text.decode().count("def x(): ...") == 2
    assert sliced.cut_functions == {"f"}
    assert_same_facts(source.encode())


def test_a_file_cpython_cannot_parse_keeps_its_statements():
    # Newer syntax than this Python, or broken: libcst parses it, or reports it.
    assert cut("X = {\n    1: 2,\n}\nmatch = (\n") is None


def test_a_cut_statement_warns_about_nothing(recwarn):
    cut("X = 1 is 1\nY = {1}()\n")
    assert not [w for w in recwarn if issubclass(w.category, SyntaxWarning)]


# --- the resolver asks for the whole file when it needs a cut name -------------------


def test_a_module_name_bound_by_a_cut_statement_still_resolves(tmp_path):
    result = check_tree(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/config.py": f'import os\nSMART = "{OPUS}"\nFAST = "claude-haiku-4-5"\n'
            "PICK = SMART if os.environ.get('X') else FAST\n",  # no trigger: cut
            "app/ask.py": (
                "import anthropic\n"
                "from app.config import PICK\n"
                "def ask(q):\n"
                "    return anthropic.Anthropic().messages.create(model=PICK, messages=[])\n"
            ),
        },
        select=["OG102"],
    )
    assert [(f.rule, f.path, f.line) for f in result.findings] == [("OG102", "app/ask.py", 4)]


def test_a_name_rebound_by_a_cut_statement_resolves_to_its_last_value(tmp_path):
    # M holds Opus, then something else: the cut rebinding must not leave Opus behind.
    files = {
        "app/__init__.py": "",
        "app/m.py": f'import anthropic\nM = "{OPUS}"\nM = compute()\n'
        "def ask():\n    return anthropic.Anthropic().messages.create(model=M, messages=[])\n",
    }
    result = check_tree(tmp_path, files, select=["OG102", "OG106"])
    assert [(f.rule, f.line) for f in result.findings] == [("OG106", 5)]


# --- the resolver asks for the statements naming a cut attribute when it needs it ------


@pytest.mark.parametrize(
    "assignment",
    [
        # in a method whose body has no model word: the body is cut
        "    def __init__(self, engine=SMART):\n        self.engine = engine\n",
        # a class attribute without a trigger: the statement is cut
        "    engine = SMART if os.environ.get('X') else SMART\n",
        # an annotated one (a dataclass or pydantic field)
        "    engine: str = SMART\n",
        # in a function, a statement whose model word is only read (`model_id`, not a keyword)
        "    def __init__(self, model_id=SMART):\n        self.engine = model_id\n",
    ],
    ids=["cut-method", "cut-statement", "cut-annotated", "cut-model-word-read"],
)
def test_a_class_attribute_assigned_in_cut_code_still_reaches_the_call(tmp_path, assignment):
    result = check_tree(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/agent.py": (
                "import anthropic, os\n"
                f'SMART = "{OPUS}"\n'
                "class Agent:\n" + assignment + "    def run(self, q):\n"
                "        return anthropic.Anthropic().messages.create(model=self.engine, messages=[])\n"
            ),
        },
        select=["OG102"],
    )
    line = 5 + assignment.count("\n")
    assert [(f.rule, f.path, f.line) for f in result.findings] == [("OG102", "app/agent.py", line)]


def test_a_subclass_setting_the_attribute_in_a_cut_method_counts(tmp_path):
    result = check_tree(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/base.py": (
                "import anthropic\n"
                "class Base:\n"
                '    engine = "claude-haiku-4-5"\n'
                "    def run(self, q):\n"
                "        return anthropic.Anthropic().messages.create(model=self.engine, messages=[])\n"
            ),
            "app/smart.py": (
                "from app.base import Base\n"
                f'SMART = "{OPUS}"\n'
                "class Smart(Base):\n"
                "    def __init__(self):\n"
                "        self.engine = SMART\n"
            ),
        },
        select=["OG102"],
    )
    assert [(f.rule, f.path, f.line) for f in result.findings] == [("OG102", "app/base.py", 5)]


# --- real code -----------------------------------------------------------------------

INJECTED = [
    f'    client.messages.create(model="{OPUS}", max_tokens=5, messages=[])\n',
    "    llm = ChatAnthropic(model=SMART_MODEL)\n",
    '    route("classify-ticket")\n',
    "    self_model = os.getenv('MODEL', SMART_MODEL)\n",
]


def _inject(source: bytes, rng: random.Random) -> bytes:
    """Put a model call at the top of some function bodies (after their header line)."""
    lines = source.splitlines(keepends=True)
    out = []
    for line in lines:
        out.append(line)
        stripped = line.lstrip()
        if stripped.startswith(b"def ") and line.rstrip().endswith(b":") and rng.random() < 0.2:
            indent = line[: len(line) - len(stripped)]
            out.append(indent + rng.choice(INJECTED).encode())
    return b"".join(out)


def test_facts_equal_the_whole_files_on_real_code_with_models_injected():
    files = sorted(Path(click.__file__).parent.glob("*.py"))
    assert len(files) > 10
    rng = random.Random(20261124)
    cut_files = 0
    for path in files:
        source = path.read_bytes()
        for variant in (source, _inject(source, rng)):
            whole = facts(variant, cut_bodies=False)
            if whole.parse_error:
                continue  # the injection can land in a def whose header spans lines
            sliced = assert_same_facts(variant, whole)
            if sliced is not None:
                cut_files += 1
                libcst.parse_module(sliced.text)  # the cut text parsed: no fallback
    assert cut_files > 10


def test_a_name_parsed_on_demand_has_the_whole_files_values_on_real_code():
    # What the resolver asks for, read from only the statements that name it and
    # merged into the first facts: the module binding and every class's value are
    # the ones a parse of the whole file gives.
    files = sorted(Path(click.__file__).parent.glob("*.py"), key=lambda p: p.stat().st_size)[-6:]
    rng = random.Random(20261206)
    asked = 0
    for path in files:
        source = _inject(path.read_bytes(), rng)
        first, whole = facts(source, cut_bodies=True), facts(source, cut_bodies=False)
        if whole.parse_error:
            continue
        cut = sorted(first.cut_names.union(*first.cut_attributes.values()))
        for name in rng.sample(cut, min(6, len(cut))):
            merged = with_name_parsed(first, facts(source, cut_bodies=frozenset({name})), name)
            assert merged.bindings.get(name) == whole.bindings.get(name), (path.name, name)
            for qualname, cls in merged.classes.items():
                assert cls.attrs.get(name) == whole.classes[qualname].attrs.get(name), (path.name, qualname, name)
            assert name not in merged.cut_names.union(*merged.cut_attributes.values())
            asked += 1
    assert asked > 25


def _findings(root: Path) -> list[tuple]:
    from helpers import run_options

    from opusguard.policy.config import load_settings
    from opusguard.run import engine

    result = engine.check(load_settings(root), run_options(), cwd=root)
    return [(f.rule, f.path, f.line, f.column, f.message) for f in result.findings]


_CLASSES_SHARING_AN_ATTRIBUTE = {
    # Base.engine and Fast.engine are read through self.engine and left out of the first
    # parse (no trigger on their lines): the resolver asks for them by class. Other and a
    # module-level function assign an `engine` too, which must not stand in for Base's.
    "config.py": f'SMART = "{OPUS}"\n',
    "agents.py": (
        "from anthropic import Anthropic\nfrom app.config import SMART\n\nclient = Anthropic()\n\n\n"
        "class Base:\n    def __init__(self):\n        self.engine = SMART\n\n"
        "    def run(self, q):\n        return client.messages.create(model=self.engine, max_tokens=5, messages=[q])\n\n\n"
        "class Other:\n    def __init__(self, engine):\n        self.engine = engine\n\n"
        "    def go(self):\n        return client.messages.create(model=self.engine, max_tokens=5, messages=[])\n\n\n"
        "def setup(obj):\n    obj.engine = 'gpt-4o'\n"
    ),
    "sub.py": (
        "from app.agents import Base\nfrom app.config import SMART\n\n\n"
        "class Fast(Base):\n    def __init__(self):\n        super().__init__()\n        self.engine = SMART.lower()\n"
    ),
}


@pytest.mark.parametrize("tree", ["example app", "click with models injected", "classes sharing an attribute"])
def test_findings_are_the_same_without_slicing(tree, tmp_path, monkeypatch):
    import shutil

    if tree == "example app":
        root = tmp_path / "support_desk"
        shutil.copytree(Path(__file__).parent.parent / "examples" / "support_desk", root)
    elif tree == "classes sharing an attribute":
        root = tmp_path / "agents"
        (root / "app").mkdir(parents=True)
        (root / "app" / "__init__.py").write_text("")
        for name, text in _CLASSES_SHARING_AN_ATTRIBUTE.items():
            (root / "app" / name).write_text(text)
    else:
        root = tmp_path / "clickapp"
        (root / "app").mkdir(parents=True)
        (root / "app" / "__init__.py").write_text("")
        (root / "app" / "config.py").write_text(f'SMART_MODEL = "{OPUS}"\n')
        rng = random.Random(11)
        for path in sorted(Path(click.__file__).parent.glob("*.py")):
            header = b"import os\nfrom app.config import SMART_MODEL\nfrom anthropic import Anthropic as client\n"
            (root / "app" / path.name).write_bytes(header + _inject(path.read_bytes(), rng))
    sliced = _findings(root)
    monkeypatch.setattr(
        selection, "select_statements", lambda source, router_names=frozenset(), names=frozenset(): None
    )
    assert sliced and sliced == _findings(root)


def test_a_model_in_a_decorator_keeps_its_function():
    # The body holds no trigger; the decorator does (pytest parameters, as in pydantic-ai's tests).
    source = (
        b"import pytest\n\n\n@pytest.mark.parametrize(\n    'm',\n    [dict(model='claude-sonnet-4-5')],\n)\n"
        b"def test_usage(m):\n    assert m\n\n\ndef other():\n    return 1\n"
    )
    sliced = assert_same_facts(source)
    assert sliced is not None and b"def other" not in sliced.text
    assert [lit.text for lit in facts(source, cut_bodies=True).literals] == ["claude-sonnet-4-5"]


def test_a_kept_functions_decorators_stay_only_with_a_trigger_or_as_staticmethod():
    # The facts read no decorator but `staticmethod` (its first parameter is then no
    # `self`); a decorator with a trigger (the router, a model) is read as any code.
    source = (
        b"import anthropic\n\n\n"
        b"class Asker:\n"
        b"    @retry(\n"
        b"        times=3,\n"
        b"    )\n"
        b"    @staticmethod\n"
        b"    def ask(client, m):\n"
        b"        client.model = m\n"  # no attribute of Asker: `client` is no self here
        b"        return client.messages.create(model=m)\n\n"
        b"    @property\n"
        b"    def answer(self):\n"
        b'        return anthropic.Anthropic().messages.create(model="claude-opus-4-1")\n\n\n'
        b'@app.route("/ask")\n'
        b"def handler():\n"
        b"    return Asker.ask(anthropic.Anthropic(), 'claude-opus-4-1')\n"
    )
    sliced = assert_same_facts(source)
    assert sliced is not None
    assert b"retry" not in sliced.text and b"times=3" not in sliced.text and b"@property" not in sliced.text
    assert b"    @staticmethod\n    def ask(client, m):\n" in sliced.text
    assert b'@app.route("/ask")\ndef handler():\n' in sliced.text
    assert "model" not in facts(source, cut_bodies=True).classes["Asker"].attrs


def test_a_local_keeps_its_value_and_a_loop_its_header():
    source = (
        b"import anthropic\n\n\ndef run(items):\n    unused = compute()\n    chosen = pick('claude-opus-4-1')\n"
        b"    for item in items:\n        if item:\n            log(item)\n        else:\n"
        b"            anthropic.Anthropic().messages.create(model=chosen, messages=[item])\n"
    )
    sliced = assert_same_facts(source)
    assert sliced is not None
    assert b"unused" not in sliced.text and b"log(item)" not in sliced.text
    assert b"for item in items:" in sliced.text
    (call,) = [call for call in facts(source, cut_bodies=True).calls if call.callee.endswith("messages.create")]
    assert call.signals.in_loop


@pytest.mark.parametrize(
    "body, kept",
    [
        ("ask(model=x)", True),  # a model keyword
        ("x.messages.create(model=m)", True),  # a callee's root
        ("ask(model=m, system=x)", True),  # a prompt keyword
        ("ask(x_model)", True),  # an argument that says model, which a helper may pass on
        ("client.messages.create(model=m, **x)", True),  # any argument of an SDK shape
        ("with x as conn:\n        conn.messages.create(model=m)", True),  # the value of `as`
        ('log(f"claude-opus-{x}")', True),  # a built literal
        ("y = [x]\n    ask(model=y)", True),  # the value of a local read
        ("def inner(model=x):\n        return ask(model=model)", True),  # a default
        ("ask(model=m, max_tokens=x)", False),  # a signal: read as written
        ("if x:\n        ask(model=m)", False),  # a test
        ("for item in x:\n        ask(model=m)", False),  # a loop's items
        ("return ask(model=m), x", False),
        ('print(f"{x}", ask(model=m))', False),  # an f-string that is no model
    ],
)
def test_a_local_keeps_its_binding_only_where_a_fact_reads_its_value(body, kept):
    # Selection keeps the bindings of the names a kept statement reads where the
    # collector takes a value (selection._fact_reads); elsewhere a name gives no fact
    # a value, and its binding is left out.
    name = "x_model" if "x_model" in body else "x"
    source = f"import anthropic\n\n\ndef run(m, client):\n    {name} = compute()\n    other = 1\n    {body}\n".encode()
    sliced = assert_same_facts(source)
    assert sliced is not None and b"other = 1" not in sliced.text
    assert (f"{name} = compute()".encode() in sliced.text) == kept


def test_every_place_the_collector_takes_a_value_is_known_to_selection():
    # selection._fact_reads and _VALUE_PARTS say, on CPython's tree, where the
    # collector takes a value (ValueReader.value, lookup_local) and which names a
    # value reads. A new place or kind of node read there must be added to them too,
    # or a local's binding may be left out where a fact now reads it: this test
    # fails first, to say so.
    from opusguard.facts import extract_values

    assert {kind.__name__ for kind in extract_values._READERS} == {
        *("SimpleString", "ConcatenatedString", "FormattedString", "Integer", "Float", "Name", "Attribute"),
        *("Subscript", "Call", "Dict", "List", "Tuple", "Set", "IfExp", "BooleanOperation", "BinaryOperation"),
        "NamedExpr",
    }
    facts_package = Path(extract_values.__file__).parent
    places = {
        path.name: path.read_text().count("self.value(") + path.read_text().count("self.lookup_local(")
        for path in sorted(facts_package.glob("extract_*.py"))
    }
    assert places == {
        "extract_bindings.py": 7,
        "extract_calls.py": 8,
        "extract_signals.py": 1,
        "extract_values.py": 24,
    }


def test_a_name_asked_for_later_is_parsed_without_the_whole_file():
    # The resolver asks again for a file whose statement binding a name was left out:
    # the statements that name it are parsed, the rest stays out.
    source = (
        b"import os\nSMART = os.environ.get('X', 'm')\nTABLE = {1: 2}\n\n\nclass Agent:\n"
        b"    def __init__(self):\n        self.engine = make()\n        self.other = 1\n\n"
        b"    def unrelated(self):\n        return [i for i in range(3)]\n"
    )
    first = facts(source, cut_bodies=True)
    assert "SMART" in first.cut_names and "engine" in first.cut_attributes["Agent"]
    again = facts(source, cut_bodies=frozenset({"SMART", "engine"}))
    assert "SMART" in again.bindings and "engine" in again.classes["Agent"].attrs
    assert "SMART" not in again.cut_names and "engine" not in again.cut_attributes["Agent"]
    assert "TABLE" in again.cut_names and "other" in again.cut_attributes["Agent"]
    whole = facts(source, cut_bodies=False)
    assert again.bindings["SMART"] == whole.bindings["SMART"]
    assert again.classes["Agent"].attrs["engine"] == whole.classes["Agent"].attrs["engine"]


def test_a_name_asked_for_keeps_the_statements_that_bind_it_not_those_that_read_it():
    # Every way the facts give a name or attribute a value is kept; a statement
    # that only reads it (most of a class's methods read `self.engine`) is not.
    source = (
        b"import os\n"
        b"A, SMART = 'a', os.environ.get('X', 'm')\n"
        b"print(SMART)\n"
        b"class Agent:\n"
        b"    engine: str = 'x'\n"
        b"    def __init__(self):\n"
        b"        self.engine += '-latest'\n"
        b"        self.other, self.engine = 1, 'y'\n"
        b"    def configure(self):\n"
        b"        with open('e.txt') as self.engine:\n"
        b"            pass\n"
        b"    def run(self):\n"
        b"        print(self.engine)\n"
        b"        return len(self.engine)\n"
    )
    kept = selection.select_statements(source, names=frozenset({"SMART", "engine"}), names_only=True)
    assert kept is not None
    kept_lines = set(kept.line_map)
    assert {2, 5, 7, 8, 10} <= kept_lines
    assert not {3, 13, 14} & kept_lines
    again, whole = facts(source, cut_bodies=frozenset({"SMART", "engine"})), facts(source, cut_bodies=False)
    assert again.bindings["SMART"] == whole.bindings["SMART"]
    assert again.classes["Agent"].attrs["engine"] == whole.classes["Agent"].attrs["engine"]


def test_the_model_word_keeps_a_statement_in_a_function_only_where_a_fact_reads_it():
    # A model keyword and an argument that says model may make a call fact (a helper's
    # call site); `BaseModel`, `self.model.generate()`, `return self.model` make none.
    source = (
        b"def f(self, q):\n"
        b"    a = ask(q, model=m)\n"  # 2: a model keyword
        b"    b = ask(q, self.config.model_name)\n"  # 3: an argument a helper may pass on
        b"    c = self.model.generate(q)\n"  # 4
        b"    d = isinstance(q, Reply) and q.model_dump()\n"  # 5
        b"    return self.model\n"  # 6
        b"class Reply(BaseModel):\n"  # 7: at module and class level, anywhere
        b"    model_config = {}\n"  # 8
    )
    kept = selection.select_statements(source)
    assert kept is not None
    assert set(kept.line_map) >= {1, 2, 3, 7, 8} and not {4, 5, 6} & set(kept.line_map)
    assert_same_facts(source)


def test_where_the_bytes_cannot_tell_cpythons_tree_decides_if_the_model_word_is_read():
    # `model = m` reads like `ask(model=m)`, and `{"k": model, ...}` like `ask(model, q)`,
    # to the bytes: neither makes a fact. A local so bound is kept where a kept statement
    # reads it; an attribute so assigned is kept (left out, it is parsed on demand when read).
    source = (
        b"def f(self, q):\n"
        b"    model = q.pick()\n"  # 2: kept, read on line 6
        b"    other_model = q.pick()\n"  # 3
        b"    payload = {'k': other_model, 'n': 1}\n"  # 4
        b"    pair = (other_model, q)\n"  # 5
        b"    client.messages.create(model=model, messages=[])\n"  # 6
        b"    self.model_name = q\n"  # 7: an attribute that says model
        b"    x = ask(q, llm=m)\n"  # 8
        b"    y = ask(q, model_id=m)\n"  # 9: a model keyword
    )
    kept = selection.select_statements(source)
    assert kept is not None
    assert set(kept.line_map) >= {1, 2, 6, 7, 9} and not {3, 4, 5, 8} & set(kept.line_map)
    assert_same_facts(source)


@pytest.mark.parametrize(
    "body",
    [
        "    return ask(self.get_model().name)\n",
        "    x = ask(q, self.models[0].id)\n",
        "    if ask(cfg.model_for(q).name):\n        pass\n",
        "    for x in ask(self.model.pick().id):\n        pass\n",
    ],
)
def test_a_chain_that_says_model_through_a_call_or_subscript_is_an_argument_kept(body):
    # Passed to a helper, the chain is a model its parameter receives; whether the word
    # is inside a call's argument is read on CPython's tree (the bytes cannot tell).
    source = ("def f(self, q, cfg):\n" + body + "def g(self):\n    return self.model.generate(1)\n").encode()
    kept = selection.select_statements(source)
    assert kept is not None
    lines = set(kept.line_map)
    assert 2 in lines and 1 + body.count("\n") + 2 not in lines
    assert_same_facts(source)


def test_a_helper_given_a_model_through_a_call_chain_still_has_its_call_site(tmp_path):
    result = check_tree(
        tmp_path,
        {
            "app.py": (
                "import anthropic\nclient = anthropic.Anthropic()\n"
                "def ask(model):\n    return client.messages.create(model=model, max_tokens=5, messages=[])\n"
                "class Bot:\n    def run(self):\n        return ask(self.get_model().name)\n"
            )
        },
        select=["OG106"],
    )
    assert [(f.path, f.line) for f in result.findings] == [("app.py", 4), ("app.py", 7)]


def test_a_nested_functions_decorator_keeps_the_local_it_reads():
    # A decorator and a default are read where the def stands, in the enclosing
    # function: `app` keeps its value (the router's call is `Flask(...).route`).
    source = (
        b"def create_app():\n"
        b"    app = Flask(__name__)\n"
        b"    @app.route('/')\n"
        b"    def home(limit=app.config):\n"
        b"        return 1\n"
        b"    return app\n"
    )
    kept = selection.select_statements(source, frozenset({"route"}))
    assert kept is not None and 2 in kept.line_map
    assert_same_facts(source)


@pytest.mark.parametrize(
    "source",
    [
        # the body on the signature's last line (an overload's `...`)
        b"class A:\n    @overload\n    def __init__(\n        self,\n        model: Model,\n    ) -> None: ...\n",
        b"def f(\n    model=1,\n): return ask(model=model)\n",
        b"def f():\n    try:\n        ask(model=m)\n    except (ValueError,\n            KeyError): x = 1\n",
        b"def f():\n    if a:\n        x = 1\n    else: ask(model=m)\n",
    ],
    ids=["signature", "signature-kept", "handler", "else"],
)
def test_a_block_on_its_headers_last_line_is_kept_with_it(source):
    # The header and the block share a line: they are kept as one (the text libcst
    # gets parses, so the file is not parsed whole instead).
    kept = selection.select_statements(source + b"def g():\n    return 1\n")
    assert kept is not None
    libcst.parse_module(kept.text)
    assert_same_facts(source)


def test_a_docstring_that_says_model_is_no_trigger():
    # Nothing is read in a plain string: "the model to use" keeps neither the
    # docstring nor its function; an f-string in one still counts.
    source = (
        b'"""Helpers for the model."""\nimport anthropic\n\n\n'
        b'def describe(x):\n    """Describe the model\'s answer."""\n    return x\n\n\n'
        b'def show(model):\n    f"{print(model)}"\n    return 2\n'
    )
    sliced = assert_same_facts(source)
    assert sliced is not None
    assert b"describe" not in sliced.text and b"Helpers" not in sliced.text
    assert b"print(model)" in sliced.text
    assert sliced.cut_functions == {"describe"}


def test_a_docstring_is_left_out_whatever_it_says_a_later_string_is_not():
    # The facts take no literal from a docstring (a model id in one is prose), so a
    # module's, class's or function's docstring is left out even where it names a
    # model. A string statement after it is a literal: it stays, with a `pass`
    # before it so that it does not become the docstring.
    source = (
        f'"""Uses {OPUS}."""\n'  # 1
        "import anthropic\n\n\n"
        "class Asker:\n"  # 5
        f'    """Asks {OPUS}."""\n'
        f'    "{OPUS}"\n'  # 7: a literal
        "\n"
        "    def ask(self):\n"  # 9
        f'        """Defaults to {OPUS}."""\n'
        "        return 1\n\n\n"
        "def pick():\n"  # 14
        f'    """Defaults to {OPUS}."""\n'
        f'    "{OPUS}"\n'  # 16: a literal
        "    return 1\n"
    ).encode()
    sliced = assert_same_facts(source)
    assert sliced is not None
    assert b"Uses" not in sliced.text and b"Asks" not in sliced.text and b"Defaults" not in sliced.text
    assert sliced.text.decode() == (
        f'import anthropic\nclass Asker:\n    pass\n    "{OPUS}"\ndef pick():\n    pass\n    "{OPUS}"\n'
    )
    assert sliced.cut_functions == {"Asker.ask"}
    whole = facts(source, cut_bodies=False)
    assert [literal.span[0] for literal in whole.literals] == [7, 16]


def test_an_sdk_name_counts_where_a_call_is_written_with_it():
    # `messages=messages` hands a list on: no call fact can come from it. The shape's
    # segment keeps a statement where a dot touches it, a called name before its "(".
    source = (
        b"import anthropic\nfrom litellm import completion\n\n\n"
        b"def summarize(messages):\n    text = render(messages=messages)\n    return text\n\n\n"
        b"def ask(client, messages):\n    return client.messages.create(messages=messages, **OPTIONS)\n\n\n"
        b"def call(messages):\n    return completion(messages=messages, **OPTIONS)\n\n\n"
        b"def done(completion):\n    return completion\n"
    )
    sliced = assert_same_facts(source)
    assert sliced is not None
    assert sliced.cut_functions == {"summarize", "done"}
    assert [c.sink for c in facts(source, cut_bodies=True).calls] == ["anthropic messages.create", "litellm completion"]


@pytest.mark.parametrize(
    "alias",
    [
        "api = client.messages",
        "api: Messages = client.messages",
        "api, n = client.messages, 1",
        "api = messages",  # the module anthropic.resources.messages
        "if client: api = client.messages",
        "api = client.beta.messages if beta else client.messages",
        "api = client.messages or fallback",
        "api = (m := client.messages)",
    ],
)
@pytest.mark.parametrize("nested", [False, True], ids=["same-function", "nested-function"])
def test_a_call_through_a_local_alias_of_an_sdk_segment_is_kept(alias, nested):
    # `api.create(...)` is `client.messages.create(...)` to the facts, and the name
    # `messages` that stands alone in it is then a trigger again, as it once was.
    call = "api.create(messages=history, **OPTIONS)"
    body = f"    def later():\n        return {call}\n    return later\n" if nested else f"    return {call}\n"
    source = (
        "from anthropic.resources import messages\n\n\n"
        f"def ask(client, history, beta):\n    {alias}\n{body}\n\n"
        "def other(messages):\n    return len(messages)\n"
    ).encode()
    sliced = assert_same_facts(source)
    assert sliced is not None and sliced.cut_functions == {"other"}
    assert [c.sink for c in facts(source, cut_bodies=True).calls] == ["anthropic messages.create"]


def test_a_module_binding_that_names_an_sdk_shape_is_kept_for_the_resolver():
    # `llm_router: Router | None = None` holds no call, but the resolver reads it as
    # soon as `llm_router.acompletion(...)` is resolved: kept, it costs one line; cut,
    # a parse of every statement of the file that names it (0.5 s for litellm's proxy).
    source = (
        b"from litellm import Router\n\nllm_router: Router | None = None\nTIMEOUT = 30\n\n\n"
        b"async def ask(messages):\n    return await llm_router.acompletion(model=PICK, messages=messages)\n"
    )
    sliced = assert_same_facts(source)
    assert sliced is not None
    assert b"llm_router: Router" in sliced.text and sliced.cut_names == {"TIMEOUT"}
