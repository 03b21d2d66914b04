"""DCVC-DC's DepthConvBlock: a depthwise-convolution part and a feed-forward part.

``(B, in, H, W) -> (B, out, H, W)``::

    depth part:  h = shortcut(x) + conv1x1_{in -> out}(dw3x3(lrelu(conv1x1_{in -> in}(x))))
                 shortcut = identity if in == out, else conv1x1_{in -> out} (the adaptor)
    ffn part:    y = h + conv1x1_{e*out -> out}(lrelu(conv1x1_{out -> e*out}(h)))

``dw3x3`` is the only spatial (3x3, depthwise, ``groups = in``) convolution; every
regular convolution is 1x1 (:class:`~semcom.nn.conv_fast.Pointwise`, a matrix product
on CPU, so outputs are ``channels_last``). The feed-forward expansion ``e`` defaults to
2; LeakyReLU slope 0.1. Used as the basic block of the Quad-LIC context model
(:mod:`semcom.entropy.context`) and of the synthesis-tail UNet (:mod:`semcom.nn.unet`).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from semcom.errors import SemcomError
from semcom.nn.conv_fast import Pointwise


class DepthConvBlock(nn.Module):
    """Depth-conv part then feed-forward part, ``(B, in, H, W) -> (B, out, H, W)``.

    Args:
        in_channels, out_channels: widths.
        expansion: width factor of the feed-forward hidden layer (``>= 1``).
        negative_slope: slope of the LeakyReLUs.
    """

    def __init__(self, in_channels: int, out_channels: int, expansion: int = 2,
                 negative_slope: float = 0.1) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("expansion", expansion)):
            if not isinstance(value, int) or value < 1:
                raise SemcomError(f"{name} must be a positive int, got {value!r}")
        self.negative_slope = float(negative_slope)
        self.conv_in = Pointwise(in_channels, in_channels)
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels)
        self.conv_out = Pointwise(in_channels, out_channels)
        self.adaptor = (Pointwise(in_channels, out_channels) if in_channels != out_channels
                        else None)
        self.ffn_expand = Pointwise(out_channels, expansion * out_channels)
        self.ffn_reduce = Pointwise(expansion * out_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(B, in, H, W)`` -> ``(B, out, H, W)`` (``channels_last``)."""
        slope = self.negative_slope
        shortcut = x if self.adaptor is None else self.adaptor(x)
        h = self.conv_out(self.depthwise(F.leaky_relu(self.conv_in(x), slope)))
        h = h + shortcut
        return h + self.ffn_reduce(F.leaky_relu(self.ffn_expand(h), slope))


__all__ = ["DepthConvBlock"]
