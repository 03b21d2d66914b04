"""Training losses: a distortion between images plus the model's auxiliary terms.

``loss = distortion(x_hat, x) + sum(aux.values())``. A model reports training-only
penalties (rate, importance-ratio, ...) in the ``"aux"`` dict of its forward output,
already multiplied by their weights: the trainer only sums them (each reduced to its
mean if it is not a scalar), so a model's loss definition lives in the model.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from semcom.errors import SemcomError
from semcom.metrics.quality import ms_ssim

Distortion = Callable[[Tensor, Tensor], Tensor]


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


DISTORTIONS: dict[str, Distortion] = {"mse": mse_loss, "ms-ssim": ms_ssim_loss}


def get_distortion(name: str) -> Distortion:
    """The distortion called ``name`` (``"mse"`` or ``"ms-ssim"``)."""
    try:
        return DISTORTIONS[name.lower()]
    except KeyError:
        raise SemcomError(f"unknown loss {name!r} (known: {', '.join(DISTORTIONS)})") from None


def aux_total(aux: dict[str, Tensor] | None, like: Tensor) -> Tensor:
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
