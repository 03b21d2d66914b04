"""Training losses: distortion terms registered by name, and the model's auxiliary terms.

A *loss term* compares one reconstruction with the batch's images: ``term(x_hat, batch)``
returns a scalar. Terms are registered in :data:`LOSSES` and configured as
``loss: {name: ..., **kwargs}`` (see :mod:`.objective`, which combines terms, weights
and the model's ``aux`` outputs into the training objective):

* ``mse``: mean squared error (unclamped ``x_hat``).
* ``ms-ssim``: ``1 - MS-SSIM``; ``ssim``: ``1 - SSIM`` (clamped, not rounded, so they
  have gradients; the metric's window and scales, :mod:`semcom.metrics.quality`).
* ``lpips``: LPIPS from a local weights file (``weights: PATH`` or
  ``$SEMCOM_LPIPS_WEIGHTS``); a clear error when there is none.
* ``weighted-mse``: MSE with per-element weights from a frozen auxiliary model (the
  SP-JSCC case, :mod:`.auxiliary`).

A model reports training-only penalties (rate, importance ratio, ...) in the ``"aux"``
dict of its forward output, already multiplied by their weights: the objective only sums
them (each reduced to its mean if it is not a scalar), so a model's loss definition
lives in the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcom.errors import SemcomError
from semcom.metrics.quality import ms_ssim, ssim
from semcom.registry import Registry

if TYPE_CHECKING:
    from semcom.training.data import Batch

Distortion = Callable[[Tensor, Tensor], Tensor]

#: loss terms by name: ``LOSSES.create(name, **kwargs)`` -> :class:`LossTerm`
LOSSES = Registry("loss")


def mse_loss(x_hat: Tensor, x: Tensor) -> Tensor:
    """Mean squared error over all pixels, channels and images (unclamped ``x_hat``)."""
    return F.mse_loss(x_hat.float(), x.float())


def differentiable_ms_ssim(reference: Tensor, reconstruction: Tensor) -> Tensor:
    """Per-image MS-SSIM ``(B,)``: :func:`semcom.metrics.quality.ms_ssim` (same window,
    weights, and fewer scales for small images such as 32x32) without the 8-bit rounding,
    whose zero gradient would stop training.

    Args:
        reference: ``(B, 3, H, W)`` float in ``[0, 1]``.
        reconstruction: ``(B, 3, H, W)`` float; clamped to ``[0, 1]`` (not rounded).
    """
    return ms_ssim(reference, reconstruction.clamp(0.0, 1.0), quantize=False)


def ms_ssim_loss(x_hat: Tensor, x: Tensor) -> Tensor:
    """``1 - MS-SSIM`` averaged over the batch (see :func:`differentiable_ms_ssim`)."""
    return 1.0 - differentiable_ms_ssim(x, x_hat).mean()


def ssim_loss(x_hat: Tensor, x: Tensor) -> Tensor:
    """``1 - SSIM`` averaged over the batch (clamped, not rounded: differentiable)."""
    return 1.0 - ssim(x, x_hat.clamp(0.0, 1.0), quantize=False).mean()


#: the plain distortions ``d(x_hat, x)`` behind the terms of the same name
DISTORTIONS: dict[str, Distortion] = {"mse": mse_loss, "ms-ssim": ms_ssim_loss, "ssim": ssim_loss}


def get_distortion(name: str) -> Distortion:
    """The plain distortion called ``name`` (``"mse"``, ``"ms-ssim"`` or ``"ssim"``)."""
    try:
        return DISTORTIONS[name.lower()]
    except KeyError:
        raise SemcomError(f"unknown loss {name!r} (known: {', '.join(LOSSES.names())})") from None


def aux_total(aux: Mapping[str, Any] | None, like: Tensor) -> Tensor:
    """Sum of the model's (already weighted) auxiliary loss terms; 0 when there are none."""
    total = torch.zeros((), dtype=like.dtype, device=like.device)
    for name, value in (aux or {}).items():
        if not isinstance(value, Tensor):
            value = torch.as_tensor(value, dtype=like.dtype, device=like.device)
        if not torch.is_floating_point(value):
            raise SemcomError(f"aux loss term {name!r} must be a float tensor")
        total = total + (value if value.dim() == 0 else value.mean())
    return total


def training_loss(distortion: Distortion, x_hat: Tensor, x: Tensor,
                  aux: dict[str, Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """``(total, distortion)`` scalars for one batch: ``distortion + sum(aux)``."""
    d = distortion(x_hat, x)
    return d + aux_total(aux, d), d


# ------------------------------------------------------------------ registered terms
class LossTerm(nn.Module):
    """A distortion term: ``forward(x_hat, batch)`` -> scalar tensor.

    ``x_hat`` is a ``(B, 3, H, W)`` reconstruction (unclamped); ``batch`` a
    :class:`~semcom.training.data.Batch` (``images``, optional ``labels``). A term that
    holds networks (LPIPS, a frozen classifier) keeps them frozen: they are no part of
    the trained model, its checkpoint or its optimizer.
    """

    def forward(self, x_hat: Tensor, batch: "Batch") -> Tensor:
        """Scalar loss of the ``(B, 3, H, W)`` reconstruction ``x_hat`` against ``batch``."""
        raise NotImplementedError


class _Plain(LossTerm):
    def __init__(self, distortion: Distortion) -> None:
        super().__init__()
        self.distortion = distortion

    def forward(self, x_hat: Tensor, batch: "Batch") -> Tensor:
        return self.distortion(x_hat, batch.images)


@LOSSES.register("mse", help="mean squared error")
def mse_term() -> LossTerm:
    """Mean squared error."""
    return _Plain(mse_loss)


@LOSSES.register("ms-ssim", help="1 - MS-SSIM (differentiable)")
def ms_ssim_term() -> LossTerm:
    """``1 - MS-SSIM``."""
    return _Plain(ms_ssim_loss)


@LOSSES.register("ssim", help="1 - SSIM (differentiable)")
def ssim_term() -> LossTerm:
    """``1 - SSIM``."""
    return _Plain(ssim_loss)


class LPIPSLoss(LossTerm):
    """Mean LPIPS distance of clamped (not rounded) images, from local weights.

    Args:
        weights: a safetensors file (:mod:`semcom.metrics.lpips`); default
            ``$SEMCOM_LPIPS_WEIGHTS``.

    Raises:
        SemcomError: no weights file given or found, or one that does not fit.
    """

    def __init__(self, weights: str | None = None) -> None:
        from semcom.metrics.lpips import load_lpips

        super().__init__()
        self.net = load_lpips(weights)
        self.net.requires_grad_(False)

    def train(self, mode: bool = True) -> "LPIPSLoss":
        super().train(mode)
        self.net.eval()  # a fixed metric network
        return self

    def forward(self, x_hat: Tensor, batch: "Batch") -> Tensor:
        """Mean LPIPS of the batch (scalar, differentiable in ``x_hat``)."""
        return self.net(batch.images.float(), x_hat.float().clamp(0.0, 1.0)).mean()


LOSSES.register("lpips", help="LPIPS distance from local weights")(LPIPSLoss)


@LOSSES.register("weighted-mse", help="MSE weighted per element by a frozen auxiliary model")
def weighted_mse_term(aux_model: Mapping[str, Any] | str, target: str = "mean") -> LossTerm:
    """MSE weighted by a frozen classifier's input gradients (see :mod:`.auxiliary`)."""
    from semcom.training.auxiliary import InputGradientWeightedMSE

    return InputGradientWeightedMSE(aux_model, target)
