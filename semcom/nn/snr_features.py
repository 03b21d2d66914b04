"""FAJSCC's two-step SNR feature extraction.

Step one, once per FA group: a small MLP of 1x1 convolutions maps the scalar SNR (dB)
to an 8-d feature (``1 -> 8 -> 8``, LeakyReLU). Step two, in every FA block: a 1x1
layer maps that feature to the block's ``C`` channels, added to the block's input.
"""

from __future__ import annotations

from torch import Tensor, nn

#: width of the group-level SNR feature
SNR_FEATURES = 8


class SNRFeatures(nn.Module):
    """Step one: ``(B,)`` SNR in dB -> ``(B, 8, 1, 1)`` group SNR feature."""

    def __init__(self, features: int = SNR_FEATURES) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Conv2d(1, features, 1), nn.LeakyReLU(0.1),
                                 nn.Conv2d(features, features, 1), nn.LeakyReLU(0.1))

    def forward(self, snr_db: Tensor) -> Tensor:
        return self.mlp(snr_db.reshape(-1, 1, 1, 1).to(self.mlp[0].weight.dtype))


class BlockSNRProjection(nn.Module):
    """Step two: ``(B, 8, 1, 1)`` group feature -> ``(B, C, 1, 1)`` block feature."""

    def __init__(self, dim: int, features: int = SNR_FEATURES) -> None:
        super().__init__()
        self.fc = nn.Conv2d(features, dim, 1)

    def forward(self, feature: Tensor) -> Tensor:
        return self.fc(feature)
