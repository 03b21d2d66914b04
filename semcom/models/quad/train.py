"""``quad_lic_train``: Quad-LIC wrapped for :mod:`semcom.training` (a plugin, not a link).

The trainer builds models from :data:`semcom.registry.SYSTEMS` and requires a
:class:`~semcom.models.base.JSCCModel` whose ``forward(images, channel, snr_db,
generator)`` returns ``{"x_hat", "aux", ...}``; the objective then adds the model's
``aux`` terms to the configured distortion. :class:`QuadLICSystem` is that shape around
a :class:`~semcom.models.quad.lic.QuadLIC` (``self.lic``; state-dict keys ``lic.*``):

* the channel and SNR are ignored (a codec has no channel; ``channel_uses`` are 0);
* the quantization proxy is the training mode ``quantize`` (``noise`` for stage 1,
  ``ste`` for stage 2; ``modes: {quantize: ste}`` in a config); in eval mode
  (validation) it codes with ``round``;
* ``aux = {"rate": bpp / (lmbda * 255**2)}`` per image, so with ``loss: mse`` the
  trainer minimizes ``MSE + bpp / (lmbda 255^2) = (lmbda 255^2 MSE + bpp) / (lmbda 255^2)``,
  the paper's loss divided by a constant (Adam's steps do not depend on that scale,
  apart from ``eps``);
* :meth:`QuadLICSystem.aux_loss` is the factorized prior's quantile loss, for
  ``aux_optimizer: {params: ["*quantiles*"]}``.

Importing this module registers ``quad_lic_train`` (configs say ``imports:
[semcom.models.quad.train]``). It is deliberately *not* imported by
:mod:`semcom.models.quad`: the registry-driven link tests build every system in
``SYSTEMS`` and transmit through a channel, which a codec cannot do.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from semcom.errors import SemcomError
from semcom.models.base import JSCCModel
from semcom.models.quad.lic import QuadLIC
from semcom.registry import SYSTEMS
from semcom.settings import Setting

#: registry name of the training wrapper
TRAIN_SYSTEM = "quad_lic_train"


class QuadLICSystem(JSCCModel):
    """Quad-LIC as a trainable system (see the module docstring; arguments as
    :class:`~semcom.models.quad.lic.QuadLIC`, plus the unused ``equalizer``)."""

    name = TRAIN_SYSTEM
    size_multiple = 64
    modes = (
        Setting("quantize", str, "noise", "link", choices=("noise", "ste"),
                help="training proxy of quantization: noise = additive uniform noise (stage 1), "
                     "ste = straight-through rounding (stage 2)"),
    )

    def __init__(self, N: int = 192, M: int = 320, partition: str = "quadtree", unet: bool = True,
                 lmbda: float = 0.0067, unet_widths: list[int] | None = None,
                 context_hidden: int | None = None, context_blocks: int = 2, noise_context: str = "ste",
                 equalizer: str = "mmse") -> None:
        super().__init__(equalizer)
        self.lic = QuadLIC(N=N, M=M, partition=partition, unet=unet, lmbda=lmbda, unet_widths=unet_widths,
                           context_hidden=context_hidden, context_blocks=context_blocks,
                           noise_context=noise_context)
        self.config.update(self.lic.config)

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        return {"N": 16, "M": 32}

    def forward(self, images: Tensor, channel: Any = None, snr_db: Any = None,
                generator: torch.Generator | None = None, simulate_side: bool | None = None,
                **settings: Any) -> dict[str, Any]:
        """Code ``images`` ``(B, 3, H, W)`` with the training proxy (``round`` in eval mode).

        Returns:
            the trainer's dict (``x_hat``, ``aux`` = ``aux_enc`` = ``{"rate": (B,)}``,
            ``channel_uses`` zeros, ...) plus the codec's ``bpp`` ``(B,)`` and
            ``likelihoods``.
        """
        settings.pop("_run", None)
        mode = self.mode["quantize"] if self.training else "round"
        out = self.lic(images, mode)
        b = images.shape[0]
        aux = {"rate": out["bpp"] / (self.lic.lmbda * 255.0**2)}
        zeros = torch.zeros(b, dtype=torch.int64)
        return {"x_hat": out["x_hat"], "channel_uses": zeros, "aux": aux, "aux_enc": aux, "aux_dec": {},
                "side": {}, "mask": None, "reconstructions": {}, "failed": torch.zeros(b, dtype=torch.bool),
                "extras": {}, "side_info": False, "bpp": out["bpp"], "likelihoods": out["likelihoods"]}

    def aux_loss(self) -> Tensor:
        """The factorized prior's quantile loss."""
        return self.lic.aux_loss()

    def _not_a_link(self) -> SemcomError:
        return SemcomError(f"{self.name} is Quad-LIC's training wrapper, not a link: send Quad-LIC over the "
                           "digital link (system digital, codec quad_lic)")

    def encode(self, images: Tensor, snr_db: Tensor, **settings: Any) -> Any:
        raise self._not_a_link()

    def decode(self, received: Any, snr_db: Tensor, side: dict[str, Any], **settings: Any) -> Any:
        raise self._not_a_link()

    def _transmit(self, images: Tensor, channel: Any, snr_db: Any, generator: Any, settings: Any) -> Any:
        raise self._not_a_link()


def register() -> None:
    """Register :class:`QuadLICSystem` as ``quad_lic_train`` (idempotent)."""
    if TRAIN_SYSTEM not in SYSTEMS:
        SYSTEMS.register(TRAIN_SYSTEM)(QuadLICSystem)


def unregister() -> None:
    """Remove it again (tests), so registry-wide listings do not see it."""
    SYSTEMS._entries.pop(TRAIN_SYSTEM, None)
    SYSTEMS._help.pop(TRAIN_SYSTEM, None)


register()

__all__ = ["TRAIN_SYSTEM", "QuadLICSystem", "register", "unregister"]
