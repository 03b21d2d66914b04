"""WebP lossy (VP8 intra, always 4:2:0) through Pillow/libwebp."""

from __future__ import annotations

from typing import Any

from semcom.codecs._pillow import PillowCodec
from semcom.codecs.base import CodecError, QualityKnob
from semcom.registry import CODECS


@CODECS.register("webp")
class WebP(PillowCodec):
    """WebP lossy (Pillow/libwebp, method 6 = slowest, best); the RIFF file is charged."""

    name = "webp"
    knob = QualityKnob("quality", 0, 100, higher_is_better=True,
                       description="libwebp quality 0-100 (higher = better)")
    pillow_format = "WEBP"
    pillow_feature = "webp"

    def __init__(self, method: int = 6) -> None:
        super().__init__()
        if method not in range(7):
            raise CodecError(f"webp method must be 0-6, got {method!r}")
        self.method = method

    def save_params(self, quality: float) -> dict[str, Any]:
        return {"quality": int(quality), "method": self.method, "lossless": False}
