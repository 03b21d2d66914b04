"""The one interface every system answers: ``link.transmit(images, channel, snr_db, **settings)``.

A neural JSCC model, a learned codec over LDPC and JPEG over LDPC are all links, so one
harness compares them on the same images, channel and SNR with the same accounting.

The contract every system keeps:

* **What the receiver knows a priori**: only the image size and the system's
  configuration (its constructor arguments, i.e. what a checkpoint stores) and the
  run-time settings its decoder side is given. Everything else the decoder uses
  (masks, rate maps, hyper-latent bits, quantizer ranges, a codec's header and
  length) crosses the channel, as bits over the project's digital PHY
  (:mod:`semcom.sideinfo`, 5G NR at a robust MCS) or as channel symbols, and its
  channel uses are in ``channel_uses``. A side-information block that fails its CRC
  is a counted failure of that image (``extras["failed"]``), never an exception.
* **Run-time settings** (:mod:`semcom.settings`): declared per system in the class
  attribute ``settings``, given as keyword arguments of :meth:`Link.transmit`,
  validated with one clear error; encoder-side settings reach only the transmitter,
  decoder-side ones only the receiver. They are not part of a system's identity.
* **Channel uses**: per image, counting exactly the symbols that passed through the
  channel (sent symbols, side information, retransmissions); unsent symbols of a
  variable-length system never enter the channel, so ``channel_uses`` and ``cbr``
  may differ between the images of a batch. ``tests/test_link_audit.py`` checks this
  for every registered system through a recording channel.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from semcom.conventions import SNR, cbr_from_channel_uses, check_snr_db
from semcom.errors import SemcomError
from semcom.settings import RunSettings, Setting, resolve_settings

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
            retransmissions, ``failed`` ``(B,)`` bool, ``settings`` the run-time
            settings used, ...).
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

    Subclasses implement :meth:`_transmit` and declare their run-time settings in
    :attr:`settings`; :meth:`transmit` validates inputs and settings first (see the
    module notes for the contract).
    """

    #: Registry name of the system (set by subclasses).
    name: str = "link"
    #: run-time settings of the system (see :mod:`semcom.settings`)
    settings: tuple[Setting, ...] = ()

    def transmit(
        self,
        images: Tensor,
        channel: "Channel",
        snr_db: SNR,
        generator: torch.Generator | None = None,
        **settings: Any,
    ) -> TransmitResult:
        """Send a batch through ``channel`` at ``snr_db`` and return what arrived.

        Args:
            images: ``(B, 3, H, W)`` float in ``[0, 1]``.
            channel: a :class:`semcom.channels.Channel`.
            snr_db: average received SNR in dB, a float or a ``(B,)`` tensor.
            generator: seeds the channel (and any other randomness) for repeatable runs.
            **settings: run-time settings declared in :attr:`settings` (e.g.
                ``rho_dec=0.3``, ``mcs=9``); the rest take their defaults.

        Raises:
            SemcomError: bad images, a NaN SNR, an unknown or invalid setting.
        """
        images = check_images(images)
        check_snr_db(snr_db)
        run = self.resolve_settings(**settings)
        result = self._transmit(images, channel, snr_db, generator, run)
        result.extras.setdefault("settings", run.as_dict())
        return result

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """Constructor arguments of a small, fast instance (tests, audits, smoke runs)."""
        return {}

    def resolve_settings(self, **settings: Any) -> RunSettings:
        """Validate run-time settings against :attr:`settings` and fill in defaults."""
        return resolve_settings(type(self).settings, settings, f"system {self.name}")

    @abstractmethod
    def _transmit(
        self, images: Tensor, channel: "Channel", snr_db: SNR, generator: torch.Generator | None,
        settings: RunSettings,
    ) -> TransmitResult:
        """Implementation of :meth:`transmit` on validated inputs and settings."""

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description of the system (for result files)."""
        return {"system": self.name}
