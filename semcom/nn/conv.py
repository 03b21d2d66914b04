"""Convolutions with "same" geometry: stride ``s`` maps ``H`` to ``H / s`` and back.

Inputs are assumed to have sizes divisible by the total stride (models pad first), so a
down-sampling convolution followed by the matching up-sampling one restores the size.
"""

from __future__ import annotations

from torch import nn

from semcom.errors import SemcomError


def conv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 1) -> nn.Conv2d:
    """``kernel_size`` x ``kernel_size`` convolution (odd size), ``H -> H / stride``."""
    if kernel_size % 2 == 0:
        raise SemcomError(f"kernel_size must be odd, got {kernel_size}")
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)


def conv_transpose(in_channels: int, out_channels: int, kernel_size: int = 5,
                   stride: int = 1) -> nn.ConvTranspose2d:
    """Transposed convolution (odd size), ``H -> H * stride`` exactly."""
    if kernel_size % 2 == 0:
        raise SemcomError(f"kernel_size must be odd, got {kernel_size}")
    return nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=kernel_size // 2, output_padding=stride - 1)
