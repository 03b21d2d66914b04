"""The contract of a learned image codec: one model the trainer trains and the digital link codes with.

A learned codec is two things: a *model* (an ``nn.Module`` subclassing
:class:`LearnedCodecModel`, registered in :data:`semcom.registry.CODEC_MODELS` and
shipped in the zoo as a checkpoint of kind ``learned_codec``), and an
:class:`~semcom.codecs.base.ImageCodec` in :data:`~semcom.registry.CODECS` that codes
with one or more trained models (e.g. a rate ladder), so that "learned codec + 5G LDPC"
is a digital link like any other.

What a model implements:

* ``code(images, quantize)``: the differentiable pass with a quantization proxy
  (``"noise"``: additive uniform noise, ``"ste"``: straight-through rounding,
  ``"round"``: the rate the entropy coder will spend), returning ``{"x_hat", "bpp",
  "likelihoods"}``;
* ``compress(image) -> bytes`` / ``decompress(bytes) -> image``: real bitstreams;
* ``aux_loss()`` (e.g. a factorized prior's quantiles, trained by the config's
  ``aux_optimizer``) and ``update()`` (build the coding tables before coding).

What the base gives: the training contract :mod:`semcom.training` calls on every model
(``forward(images, channel, snr_db, generator) -> {"x_hat", "aux", "channel_uses",
...}``, ``config``, ``modes`` / :meth:`set_modes`), so ``semcom train`` trains a learned
codec exactly as it trains a link: a codec has no channel (the arguments are ignored,
no channel use is spent) and its rate enters the loss as the aux term ``rate = bpp /
(lmbda * 255**2)``; with ``loss: mse`` the trainer minimizes ``MSE + bpp / (lmbda
255^2)``, the usual ``lmbda 255^2 MSE + bpp`` divided by a constant (Adam's steps do not
depend on that scale, apart from ``eps``). The quantization proxy is the training mode
``quantize`` (``modes: {quantize: ste}`` in a config's stage); in eval mode
(validation) the model codes with ``round``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from semcom.settings import Setting, TrainingModes

#: peak value the rate weight is expressed against: ``rate = bpp / (lmbda * PEAK**2)``
PEAK = 255.0

QUANTIZE_MODE = Setting("quantize", str, "noise", "link", choices=("noise", "ste"),
                        help="training proxy of quantization: noise = additive uniform noise (stage 1), "
                             "ste = straight-through rounding (stage 2)")


class LearnedCodecModel(TrainingModes, nn.Module):
    """Base class of learned image codec models (see the module docstring).

    Subclasses set :attr:`name` (their ``CODEC_MODELS`` name), store every constructor
    argument in ``self.config`` (so a checkpoint rebuilds the model), set ``self.lmbda``
    and implement :meth:`code`, :meth:`compress`, :meth:`decompress`, :meth:`aux_loss`
    and :meth:`update`.
    """

    name = "learned_codec"
    #: input height and width are padded to a multiple of this
    size_multiple: int = 1
    #: training-mode switches (see :meth:`set_modes`)
    modes: tuple[Setting, ...] = (QUANTIZE_MODE,)
    #: the zoo kind of its checkpoints
    checkpoint_kind = "learned_codec"

    def __init__(self) -> None:
        super().__init__()
        self.config: dict[str, Any] = {}
        self.lmbda = 1.0
        self._init_modes()

    # -- to implement ------------------------------------------------------------
    def code(self, images: Tensor, quantize: str = "noise") -> dict[str, Any]:
        """Code ``(B, 3, H, W)`` images in ``[0, 1]`` with the quantization proxy
        ``quantize``; returns ``{"x_hat": (B, 3, H, W) unclamped, "bpp": (B,) estimated
        bits per pixel of the unpadded image, "likelihoods": {...}}``."""
        raise NotImplementedError

    def compress(self, image: Tensor) -> bytes:
        """One ``(3, H, W)`` image in ``[0, 1]`` -> every byte its decoder needs."""
        raise NotImplementedError

    def decompress(self, data: bytes) -> Tensor:
        """Bytes of :meth:`compress` -> the ``(3, H, W)`` image in ``[0, 1]``.

        Raises:
            SemcomError: corrupt, truncated or foreign bytes.
        """
        raise NotImplementedError

    def aux_loss(self) -> Tensor:
        """The auxiliary parameters' loss (zero when there are none)."""
        return torch.zeros(())

    def update(self) -> "LearnedCodecModel":
        """Build the coding tables from the trained parameters; returns ``self``."""
        return self

    # -- the training contract ----------------------------------------------------
    def forward(self, images: Tensor, channel: Any = None, snr_db: Any = None,
                generator: torch.Generator | None = None, **settings: Any) -> dict[str, Any]:
        """What :mod:`semcom.training` calls: :meth:`code` with the training mode's proxy
        (``round`` in eval mode); ``channel``, ``snr_db`` and ``generator`` are ignored.

        Returns:
            ``{"x_hat": (B, 3, H, W), "aux": {"rate": (B,) bpp / (lmbda 255^2)}``
            (also as ``aux_enc``), ``"channel_uses": (B,)`` zeros, ``"failed": (B,)``
            False, ``"bpp": (B,)``, ``"likelihoods"``, and the empty entries a link's
            output has (``aux_dec``, ``side``, ``mask``, ``reconstructions``,
            ``extras``).
        """
        settings.pop("_run", None)
        quantize = self.mode["quantize"] if self.training else "round"
        out = self.code(images, quantize)
        b = images.shape[0]
        aux = {"rate": out["bpp"] / (self.lmbda * PEAK**2)}
        return {"x_hat": out["x_hat"], "channel_uses": torch.zeros(b, dtype=torch.int64), "aux": aux,
                "aux_enc": aux, "aux_dec": {}, "side": {}, "mask": None, "reconstructions": {},
                "failed": torch.zeros(b, dtype=torch.bool), "extras": {}, "side_info": False,
                "bpp": out["bpp"], "likelihoods": out.get("likelihoods", {})}


__all__ = ["PEAK", "QUANTIZE_MODE", "LearnedCodecModel"]
