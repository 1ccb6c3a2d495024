"""Agents: a base class with a model, and a subclass that overrides it."""

import anthropic

from support_desk.config import Models

client = anthropic.Anthropic()


class BaseAgent:
    MODEL = Models.SONNET.value

    def run(self, prompt):
        return client.messages.create(  # expect: OG102
            model=self.MODEL, max_tokens=1024, messages=[{"role": "user", "content": prompt}]
        )


class ResearchAgent(BaseAgent):
    MODEL = Models.OPUS


def summarize(text, model="claude-sonnet-4-5-20250929"):  # expect: OG101
    with client.messages.stream(model=model, max_tokens=512, messages=[{"role": "user", "content": text}]) as s:
        return s.get_final_text()
