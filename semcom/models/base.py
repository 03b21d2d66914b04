"""Neural JSCC systems: an encoder and a decoder wrapped around a channel.

Every model is a :class:`JSCCModel`: ``encode`` maps images (and its encoder-side
run-time settings) to power-normalized complex symbols, which of them are sent, and
side information; ``decode`` maps what the channel delivered (equalized symbols by
default, or the full :class:`~semcom.channels.base.ChannelOutput` when the model sets
``receives = "channel_output"``) and its decoder-side settings back to images.
``forward`` wraps the two around a channel (what training differentiates through);
``transmit`` (the :class:`~semcom.link.Link` interface) runs ``forward`` without
gradients and with the side information simulated over the digital PHY.

What a model must do to keep the contract (see :mod:`semcom.link`):

* a variable-length model returns ``Encoded.mask`` and implements
  :meth:`JSCCModel.mask_from_side`: the receiver rebuilds the mask from what it got;
* anything the decoder needs beyond the image size and ``self.config`` (the entries
  named in ``a_priori_side``) is in ``Encoded.side`` *and* serialized per image in
  ``Encoded.side_bits``;
  :meth:`JSCCModel.parse_side` rebuilds ``side`` from the received bytes. In training
  the side information is delivered error-free (``side`` as the encoder made it, with
  its gradients) but charged by the same formula.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from semcom.channels.base import Channel, ChannelOutput
from semcom.channels.equalization import EQUALIZERS, equalize
from semcom.channels.packing import send_masked, sent_counts
from semcom.conventions import LOST_IMAGE_VALUE, SNR, snr_to_batch
from semcom.data.transforms import crop_to, pad_to_multiple
from semcom.errors import SemcomError
from semcom.link import Link, TransmitResult
from semcom.settings import RunSettings, Setting, TrainingModes, resolve_settings
from semcom.sideinfo import SideInfoPath

RECEIVES = ("equalized", "channel_output")


@dataclass
class Encoded:
    """Encoder output.

    Attributes:
        symbols: ``(B, k)`` complex64, power-normalized per image over its sent symbols
            (:func:`semcom.conventions.normalize_power` with ``mask``).
        mask: ``(B, k)`` mask of the sent symbols (bool, or float 0/1 carrying a
            straight-through gradient); None: all ``k`` are sent.
        side: what the decoder needs besides the symbols (tensors with a batch
            dimension); must be rebuildable by :meth:`JSCCModel.parse_side` from
            ``side_bits`` (entries derivable from the image size and the config, like
            a latent shape, need no bits).
        side_bits: per-image serialized side information, or None if there is none.
        aux: training-only terms (e.g. rate penalties), tensors with gradients,
            already weighted (the trainer sums them).
        extras: for analysis only (importance maps, ...); never seen by the decoder.
    """

    symbols: Tensor
    mask: Tensor | None = None
    side: dict[str, Any] = field(default_factory=dict)
    side_bits: list[bytes] | None = None
    aux: dict[str, Tensor] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Decoded:
    """Decoder output, when a decoder returns more than the images.

    Attributes:
        images: ``(B, 3, H, W)`` unclamped reconstructions.
        aux: decoder-side training terms (already weighted).
        reconstructions: extra named ``(B, 3, H, W)`` reconstructions for two-term
            losses (e.g. a learned codec's own output ``"lic"``).
        failed: optional ``(B,)`` bool, True for the images the decoder itself could not
            decode (e.g. a payload transport block that failed its CRC); ``forward`` ORs
            it into its ``"failed"`` and shows those images gray
            (:data:`~semcom.conventions.LOST_IMAGE_VALUE`), as for lost side information.
            None: the decoder reports no failures.
    """

    images: Tensor
    aux: dict[str, Tensor] = field(default_factory=dict)
    reconstructions: dict[str, Tensor] = field(default_factory=dict)
    failed: Tensor | None = None


class JSCCModel(TrainingModes, nn.Module, Link):
    """Base class of neural JSCC systems.

    Subclasses store every constructor argument in ``self.config`` (so a checkpoint
    rebuilds its own model) and implement :meth:`encode` and :meth:`decode`. They
    declare run-time settings in :attr:`settings` (not part of the identity) and
    training-mode switches in :attr:`modes` (noise vs straight-through rounding, the
    active rate set, ...; set with :meth:`set_modes`, not stored in ``config``).

    Args:
        equalizer: receiver equalization applied to fading channels (``"mmse"``,
            ``"zf"`` or ``"none"``).
    """

    name = "jscc"
    #: input height and width must be multiples of this (images are padded to it)
    size_multiple: int = 1
    #: training-mode switches (see :meth:`set_modes`)
    modes: tuple[Setting, ...] = ()
    #: what :meth:`decode` receives: ``"equalized"`` symbols or the ``"channel_output"``
    receives: str = "equalized"
    #: ``Encoded.side`` entries the receiver derives from the image size and the config
    #: alone (free); every other entry must travel in ``side_bits``
    a_priori_side: tuple[str, ...] = ("latent_shape",)

    def __init__(self, equalizer: str = "mmse") -> None:
        nn.Module.__init__(self)
        if equalizer.lower() not in EQUALIZERS:
            raise SemcomError(f"unknown equalizer {equalizer!r} (known: {', '.join(EQUALIZERS)})")
        if self.receives not in RECEIVES:
            raise SemcomError(f"{self.name}: receives must be one of {RECEIVES}, got {self.receives!r}")
        self.equalizer = equalizer.lower()
        self.config: dict[str, Any] = {"equalizer": self.equalizer}
        self._init_modes()
        self.side_path = SideInfoPath()

    # -- to implement ------------------------------------------------------------
    def encode(self, images: Tensor, snr_db: Tensor, **settings: Any) -> Encoded:
        """Map ``(B, 3, H, W)`` images in ``[0, 1]`` (H, W multiples of
        ``size_multiple``), ``(B,)`` SNRs in dB and the encoder-side run-time
        settings to channel symbols."""
        raise NotImplementedError

    def decode(self, received: Tensor | ChannelOutput, snr_db: Tensor, side: dict[str, Any],
               **settings: Any) -> Tensor | Decoded:
        """Map ``(B, k)`` complex equalized symbols (zeros where nothing was sent), or the
        unpacked :class:`ChannelOutput`, back to ``(B, 3, H, W)`` images."""
        raise NotImplementedError

    def parse_side(self, payloads: list[bytes], shape: tuple[int, ...], device: torch.device) -> dict[str, Any]:
        """Rebuild ``side`` from the received per-image bytes (models with side bits).

        Args:
            payloads: one ``bytes`` per image, as long as those sent.
            shape: ``(B, 3, H, W)`` of the (padded) images, known to the receiver.
            device: where the side tensors go.

        Raises:
            SemcomError: bytes that do not parse (the image counts as failed).
        """
        raise NotImplementedError(f"{self.name} sends side bits but does not implement parse_side")

    def mask_from_side(self, side: dict[str, Any], num_symbols: int) -> Tensor | None:
        """``(B, k)`` bool mask of the sent symbols, rebuilt at the receiver from ``side``
        (variable-length models must implement it)."""
        raise NotImplementedError(f"{self.name} sends a mask but does not implement mask_from_side")

    # -- wrapping -----------------------------------------------------------------
    def forward(self, images: Tensor, channel: Channel, snr_db: SNR, generator: torch.Generator | None = None,
                simulate_side: bool | None = None, **settings: Any) -> dict[str, Any]:
        """Encode, send through ``channel``, equalize, decode (differentiable).

        Args:
            images: ``(B, 3, H, W)`` in ``[0, 1]``.
            channel: the channel.
            snr_db: SNR in dB, scalar or ``(B,)``.
            generator: randomness of the channel (and of the side-information PHY).
            simulate_side: send side information over the PHY (default: in eval mode)
                instead of delivering it error-free; it is charged either way.
            **settings: run-time settings (validated; encoder-side ones reach only
                :meth:`encode`, decoder-side ones only :meth:`decode`).

        Returns:
            ``{"x_hat": (B, 3, H, W) unclamped, "channel_uses": (B,) int64, "aux": {...}
            (encoder and decoder terms), "aux_enc", "aux_dec", "side", "mask",
            "reconstructions": {name: (B, 3, H, W)}, "failed": (B,) bool, "extras"}``,
            images cropped back to the input size.
        """
        run = settings.pop("_run", None)
        if not isinstance(run, RunSettings):
            run = self.resolve_settings(**settings)
        simulate = (not self.training) if simulate_side is None else bool(simulate_side)
        b = images.shape[0]
        snr = snr_to_batch(snr_db, b, images.device)
        x, size = pad_to_multiple(images, self.size_multiple)  # replicate-pads bottom/right
        enc = self.encode(x, snr, **run.encoder())
        k = enc.symbols.shape[1]
        mask = None if enc.mask is None else enc.mask.detach() > 0.5
        uses = sent_counts(mask, b, k)
        side, failed = enc.side, torch.zeros(b, dtype=torch.bool)
        if enc.side_bits is not None:
            if len(enc.side_bits) != b:
                raise SemcomError(f"{self.name}: side_bits must hold one payload per image")
            delivery = self.side_path.send(enc.side_bits, channel, snr, generator, simulate)
            uses = uses + delivery.channel_uses
            failed = ~delivery.ok
            if simulate:
                side, failed = self._received_side(enc, delivery.payloads, failed, x, mask, k)
        else:
            self._check_nothing_uncharged(enc)
        received = self.receive(channel, enc, snr, generator)
        dec = self.decode(received, snr, side, **run.decoder())
        if not isinstance(dec, Decoded):
            dec = Decoded(images=dec)
        if dec.failed is not None:
            failed = failed | dec.failed.detach().to(device=failed.device, dtype=torch.bool).reshape(b)
        x_hat = crop_to(dec.images, size)
        if failed.any():
            x_hat = torch.where(failed.to(x_hat.device).reshape(-1, 1, 1, 1),
                                torch.full_like(x_hat, LOST_IMAGE_VALUE), x_hat)
        return {"x_hat": x_hat, "channel_uses": uses, "aux": {**enc.aux, **dec.aux}, "aux_enc": enc.aux,
                "aux_dec": dec.aux, "side": enc.side, "mask": mask,
                "reconstructions": {n: crop_to(r, size) for n, r in dec.reconstructions.items()},
                "failed": failed, "extras": enc.extras, "side_info": enc.side_bits is not None}

    def receive(self, channel: Channel, enc: Encoded, snr_db: Tensor,
                generator: torch.Generator | None = None) -> Tensor | ChannelOutput:
        """What :meth:`decode` gets for ``enc``: its sent symbols through ``channel``
        (packed, :func:`~semcom.channels.packing.send_masked`), unpacked to ``(B, k)``
        and equalized, or the unpacked :class:`ChannelOutput` when ``receives =
        "channel_output"``."""
        mask = None if enc.mask is None else enc.mask.detach() > 0.5
        out = send_masked(channel, enc.symbols, mask, snr_db, generator)
        return out if self.receives == "channel_output" else equalize(out, self.equalizer)

    def _check_nothing_uncharged(self, enc: Encoded) -> None:
        """Without side bits, the receiver may use only what it knows a priori."""
        if enc.mask is not None:
            raise SemcomError(f"{self.name} sends a variable number of symbols but no side information: "
                              f"the receiver cannot know which were sent")
        extra = sorted(set(enc.side) - set(self.a_priori_side))
        if extra:
            raise SemcomError(f"{self.name} gives its decoder {', '.join(extra)} without sending them: "
                              f"serialize them in side_bits or list them in a_priori_side")

    def _received_side(self, enc: Encoded, payloads: list[bytes], failed: Tensor, x: Tensor,
                       mask: Tensor | None, k: int) -> tuple[dict[str, Any], Tensor]:
        """The side information as the receiver parsed it, plus the a-priori entries.

        Images whose bytes failed their CRC, do not parse, or rebuild a different mask
        are marked failed; another image's received bytes stand in for theirs only so
        that the batch decodes (their output is replaced by gray, never shown).
        """
        failed = failed.clone()
        shape = tuple(x.shape)
        for b, got in enumerate(payloads):  # which images' bytes do not parse on their own
            if not failed[b]:
                try:
                    self.parse_side([got], (1,) + shape[1:], x.device)
                except SemcomError:
                    failed[b] = True
        if failed.all():  # nothing usable arrived: the batch decodes on stand-ins, all gray
            return enc.side, torch.ones_like(failed)
        stand_in = payloads[int(torch.nonzero(~failed)[0])]
        usable = [stand_in if bad else got for got, bad in zip(payloads, failed.tolist())]
        side = {key: enc.side[key] for key in self.a_priori_side if key in enc.side}
        side.update(self.parse_side(usable, shape, x.device))
        if mask is not None:
            rx_mask = self.mask_from_side(side, k)
            if rx_mask is None or tuple(rx_mask.shape) != tuple(mask.shape):
                raise SemcomError(f"{self.name}.mask_from_side must return a (B, {k}) mask")
            failed = failed | (rx_mask.to(mask.device) != mask).any(dim=1).cpu()
        return side, failed

    def _transmit(self, images: Tensor, channel: Channel, snr_db: SNR,
                  generator: torch.Generator | None, settings: RunSettings) -> TransmitResult:
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                device = next(self.parameters()).device
                out = self(images.to(device), channel, snr_db, generator, _run=settings)
        finally:
            self.train(was_training)
        extras = {k: v for k, v in out["side"].items() if k not in ("latent_shape",)}
        extras.update(out["extras"])
        if out["side_info"] or bool(out["failed"].any()):  # side information, or a decoder's own verdict
            extras["failed"] = out["failed"]
        return TransmitResult.build(out["x_hat"].clamp(0, 1).cpu(), out["channel_uses"].cpu(), **extras)

    def describe(self) -> dict[str, Any]:
        return {"system": self.name, **self.config}
