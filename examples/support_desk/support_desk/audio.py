"""Voice notes. Nothing here is a Claude model.

We once tried claude-opus-4 for transcription cleanup; see
https://docs.anthropic.com/en/docs/about-claude/models for the model list.
"""

CODEC = "opus"  # the audio codec
SAMPLE_RATE = 48_000
REQUIREMENTS = ["langchain-anthropic", "anthropic"]
AUTHOR = "Claude Shannon"


def encode(samples, codec=CODEC):
    # claude-3-opus-20240229 is mentioned only in this comment
    return {"codec": codec, "rate": SAMPLE_RATE, "n": len(samples)}
