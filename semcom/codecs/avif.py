"""AVIF (AV1 intra in HEIF, 4:4:4) through Pillow/libavif."""

from __future__ import annotations

from typing import Any

from semcom.codecs._pillow import PillowCodec
from semcom.codecs.base import CodecError, QualityKnob
from semcom.registry import CODECS


@CODECS.register("avif")
class AVIF(PillowCodec):
    """AVIF 4:4:4 (Pillow/libavif + libaom, tune=psnr); the whole file, container boxes included, is charged.

    Args:
        speed: encoder speed 0 (slowest, best) to 10. The default 6 is about 0.8 s per
            encode of a 768x512 image on 2 cores; speed 4 is 8x slower. libaom is tuned
            for PSNR (libavif's own default tuning costs about 0.6 dB of PSNR at 0.25 bpp).
    """

    name = "avif"
    knob = QualityKnob("quality", 0, 100, higher_is_better=True,
                       description="libavif quality 0-100 (higher = better)")
    pillow_format = "AVIF"
    pillow_feature = "avif"

    def __init__(self, speed: int = 6) -> None:
        super().__init__()
        if speed not in range(11):
            raise CodecError(f"avif speed must be 0-10, got {speed!r}")
        self.speed = speed

    def save_params(self, quality: float) -> dict[str, Any]:
        return {"quality": int(quality), "subsampling": "4:4:4", "speed": self.speed,
                "advanced": {"tune": "psnr"}}
