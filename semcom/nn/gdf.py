"""Gated depthwise-convolution feed-forward network (GDF, Restormer's GDFN).

``y = W_out( GELU(a) * b )`` with ``[a, b] = split(DW3x3(W_in x))``: a 1x1 expansion to
``2 * hidden`` channels, a depthwise 3x3 convolution, a GELU gate, and a 1x1 projection
back to ``C``; no biases (as FAJSCC configures it, ``hidden = C``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from semcom.nn.conv_fast import Pointwise


class GatedDepthwiseFeedForward(nn.Module):
    """GDF on ``(B, C, H, W)`` maps; output has the input's shape.

    Args:
        dim: channels ``C``.
        expansion: ``hidden = round(expansion * C)`` (1.0 in FAJSCC).
    """

    def __init__(self, dim: int, expansion: float = 1.0) -> None:
        super().__init__()
        hidden = max(1, round(expansion * dim))
        self.expand = Pointwise(dim, 2 * hidden, bias=False)
        self.depthwise = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=False)
        self.project = Pointwise(hidden, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.depthwise(self.expand(x)).chunk(2, dim=1)
        return self.project(F.gelu(a) * b)
