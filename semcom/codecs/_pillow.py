"""Shared plumbing of the codecs that Pillow encodes and decodes (JPEG, JPEG 2000, WebP, AVIF)."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
from PIL import Image, features

from semcom.codecs.base import MAX_DECODE_PIXELS, CodecError, ImageCodec
from semcom.errors import MissingDependencyError


class PillowCodec(ImageCodec):
    """An :class:`ImageCodec` whose bitstream is a Pillow image format.

    Subclasses set ``pillow_format`` (Pillow's format name), ``pillow_feature`` (the
    ``PIL.features`` name to check, or ``None``) and implement :meth:`save_params`.
    """

    pillow_format: ClassVar[str]
    pillow_feature: ClassVar[str | None] = None

    def __init__(self) -> None:
        if self.pillow_feature is not None and not features.check(self.pillow_feature):
            raise MissingDependencyError(
                f"codec {self.name!r} needs Pillow built with {self.pillow_feature} support "
                f"(the official Pillow wheels have it: pip install --upgrade pillow)"
            )

    def save_params(self, quality: float) -> dict[str, Any]:
        """Keyword arguments for ``Image.save`` at a knob value."""
        raise NotImplementedError

    def _encode(self, pixels: np.ndarray, quality: float) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buffer, format=self.pillow_format, **self.save_params(quality))
        return buffer.getvalue()

    def _decode(self, data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data), formats=[self.pillow_format]) as image:
            if image.width * image.height > MAX_DECODE_PIXELS:
                raise CodecError(f"{self.name}: header claims {image.width}x{image.height} pixels")
            image.load()
            return np.asarray(image.convert("RGB"))
