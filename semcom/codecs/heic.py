"""HEIC: HEVC intra (x265, 4:4:4) in a HEIF file, through pillow-heif/libheif."""

from __future__ import annotations

import io

import numpy as np

from semcom.codecs.base import MAX_DECODE_PIXELS, CodecError, ImageCodec, QualityKnob, import_optional
from semcom.registry import CODECS


@CODECS.register("heic")
class HEIC(ImageCodec):
    """HEIC 4:4:4 (pillow-heif, x265 with tune=psnr); the whole HEIF file is charged.

    The HEIF boxes (ftyp, meta, iloc, hvcC, ...) cost about 350 bytes beyond the HEVC
    data: the price of a self-describing file, next to :class:`~semcom.codecs.hevc.HEVCIntra`
    which sends the bare bitstream.
    """

    name = "heic"
    requires = ("pillow_heif",)
    knob = QualityKnob("quality", 0, 100, higher_is_better=True,
                       description="libheif quality 0-100 (higher = better)")

    def __init__(self) -> None:
        self._heif = import_optional("pillow_heif", self.name, "pillow-heif")

    def _encode(self, pixels: np.ndarray, quality: float) -> bytes:
        height, width, _ = pixels.shape
        buffer = io.BytesIO()
        self._heif.encode(
            "RGB", (width, height), pixels.tobytes(), buffer, quality=int(quality), chroma=444,
            save_nclx_profile=False, enc_params={"tune": "psnr"},
        )
        return buffer.getvalue()

    def _decode(self, data: bytes) -> np.ndarray:
        heif = self._heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        width, height = heif.size
        if width * height > MAX_DECODE_PIXELS:
            raise CodecError(f"heic: header claims {width}x{height} pixels")
        if heif.mode != "RGB":
            raise CodecError(f"heic: expected an RGB image, got mode {heif.mode}")
        return np.asarray(heif)
