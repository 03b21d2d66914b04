"""SNR-adaptive channel attention: the attention-feature (AF) module of ADJSCC.

Xu et al., "Wireless image transmission using deep source channel coding with attention
modules" (2021). The module reads a feature map and the channel SNR and rescales each
feature channel by a factor in ``(0, 1)``:

    context = concat(global_average_pool(x), snr_db)       # (B, C + 1)
    s       = sigmoid(FC_C(relu(FC_{C/16}(context))))       # (B, C)
    y       = s[:, :, None, None] * x
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class AttentionFeature(nn.Module):
    """AF module: channel-wise scaling of ``(B, C, H, W)`` features conditioned on SNR.

    Args:
        channels: ``C``.
        reduction: hidden width is ``max(1, C // reduction)`` (the paper uses 16).

    The SNR enters in dB, unscaled, and the layers start as in the paper's Keras
    reference (Glorot-uniform weights, zero biases).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, int(channels) // int(reduction))
        self.squeeze = nn.Linear(channels + 1, hidden)
        self.excite = nn.Linear(hidden, channels)
        for layer in (self.squeeze, self.excite):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def scales(self, x: Tensor, snr_db: Tensor) -> Tensor:
        """``(B, C)`` factors in ``(0, 1)`` for features ``x`` ``(B, C, H, W)`` and
        ``snr_db`` ``(B,)`` (dB)."""
        pooled = x.mean(dim=(2, 3))
        snr = snr_db.to(pooled.dtype).reshape(-1, 1).expand(pooled.shape[0], 1)
        context = torch.cat([pooled, snr], dim=1)
        return self.excite(self.squeeze(context).relu()).sigmoid()

    def forward(self, x: Tensor, snr_db: Tensor) -> Tensor:
        return x * self.scales(x, snr_db)[:, :, None, None]

