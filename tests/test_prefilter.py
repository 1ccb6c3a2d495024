"""The byte-level pre-filter never drops a file the recogniser would have something to say about."""

from __future__ import annotations

import pytest
from test_catalog import SPELLINGS

from opusguard.select import prefilter
from opusguard.select.prefilter import HeldName


def _may_mention_model(content: bytes) -> bool:
    return prefilter.classify(content) == prefilter.PARSE


@pytest.mark.parametrize("model", list(SPELLINGS))
def test_every_spelling_passes_phase_one(model):
    assert _may_mention_model(f'llm(model="{model}")\n'.encode())


@pytest.mark.parametrize(
    "source",
    [
        b'from claude_agent_sdk import SmartAgentOptions\nSmartAgentOptions(model="opus")\n',
        b"import anthropic\nclient.messages.create(model=os.environ['M'])\n",
        b'import boto3\nbr = boto3.client("bedrock-runtime")\nbr.converse(modelId=MODEL_ID)\n',
        b"# opusguard: ignore[OG101]\n",
        b'x = route("classify")\n',
        b'M = "CLAUDE-OPUS"\n',
    ],
)
def test_files_that_can_matter_pass(source):
    assert _may_mention_model(source)


@pytest.mark.parametrize(
    "source",
    [b"import os\nprint('hello')\n", b"from anthropic import types  # no call\n", b"opus = codec\n"],
)
def test_plain_files_do_not(source):
    assert not _may_mention_model(source)


def test_phase_two_needs_a_name_and_a_model_call():
    names = frozenset({HeldName("SMART_MODEL", "cfg"), HeldName("Tier", "cfg")})
    assert prefilter.may_use_names(b"from cfg import SMART_MODEL\nclient.messages.create(model=SMART_MODEL)\n", names)
    assert not prefilter.may_use_names(b"from cfg import SMART_MODEL\nprint(SMART_MODEL)\n", names)
    assert not prefilter.may_use_names(b"client.messages.create(model=OTHER)\n", names)
    assert not prefilter.may_use_names(b"anything", frozenset())


@pytest.mark.parametrize(
    "source",
    [
        b"import settings.cfg as c\nllm(model=c.SMART_MODEL)\n",  # through its module
        b"from pkg import SMART_MODEL  # re-exported\nllm(model=SMART_MODEL)\n",
        b"from pkg import (\n    OTHER,\n    SMART_MODEL,\n)\nllm(model=SMART_MODEL)\n",
        b"from pkg import *\nllm(model=SMART_MODEL)\n",
    ],
)
def test_phase_two_finds_a_name_read_through_an_import(source):
    assert prefilter.may_use_names(source, frozenset({HeldName("SMART_MODEL", "cfg")}))


def test_phase_two_skips_a_name_that_only_looks_the_same():
    # The word alone, never imported: a local of the same name, not the model constant.
    source = b"SMART_MODEL = build()\nllm(model=SMART_MODEL)\n"
    assert not prefilter.may_use_names(source, frozenset({HeldName("SMART_MODEL", "cfg")}))


def test_no_word_can_hide_another():
    # The one-pass search reports non-overlapping matches. That is every occurrence
    # of every word only if no word contains another and none ends as another begins.
    words = prefilter.WORDS
    for word in words:
        for other in words:
            if other != word:
                assert other not in word
            for size in range(1, min(len(word), len(other))):
                assert word[-size:] != other[:size], (word, other)


def _classify_word_by_word(content: bytes) -> str:
    """The definition classify() must agree with: each word looked for on its own."""
    lowered = content.lower()
    if any(word in lowered for word in (b"claude", b"opusguard:", b"route(")):
        return prefilter.PARSE
    if any(f"{alias}{quote}".encode() in lowered for alias in ("opus", "sonnet", "haiku") for quote in "'\""):
        return prefilter.PARSE
    if any(word in lowered for word in (b"anthropi", b"bedrock")) and prefilter._MODEL_CALL.search(content):
        return prefilter.PARSE
    if b"agentdefinition" in lowered:
        return prefilter.PARSE
    if b"odel" in content or any(w in lowered for w in (b"messages.", b"converse", b"completion(", b"agent(", b"dspy")):
        return prefilter.SECOND_PASS
    return prefilter.SKIP


def test_one_pass_search_agrees_with_word_by_word_on_real_code():
    import sysconfig
    from pathlib import Path

    files = sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))[:3000]
    assert len(files) > 500
    verdicts = set()
    for path in files:
        content = path.read_bytes()
        verdicts.add(prefilter.classify(content))
        assert prefilter.classify(content) == _classify_word_by_word(content), path
    assert verdicts == {prefilter.PARSE, prefilter.SECOND_PASS, prefilter.SKIP}


@pytest.mark.parametrize(
    "source",
    [
        b"ANTHROPIClaude",
        b"x = Route(1)",
        b"CLAUDE",
        b"import Anthropic; Messages.Create(model=m)",
        b"CONVERSE(m)",
        b"MODEL",
        b"Model(x)",
        b"MODEL = 1; x.model",
        b"mODEL",
        b"MODEL_ID = get()",
    ],
)
def test_one_pass_search_agrees_with_word_by_word_on_odd_spellings(source):
    assert prefilter.classify(source) == _classify_word_by_word(source)


def test_phase_two_finds_a_name_that_overlaps_another():
    # "SMART" starts where "SMART_MODEL" does: the one-pass search may report only
    # one of them, and the name read must still be found.
    names = frozenset({HeldName("SMART", "cfg"), HeldName("SMART_MODEL", "cfg"), HeldName("ART_M", "cfg")})
    source = b"from cfg import SMART_MODEL\nllm(model=SMART_MODEL)\n"
    assert prefilter.may_use_names(source, names)
    assert not prefilter.may_use_names(b"llm(model=OTHER)\n", names)


def _trigger_regex(router_names: frozenset[str], *, written_as_call: bool) -> str:
    """The definition trigger_lines (`written_as_call`: an SDK name counts only where
    a call is written with it) and trigger_line_kinds' loose and anywhere lines
    (anywhere) must agree with."""
    import re

    from opusguard.facts import sinks

    def alternatives(words):
        return "|".join(re.escape(n) for n in sorted(words))

    segments = {sink.suffix[0] for sink in sinks.SINKS if len(sink.suffix) > 1}
    called = {sink.suffix[0] for sink in sinks.SINKS} - segments
    routers = {name.split(".")[-1] for name in router_names}
    between = r"(?:\s|\\|\)|#[^\n]*\n)*"  # spaces, continuations, a closing bracket, comments
    if written_as_call:
        sdk_names = (
            r"|\.[ \t\r\n\\]*\b(?:" + alternatives(segments) + r")\b"
            r"|\b(?:" + alternatives(segments) + r")\b" + between + r"\."
            r"|\b(?:" + alternatives(called) + r")\b" + between + r"\("
        )
    else:
        sdk_names = r"|\b(?:" + alternatives(segments | called) + r")\b"
    # the router counts only where it is called
    router_calls = r"|\b(?:" + alternatives(routers - called - segments) + r")\b(?:\s|\\|#[^\n]*\n)*\("
    if written_as_call:
        # the model word where a fact may read it: before "=" (a keyword), or an
        # argument that is a chain of names ending before "," or ")", or going on
        # through a call or subscript (CPython's tree decides those: TriggerLines.maybe)
        gap = r"(?:[ \t\r\n\\]|#[^\n]*\n)*"
        model_word = (
            r"[oO][dD][eE][lL][\w\x80-\xff]*(?:"
            + gap
            + r"=(?!=)|(?:"
            + gap
            + r"\."
            + gap
            + r"[\w\x80-\xff]+)*"
            + gap
            + r"[,)(\[])"
        )
    else:
        model_word = r"[oO][dD][eE][lL]"
    return (
        r"[cC][lL][aA][uU][dD][eE]|opusguard:|"
        + model_word
        + r"|(?i:opus|sonnet|haiku)['\"]"
        + sdk_names
        + router_calls
    )


TRIGGER_CASES = [
    "x = AgentDefinition(model='opus')",
    "x = AgentDefinitions(1)",
    "Agent_x(1)",
    "é = LM(1)",
    "éLM(1)",
    "api = client.messages",
    "f(messages=messages)",
    "client . messages",
    "client.\\\n    messages",
    "(client.messages).create(x)",
    "messages  # why\n  .create(x)",
    "messages.create",
    "for m in messages:",
    "completion(model=m)",
    "x.completion (1)",
    "(ChatAnthropic)(m)",
    "completion = done",
    "return completion",
    "Agent[Deps](m)",
    "x.messagesx",
    "# OpusGuard: no",
    "# opusguard: ignore",
    "CLAUDE_KEY = 1",
    "self.Model = 2",
    "mode = 1",
    "route('t')",
    "reroute('t')",
    "ask(q)",
    "ask_more(q)",
    "",
    "ñmessages",
    "messagesñ",
    "_messages",
    "messages_",
    "1messages",
    "(messages)",
    "route = 1",
    "self.route",
    "x.route (1)",
    "(route\n  ('t'))",
    "route  # why\n('t')",
    "route\\\n('t')",
    "def route(task):",
    "routes(1)",
    "ask = route",
    "x.ask(",
    "ask [1]",
    "make_options('opus')",
    'build("SONNET")',
    "x = 'haiku'",
    "opus = 1",
    "sonnets('a')",
    # the model word: where a fact reads it, and where it does not
    "ask(model=m)",
    "ask(model_id = m)",
    "ask(model == m)",
    "ask(MODEL)",
    "ask(q, self.config.model_name, 1)",
    "ask(q, self . model . name )",
    "ask(self.model  # the model\n)",
    "ask(llm=cfg.MODEL\\\n)",
    "ask(self.model())",
    "ask(models[0])",
    "class Reply(BaseModel):",
    "self.model.generate(q)",
    "return self.model",
    "def run(self, model: str):",
    "x = model # model # model",
    "modelmodelmodel = 1",
]


@pytest.mark.parametrize("router", [frozenset({"route"}), frozenset({"ask"}), frozenset({"app.router.route"})])
def test_trigger_search_agrees_with_the_regex(router):
    import re
    import sysconfig
    from pathlib import Path

    bytes_pattern = re.compile(_trigger_regex(router, written_as_call=True).encode())
    loose_pattern = re.compile(_trigger_regex(router, written_as_call=False).encode())
    texts = list(TRIGGER_CASES)
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:60]:
        texts += path.read_text(encoding="utf-8", errors="replace").splitlines()
    for text in texts:
        data = text.encode("utf-8", "replace")
        assert bool(prefilter.trigger_lines(data, router)) == (bytes_pattern.search(data) is not None), text
        kinds = prefilter.trigger_line_kinds(data, router)
        assert bool(kinds.anywhere or kinds.loose) == (loose_pattern.search(data) is not None), text


@pytest.mark.parametrize("opens", [False, True])
def test_a_router_name_before_a_comment_of_many_hashes_is_decided_at_once(opens):
    # A comment may hold "#" anywhere: had a comment ended anywhere, "# # # ..." would split
    # in 2**n ways before "(" was found missing (a line of 40 took longer than any run).
    comment = b"route  " + b"# " * 40 + b"\n"
    source = comment + (b"('t')\n" if opens else b"x = 1\n")
    assert prefilter.trigger_lines(source) == ([1] if opens else [])


@pytest.mark.parametrize(
    "source, lines",
    [
        # every word of a long comment, then the same long run of spaces to its ")"
        (b"ask(" + b"model # " * 40_000 + b"\n" + b" " * 400_000 + b")\n", [1]),
        # a long chain of attributes that say model, as an argument
        (b"ask(a" + b".model" * 50_000 + b")\n", [1]),
        # one long identifier made of the word, as a keyword
        (b"ask(" + b"model" * 50_000 + b"=1)\n", [1]),
        (b"x = " + b"model" * 50_000 + b"\n", []),
    ],
    ids=["comment", "chain", "identifier", "identifier-read"],
)
def test_the_model_word_is_decided_once_per_place(source, lines):
    # Decided word by word, each of these would scan to the end of the line again
    # for every word (hours): what follows a place is decided once.
    assert prefilter.trigger_lines(source) == lines


@pytest.mark.parametrize(
    "source, maybe",
    [
        (b"ask(self.get_model().name)\n", [1]),
        (b"ask(self.models[0].id)\n", [1]),
        (b"self.model.generate(q)\n", [1]),  # (CPython's tree says no: selection.py)
        (b"ask(model=m)\n", [1]),
        (b"model = m\n", [1]),  # (the bytes cannot tell it from a keyword)
        (b"return self.model\n", []),
        (b"x = BaseModel\n", []),
        (b'ask("claude-x", model=m)\n', []),  # a trigger of its own: kept anywhere
    ],
)
def test_where_a_fact_may_read_the_model_word_is_left_to_cpythons_tree(source, maybe):
    assert prefilter.trigger_line_kinds(source).maybe == maybe


def test_phase_two_reads_a_class_attribute_through_its_class():
    names = frozenset({HeldName("model", "agent", "SmartAgent")})
    imported = b"from app.agent import SmartAgent\nclass Mine(SmartAgent):\n    def run(self):\n        llm(model=self.model)\n"
    assert prefilter.may_use_names(imported, names)
    through_module = b"from app import agent\nllm(model=agent.SmartAgent.model)\n"
    assert prefilter.may_use_names(through_module, names)


@pytest.mark.parametrize(
    "source",
    [
        # The words alone: another agent module, a local called model, the word in prose.
        b"from tools import agent\nllm(model=self.model)\n",
        b"import agent\nmodel = build()\nllm(model=model)\n",
        b'"""An agent picks the model."""\nllm(model=pick())\n',
    ],
)
def test_phase_two_skips_a_class_attribute_whose_class_is_not_imported(source):
    assert not prefilter.may_use_names(source, frozenset({HeldName("model", "agent", "SmartAgent")}))


def test_a_file_asked_about_again_for_new_names_has_its_imports_scanned_once(monkeypatch):
    # The early second pass asks about every waiting file each time a parsed file
    # brings new names: 84k import scans on the dense corpus, 3k with the memo.
    content = b"from app.cfg import SMART\nfrom app import prompts\nclient.messages.create(model=SMART)\n"
    scans = []
    real = prefilter._imports_of
    monkeypatch.setattr(prefilter, "_imports_of", lambda text: scans.append(text) or real(text))
    scanned: dict = {}
    assert not prefilter.reads_names(content, frozenset({HeldName("OTHER", "cfg")}), scanned, "a.py")
    assert prefilter.reads_names(content, frozenset({HeldName("SMART", "cfg")}), scanned, "a.py")
    assert prefilter.reads_names(content, frozenset({HeldName("prompts", "app")}), scanned, "a.py")
    assert len(scans) == 1
    assert prefilter.reads_names(content, frozenset({HeldName("SMART", "cfg")}))  # without the memo: the same answer


def test_phase_two_answers_the_same_from_imports_scanned_for_an_earlier_batch():
    # The second pass asks about each file again for every batch of new names; the
    # imports it scanned for an earlier batch answer as a fresh scan would.
    files = {
        "a.py": b"from cfg import SMART\nllm(model=SMART)\n",
        "b.py": b"import cfg\nllm(model=cfg.FAST)\n",
        "c.py": b"from app.models import Tier\nllm(model=Tier.OPUS)\n",
        "d.py": b"from app import models\nllm(model=models.Tier.OPUS)\n",
        "e.py": b"from cfg import *\nllm(model=FAST)\n",
        "f.py": b"from other import SMART\nllm(model=SMART)\n",
        "g.py": b"llm(model=SMART)\n",
    }
    batches = [
        frozenset({HeldName("SMART", "cfg")}),
        frozenset({HeldName("FAST", "cfg")}),
        frozenset({HeldName("Tier", "models"), HeldName("OPUS", "models", "Tier")}),
        frozenset({HeldName("NOTHING", "nowhere")}),
    ]
    scanned: dict[str, prefilter.Imports] = {}
    answers = {
        (key, index): prefilter.reads_names(content, names, scanned, key)
        for index, names in enumerate(batches)
        for key, content in files.items()
    }
    assert answers == {
        (key, index): prefilter.reads_names(content, names)
        for index, names in enumerate(batches)
        for key, content in files.items()
    }
    # (f.py: the name itself came in, maybe re-exported by `other`; g.py reads no import)
    assert {key for (key, _), found in answers.items() if found} == {"a.py", "b.py", "c.py", "d.py", "e.py", "f.py"}
