"""Ids the admin UI offers. Accepted in pyproject.toml via per-file-ignores (OG101)."""

from typing import Literal

SupportedModel = Literal["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]
PRICE_PER_MTOK = {"claude-sonnet-4-5-20250929": (3.0, 15.0), "claude-haiku-4-5-20251001": (1.0, 5.0)}
