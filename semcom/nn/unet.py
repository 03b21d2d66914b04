"""A small UNet of DepthConvBlocks that refines features at the tail of a synthesis transform.

``(B, C, H, W) -> (B, C, H, W)``, two down and two up levels (widths ``w0, w1, w2`` at
resolutions ``H, H/2, H/4``)::

    e0 = DCB(C -> w0)(x)                                     H
    e1 = DCB(w1 -> w1)(down(e0))                             H/2
    e2 = DCB(w2 -> w2)(DCB(w2 -> w2)(down(e1)))              H/4   (bottleneck)
    d1 = DCB(2 w1 -> w1)(cat(up(e2), e1))                    H/2
    d0 = DCB(2 w0 -> w0)(cat(up(d1), e0))                    H
    out = x + conv1x1_{w0 -> C}(d0)

``DCB`` is :class:`~semcom.nn.depthconv.DepthConvBlock`. ``down`` is a 2x2 stride-2
convolution computed as ``pixel_unshuffle(2)`` and a 1x1 convolution; ``up`` is a 1x1
convolution to 4x the width and ``pixel_shuffle(2)`` (sub-pixel). So, as in DCVC-DC,
the only spatial kernels are the blocks' depthwise 3x3s. Inputs of any size are padded
(replicate) to a multiple of 4 and the output is cropped back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcom.errors import SemcomError
from semcom.nn.conv_fast import Pointwise
from semcom.nn.depthconv import DepthConvBlock


class _Down(nn.Module):
    """``(B, in, H, W) -> (B, out, H/2, W/2)``: space-to-depth then a 1x1 convolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = Pointwise(4 * in_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(F.pixel_unshuffle(x, 2))


class _Up(nn.Module):
    """``(B, in, H, W) -> (B, out, 2H, 2W)``: a 1x1 convolution then depth-to-space."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = Pointwise(in_channels, 4 * out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(self.proj(x), 2)


class UNet(nn.Module):
    """Residual UNet of DepthConvBlocks, ``(B, C, H, W) -> (B, C, H, W)``.

    Args:
        channels: ``C``, the width of the refined feature map.
        widths: ``(w0, w1, w2)``, the widths at full, half and quarter resolution.
        expansion: feed-forward expansion of the blocks.
    """

    def __init__(self, channels: int, widths: Sequence[int] = (32, 64, 128),
                 expansion: int = 2) -> None:
        super().__init__()
        widths = tuple(widths)
        if len(widths) != 3 or not all(isinstance(w, int) and w >= 1 for w in widths):
            raise SemcomError(f"widths must be three positive ints, got {widths!r}")
        if not isinstance(channels, int) or channels < 1:
            raise SemcomError(f"channels must be a positive int, got {channels!r}")
        w0, w1, w2 = widths
        self.enc0 = DepthConvBlock(channels, w0, expansion)
        self.down0 = _Down(w0, w1)
        self.enc1 = DepthConvBlock(w1, w1, expansion)
        self.down1 = _Down(w1, w2)
        self.bottleneck = nn.Sequential(DepthConvBlock(w2, w2, expansion),
                                        DepthConvBlock(w2, w2, expansion))
        self.up1 = _Up(w2, w1)
        self.dec1 = DepthConvBlock(2 * w1, w1, expansion)
        self.up0 = _Up(w1, w0)
        self.dec0 = DepthConvBlock(2 * w0, w0, expansion)
        self.head = Pointwise(w0, channels)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(B, C, H, W)``, any ``H, W >= 1`` -> ``(B, C, H, W)``."""
        if x.dim() != 4:
            raise SemcomError(f"UNet expects (B, C, H, W), got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % 4, (-w) % 4
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x
        e0 = self.enc0(padded)
        e1 = self.enc1(self.down0(e0))
        e2 = self.bottleneck(self.down1(e1))
        d1 = self.dec1(torch.cat([self.up1(e2), e1], dim=1))
        d0 = self.dec0(torch.cat([self.up0(d1), e0], dim=1))
        out = padded + self.head(d0)
        return out[..., :h, :w] if pad_h or pad_w else out


__all__ = ["UNet"]
