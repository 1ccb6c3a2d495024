"""SDK call shapes that send or bind a model, and which argument carries it.

Matched on the trailing segments of the callee as written (`client.messages.create`
ends with `messages.create`), which is cheap and does not need the SDK installed.
"""

from __future__ import annotations

import re

from msgspec import Struct


class Sink(Struct, frozen=True):
    name: str  # shown in reports: "anthropic messages.create"
    suffix: tuple[str, ...]  # trailing callee segments
    keywords: tuple[str, ...] = ("model",)
    positional: int | None = None  # index of a positional model argument
    claude_only: bool = False  # the SDK only talks to Claude: an unresolved model is still a Claude call
    short_alias: bool = False  # takes "opus" / "sonnet" / "haiku"
    needs_model_arg: bool = False  # a sink only when given a model (a name other SDKs share)


SINKS: tuple[Sink, ...] = (
    # anthropic SDK (also AnthropicBedrock / AnthropicVertex clients)
    Sink("anthropic messages.create", ("messages", "create"), claude_only=True),
    Sink("anthropic messages.stream", ("messages", "stream"), claude_only=True),
    Sink("anthropic messages.count_tokens", ("messages", "count_tokens"), claude_only=True),
    Sink("anthropic messages.parse", ("messages", "parse"), claude_only=True),
    Sink("anthropic messages.batches.create", ("batches", "create"), keywords=(), claude_only=True),
    Sink("anthropic completions.create", ("completions", "create"), keywords=("model",)),
    # langchain
    Sink("langchain ChatAnthropic", ("ChatAnthropic",), keywords=("model", "model_name"), claude_only=True),
    Sink("langchain ChatAnthropicVertex", ("ChatAnthropicVertex",), keywords=("model", "model_name"), claude_only=True),
    Sink("langchain ChatBedrock", ("ChatBedrock",), keywords=("model_id", "model")),
    Sink("langchain ChatBedrockConverse", ("ChatBedrockConverse",), keywords=("model", "model_id")),
    Sink("langchain init_chat_model", ("init_chat_model",), keywords=("model",), positional=0),
    # litellm
    Sink("litellm completion", ("completion",), keywords=("model",), positional=0),
    Sink("litellm acompletion", ("acompletion",), keywords=("model",), positional=0),
    Sink("litellm text_completion", ("text_completion",), keywords=("model",), positional=0),
    Sink("litellm Router", ("Router",), keywords=()),
    # pydantic-ai
    Sink("pydantic-ai Agent", ("Agent",), keywords=("model",), positional=0),
    Sink("pydantic-ai AnthropicModel", ("AnthropicModel",), keywords=("model_name",), positional=0, claude_only=True),
    Sink("pydantic-ai BedrockConverseModel", ("BedrockConverseModel",), keywords=("model_name",), positional=0),
    # dspy
    Sink("dspy LM", ("dspy", "LM"), keywords=("model",), positional=0),
    Sink("dspy LM", ("LM",), keywords=("model",), positional=0),
    # llama-index
    Sink("llama-index Anthropic", ("Anthropic",), keywords=("model",), claude_only=True, needs_model_arg=True),
    # boto3 bedrock-runtime
    Sink("bedrock invoke_model", ("invoke_model",), keywords=("modelId",)),
    Sink("bedrock invoke_model_with_response_stream", ("invoke_model_with_response_stream",), keywords=("modelId",)),
    Sink("bedrock converse", ("converse",), keywords=("modelId",)),
    Sink("bedrock converse_stream", ("converse_stream",), keywords=("modelId",)),
    # claude-agent-sdk / claude-code-sdk
    Sink(
        "claude-agent-sdk ClaudeAgentOptions",
        ("ClaudeAgentOptions",),
        keywords=("model", "fallback_model"),
        claude_only=True,
        short_alias=True,
    ),
    Sink(
        "claude-code-sdk ClaudeCodeOptions",
        ("ClaudeCodeOptions",),
        keywords=("model", "fallback_model"),
        claude_only=True,
        short_alias=True,
    ),
    Sink(
        "claude-agent-sdk AgentDefinition",
        ("AgentDefinition",),
        keywords=("model",),
        claude_only=True,
        short_alias=True,
    ),
)

# Any call given one of these keywords is a model-taking call.
MODEL_KEYWORDS = frozenset({"model", "model_name", "model_id", "modelId", "fallback_model"})
# A name that may hold a model, passed to a helper: `ask(MODEL)`, `ask(args.model)`,
# `ask(model)` (a parameter: the caller is a helper too), as its dotted text says
# (extract_calls._forwarded_args; selection reads the same on CPython's tree). Only
# words that make a statement worth parsing (prefilter.trigger_lines), so a statement
# left out hides none.
MODEL_LIKE_NAME = re.compile(r"model|claude", re.I)
# Keys that carry a model inside request payloads (batches, litellm model_list, JSON bodies).
PAYLOAD_MODEL_KEYS = frozenset({"model", "modelId", "model_id", "model_name"})
# Calls that pass a value through rather than send it.
PASS_THROUGH = frozenset(
    {
        "getenv",
        "get",
        "setdefault",
        "print",
        "format",
        "join",
        "replace",
        "startswith",
        "endswith",
        "split",
        "strip",
        "lower",
        "upper",
        "debug",
        "info",
        "warning",
        "error",
        "exception",
        "critical",
        "log",
        "append",
        "extend",
        "add",
        "update",
        "isinstance",
        "str",
        "repr",
        "len",
        "dict",
        "list",
        "tuple",
        "set",
    }
)

_BY_LAST: dict[str, list[Sink]] = {}
for _sink in SINKS:
    _BY_LAST.setdefault(_sink.suffix[-1], []).append(_sink)


# Response wrappers of the anthropic SDK: client.messages.with_raw_response.create(...)
_WRAPPERS = frozenset({"with_raw_response", "with_streaming_response"})


def match_sink(callee_segments: tuple[str, ...]) -> Sink | None:
    """The SDK shape a callee (as dotted segments) matches, if any."""
    if _WRAPPERS.intersection(callee_segments):
        callee_segments = tuple(s for s in callee_segments if s not in _WRAPPERS)
    if not callee_segments:
        return None
    for sink in _BY_LAST.get(callee_segments[-1], ()):
        if callee_segments[-len(sink.suffix) :] == sink.suffix:
            return sink
    return None


CLAUDE_ONLY_SINKS = frozenset(s.name for s in SINKS if s.claude_only)
# The last segment of every shape, and the wrappers match_sink sees through.
SINK_LAST_NAMES = frozenset(_BY_LAST) | _WRAPPERS
# Keyword arguments that carry the prompt, and what part of it each is.
PROMPT_KEYWORDS = {
    "system": "system",
    "system_prompt": "system",
    "instructions": "system",
    "messages": "messages",
    "prompt": "user",
    "user_prompt": "user",
    "input": "user",
}
# The first segments of the shapes of two or more (`messages` of messages.create).
SEGMENT_NAMES = frozenset(s.suffix[0] for s in SINKS if len(s.suffix) > 1)
