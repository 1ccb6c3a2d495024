"""Ticket classification: a label per ticket, run over the whole queue."""

import anthropic

from support_desk.config import SMART_MODEL

client = anthropic.Anthropic()
LABELS = ["billing", "bug", "how-to", "account"]


def classify_queue(tickets):
    labels = []
    for ticket in tickets:
        reply = client.messages.create(  # expect: OG102
            model=SMART_MODEL,
            max_tokens=10,
            temperature=0,
            system="Reply with exactly one label: billing, bug, how-to or account.",
            messages=[{"role": "user", "content": ticket.body}],
        )
        labels.append(reply.content[0].text.strip())
    return labels
