"""The facts collector: one walk, three concerns (extract_bindings.py, extract_calls.py,
extract_signals.py); the report's signals as their own record; extract.py parses what
it is given and leaves the speed layers to parse.py."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import libcst
import msgspec
import pytest

from opusguard.facts import extract
from opusguard.facts.extract_values import string_value
from opusguard.facts.records import CallSignals, FileFacts, OneOf, Str
from opusguard.policy.catalog import load_catalog
from opusguard.run.cache import FactsCache, decode_entry

CATALOG = load_catalog()
OPUS = "claude-opus-4-1-20250805"
HAIKU = "claude-3-5-haiku-20241022"
ROOT = Path(__file__).resolve().parent.parent


def is_model_id(text: str) -> bool:
    return CATALOG.recognize(text) is not None


def facts(source: str) -> FileFacts:
    return extract.extract_facts(source.encode(), "m.py", is_model_id=is_model_id)


def test_a_node_two_concerns_read_is_read_by_both():
    found = facts(
        f'''import anthropic


class Agent:
    """Sends {OPUS}."""

    model: str = "{OPUS}"


def run(items):
    """Asks {OPUS}."""
    chosen = "{HAIKU}"
    for item in items:
        chosen = "{OPUS}"
        anthropic.Anthropic().messages.create(model=chosen, max_tokens=5, messages=[item])
'''
    )
    # A class: its scope and attributes (bindings), its docstring no literal (literals).
    assert found.classes["Agent"].attrs["model"] == Str(OPUS, (7, 18, 7, 44))
    assert [(lit.text, lit.span[0], lit.context) for lit in found.literals] == [
        (OPUS, 7, "assignment to model"),
        (HAIKU, 12, "assignment to chosen"),
        (OPUS, 14, "assignment to chosen"),
    ]
    # A loop: an assignment in it is one of two values (bindings), a call in it is in a loop (signals).
    (call,) = found.calls
    assert call.model_args[0].value == OneOf((Str(HAIKU, (12, 14, 12, 41)), Str(OPUS, (14, 18, 14, 44))))
    assert call.function == "run"
    assert call.signals.in_loop and call.signals.max_tokens == 5


def test_signals_are_typed_and_keep_the_order_the_call_gives_them():
    (call,) = facts(
        "import anthropic\n"
        "anthropic.Anthropic().messages.stream(\n"
        f"    model='{OPUS}', temperature=0, system='Be brief.', tools=[a, b], response_format=F,\n"
        "    messages=[{'role': 'system', 'content': 'Ignored: system is given'}], max_tokens=64,\n"
        "    model_settings={'max_tokens': 1, 'temperature': 0.5},\n"
        ")\n"
    ).calls
    signals = call.signals
    assert signals.stream and signals.temperature == 0.0 and signals.system == "Be brief."
    assert signals.tools == 2 and signals.response_format and not signals.output_type
    # max_tokens= wins over the settings dict's (a keyword later keeps the place it was first given)
    assert signals.as_dict() == {
        "stream": True,
        "temperature": 0.0,
        "system": "Be brief.",
        "tools": 2,
        "response_format": True,
        "max_tokens": 64,
    }
    assert (
        facts(f"import anthropic\nanthropic.Anthropic().messages.create(model='{OPUS}')\n").calls[0].signals
        == CallSignals()
    )


def test_signals_round_trip_through_the_cache(tmp_path):
    found = facts(f"import anthropic\nanthropic.Anthropic().messages.create(model='{OPUS}', max_tokens=9, tools=x)\n")
    cache = FactsCache(tmp_path / "c", "salt", secret=b"k" * 32)
    cache.put(b"content", found)
    (call,) = cache.get(b"content").calls
    assert call.signals == found.calls[0].signals
    assert call.signals.as_dict() == {"max_tokens": 9, "tools": True}


def test_an_entry_of_the_layout_before_call_signals_is_a_miss(tmp_path):
    # A call's signals were a dict; the same map decodes into CallSignals with its order
    # lost (so the report would drop them): entries of that layout must not be read.
    old_call = {
        "span": [2, 1, 2, 10],
        "callee": "f",
        "callee_value": {"type": "Name", "id": "f"},
        "sink": None,
        "model_args": [],
        "first_arg": None,
        "function": None,
        "signals": {"max_tokens": 5},
    }
    payload = msgspec.msgpack.encode({"path": "", "calls": [old_call]})
    misread = decode_entry(payload, FileFacts)
    assert misread is not None and misread.calls[0].signals.as_dict() == {}
    cache = FactsCache(tmp_path / "c", "salt", secret=b"k" * 32)
    name = f"{cache.key(b'f()')[:2]}/{cache.key(b'f()')[2:]}"
    (tmp_path / "c" / name).parent.mkdir(parents=True)
    (tmp_path / "c" / name).write_bytes(b"OGC1" + cache._tag(name, payload) + payload)
    assert cache.get(b"f()") is None


def test_extraction_imports_no_speed_layer():
    spec = importlib.util.spec_from_file_location("import_layers", ROOT / "scripts" / "import_layers.py")
    layers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layers)
    edges = layers.graph(ROOT / "opusguard", top_level=False)
    speed = {"opusguard.select.selection", "opusguard.select.slicing", "opusguard.select.prefilter"}
    collector = [name for name in edges if name.startswith("opusguard.facts.extract")]
    assert len(collector) == 5
    assert all(not edges[name] & speed for name in collector)
    assert {"opusguard.select.selection", "opusguard.select.slicing"} <= edges["opusguard.select.parse"]
    assert "opusguard.select.prefilter" in edges["opusguard.select.selection"]


@pytest.mark.parametrize(
    "literal",
    [
        '"claude-opus-4-1"',
        "'claude'",
        'u"claude"',
        'r"c:\\path\\claude"',
        'R"\\""',
        '"tab\\tclaude"',
        '"\\x63laude"',
        '"""one\nclaude"""',
        '"""one\\\nclaude"""',
        "'''it''s'''",
        'b"claude"',
        'Rb"claude"',
        'f"claude"',
        '"\\N{LATIN SMALL LETTER C}laude"',
        '"caf\u00e9 claude"',
    ],
)
def test_string_value_is_what_python_evaluates(literal):
    """string_value reads most literals without compiling them: the text is the same."""
    node = libcst.parse_expression(literal)
    expected = ast.literal_eval(literal) if not literal.lower().startswith("f") else "claude"
    assert string_value(node) == (expected if isinstance(expected, str) else None)
