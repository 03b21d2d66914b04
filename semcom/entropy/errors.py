"""Errors raised by the entropy-coding layer."""

from __future__ import annotations

from semcom.errors import SemcomError


class BitstreamError(SemcomError):
    """A compressed byte string cannot be decoded (truncated, corrupt, or not ours)."""


__all__ = ["BitstreamError", "SemcomError"]
