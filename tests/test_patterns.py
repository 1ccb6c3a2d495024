"""Patterns real code uses that the check once missed (issue #22): catalogues of ids
in one string, ids in capitals, f-strings from constants, helpers that pass a model
on, and prompts the report reads from user messages and templates."""

from __future__ import annotations

from helpers import check_sources

from opusguard.facts.extract import catalogue_ids, extract_literals_only
from opusguard.policy.catalog import load_catalog
from opusguard.report.pricing import build_inventory, load_assumptions, price_book, price_report
from opusguard.select.parse import facts_of

CATALOG = load_catalog()


def is_model_id(text: str) -> bool:
    return CATALOG.recognize(text) is not None


CATALOGUE = (
    "import os\n"
    "MODELS = '''\n"
    "claude-3-5-haiku-20241022\n"
    "  claude-opus-4-20250514\n"
    "'''.split()\n"
    'PAIR = "gpt-4o, CLAUDE-SONNET-4-5"\n'
)


def test_each_id_of_a_catalogue_is_a_literal_at_its_own_place():
    facts = facts_of(CATALOGUE.encode(), "m.py", is_model_id=is_model_id)
    assert [(lit.text, lit.span) for lit in facts.literals] == [
        ("claude-3-5-haiku-20241022", (3, 1, 3, 26)),
        ("claude-opus-4-20250514", (4, 3, 4, 25)),
        ("CLAUDE-SONNET-4-5", (6, 17, 6, 34)),
    ]


def test_files_too_large_for_libcst_split_catalogues_too():
    facts = extract_literals_only(CATALOGUE.encode(), "m.py", is_model_id=is_model_id)
    assert sorted((lit.span[:2], lit.text) for lit in facts.literals) == [
        ((3, 1), "claude-3-5-haiku-20241022"),
        ((4, 3), "claude-opus-4-20250514"),
        ((6, 17), "CLAUDE-SONNET-4-5"),
    ]


def test_prose_json_and_command_lines_are_not_catalogues():
    for text in (
        "we moved claude-opus-4-1 to claude-sonnet-4-5",
        '["claude-opus-4-1", "claude-sonnet-4-5"]',
        "--model claude-opus-4-1 --fast",
        "claude-opus-4-1 -> claude-sonnet-4-5",
        "model=claude-opus-4-1 max_tokens=10",
        "claude-opus-4-1",
    ):
        assert catalogue_ids(text, is_model_id) == [], text
    assert catalogue_ids("claude-opus-4-1\n  claude-haiku-4-5\n", is_model_id) == [
        "claude-opus-4-1",
        "claude-haiku-4-5",
    ]


def test_a_docstring_catalogue_is_prose(tmp_path):
    result = check_sources({"a.py": '"""Models:\nclaude-opus-4-1\nclaude-haiku-4-5\n"""\n'}, select={"OG101"})
    assert result.findings == []


def test_a_helper_that_calls_itself_is_followed_once(tmp_path):
    files = {
        "a.py": (
            "import anthropic\n"
            "def ask(model, depth):\n"
            "    if depth:\n"
            "        return ask(model, depth - 1)\n"
            "    return anthropic.Anthropic().messages.create(model=model, max_tokens=5, messages=[])\n"
            "def ping(model):\n"
            "    return pong(model)\n"
            "def pong(model):\n"
            "    return ping(model) or ask(model, 2)\n"
            'ask("claude-opus-4-1", 3)\n'
            'pong("claude-haiku-4-5")\n'
        )
    }
    calls = check_sources(files).analysis.project.calls
    found = sorted((c.line, [m.ref.model_id for m in c.models]) for c in calls if c.models)
    assert found == [(10, ["claude-opus-4-1"]), (11, ["claude-haiku-4-5"])]


def test_a_lowered_constant_reaches_the_call(tmp_path):
    files = {
        "a.py": (
            "import anthropic\n"
            'MODEL = "CLAUDE-OPUS-4-1".lower()\n'
            "anthropic.Anthropic().messages.create(model=MODEL, max_tokens=5, messages=[])\n"
        )
    }
    result = check_sources(files, select={"OG102"})
    assert [(f.line, f.model) for f in result.findings] == [(3, "claude-opus-4-1")]


def test_the_report_reads_the_user_message_and_templates_and_quotes_them(tmp_path):
    files = {
        "app/__init__.py": "",
        "app/prompts.py": (
            'TRIAGE = """You are a helpful assistant for our support team, patient and kind.\n'
            "Ticket: {ticket}\n"
            'Reply with exactly one label: billing, bug or other."""\n'
        ),
        "app/main.py": (
            "import anthropic\n"
            "from app.prompts import TRIAGE\n"
            "client = anthropic.Anthropic()\n"
            'OPUS = "claude-opus-4-5-20251101"\n'
            "def handle(ticket):\n"
            "    prompt = TRIAGE.format(ticket=ticket)\n"
            '    return client.messages.create(model=OPUS, max_tokens=1024, messages=[{"role": "user", "content": prompt}])\n'
            "def pull(doc):\n"
            "    return client.messages.create(model=OPUS, max_tokens=1024, messages=[\n"
            '        {"role": "user", "content": f"Invoice: {doc}. Give the total and due date as JSON."}])\n'
            "def chat(history, reply):\n"
            "    return client.messages.create(model=OPUS, max_tokens=1024, messages=[\n"
            '        {"role": "assistant", "content": "Reply yes or no."}, {"role": "user", "content": reply}])\n'
        ),
    }
    project = check_sources(files).analysis.project
    report = price_report(build_inventory(project), project.policy, price_book(project.catalog), load_assumptions())
    reasons = {a.cost.site.where: " ".join(a.reasons) for a in report.advice}
    assert "app/main.py:7" in reasons and "app/main.py:9" in reasons
    assert "the template TRIAGE asks for a label" in reasons["app/main.py:7"]
    assert "Reply with exactly one label" in reasons["app/main.py:7"]  # the evidence, not the template's start
    assert "the user message asks for JSON" in reasons["app/main.py:9"]
    assert "app/main.py:12" not in reasons  # an assistant turn is not the prompt


def test_the_prefilter_keeps_ids_in_capitals_and_bare_aliases():
    from opusguard.select import prefilter

    for source in (b'MODEL = "CLAUDE-SONNET-4-5".lower()\n', b"opts = make_options('opus')\n", b'x = pick("Haiku")\n'):
        assert prefilter.classify(source) == prefilter.PARSE, source
        assert prefilter.trigger_lines(b"def f():\n    " + source), source
    assert prefilter.classify(b"codec_opus = 1\n") == prefilter.SKIP


def test_a_bare_alias_outside_a_helper_is_no_model(tmp_path):
    files = {"a.py": ('def pick(name):\n    return name\npick("opus")\naudio(codec="opus")\n')}
    result = check_sources(files)
    assert result.findings == []
