"""Uncoded analog transmission of pixels: the simplest end-to-end link.

Each image's centred pixel values ``x - 0.5`` are paired into complex symbols
(``ceil(3HW / 2)`` of them, CBR ~ 1/2), power-normalized per image, sent, equalized and
rescaled. The normalization gain (the image's RMS, one number) is side information:
a float16 (2 bytes) sent over the side-information PHY (:mod:`semcom.sideinfo`, 5G NR
at MCS 3) and charged; an image whose gain fails its CRC is lost (gray, counted in
``extras["failed"]``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from semcom.channels.base import Channel
from semcom.channels.equalization import EQUALIZERS, equalize
from semcom.conventions import LOST_IMAGE_VALUE, SNR, complex_to_real, real_to_complex, snr_to_batch
from semcom.errors import SemcomError
from semcom.link import Link, TransmitResult
from semcom.registry import SYSTEMS
from semcom.settings import RunSettings
from semcom.sideinfo import SideInfoPath



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
        self.side_path = SideInfoPath()

    def _transmit(self, images: Tensor, channel: Channel, snr_db: SNR,
                  generator: torch.Generator | None, settings: RunSettings) -> TransmitResult:
        b, c, h, w = images.shape
        n = c * h * w
        snr = snr_to_batch(snr_db, b)
        z = real_to_complex(images.reshape(b, -1) - 0.5)  # (B, ceil(n/2))
        k = z.shape[1]
        rms = z.abs().pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-4).to(torch.float16)
        side = self.side_path.send([bytes(r.numpy().tobytes()) for r in rms.cpu()], channel, snr, generator)
        got = torch.stack([torch.frombuffer(bytearray(p), dtype=torch.float16) for p in side.payloads])
        got = torch.where(torch.isfinite(got) & (got > 0), got, torch.ones_like(got)).float()
        out = channel(z / rms.float(), snr, generator)
        z_hat = equalize(out, self.equalizer) * got.to(z.device)
        x_hat = (complex_to_real(z_hat, n) + 0.5).reshape(b, c, h, w).clamp(0.0, 1.0)
        failed = ~side.ok
        x_hat[failed] = LOST_IMAGE_VALUE
        return TransmitResult.build(x_hat, k + side.channel_uses, failed=failed)

    def describe(self) -> dict[str, Any]:
        return {"system": self.name, "equalizer": self.equalizer}
