"""FAJSCC's importance predictor (after CAMixer) and bilinear feature warping.

From the block's value map ``v`` (plus a 2-channel global map and the 2-channel grid of
window coordinates) one shared hidden map ``h = LeakyReLU(LN(W h_in))`` with ``C/4``
channels predicts four things:

* ``offsets`` ``(B, 2, H, W)``: pixel offsets ``tanh(.) * max_offset`` (x then y) to
  related features, used by :func:`warp` to preserve information of less important
  neighbours;
* ``channel_attention`` ``(B, C, 1, 1)``: global average pool -> 1x1 -> sigmoid;
* ``spatial_attention`` ``(B, 1, H, W)``: 3x3 convolution to one channel -> sigmoid (the
  light processing of less important windows);
* ``window_logits`` ``(B, nW, 2)``: the channel mean of ``h``, one ``w*w`` vector per
  window -> Linear(w*w, 8) -> LeakyReLU -> Linear(8, 2); class 0 is "important".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcom.nn.conv_fast import Pointwise, memory_format_of

from semcom.nn.patches import LayerNorm2d
from semcom.nn.windows import window_partition


@dataclass
class Importance:
    """Outputs of :class:`ImportancePredictor` (shapes in the module docstring)."""

    offsets: Tensor
    channel_attention: Tensor
    spatial_attention: Tensor
    window_logits: Tensor

    def scores(self) -> Tensor:
        """``(B, nW)`` probability that each window is important."""
        return self.window_logits.softmax(dim=-1)[..., 0]


class ImportancePredictor(nn.Module):
    """Predict offsets, channel and spatial attention and per-window importance logits.

    Args:
        dim: channels ``C`` of the block.
        window: window side ``w`` (the map's sides must be multiples of it).
        extra_channels: channels concatenated to ``v`` (2 global + 2 coordinates).
        max_offset: offsets are ``tanh(.) * max_offset`` pixels (8 in FAJSCC).
    """

    def __init__(self, dim: int, window: int, extra_channels: int = 4, max_offset: float = 8.0) -> None:
        super().__init__()
        hidden = max(1, dim // 4)
        self.window, self.max_offset = window, float(max_offset)
        self.hidden = nn.Sequential(Pointwise(dim + extra_channels, hidden), LayerNorm2d(hidden),
                                    nn.LeakyReLU(0.1))
        self.offset = nn.Sequential(Pointwise(hidden, max(1, dim // 8)), nn.LeakyReLU(0.1),
                                    Pointwise(max(1, dim // 8), 2))
        self.channel = Pointwise(hidden, dim)
        self.spatial = nn.Conv2d(hidden, 1, 3, padding=1)
        self.score = nn.Sequential(nn.Linear(window * window, 8), nn.LeakyReLU(0.1), nn.Linear(8, 2))

    def forward(self, v: Tensor, extra: Tensor) -> Importance:
        """``v`` ``(B, C, H, W)`` and ``extra`` ``(B, extra_channels, H, W)``."""
        h = self.hidden(torch.cat([v, extra], dim=1))
        offsets = torch.tanh(self.offset(h)) * self.max_offset
        channel = self.channel(h.mean(dim=(2, 3), keepdim=True)).sigmoid()
        spatial = self.spatial(h).sigmoid()
        per_window = window_partition(h.mean(dim=1, keepdim=True), self.window)[..., 0]  # (B, nW, w*w)
        return Importance(offsets, channel, spatial, self.score(per_window))


def warp(x: Tensor, offsets: Tensor) -> Tensor:
    """Sample ``x`` ``(B, C, H, W)`` bilinearly at each position plus ``offsets``
    ``(B, 2, H, W)`` pixels (x then y), border padding."""
    b, _, h, w = x.shape
    ys = torch.arange(h, device=x.device, dtype=x.dtype)
    xs = torch.arange(w, device=x.device, dtype=x.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    out = sample_at(x, gx + offsets[:, 0], gy + offsets[:, 1])
    return out.contiguous(memory_format=memory_format_of(x))  # keep the input's layout


def sample_at(x: Tensor, px: Tensor, py: Tensor) -> Tensor:
    """Bilinear samples of ``x`` ``(B, C, H, W)`` at pixel coordinates ``px``, ``py``
    ``(B, h', w')`` (x = column, y = row), border padding -> ``(B, C, h', w')``."""
    h, w = x.shape[-2:]
    # align_corners=True: -1 and 1 are the centres of the first and last pixels
    grid = torch.stack([2.0 * px / max(w - 1, 1) - 1.0, 2.0 * py / max(h - 1, 1) - 1.0], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
