"""The one interface every system answers: ``link.transmit(images, channel, snr_db)``.

A neural JSCC model, a learned codec over LDPC and JPEG over LDPC are all links, so one
harness compares them on the same images, channel and SNR with the same accounting.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from semcom.conventions import SNR, cbr_from_channel_uses, check_snr_db
from semcom.errors import SemcomError

if TYPE_CHECKING:
    from semcom.channels.base import Channel


@dataclass
class TransmitResult:
    """What arrived at the receiver.

    Attributes:
        images: ``(B, 3, H, W)`` float reconstructions in ``[0, 1]``.
        channel_uses: ``(B,)`` int64 complex channel uses per image, side information
            and retransmissions included.
        cbr: ``(B,)`` float64 ``channel_uses / (3 H W)`` of the unpadded image.
        extras: system-specific information (importance masks, MCS chosen,
            retransmissions, failures, ...).
    """

    images: Tensor
    channel_uses: Tensor
    cbr: Tensor
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, images: Tensor, channel_uses: Tensor | int | list[int], **extras: Any) -> "TransmitResult":
        """Make a result from reconstructions and per-image channel uses; computes ``cbr``."""
        b, _, h, w = images.shape
        uses = torch.as_tensor(channel_uses, dtype=torch.int64).reshape(-1)
        if uses.numel() == 1:
            uses = uses.expand(b).clone()
        return cls(images=images, channel_uses=uses, cbr=cbr_from_channel_uses(uses, h, w), extras=dict(extras))


def check_images(images: Tensor) -> Tensor:
    """Validate a ``(B, 3, H, W)`` float batch in ``[0, 1]``; returns it as float32."""
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise SemcomError(f"images must be a (B, 3, H, W) tensor, got {shape}")
    if not images.is_floating_point():
        raise SemcomError(f"images must be float in [0, 1], got dtype {images.dtype}")
    if not torch.isfinite(images).all():
        raise SemcomError("images contain NaN or inf")
    if images.numel() and (images.min() < -1e-6 or images.max() > 1 + 1e-6):
        raise SemcomError("images must lie in [0, 1]")
    return images.float()


class Link(ABC):
    """A communication system: source/channel coding around a channel.

    Subclasses implement :meth:`_transmit`; :meth:`transmit` validates inputs first.
    """

    #: Registry name of the system (set by subclasses).
    name: str = "link"

    def transmit(
        self,
        images: Tensor,
        channel: "Channel",
        snr_db: SNR,
        generator: torch.Generator | None = None,
    ) -> TransmitResult:
        """Send a batch through ``channel`` at ``snr_db`` and return what arrived.

        Args:
            images: ``(B, 3, H, W)`` float in ``[0, 1]``.
            channel: a :class:`semcom.channels.Channel`.
            snr_db: average received SNR in dB, a float or a ``(B,)`` tensor.
            generator: seeds the channel (and any other randomness) for repeatable runs.
        """
        images = check_images(images)
        check_snr_db(snr_db)
        return self._transmit(images, channel, snr_db, generator)

    @abstractmethod
    def _transmit(
        self, images: Tensor, channel: "Channel", snr_db: SNR, generator: torch.Generator | None
    ) -> TransmitResult:
        """Implementation of :meth:`transmit` on validated inputs."""

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description of the system (for result files)."""
        return {"system": self.name}
