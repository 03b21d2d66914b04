"""Convolutions rewritten for speed on CPU, with the parameters (and MACs) of the originals.

A depthwise 3x3 convolution with dilation 2 runs several times slower on CPU than an
undilated one (oneDNN, measured in ``semcom bench train-step``). On even-sized maps it
equals an undilated depthwise 3x3 convolution applied to each of the four 2x2 phases
of the map (``pixel_unshuffle``), which is how :class:`DilatedDepthwiseConv` computes it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DilatedDepthwiseConv(nn.Conv2d):
    """Depthwise ``3x3`` convolution, dilation 2, "same" padding; ``(B, C, H, W)`` -> same.

    A drop-in ``nn.Conv2d(C, C, 3, padding=2, dilation=2, groups=C)`` (same weights and
    state-dict keys). Even ``H`` and ``W`` take the phase-split path; odd sizes the
    plain dilated convolution.
    """

    def __init__(self, channels: int, bias: bool = True) -> None:
        super().__init__(channels, channels, 3, padding=2, dilation=2, groups=channels, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if h % 2 or w % 2:
            return super().forward(x)
        c = self.in_channels
        phases = F.pixel_unshuffle(x, 2)  # (B, 4C, H/2, W/2), channel 4c + 2 dy + dx
        weight = self.weight.repeat_interleave(4, dim=0)
        bias = None if self.bias is None else self.bias.repeat_interleave(4)
        y = F.conv2d(phases, weight, bias, padding=1, groups=4 * c)
        return F.pixel_shuffle(y, 2)


class Pointwise(nn.Conv2d):
    """1x1 convolution ``(B, C, H, W)`` -> ``(B, out, H, W)`` computed as a matrix product
    over the channels of the channels-last view (a drop-in ``nn.Conv2d(C, out, 1)``:
    same weights and state-dict keys).

    On a ``channels_last`` map both permutes are free and the output stays
    ``channels_last``; PyTorch's CPU 1x1 convolution instead takes a slow im2col path.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x.permute(0, 2, 3, 1), self.weight.flatten(1), self.bias).permute(0, 3, 1, 2)


def memory_format_of(x: Tensor) -> torch.memory_format:
    """``torch.channels_last`` if the 4-d ``x`` is laid out so (and is not also plainly
    contiguous, as maps with one channel or 1x1 maps are), else ``torch.contiguous_format``."""
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format
