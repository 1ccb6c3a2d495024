"""What a call's code says about its work, for `opusguard report` only: its
CallSignals (max_tokens, temperature, the system prompt, tools, structured output,
a loop around it ...) and its prompt as Values the resolver reads.

One concern of the facts collector (extract.py); no rule reads what it finds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import libcst as cst

from opusguard.facts import sinks
from opusguard.facts.extract_values import ValueReader, dotted, string_value
from opusguard.facts.records import CallSignals, Unknown, Value


class CallSignalReader(ValueReader):
    loop_depth: int  # for/while loops and comprehensions around the node being read

    def enter_loop(self, node: cst.CSTNode) -> None:
        self.loop_depth += 1

    def leave_loop(self, original_node: cst.CSTNode) -> None:
        self.loop_depth -= 1

    visit_ListComp = enter_loop
    leave_ListComp = leave_loop
    visit_SetComp = enter_loop
    leave_SetComp = leave_loop
    visit_DictComp = enter_loop
    leave_DictComp = leave_loop
    visit_GeneratorExp = enter_loop
    leave_GeneratorExp = leave_loop

    def call_signals(self, node: cst.Call) -> CallSignals:
        # The signals found, in the order found (a later value of one keeps its place).
        found: dict[str, Any] = {}
        if self.loop_depth > 0:
            found["in_loop"] = True
        if dotted(node.func).endswith(".stream"):
            found["stream"] = True
        for arg in node.args:
            if arg.keyword is not None:
                read = _KEYWORD_SIGNALS.get(arg.keyword.value)
                if read is not None:
                    read(arg.value, found)
        return CallSignals(**found, order=tuple(found)) if found else CallSignals()

    def call_prompts(self, node: cst.Call) -> list[tuple[str, Value]]:
        """What the call says to the model, for the report to read once names are resolved."""
        out: list[tuple[str, Value]] = []
        for arg in node.args:
            key = arg.keyword.value if arg.keyword is not None else None
            if key in sinks.PROMPT_KEYWORDS:
                value = self.value(arg.value)
                if not isinstance(value, Unknown):
                    out.append((sinks.PROMPT_KEYWORDS[key], value))
        return out


# -- one keyword argument -> the signals it gives ---------------------------------------


def _max_tokens(node: cst.BaseExpression, found: dict[str, Any]) -> None:
    if isinstance(node, cst.Integer):
        found["max_tokens"] = int(node.evaluated_value)


def _temperature(node: cst.BaseExpression, found: dict[str, Any]) -> None:
    if isinstance(node, (cst.Integer, cst.Float)):
        found["temperature"] = float(node.evaluated_value)


def _system(node: cst.BaseExpression, found: dict[str, Any]) -> None:
    text = _system_text(node) or _system_blocks(node)
    if text:
        found["system"] = text[:300]


def _settings(node: cst.BaseExpression, found: dict[str, Any]) -> None:
    """A dict of generation settings (Bedrock inferenceConfig, pydantic-ai model_settings)."""
    if not isinstance(node, cst.Dict):
        return
    for element in node.elements:
        if not isinstance(element, cst.DictElement):
            continue
        key, value = string_value(element.key), element.value
        if key in ("max_tokens", "maxTokens") and isinstance(value, cst.Integer):
            found.setdefault("max_tokens", int(value.evaluated_value))
        elif key == "temperature" and isinstance(value, (cst.Integer, cst.Float)):
            found.setdefault("temperature", float(value.evaluated_value))


def _tools(node: cst.BaseExpression, found: dict[str, Any]) -> None:
    found["tools"] = len(node.elements) if isinstance(node, cst.List) else True


def _stream(node: cst.BaseExpression, found: dict[str, Any]) -> None:
    if isinstance(node, cst.Name) and node.value == "True":
        found["stream"] = True


def _messages(node: cst.BaseExpression, found: dict[str, Any]) -> None:
    if isinstance(node, cst.List):
        for element in node.elements:
            text = _system_message(element.value) if isinstance(element, cst.Element) else None
            if text:
                found.setdefault("system", text[:300])


def _flag(key: str) -> Callable[[cst.BaseExpression, dict[str, Any]], None]:
    """A keyword whose presence is the signal (structured output)."""

    def read(node: cst.BaseExpression, found: dict[str, Any]) -> None:
        found[key] = True

    return read


_KEYWORD_SIGNALS: dict[str, Callable[[cst.BaseExpression, dict[str, Any]], None]] = {
    "max_tokens": _max_tokens,
    "temperature": _temperature,
    "system": _system,
    "system_prompt": _system,
    "instructions": _system,
    **dict.fromkeys(
        ("inferenceConfig", "inference_config", "model_settings", "model_kwargs", "generation_config"), _settings
    ),
    "tools": _tools,
    **{key: _flag(key) for key in ("response_format", "output_type", "tool_choice", "response_model", "output_format")},
    "stream": _stream,
    "messages": _messages,
}


# -- the system prompt ---------------------------------------------------------------


def _system_text(node: cst.BaseExpression) -> str | None:
    text = string_value(node)
    if text is not None:
        return text
    if isinstance(node, cst.FormattedString):
        return "".join(p.value if isinstance(p, cst.FormattedStringText) else "{…}" for p in node.parts)
    return None


def _system_blocks(node: cst.BaseExpression) -> str | None:
    """`system=[{"text": "..."}]` (Bedrock converse, Anthropic system blocks)."""
    if not isinstance(node, (cst.List, cst.Tuple)):
        return None
    texts = []
    for element in node.elements:
        if isinstance(element, cst.Element) and isinstance(element.value, cst.Dict):
            for item in element.value.elements:
                if isinstance(item, cst.DictElement) and string_value(item.key) == "text":
                    text = _system_text(item.value)
                    if text:
                        texts.append(text)
    return " ".join(texts) or None


def _system_message(node: cst.BaseExpression) -> str | None:
    """The content of a `{"role": "system", "content": ...}` message."""
    if not isinstance(node, cst.Dict):
        return None
    fields = {}
    for element in node.elements:
        if isinstance(element, cst.DictElement):
            key = string_value(element.key)
            if key:
                fields[key] = element.value
    role = fields.get("role")
    if role is not None and string_value(role) == "system" and "content" in fields:
        return _system_text(fields["content"])
    return None
