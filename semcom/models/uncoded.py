"""Uncoded analog transmission of pixels: the simplest end-to-end link.

Each image's centred pixel values ``x - 0.5`` are paired into complex symbols
(``ceil(3HW / 2)`` of them, CBR ~ 1/2), power-normalized per image, sent, equalized and
rescaled. The normalization gain is one real number per image; it is charged as one
extra channel use (sent as the real part of one more symbol, assumed error-free).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from semcom.channels.base import Channel
from semcom.channels.equalization import EQUALIZERS, equalize
from semcom.conventions import SNR, complex_to_real, real_to_complex, snr_to_batch
from semcom.errors import SemcomError
from semcom.link import Link, TransmitResult
from semcom.registry import SYSTEMS

#: channel uses charged per image for the power-normalization gain
SIDE_CHANNEL_USES = 1


@SYSTEMS.register("uncoded")
class UncodedLink(Link):
    """Analog pixel transmission (no coding): image -> symbols -> channel -> image.

    Args:
        equalizer: ``"mmse"`` (default), ``"zf"`` or ``"none"``.
    """

    name = "uncoded"

    def __init__(self, equalizer: str = "mmse") -> None:
        if equalizer.lower() not in EQUALIZERS:
            raise SemcomError(f"unknown equalizer {equalizer!r} (known: {', '.join(EQUALIZERS)})")
        self.equalizer = equalizer.lower()

    def _transmit(self, images: Tensor, channel: Channel, snr_db: SNR,
                  generator: torch.Generator | None) -> TransmitResult:
        b, c, h, w = images.shape
        n = c * h * w
        z = real_to_complex(images.reshape(b, -1) - 0.5)  # (B, ceil(n/2))
        k = z.shape[1]
        rms = z.abs().pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-12)  # side info
        out = channel(z / rms, snr_to_batch(snr_db, b), generator)
        z_hat = equalize(out, self.equalizer) * rms
        x_hat = (complex_to_real(z_hat, n) + 0.5).reshape(b, c, h, w).clamp(0.0, 1.0)
        return TransmitResult.build(x_hat, k + SIDE_CHANNEL_USES)

    def describe(self) -> dict[str, Any]:
        return {"system": self.name, "equalizer": self.equalizer}
