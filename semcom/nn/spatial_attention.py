"""CBAM-style spatial attention (Woo et al. 2018): one sigmoid weight per position.

``a = sigmoid(Conv_kxk([mean_c(x), max_c(x)]))``, ``y = x * a``. FAJSCC's importance
predictor computes its own spatial attention from its hidden features (a 3x3
convolution to one channel, :class:`semcom.nn.importance.ImportancePredictor`); this
module is the original CBAM form, for models that want it on its own.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SpatialAttention(nn.Module):
    """``(B, C, H, W)`` -> same shape, each position scaled by a weight in ``(0, 1)``.

    Args:
        kernel: side of the convolution over the two pooled maps (CBAM uses 7).
    """

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def weights(self, x: Tensor) -> Tensor:
        """``(B, 1, H, W)`` attention weights."""
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return self.conv(pooled).sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.weights(x)
