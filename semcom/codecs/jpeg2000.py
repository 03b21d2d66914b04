"""JPEG 2000 (irreversible 9/7 wavelet, colour transform) through Pillow/OpenJPEG."""

from __future__ import annotations

from typing import Any

from semcom.codecs._pillow import PillowCodec
from semcom.codecs.base import QualityKnob
from semcom.registry import CODECS


@CODECS.register("jpeg2000")
class JPEG2000(PillowCodec):
    """JPEG 2000 codestream (Pillow/OpenJPEG, 9/7 + MCT, one layer at a target PSNR).

    The knob is OpenJPEG's target PSNR in dB (``quality_mode="dB"``): image-independent
    and smoothly monotonic in bytes, so it bisects well. The bytes are a raw J2K
    codestream (no JP2 boxes: the codestream header carries size and components).
    """

    name = "jpeg2000"
    knob = QualityKnob("psnr_db", 10.0, 60.0, higher_is_better=True, step=0.02, integer=False,
                       description="OpenJPEG target PSNR in dB, 10-60 (higher = better)")
    pillow_format = "JPEG2000"
    pillow_feature = "jpg_2000"

    def save_params(self, quality: float) -> dict[str, Any]:
        return {"quality_mode": "dB", "quality_layers": [float(quality)], "irreversible": True,
                "mct": 1, "no_jp2": True}
