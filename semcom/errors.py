"""Errors that the CLI reports as one clear line (never a traceback)."""

from __future__ import annotations


class SemcomError(ValueError):
    """Base class for every user-facing error raised by semcom.

    The CLI catches it and prints ``error: <message>``; library users may catch it
    like any ``ValueError``.
    """


class UnknownNameError(SemcomError, KeyError):
    """A registry was asked for a name it does not know."""

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return str(self.args[0]) if self.args else ""


class ImageLoadError(SemcomError):
    """An image file could not be read (missing, corrupt, not an image, too large)."""


class CheckpointError(SemcomError):
    """A checkpoint is missing, corrupt, or fails its sha256 check."""


class MissingDependencyError(SemcomError, ImportError):
    """An optional dependency (an extra) is not installed."""
