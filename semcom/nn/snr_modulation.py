"""AR-JSCC's SNR modulation: an SNR-conditioned affine map of each feature channel.

Yang & Kim (ICASSP 2022), from the authors' public code (``shared/design/systems.md``):
after each residual block of the channel encoder and decoder, the features are scaled
and shifted per channel by two small MLPs that read the pooled features and the SNR::

    context = concat(global_average_pool(x), snr_db)              # (B, C + 1)
    scale   = sigmoid(FC_C(relu(FC_hidden(context))))              # (B, C), in (0, 1)
    shift   = FC_C(relu(FC_hidden(context)))                       # (B, C)
    y       = scale[:, :, None, None] * x + shift[:, :, None, None]

The SNR enters in dB, unscaled (as in the authors' code); ``hidden = C`` there.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from semcom.errors import SemcomError


class AffineSNRModulation(nn.Module):
    """Multiplicative (sigmoid) and additive branches on ``[pooled features, SNR]``.

    Args:
        channels: ``C`` of the ``(B, C, H, W)`` features.
        hidden: hidden width of each branch (default ``C``, the authors').
    """

    def __init__(self, channels: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = int(channels) if hidden is None else int(hidden)
        if int(channels) < 1 or hidden < 1:
            raise SemcomError(f"AffineSNRModulation needs channels >= 1 and hidden >= 1, got {channels}, {hidden}")
        self.scale = nn.Sequential(nn.Linear(channels + 1, hidden), nn.ReLU(), nn.Linear(hidden, channels),
                                   nn.Sigmoid())
        self.shift = nn.Sequential(nn.Linear(channels + 1, hidden), nn.ReLU(), nn.Linear(hidden, channels))

    def context(self, x: Tensor, snr_db: Tensor) -> Tensor:
        """``(B, C + 1)``: the channel means of ``x`` and the SNR in dB (a single SNR is
        broadcast to the batch)."""
        pooled = x.mean(dim=(2, 3))
        snr = snr_db.to(pooled.dtype).reshape(-1, 1).expand(pooled.shape[0], 1)
        return torch.cat([pooled, snr], dim=1)

    def affine(self, x: Tensor, snr_db: Tensor) -> tuple[Tensor, Tensor]:
        """``(scale, shift)``, each ``(B, C)``, for features ``x`` at ``snr_db``."""
        ctx = self.context(x, snr_db)
        return self.scale(ctx), self.shift(ctx)

    def forward(self, x: Tensor, snr_db: Tensor) -> Tensor:
        scale, shift = self.affine(x, snr_db)
        return x * scale[:, :, None, None] + shift[:, :, None, None]
