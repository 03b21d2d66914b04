"""JPEG (baseline, 4:4:4 chroma, optimized Huffman tables) through Pillow/libjpeg."""

from __future__ import annotations

from typing import Any

from semcom.codecs._pillow import PillowCodec
from semcom.codecs.base import QualityKnob
from semcom.registry import CODECS


@CODECS.register("jpeg")
class JPEG(PillowCodec):
    """JPEG 4:4:4 (Pillow, optimized Huffman tables); the full JFIF file is charged."""

    name = "jpeg"
    knob = QualityKnob("quality", 1, 100, higher_is_better=True,
                       description="libjpeg quality 1-100 (higher = better)")
    pillow_format = "JPEG"

    def save_params(self, quality: float) -> dict[str, Any]:
        return {"quality": int(quality), "subsampling": 0, "optimize": True}
