"""Patch embedding, merging (2x down) and division (2x up) of channels-first feature maps,
and a channels-first LayerNorm.

All maps are ``(B, C, H, W)``. Merging and division are exact inverses in layout:
merging stacks each 2x2 neighbourhood into ``4C`` channels (the order of
``pixel_unshuffle``: channel ``4c + 2 dy + dx``) and projects it; division projects to
``4C'`` channels and spreads them over 2x2 pixels (``pixel_shuffle``). Both work on the
channels-last view and return ``channels_last`` maps (fast on CPU).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of ``(B, C, H, W)`` at every position.

    Args:
        channels: ``C``.
        eps: added to the variance (FAJSCC uses 1e-6).
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        # a channels_last map makes both permutes free
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class PatchEmbedding(nn.Module):
    """Non-overlapping ``patch x patch`` patches -> ``dim`` features, then LayerNorm.

    ``(B, 3, H, W)`` -> ``(B, dim, H/patch, W/patch)``.
    """

    def __init__(self, in_channels: int, dim: int, patch: int = 2, norm: bool = True) -> None:
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.norm = LayerNorm2d(dim) if norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.proj(x))


class PatchMerging(nn.Module):
    """2x down-sampling: 2x2 neighbours stacked (``4C``), LayerNorm, linear to ``out``.

    ``(B, C, H, W)`` (even sides) -> ``(B, out, H/2, W/2)``.
    """

    def __init__(self, dim: int, out: int) -> None:
        super().__init__()
        self.norm = LayerNorm2d(4 * dim)
        self.reduction = nn.Conv2d(4 * dim, out, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        t = x.permute(0, 2, 3, 1).reshape(b, h // 2, 2, w // 2, 2, c)
        t = t.permute(0, 1, 3, 5, 2, 4).reshape(b, h // 2, w // 2, 4 * c)  # = pixel_unshuffle
        t = self.norm.norm(t)
        return F.linear(t, self.reduction.weight.flatten(1)).permute(0, 3, 1, 2)


class PatchDivision(nn.Module):
    """2x up-sampling: linear ``C -> 4 out``, spread over 2x2 pixels, then LayerNorm.

    ``(B, C, H, W)`` -> ``(B, out, 2H, 2W)``. With ``norm=False`` (the last division,
    to RGB) the output is left unnormalized.
    """

    def __init__(self, dim: int, out: int, norm: bool = True) -> None:
        super().__init__()
        self.expand = nn.Conv2d(dim, 4 * out, 1, bias=not norm)
        self.norm = LayerNorm2d(out) if norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        t = F.linear(x.permute(0, 2, 3, 1), self.expand.weight.flatten(1), self.expand.bias)
        out = t.shape[-1] // 4
        t = t.reshape(b, h, w, out, 2, 2).permute(0, 1, 4, 2, 5, 3).reshape(b, 2 * h, 2 * w, out)  # = pixel_shuffle
        if isinstance(self.norm, LayerNorm2d):
            t = self.norm.norm(t)
        return t.permute(0, 3, 1, 2)
