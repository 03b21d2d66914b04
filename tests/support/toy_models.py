"""A test-only variable-length JSCC model with side information and run-time settings.

``ToyVariableLength`` sends a per-image number of symbols (chosen from the image's
contrast, or forced by the encoder-side setting ``rate``), tells the receiver that
number as 2 bytes of side information, and has a decoder-side setting ``gain``.
It exercises every part of the link contract in a few microseconds per image.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcom.conventions import complex_to_real, normalize_power, real_to_complex
from semcom.errors import SemcomError
from semcom.models.base import Decoded, Encoded, JSCCModel
from semcom.registry import SYSTEMS
from semcom.settings import Setting

TOY_NAME = "toy-variable-length"


class ToyVariableLength(JSCCModel):
    """Average-pool 4x4 -> complex symbols, the first ``n`` of them sent."""

    name = TOY_NAME
    size_multiple = 4
    settings = (
        Setting("rate", float, None, "encoder", low=0.0, high=1.0, allow_auto=True,
                help="fraction of symbols to send (default: chosen per image)"),
        Setting("gain", float, 1.0, "decoder", low=0.0, high=10.0, help="receiver-side output gain"),
    )
    modes = (Setting("quantize", str, "noise", "link", choices=("noise", "ste"), help="training mode"),)

    def __init__(self, equalizer: str = "mmse", refine: bool = False) -> None:
        super().__init__(equalizer)
        self.config["refine"] = bool(refine)
        self.scale = nn.Parameter(torch.ones(()))
        self.refine = nn.Conv2d(3, 3, 1) if refine else None

    def _count(self, images: Tensor, k: int, rate: Any) -> Tensor:
        if isinstance(rate, float):
            frac = torch.full((images.shape[0],), rate)
        else:  # adaptive: more symbols for images with more contrast
            frac = (0.25 + 3.0 * images.detach().flatten(1).std(dim=1).cpu()).clamp(0.0, 1.0)
        return torch.round(frac * k).to(torch.int64)

    def encode(self, images: Tensor, snr_db: Tensor, rate: Any = None) -> Encoded:
        latent = F.avg_pool2d(images - 0.5, 4) * self.scale  # (B, 3, H/4, W/4)
        z = real_to_complex(latent.flatten(1))
        b, k = z.shape
        count = self._count(images, k, rate)
        mask = torch.arange(k).expand(b, k) < count[:, None]
        symbols = normalize_power(z, mask=mask)
        bits = [int(c).to_bytes(2, "big") for c in count]
        return Encoded(symbols=symbols, mask=mask, side={"count": count}, side_bits=bits,
                       aux={"rate": 1e-3 * mask.float().mean()}, extras={"sent": count})

    def parse_side(self, payloads: list[bytes], shape: tuple[int, ...], device: torch.device) -> dict[str, Any]:
        if any(len(p) != 2 for p in payloads):
            raise SemcomError("toy side information must be 2 bytes per image")
        return {"count": torch.tensor([int.from_bytes(p, "big") for p in payloads], dtype=torch.int64)}

    def mask_from_side(self, side: dict[str, Any], num_symbols: int) -> Tensor:
        count = side["count"]
        return torch.arange(num_symbols).expand(count.numel(), num_symbols) < count[:, None]

    def decode(self, received: Tensor, snr_db: Tensor, side: dict[str, Any], gain: float = 1.0) -> Decoded:
        b = received.shape[0]
        h4 = w4 = int(round((received.shape[1] * 2 / 3) ** 0.5))
        latent = complex_to_real(received, 3 * h4 * w4).reshape(b, 3, h4, w4) * 0.2
        x = F.interpolate(latent, scale_factor=4, mode="nearest") + 0.5
        if self.refine is not None:
            x = x + self.refine(x)
        return Decoded(images=x * gain, aux={"decoder_term": 0.0 * x.mean()}, reconstructions={"coarse": x})


def register_toy() -> None:
    """Register the toy model (idempotent)."""
    if TOY_NAME not in SYSTEMS:
        SYSTEMS.register(TOY_NAME)(ToyVariableLength)


def unregister_toy() -> None:
    """Remove it again, so registry-driven listings elsewhere do not see it."""
    SYSTEMS._entries.pop(TOY_NAME, None)
    SYSTEMS._help.pop(TOY_NAME, None)
