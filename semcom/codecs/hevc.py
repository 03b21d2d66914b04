"""HEVC intra as a raw x265 bitstream: the engine of BPG, without BPG's file header.

One 4:4:4 8-bit intra frame, coded by x265 (through PyAV's ``libx265``) at a fixed QP with
``tune=psnr``, written as an Annex-B byte stream (VPS, SPS, PPS, one slice; no encoder
info SEI). The SPS carries width and height (with a conformance window for sizes that
are not multiples of 8) and the VUI signals full-range BT.601 Y'CbCr, so the receiver
needs nothing but the bytes. "BPG" rows of the papers compare with this codec.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from semcom.codecs.base import MAX_DECODE_PIXELS, CodecError, ImageCodec, QualityKnob, import_optional
from semcom.codecs.color import dequantize_plane, quantize_plane, rgb_to_ycbcr, ycbcr_to_rgb
from semcom.registry import CODECS

X265_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                "veryslow", "placebo")


@CODECS.register("hevc")
class HEVCIntra(ImageCodec):
    """HEVC intra 4:4:4 (x265 via PyAV, QP knob, tune=psnr); raw Annex-B bytes, the BPG engine.

    Args:
        preset: x265 preset; ``"slow"`` (default) codes a 768x512 frame in about 0.3 s
            and is as efficient as ``"veryslow"`` on a single intra frame.
    """

    name = "hevc"
    requires = ("av",)
    min_side = 16  # x265 refuses smaller pictures
    knob = QualityKnob("qp", 0, 51, higher_is_better=False,
                       description="x265 quantization parameter 0-51 (lower = better)")

    def __init__(self, preset: str = "slow") -> None:
        self._av = import_optional("av", self.name)
        if preset not in X265_PRESETS:
            raise CodecError(f"unknown x265 preset {preset!r} (known: {', '.join(X265_PRESETS)})")
        self.preset = preset

    def _encode(self, pixels: np.ndarray, quality: float) -> bytes:
        av = self._av
        height, width, _ = pixels.shape
        planes = np.stack([quantize_plane(p, 8) for p in rgb_to_ycbcr(pixels)])
        encoder = av.CodecContext.create("libx265", "w")
        encoder.width, encoder.height = width, height
        encoder.pix_fmt = "yuv444p"
        encoder.time_base = Fraction(1, 1)
        encoder.options = {
            "preset": self.preset,
            "x265-params": (
                f"qp={int(quality)}:tune=psnr:keyint=1:log-level=none:info=0:"
                "range=full:colormatrix=bt470bg:colorprim=bt470bg:transfer=bt470bg"
            ),
        }
        frame = av.VideoFrame.from_ndarray(planes, format="yuv444p")
        packets = list(encoder.encode(frame)) + list(encoder.encode(None))
        return b"".join(bytes(p) for p in packets)

    def _decode(self, data: bytes) -> np.ndarray:
        decoder = self._av.CodecContext.create("hevc", "r")
        decoder.options = {"max_pixels": str(MAX_DECODE_PIXELS)}
        decoder.thread_count = 1
        frames = []
        for packet in decoder.parse(data) + decoder.parse(None):
            frames += decoder.decode(packet)
        frames += decoder.decode(None)
        if len(frames) != 1:
            raise CodecError(f"hevc: expected one picture, the bitstream holds {len(frames)}")
        frame = frames[0]
        if frame.format.name != "yuv444p":
            raise CodecError(f"hevc: expected 8-bit 4:4:4 (yuv444p), got {frame.format.name}")
        y, cb, cr = (dequantize_plane(p, 8) for p in frame.to_ndarray())
        return ycbcr_to_rgb(y, cb, cr)
