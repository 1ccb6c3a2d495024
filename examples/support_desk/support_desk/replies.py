"""Replies: drafted by Sonnet (annotated), escalation decided by Haiku, contracts by Opus."""

import os

import anthropic
import litellm
from claude_agent_sdk import ClaudeAgentOptions
from pydantic_ai import Agent

from support_desk.config import ANSWER_MODEL, FAST_MODEL
from support_desk.routing import route

client = anthropic.Anthropic()


def draft_reply(ticket):
    # opusguard: task=draft-reply
    return litellm.completion("anthropic/claude-sonnet-4-5-20250929", messages=[ticket.as_message()])  # expect: OG101


def needs_human(ticket):
    return client.messages.create(model=FAST_MODEL, max_tokens=5, messages=[ticket.as_message()])


def review_contract(document):
    return client.messages.create(model=route("contract-review"), max_tokens=4000, messages=[document])


def answer(question):
    return client.messages.create(model=ANSWER_MODEL, max_tokens=800, messages=[question])  # expect: OG106


def refund_policy_bot():
    return Agent("anthropic:claude-opus-4-0", system_prompt="Answer yes or no.")  # expect: OG101 OG102 OG105


def code_fixer():
    return ClaudeAgentOptions(model="opus", max_turns=3)  # expect: OG101 OG102


def weekly_digest():
    return client.messages.create(model=route("weekly-digest"), max_tokens=2000, messages=[])  # expect: OG103


def legacy_summary(text):
    return client.messages.create(model="claude-2.1", max_tokens=300, messages=[text])  # expect: OG101 OG105


def batch_triage(tickets):
    return client.messages.batches.create(
        requests=[
            {"custom_id": t.id, "params": {"model": os.getenv("TRIAGE_MODEL", "claude-haiku-4-5"), "max_tokens": 5}}  # expect: OG101
            for t in tickets
        ]
    )
