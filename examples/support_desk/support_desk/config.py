"""Model settings. Operators override them with environment variables."""

import os
from enum import Enum

# The strongest model, picked when the project started and never revisited.
SMART_MODEL = os.getenv("SUPPORT_SMART_MODEL", "claude-opus-4-1-20250805")  # expect: OG101
FAST_MODEL = os.getenv("SUPPORT_FAST_MODEL", "claude-haiku-4-5-20251001")  # expect: OG101
# Set per deployment; no default in code.
ANSWER_MODEL = os.environ["SUPPORT_ANSWER_MODEL"]


class Models(str, Enum):
    OPUS = "claude-opus-4-1"  # expect: OG101
    SONNET = "claude-sonnet-4-5-20250929"  # expect: OG101
    LEGACY = "claude-3-opus-20240229"  # expect: OG101 OG105


MODELS_BY_ROLE = {
    "extractor": "claude-opus-4-1-20250805",  # expect: OG101
    "drafter": "claude-sonnet-4-5-20250929",  # expect: OG101
}
