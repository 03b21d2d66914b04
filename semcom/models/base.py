"""Neural JSCC systems: an encoder and a decoder wrapped around a channel.

Every model is a :class:`JSCCModel`: ``encode`` maps images to power-normalized complex
symbols, ``decode`` maps equalized received symbols back to images, and ``forward``
wraps the two around a channel (what training differentiates through). ``transmit``
(the :class:`~semcom.link.Link` interface) runs ``forward`` without gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from semcom.channels.base import Channel
from semcom.channels.equalization import EQUALIZERS, equalize
from semcom.conventions import SNR, snr_to_batch
from semcom.data.transforms import crop_to, pad_to_multiple
from semcom.errors import SemcomError
from semcom.link import Link, TransmitResult


@dataclass
class Encoded:
    """Encoder output.

    Attributes:
        symbols: ``(B, k)`` complex64, power-normalized per image (unsent symbols of a
            variable-rate model are zero and not counted).
        channel_uses: ``(B,)`` int64 symbols actually sent per image (side info included).
        side: what the decoder needs besides the symbols (latent shape, masks, ...).
        aux: training-only terms (e.g. rate penalties), tensors with gradients.
    """

    symbols: Tensor
    channel_uses: Tensor
    side: dict[str, Any] = field(default_factory=dict)
    aux: dict[str, Tensor] = field(default_factory=dict)


class JSCCModel(nn.Module, Link):
    """Base class of neural JSCC systems.

    Subclasses store every constructor argument in ``self.config`` (so a checkpoint
    rebuilds its own model) and implement :meth:`encode` and :meth:`decode`.

    Args:
        equalizer: receiver equalization applied to fading channels (``"mmse"``,
            ``"zf"`` or ``"none"``).
    """

    name = "jscc"
    #: input height and width must be multiples of this (images are padded to it)
    size_multiple: int = 1

    def __init__(self, equalizer: str = "mmse") -> None:
        nn.Module.__init__(self)
        if equalizer.lower() not in EQUALIZERS:
            raise SemcomError(f"unknown equalizer {equalizer!r} (known: {', '.join(EQUALIZERS)})")
        self.equalizer = equalizer.lower()
        self.config: dict[str, Any] = {"equalizer": self.equalizer}

    # -- to implement ------------------------------------------------------------
    def encode(self, images: Tensor, snr_db: Tensor) -> Encoded:
        """Map ``(B, 3, H, W)`` images in ``[0, 1]`` (H, W multiples of
        ``size_multiple``) and ``(B,)`` SNRs in dB to channel symbols."""
        raise NotImplementedError

    def decode(self, symbols: Tensor, snr_db: Tensor, side: dict[str, Any]) -> Tensor:
        """Map ``(B, k)`` complex equalized symbols back to ``(B, 3, H, W)`` images."""
        raise NotImplementedError

    # -- wrapping -----------------------------------------------------------------
    def forward(self, images: Tensor, channel: Channel, snr_db: SNR,
                generator: torch.Generator | None = None) -> dict[str, Any]:
        """Encode, send through ``channel``, equalize, decode (differentiable).

        Returns:
            ``{"x_hat": (B, 3, H, W) unclamped, "channel_uses": (B,), "aux": {...},
            "side": {...}}`` with ``x_hat`` cropped back to the input size.
        """
        snr = snr_to_batch(snr_db, images.shape[0], images.device)
        x, size = pad_to_multiple(images, self.size_multiple)  # replicate-pads bottom/right
        enc = self.encode(x, snr)
        out = channel(enc.symbols, snr, generator)
        received = equalize(out, self.equalizer)
        x_hat = crop_to(self.decode(received, snr, enc.side), size)
        return {"x_hat": x_hat, "channel_uses": enc.channel_uses, "aux": enc.aux, "side": enc.side}

    def _transmit(self, images: Tensor, channel: Channel, snr_db: SNR,
                  generator: torch.Generator | None) -> TransmitResult:
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                device = next(self.parameters()).device
                out = self(images.to(device), channel, snr_db, generator)
        finally:
            self.train(was_training)
        extras = {k: v for k, v in out["side"].items() if k not in ("latent_shape",)}
        return TransmitResult.build(out["x_hat"].clamp(0, 1).cpu(), out["channel_uses"].cpu(), **extras)

    def describe(self) -> dict[str, Any]:
        return {"system": self.name, **self.config}
