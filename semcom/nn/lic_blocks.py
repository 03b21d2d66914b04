"""ELIC-style building blocks of the analysis / synthesis transforms of a learned codec.

He et al. 2022 (ELIC) build ``g_a`` from stride-2 5x5 convolutions, each followed by a
stack of residual bottleneck blocks, with simplified attention blocks (Cheng et al.
2020) at two depths; ``g_s`` mirrors it with stride-2 up-convolutions. This module holds
the pieces:

* :class:`ResidualBottleneckBlock` ``(B, C, H, W) -> (B, C, H, W)``:
  ``x + conv1x1(relu(conv3x3(relu(conv1x1(x)))))`` with a ``C/2`` wide middle;
* :class:`AttentionBlock` ``(B, C, H, W) -> (B, C, H, W)``:
  ``x + a(x) * sigmoid(b(x))``, ``a`` three residual units, ``b`` three residual units
  and a 1x1 convolution (the mask);
* :func:`conv_down` (5x5, stride 2: ``H -> H/2``), :func:`conv_up` (5x5 transposed,
  stride 2: ``H -> 2H``) and :class:`SubpixelUp` (5x5 convolution to ``4 * out``
  channels then pixel shuffle: ``H -> 2H``).

All 1x1 convolutions are :class:`~semcom.nn.conv_fast.Pointwise` (same parameters as
``nn.Conv2d(C, out, 1)``, a matrix product on CPU), so feature maps come out
``channels_last``; the blocks accept either memory format.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from semcom.errors import SemcomError
from semcom.nn.conv import conv, conv_transpose
from semcom.nn.conv_fast import Pointwise


def _check_channels(channels: int, even: bool = False) -> int:
    if not isinstance(channels, int) or channels < 1 or (even and channels % 2):
        kind = "a positive even int" if even else "a positive int"
        raise SemcomError(f"channels must be {kind}, got {channels!r}")
    return channels


class ResidualBottleneckBlock(nn.Module):
    """ELIC's residual bottleneck block, ``(B, C, H, W) -> (B, C, H, W)``.

    ``out = x + conv1x1_{C/2 -> C}(relu(conv3x3_{C/2}(relu(conv1x1_{C -> C/2}(x)))))``.

    Args:
        channels: ``C`` (even).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = _check_channels(channels, even=True) // 2
        self.reduce = Pointwise(channels, half)
        self.conv = conv(half, half, 3)
        self.expand = Pointwise(half, channels)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        h = F.relu(self.reduce(x))
        h = F.relu(self.conv(h))
        return x + self.expand(h)


class _AttentionUnit(ResidualBottleneckBlock):
    """Cheng et al.'s residual unit: the bottleneck block followed by a ReLU."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(super().forward(x))


class AttentionBlock(nn.Module):
    """Simplified attention module (Cheng et al. 2020), ``(B, C, H, W) -> (B, C, H, W)``.

    ``out = x + a(x) * sigmoid(b(x))`` where the trunk ``a`` is three residual units
    (1x1 to ``C/2``, ReLU, 3x3, ReLU, 1x1 to ``C``, skip, ReLU) and the mask branch ``b``
    is three such units followed by a 1x1 convolution. No non-local part.

    Args:
        channels: ``C`` (even).
        units: residual units per branch (3 in Cheng et al. and ELIC).
    """

    def __init__(self, channels: int, units: int = 3) -> None:
        super().__init__()
        _check_channels(channels, even=True)
        if not isinstance(units, int) or units < 1:
            raise SemcomError(f"units must be a positive int, got {units!r}")
        self.trunk = nn.Sequential(*[_AttentionUnit(channels) for _ in range(units)])
        self.mask = nn.Sequential(*[_AttentionUnit(channels) for _ in range(units)],
                                  Pointwise(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        return x + self.trunk(x) * self.mask(x).sigmoid()


def conv_down(in_channels: int, out_channels: int, kernel_size: int = 5) -> nn.Conv2d:
    """Stride-2 ``k x k`` convolution (padding ``k // 2``): ``(B, in, H, W) -> (B, out,
    ceil(H/2), ceil(W/2))``; exactly ``H/2`` for even ``H``."""
    return conv(_check_channels(in_channels), _check_channels(out_channels), kernel_size, 2)


def conv_up(in_channels: int, out_channels: int, kernel_size: int = 5) -> nn.ConvTranspose2d:
    """Stride-2 ``k x k`` transposed convolution: ``(B, in, H, W) -> (B, out, 2H, 2W)``."""
    return conv_transpose(_check_channels(in_channels), _check_channels(out_channels),
                          kernel_size, 2)


class SubpixelUp(nn.Module):
    """Sub-pixel up-convolution, ``(B, in, H, W) -> (B, out, 2H, 2W)``.

    A ``k x k`` convolution (padding ``k // 2``) to ``4 * out`` channels followed by
    ``pixel_shuffle(2)``: the alternative to :func:`conv_up` without its checkerboard
    artefacts at initialization.

    Args:
        in_channels, out_channels: widths; kernel_size: odd ``k`` (5 as in ELIC).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.conv = conv(_check_channels(in_channels), 4 * _check_channels(out_channels),
                         kernel_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(B, in, H, W)`` -> ``(B, out, 2H, 2W)``."""
        return F.pixel_shuffle(self.conv(x), 2)


__all__ = ["AttentionBlock", "ResidualBottleneckBlock", "SubpixelUp", "conv_down", "conv_up"]
