"""opusguard: keep Opus for the work that needs it."""

__version__ = "0.1.0"
