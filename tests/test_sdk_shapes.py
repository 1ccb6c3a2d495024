"""Every SDK call shape that sends or binds a model, and the look-alikes that must not fire."""

from __future__ import annotations

import pytest
from helpers import check_sources

OPUS = "claude-opus-4-1-20250805"

# (id, source, line of the call expected to be flagged OG102)
SHAPES = [
    (
        "anthropic messages.create",
        f'import anthropic\nc = anthropic.Anthropic()\nc.messages.create(model="{OPUS}", max_tokens=5, messages=[])\n',
        3,
    ),
    (
        "AsyncAnthropic messages.create",
        f'from anthropic import AsyncAnthropic\nc = AsyncAnthropic()\nawait_it = c.messages.create(model="{OPUS}", messages=[])\n',
        3,
    ),
    (
        "anthropic messages.stream",
        f'import anthropic\nc = anthropic.Anthropic()\nwith c.messages.stream(model="{OPUS}", messages=[]) as s:\n    pass\n',
        3,
    ),
    (
        "anthropic count_tokens",
        f'import anthropic\nc = anthropic.Anthropic()\nc.messages.count_tokens(model="{OPUS}", messages=[])\n',
        3,
    ),
    (
        "anthropic beta.messages.create",
        f'import anthropic\nc = anthropic.Anthropic()\nc.beta.messages.create(model="{OPUS}", betas=["x"], messages=[])\n',
        3,
    ),
    (
        "AnthropicBedrock client",
        'from anthropic import AnthropicBedrock\nc = AnthropicBedrock()\nc.messages.create(model="anthropic.claude-opus-4-1-20250805-v1:0", messages=[])\n',
        3,
    ),
    (
        "AnthropicVertex client",
        'from anthropic import AnthropicVertex\nc = AnthropicVertex()\nc.messages.create(model="claude-opus-4-1@20250805", messages=[])\n',
        3,
    ),
    (
        "message batches",
        f'import anthropic\nc = anthropic.Anthropic()\nc.messages.batches.create(requests=[{{"custom_id": "1", "params": {{"model": "{OPUS}", "max_tokens": 5}}}}])\n',
        3,
    ),
    (
        "batch request params types",
        f'from anthropic.types.messages.batch_create_params import Request\nfrom anthropic.types.message_create_params import MessageCreateParamsNonStreaming\nr = Request(custom_id="1", params=MessageCreateParamsNonStreaming(model="{OPUS}", max_tokens=5, messages=[]))\n',
        3,
    ),
    (
        "langchain ChatAnthropic(model=)",
        f'from langchain_anthropic import ChatAnthropic\nllm = ChatAnthropic(model="{OPUS}")\n',
        2,
    ),
    (
        "langchain ChatAnthropic(model_name=)",
        f'from langchain_anthropic import ChatAnthropic\nllm = ChatAnthropic(model_name="{OPUS}")\n',
        2,
    ),
    (
        "langchain init_chat_model prefix",
        'from langchain.chat_models import init_chat_model\nllm = init_chat_model("anthropic:claude-opus-4-1")\n',
        2,
    ),
    (
        "langchain init_chat_model provider",
        'from langchain.chat_models import init_chat_model\nllm = init_chat_model("claude-opus-4-1", model_provider="anthropic")\n',
        2,
    ),
    (
        "langchain ChatBedrock",
        'from langchain_aws import ChatBedrock\nllm = ChatBedrock(model_id="us.anthropic.claude-opus-4-1-20250805-v1:0")\n',
        2,
    ),
    (
        "litellm completion positional",
        'import litellm\nlitellm.completion("anthropic/claude-opus-4-1", messages=[])\n',
        2,
    ),
    (
        "litellm acompletion",
        'from litellm import acompletion\nr = acompletion(model="bedrock/anthropic.claude-opus-4-1-20250805-v1:0", messages=[])\n',
        2,
    ),
    (
        "litellm Router model_list",
        'from litellm import Router\nr = Router(model_list=[{"model_name": "smart", "litellm_params": {"model": "anthropic/claude-opus-4-1"}}])\n',
        2,
    ),
    (
        "litellm vertex",
        'import litellm\nlitellm.completion(model="vertex_ai/claude-opus-4-1@20250805", messages=[])\n',
        2,
    ),
    (
        "openrouter via litellm",
        'import litellm\nlitellm.completion(model="openrouter/anthropic/claude-opus-4.1", messages=[])\n',
        2,
    ),
    (
        "pydantic-ai Agent",
        'from pydantic_ai import Agent\nagent = Agent("anthropic:claude-opus-4-0", system_prompt="Be terse")\n',
        2,
    ),
    (
        "pydantic-ai AnthropicModel",
        'from pydantic_ai.models.anthropic import AnthropicModel\nm = AnthropicModel("claude-opus-4-1")\n',
        2,
    ),
    ("dspy LM", 'import dspy\nlm = dspy.LM("anthropic/claude-opus-4-1-20250805")\n', 2),
    (
        "instructor",
        f'import instructor, anthropic\nc = instructor.from_anthropic(anthropic.Anthropic())\nc.messages.create(model="{OPUS}", response_model=Label, messages=[])\n',
        3,
    ),
    (
        "llama-index Anthropic",
        f'from llama_index.llms.anthropic import Anthropic\nllm = Anthropic(model="{OPUS}")\n',
        2,
    ),
    (
        "boto3 invoke_model",
        'import boto3\nbr = boto3.client("bedrock-runtime")\nbr.invoke_model(modelId="anthropic.claude-opus-4-1-20250805-v1:0", body="{}")\n',
        3,
    ),
    (
        "boto3 invoke_model_with_response_stream",
        'import boto3\nbr = boto3.client("bedrock-runtime")\nbr.invoke_model_with_response_stream(modelId="global.anthropic.claude-opus-4-5-20251101-v1:0", body="{}")\n',
        3,
    ),
    (
        "boto3 converse with ARN",
        'import boto3\nbr = boto3.client("bedrock-runtime")\nbr.converse(modelId="arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-1-20250805-v1:0", messages=[])\n',
        3,
    ),
    (
        "boto3 converse_stream",
        'import boto3\nbr = boto3.client("bedrock-runtime")\nbr.converse_stream(modelId="eu.anthropic.claude-opus-4-20250514-v1:0", messages=[])\n',
        3,
    ),
    (
        "claude-agent-sdk short alias",
        'from claude_agent_sdk import ClaudeAgentOptions\nopts = ClaudeAgentOptions(model="opus")\n',
        2,
    ),
    (
        "claude-agent-sdk fallback_model",
        'from claude_agent_sdk import ClaudeAgentOptions\nopts = ClaudeAgentOptions(model="sonnet", fallback_model="claude-opus-4-1")\n',
        2,
    ),
    ("any call with model_id=", 'make_llm(model_id="claude-opus-4-1")\n', 1),
    ("any call with modelId=", 'invoke(modelId="anthropic.claude-opus-4-20250514-v1:0")\n', 1),
    ("any call with model_name=", 'Chat(model_name="claude-3-opus-latest")\n', 1),
    ("future Opus id", 'llm(model="claude-opus-5-20270101")\n', 1),
]


@pytest.mark.parametrize(("source", "line"), [pytest.param(source, line, id=name) for name, source, line in SHAPES])
def test_sdk_shape_is_a_model_call(tmp_path, source, line):
    result = check_sources({"app.py": source}, select={"OG102"})
    assert [(f.rule, f.line) for f in result.findings] == [("OG102", line)]


LOOK_ALIKES = [
    ("docstring", '"""Uses claude-opus-4-1-20250805 for hard questions."""\n'),
    ("function docstring", 'def f():\n    """Calls claude-opus-4-1."""\n'),
    ("comment", "x = 1  # was claude-opus-4-1-20250805\n"),
    ("prose in a string", 'HELP = "We run claude-opus-4-1 for contract review."\n'),
    ("URL", 'DOCS = "https://docs.anthropic.com/en/docs/about-claude/models/claude-opus-4-1"\n'),
    ("package name", 'REQUIRES = ["langchain-anthropic", "anthropic", "claude-agent-sdk"]\n'),
    ("product name", 'TOOL = "claude-code"\nSITE = "claude.ai"\n'),
    ("file name", 'README = "CLAUDE.md"\nNOTES = "claude-opus-4.md"\n'),
    ("audio codec", 'encode(samples, codec="opus")\nrender(model="opus")\n'),
    ("a person called Claude", 'AUTHOR = "Claude Shannon"\nNAME = "Claude"\n'),
    ("identifier-like strings", 'KEY = "CLAUDE_OPUS_MODEL"\nNAME = "claude_opus_config"\n'),
    ("bytes literal", 'RAW = b"claude-opus-4-1"\n'),
]


@pytest.mark.parametrize("source", [pytest.param(s, id=i) for i, s in LOOK_ALIKES])
def test_look_alikes_are_not_models(tmp_path, source):
    result = check_sources({"app.py": source})
    assert result.findings == []
    assert sum(result.summary.model_calls.values()) == 0


@pytest.mark.parametrize(
    "statement, calls",
    [
        ("    raise ProviderError(model_name=OPUS, model_id=OPUS)\n", 0),
        ("    raise ProviderError(model_name=OPUS) from None\n", 0),
        # the call that makes the exception sends nothing; a call inside its arguments may
        ("    raise ProviderError(detail=client.messages.create(model=OPUS))\n", 1),
        ("    report(model_name=OPUS)\n", 1),
    ],
    ids=["raise", "raise-from", "call-inside-a-raise", "plain-call"],
)
def test_a_raised_exception_given_a_model_sends_nothing(statement, calls):
    source = (
        "import anthropic\nclient = anthropic.Anthropic()\n"
        'OPUS = "claude-opus-4-1"\nclass ProviderError(Exception):\n    pass\n'
        "def fail():\n" + statement
    )
    result = check_sources({"app.py": source})
    assert sum(result.summary.model_calls.values()) == calls
