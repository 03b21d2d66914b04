"""Generalized divisive normalization (GDN) and its inverse (IGDN).

Balle et al. (2016): for a feature map ``x`` with ``C`` channels,

    GDN:   y_i = x_i / sqrt(beta_i + sum_j gamma_ij * x_j^2)
    IGDN:  y_i = x_i * sqrt(beta_i + sum_j gamma_ij * x_j^2)

``beta`` and ``gamma`` must stay non-negative (``beta`` strictly positive), so they are
stored reparametrized: the raw parameter ``p`` gives ``value = max(p, bound)^2 - pedestal``.
The lower bound passes gradients that push the parameter back up, so a parameter
stuck at the bound can still recover (a plain clamp would freeze it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _LowerBound(torch.autograd.Function):
    """``max(x, bound)`` whose gradient also flows below the bound when it points up."""

    @staticmethod
    def forward(ctx, x: Tensor, bound: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        # descent step is -grad: let it through where it would raise x above the bound
        pass_through = (x >= ctx.bound) | (grad < 0)
        return grad * pass_through.to(grad.dtype), None


def lower_bound(x: Tensor, bound: float) -> Tensor:
    """``max(x, bound)`` element-wise, with gradients that can lift ``x`` off the bound."""
    return _LowerBound.apply(x, bound)


class NonNegative(nn.Module):
    """Maps a raw parameter to a value ``>= minimum`` via ``max(p, bound)^2 - pedestal``.

    Args:
        minimum: smallest value the reparametrized quantity may take.
        offset: ``pedestal = offset^2``, keeps the square root away from 0 so the
            gradient near ``value = 0`` stays finite.
    """

    def __init__(self, minimum: float = 0.0, offset: float = 2.0**-18) -> None:
        super().__init__()
        self.pedestal = offset**2
        self.bound = (minimum + self.pedestal) ** 0.5

    def init(self, value: Tensor) -> Tensor:
        """The raw parameter that represents ``value``."""
        return torch.sqrt(torch.clamp_min(value + self.pedestal, self.pedestal))

    def forward(self, raw: Tensor) -> Tensor:
        return lower_bound(raw, self.bound).pow(2) - self.pedestal


class GDN(nn.Module):
    """GDN (or IGDN with ``inverse=True``) over the channels of ``(B, C, H, W)`` features.

    Args:
        channels: ``C``.
        inverse: compute IGDN (multiply instead of divide), used in decoders.
        beta_min: lower bound of ``beta`` (keeps the denominator positive).
        gamma_init: initial diagonal of ``gamma`` (off-diagonal starts at 0).

    Shapes:
        input and output ``(B, C, H, W)`` float.
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6,
                 gamma_init: float = 0.1) -> None:
        super().__init__()
        self.channels = int(channels)
        self.inverse = bool(inverse)
        self._beta = NonNegative(minimum=beta_min)
        self._gamma = NonNegative(minimum=0.0)
        self.beta_raw = nn.Parameter(self._beta.init(torch.ones(self.channels)))
        self.gamma_raw = nn.Parameter(self._gamma.init(gamma_init * torch.eye(self.channels)))

    @property
    def beta(self) -> Tensor:
        """``(C,)`` effective ``beta`` (``>= beta_min``)."""
        return self._beta(self.beta_raw)

    @property
    def gamma(self) -> Tensor:
        """``(C, C)`` effective ``gamma`` (``>= 0``); row ``i`` weighs the inputs of channel ``i``."""
        return self._gamma(self.gamma_raw)

    def forward(self, x: Tensor) -> Tensor:
        c = self.channels
        norm = F.conv2d(x * x, self.gamma.reshape(c, c, 1, 1), self.beta)
        scale = torch.sqrt(norm) if self.inverse else torch.rsqrt(norm)
        return x * scale

    def extra_repr(self) -> str:
        return f"{self.channels}, inverse={self.inverse}"
