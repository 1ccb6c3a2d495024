"""The byte-level pre-filter never drops a file the recogniser would have something to say about."""

from __future__ import annotations

import pytest

from opusguard import prefilter
from test_catalog import SPELLINGS


@pytest.mark.parametrize("model", list(SPELLINGS))
def test_every_spelling_passes_phase_one(model):
    assert prefilter.may_mention_model(f'llm(model="{model}")\n'.encode())


@pytest.mark.parametrize(
    "source",
    [
        b'from claude_agent_sdk import ClaudeAgentOptions\nClaudeAgentOptions(model="opus")\n',
        b"import anthropic\nclient.messages.create(model=os.environ['M'])\n",
        b"import boto3\nbr = boto3.client(\"bedrock-runtime\")\nbr.converse(modelId=MODEL_ID)\n",
        b"# opusguard: ignore[OG101]\n",
        b'x = route("classify")\n',
        b'M = "CLAUDE-OPUS"\n',
    ],
)
def test_files_that_can_matter_pass(source):
    assert prefilter.may_mention_model(source)


@pytest.mark.parametrize(
    "source",
    [b"import os\nprint('hello')\n", b"from anthropic import types  # no call\n", b"opus = codec\n"],
)
def test_plain_files_do_not(source):
    assert not prefilter.may_mention_model(source)


def test_phase_two_needs_a_name_and_a_model_call():
    names = frozenset({("SMART_MODEL", "cfg"), ("Tier", "cfg")})
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
    assert prefilter.may_use_names(source, frozenset({("SMART_MODEL", "cfg")}))


def test_phase_two_skips_a_name_that_only_looks_the_same():
    # The word alone, never imported: a local of the same name, not the model constant.
    source = b"SMART_MODEL = build()\nllm(model=SMART_MODEL)\n"
    assert not prefilter.may_use_names(source, frozenset({("SMART_MODEL", "cfg")}))
