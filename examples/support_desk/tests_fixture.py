"""A recorded response used by the app's tests."""

RECORDED = {"model": "claude-opus-4-1-20250805", "content": "billing"}  # opusguard: ignore[OG101]
