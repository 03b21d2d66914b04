"""JPEG XL (VarDCT, lossy) through imagecodecs/libjxl."""

from __future__ import annotations

import numpy as np

from semcom.codecs.base import CodecError, ImageCodec, QualityKnob, import_optional
from semcom.errors import MissingDependencyError
from semcom.registry import CODECS


@CODECS.register("jpegxl")
class JPEGXL(ImageCodec):
    """JPEG XL (imagecodecs/libjxl, butteraugli distance knob); bare codestream, no container.

    Args:
        effort: libjxl effort 1 (fastest) to 9; 7 is libjxl's default.
    """

    name = "jpegxl"
    requires = ("imagecodecs",)
    knob = QualityKnob("distance", 0.05, 25.0, higher_is_better=False, step=0.01, integer=False,
                       log_scale=True,
                       description="butteraugli distance 0.05-25 (lower = better; 1 is visually lossless)")

    def __init__(self, effort: int = 7) -> None:
        self._codecs = import_optional("imagecodecs", self.name)
        if not self._codecs.JPEGXL.available:
            raise MissingDependencyError(
                "codec 'jpegxl' needs imagecodecs built with libjxl; install it with: "
                "pip install semcom[codecs]"
            )
        if effort not in range(1, 10):
            raise CodecError(f"jpegxl effort must be 1-9, got {effort!r}")
        self.effort = effort

    def _encode(self, pixels: np.ndarray, quality: float) -> bytes:
        return self._codecs.jpegxl_encode(pixels, distance=float(quality), effort=self.effort,
                                          usecontainer=False)

    def _decode(self, data: bytes) -> np.ndarray:
        pixels = self._codecs.jpegxl_decode(data)
        if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
            raise CodecError(f"jpegxl: expected 8-bit RGB, got {pixels.dtype} {pixels.shape}")
        return pixels
