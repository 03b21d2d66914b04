"""Windows of a feature map: partition, reverse, padding, shifted-window masks, attention.

Feature maps are channels-first ``(B, C, H, W)``; windows are ``(B * nW, w * w, C)``
token sequences, ordered row by row over the (padded) map, tokens row by row inside a
window. Masks are built for the actual input size on each call (cached by size), so no
weight depends on a training resolution.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: additive attention bias between tokens of different shifted-window regions
MASKED = -100.0


def pad_to_window(x: Tensor, window: int) -> tuple[Tensor, tuple[int, int]]:
    """Zero-pad ``(B, C, H, W)`` at the bottom/right to multiples of ``window``.

    Returns:
        The padded map and the original ``(H, W)``.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % window, (-w) % window
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph))
    return x, (h, w)


def window_partition(x: Tensor, window: int) -> Tensor:
    """``(B, C, H, W)`` (sides multiples of ``window``) -> ``(B, nW, w*w, C)`` windows."""
    b, c, h, w = x.shape
    # through the channels-last view: one copy, none more for a channels_last map
    x = x.permute(0, 2, 3, 1).reshape(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, (h // window) * (w // window), window * window, c)


def window_reverse(windows: Tensor, window: int, height: int, width: int) -> Tensor:
    """``(B, nW, w*w, C)`` windows -> ``(B, C, H, W)`` map (inverse of :func:`window_partition`),
    ``channels_last`` in memory."""
    b, _, _, c = windows.shape
    x = windows.reshape(b, height // window, width // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, height, width, c).permute(0, 3, 1, 2)


@lru_cache(maxsize=64)
def _shift_mask(height: int, width: int, window: int, shift: int) -> Tensor:
    region = torch.zeros(1, 1, height, width)
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for hs in cuts:
        for ws in cuts:
            region[..., hs, ws] = label
            label += 1
    ids = window_partition(region, window).reshape(-1, window * window)  # (nW, w*w)
    same = ids[:, :, None] == ids[:, None, :]
    return torch.where(same, 0.0, MASKED)


def shifted_window_mask(height: int, width: int, window: int, shift: int,
                        device: torch.device | None = None) -> Tensor:
    """Additive attention mask of shifted windows (Swin) for an ``H x W`` map.

    After the map is rolled by ``-shift`` on both axes, windows at the bottom/right
    edges hold tokens of up to four regions that were not neighbours; tokens attend
    only within their own region.

    Args:
        height, width: the (padded) map size, multiples of ``window``.
        window: window side ``w``.
        shift: roll, ``0 < shift < window``.

    Returns:
        ``(nW, w*w, w*w)`` float: 0 where attention is allowed, :data:`MASKED` elsewhere.
    """
    if not 0 < shift < window:
        raise ValueError(f"shift must be in (0, {window}), got {shift}")
    mask = _shift_mask(int(height), int(width), int(window), int(shift))
    return mask if device is None else mask.to(device)


def window_coordinates(height: int, width: int, window: int, device: torch.device | None = None) -> Tensor:
    """``(1, 2, H, W)`` grid of each position's (row, column) inside its window, in [-1, 1]."""
    ramp = torch.linspace(-1.0, 1.0, window, device=device)
    rows = ramp.repeat(-(-height // window))[:height]
    cols = ramp.repeat(-(-width // window))[:width]
    grid = torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1)  # (H, W, 2)
    return grid.unsqueeze(0).permute(0, 3, 1, 2)  # channels_last in memory


def relative_position_index(window: int) -> Tensor:
    """``(w*w, w*w)`` index into a ``(2w-1)^2`` table of relative-position biases."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with a learned relative-position bias.

    Args:
        dim: token width ``C``.
        heads: attention heads (``C`` divisible by it); 1 gives single-head attention.
        window: window side ``w``.
        position_bias: learn a ``(2w-1)^2 x heads`` relative-position bias table (Swin).

    Input ``(N, w*w, C)`` tokens and an optional additive mask ``(nW, w*w, w*w)`` (the
    windows of one image, repeated over ``N = B * nW``); output ``(N, w*w, C)``. Uses
    :func:`torch.nn.functional.scaled_dot_product_attention` (fused kernels), scaling by
    ``1/sqrt(C/heads)``.
    """

    def __init__(self, dim: int, heads: int, window: int, position_bias: bool = True) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by {heads} heads")
        self.dim, self.heads, self.window = dim, heads, window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        if position_bias:
            self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
            nn.init.trunc_normal_(self.bias_table, std=0.02)
            self.register_buffer("bias_index", relative_position_index(window), persistent=False)
        else:
            self.bias_table = None

    def forward(self, tokens: Tensor, mask: Tensor | None = None) -> Tensor:
        n, t, c = tokens.shape
        qkv = self.qkv(tokens).reshape(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        bias = None
        if self.bias_table is not None:
            bias = self.bias_table[self.bias_index.reshape(-1)].reshape(t, t, self.heads).permute(2, 0, 1)
            bias = bias.unsqueeze(0)  # (1, heads, t, t)
        if mask is not None:
            nw = mask.shape[0]
            m = mask.to(tokens.dtype).unsqueeze(1)  # (nW, 1, t, t)
            bias = m if bias is None else bias + m
            bias = bias.unsqueeze(0).expand(n // nw, -1, -1, -1, -1).reshape(n, -1, t, t)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(n, t, c))
