"""Top-level functions without a trigger, found without CPython's parser
(select/plain_functions.py): what passes for one statement, and that the facts stay
the whole file's when it is right, and when the text only looks like one."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_slicing import OPUS, assert_same_facts, cut

from opusguard.select import plain_functions, selection

CALL = f'import anthropic\nanthropic.Anthropic().messages.create(model="{OPUS}", messages=[])\n'


@pytest.mark.parametrize(
    "text",
    [
        "def f():\n    return 1\n",
        "def f(\n    a,\n) -> None:\n    pass\n",
        "def f():\n    x = ')'  # a ( in a comment\n",
        "def f():\n    return '''\n(\n''' + \"\\\"(\"\n",
        "def f():\n    return r'\\'' + b\"[\" + rb'{'\n",
        "def f():\n    return 'a\\\n(b'\n",  # a backslash-newline in a string
        "def f():\r\n    return {1: [2]}\r\n",
        "def f():\n    return \"it's\"  # don't\n",
        "def f(x):\n    return f\"{x!r:>{width}}\" + rf'{x}' + F'''{x['k']}'''\n",
    ],
)
def test_text_that_closes_what_it_opens_is_one_statement(text):
    assert plain_functions.is_one_statement(text.encode())
    ast.parse(text)  # (and Python agrees)


@pytest.mark.parametrize(
    "text",
    [
        "def f(\n    a,\n",  # a signature going on
        "def f():\n    return [\n",
        "def f():\n    x = '''\n",  # a string going on
        "def f():\n    x = 'abc\n",
        "def f():\n    x = 1 + \\\n",  # a line going on
        "def f():\n    return ]\n",
        "def f():\n    x = '''abc'\n",  # three quotes open a string that goes on
        # From Python 3.12 on, an f-string's fields may hold its own quotes: the scan
        # ends it early, and the literal cut there does not parse.
        'def f():\n    return f"{d["k"]}"\n',
        "def f():\n    return rf'{d['k']}'\n",
    ],
)
def test_text_that_leaves_something_open_or_an_f_string_cut_short_is_not(text):
    assert not plain_functions.is_one_statement(text.encode())


def test_a_t_string_is_one_statement_where_python_reads_it():
    text = b"def f(x):\n    return t'{x}'\n"
    try:
        ast.parse(text)
    except SyntaxError:
        assert not plain_functions.is_one_statement(text)  # (before 3.14: parsed with the function)
    else:
        assert plain_functions.is_one_statement(text)


def _offsets(source: str) -> list[int]:
    offsets = [0]
    for line in source.encode().splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    return offsets


def _found(source: str, holds_trigger=lambda first, last: False) -> list[tuple[int, int, int, str, bool]]:
    data = source.encode()
    found = plain_functions.find(data, data.splitlines(keepends=True), _offsets(source), holds_trigger)
    return [tuple(f) for f in found]


def test_functions_are_found_with_their_decorators_comments_and_signature_lines():
    source = (
        "import os\n"  # 1
        "@cache\n"  # 2
        "@other(\n"
        "    1)\n"
        "async def fetch(\n"  # 5
        "    a,\n"
        ") -> None:\n"
        "    return a\n"
        "# a comment\n"  # 9
        "\n"
        "class C:\n"  # 11
        "    def m(self): pass\n"
        "def größe(): return 1\n"  # 13
    )
    assert _found(source) == [(2, 5, 10, "fetch", True), (13, 13, 13, "größe", False)]
    assert _found("def first(): pass\nx = 1\n") == [(1, 1, 1, "first", False)]  # (no newline before it)


def test_a_function_with_a_trigger_in_its_lines_is_parsed():
    source = "def f():\n    pass\n# opusguard: task=x\n\ndef g():\n    pass\n"
    found = _found(source, lambda first, last: first <= 3 <= last)
    assert [f[3] for f in found] == ["g"]


def test_a_def_in_a_string_is_no_function_of_the_module():
    source = f'TEMPLATE = """\ndef helper():\n    pass\n"""\nMODEL = "{OPUS}"\ndef helper2():\n    pass\n'
    found = _found(source)
    assert [f[3] for f in found] == ["helper", "helper2"]  # the scan alone cannot tell
    functions = [plain_functions.PlainFunction(*f) for f in found]
    tree = ast.parse(plain_functions.blanked(source.encode(), _offsets(source), functions))
    assert (
        plain_functions.module_body(tree, functions, selection._first_line) is None
    )  # the parse can: TEMPLATE spans it
    sliced = assert_same_facts(source.encode())
    assert sliced is not None and sliced.cut_functions == {"helper2"}


@pytest.mark.parametrize(
    "source",
    [
        # A function's string holds lines at column 0 that look like code with a model.
        'def doc():\n    return """\nx = 1\n"""\n' + CALL,
        "def doc():\n    return '''\n" + f'MODEL = "{OPUS}"\n' + "'''\n" + CALL,
        # Brackets open across column-0 lines.
        "def f(a,\nb):\n    return [\n1]\n" + CALL,
        # A long signature ending at column 0, decorators, an async def.
        "@decorate\ndef f(\n    a,\n) -> None:\n    return a\n\n\nasync def g():\n    await h()\n" + CALL,
        # A function defined twice: the stub stays where it was.
        "def f():\n    return 1\n" + CALL + "def f():\n    return 2\n",
        # if/else at module level, a class, a function after the call.
        "if x:\n    def f(): pass\nelse:\n    def f(): pass\n"
        + CALL
        + "class C:\n    def m(self): pass\ndef g(): pass\n",
        # A function with a trigger stays; the one without goes.
        "def f():\n    return 1\n" + "def ask():\n" + "    " + CALL.splitlines()[1] + "\n",
        # Three quotes and one: a string that goes on past code at column 0.
        "def f():\n    x = '''abc'\n" + f'y = "{OPUS}"\n' + "''' # '''\n" + CALL,
        # An f-string in a function without a trigger.
        'def f(x):\n    return f"{x}"\n' + CALL,
    ],
)
def test_the_facts_are_the_whole_files(source):
    assert_same_facts(source.encode())


def test_unclosed_triple_quotes_are_scanned_in_one_pass():
    # Each unclosed triple quote is scanned to the end of the text: the scan stops at
    # the first, where a scan per string would start again at each.
    source = b"def f():\n    x = '''" + b"\\'''" * 200_000 + b"\n" + CALL.encode()
    assert not plain_functions.is_one_statement(source)
    assert cut(source.decode()) is None  # (CPython cannot parse it either)


def test_plain_functions_are_left_out_by_name():
    source = "import os\n\ndef helper(x):\n    return [\n1]\n" + CALL + "def other():\n    pass\n"
    sliced = cut(source)
    assert sliced is not None and sliced.cut_functions == {"helper", "other"}
    assert b"helper" not in sliced.text and b"other" not in sliced.text


def test_a_syntax_error_in_a_plain_function_goes_unseen_as_in_a_skipped_file():
    # CPython never reads the function; libcst parses only what is kept.
    source = "def broken():\n    x = = 1\n" + CALL
    sliced = cut(source)
    assert sliced is not None and sliced.cut_functions == {"broken"}
    # Outside such a function, the file is parsed whole and the error reported.
    assert cut("x = = 1\n" + CALL) is None


# Pieces of a module that a line scan could take for what they are not: code at
# column 0 inside strings and brackets, defs inside strings, long signatures and
# decorators, f-strings, backslashes, and the calls and bindings that make facts.
PIECES = (
    f'MODEL = "{OPUS}"\n',
    "import anthropic\nclient = anthropic.Anthropic()\n",
    "def ask(q, model=MODEL):\n    return client.messages.create(model=model, messages=[q])\n",
    "ask('hi')\n",
    'def doc():\n    return """\n' + f'MODEL = "{OPUS}"\n' + "def ask(q):\n    return q\n" + '"""\n',
    "TEMPLATE = '''\ndef helper():\n    pass\n'''\n",
    'TEXT = ("a"\n"b")\n',
    "def long(\n    a,\n    b=[\n1],\n) -> None:\n    return a\n",
    "@decorate(\n    1)\n@other\nasync def fetch():\n    await go()\n",
    "def fmt(x):\n    return f\"{x!r:>{width}}\" + f'{x[\"k\"]}' + rf'{x}\\d'\n",
    "def cont():\n    return 1 + \\\n2\n",
    'def quotes():\n    return "it\'s # not a comment" + \'"\' + "\\""\n',
    "if flag:\n    def ask(q):\n        return q\nelse:\n    pass\n",
    "class Config:\n    model = MODEL\n    def use(self):\n        self.client = client\n",
    "def late():\n    return client.messages.create(model=MODEL, messages=[])\n",
    "x = [\ndef_ for def_ in range(3)\n]\n",
    "def ask(q):\n    return 'redefined'\n",
    "# a comment at column 0\n\n",
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=8))
def test_modules_made_of_awkward_pieces_have_the_whole_files_facts(pieces):
    source = "".join(pieces).encode()
    try:
        ast.parse(source)
    except SyntaxError:
        return  # (pieces that need a name bound before them, say, still parse: this is a guard)
    assert_same_facts(source)
