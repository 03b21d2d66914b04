"""ADJSCC: SNR-adaptive deep JSCC with attention-feature modules (Xu et al. 2021).

Layout of the paper's reference code, with configurable widths:

* encoder: five convolutions, 9x9 stride 2, 5x5 stride 2, then three 5x5 stride 1
  (``3 -> w0 -> w1 -> w2 -> w3 -> c``); every convolution is followed by GDN; the first
  four also by PReLU and an :class:`~semcom.nn.attention_feature.AttentionFeature` (AF)
  module that reads the SNR.
* decoder: the mirror, transposed convolutions 5x5 stride 1 (three), 5x5 stride 2 and
  9x9 stride 2 (``c -> w3 -> w2 -> w1 -> w0 -> 3``), each followed by IGDN; the first four
  by PReLU and AF, the last by a sigmoid.

The paper uses 256 filters in every hidden layer (``size="paper"``). Since our models
train on CPU, the default is ``size="base"`` (64); ``"small"`` is 32. AF hidden width is
``C // 16`` (at least 1). Trained in the paper with SNR uniform in [0, 20] dB.
"""

from __future__ import annotations

from typing import Any, Sequence

from torch import Tensor, nn

from semcom.models.conv_latent import ConvLatentJSCC
from semcom.nn.attention_feature import AttentionFeature
from semcom.nn.conv import conv, conv_transpose
from semcom.nn.gdn import GDN
from semcom.registry import SYSTEMS

#: (kernel size, stride) of the encoder's five layers; the decoder runs them backwards
LAYERS = ((9, 2), (5, 2), (5, 1), (5, 1), (5, 1))
ADJSCC_SIZES: dict[str, tuple[int, ...]] = {
    "base": (64, 64, 64, 64),
    "small": (32, 32, 32, 32),
    "paper": (256, 256, 256, 256),
}


class _Stage(nn.Module):
    """convolution -> (I)GDN -> [PReLU -> AF(snr)] -> [sigmoid]."""

    def __init__(self, layer: nn.Module, channels: int, inverse: bool, adaptive: bool,
                 sigmoid: bool = False) -> None:
        super().__init__()
        self.layer = layer
        self.gdn = GDN(channels, inverse=inverse)
        self.prelu = nn.PReLU(channels) if adaptive else None
        self.af = AttentionFeature(channels) if adaptive else None
        self.sigmoid = sigmoid

    def forward(self, x: Tensor, snr_db: Tensor) -> Tensor:
        x = self.gdn(self.layer(x))
        if self.prelu is not None:
            x = self.af(self.prelu(x), snr_db)
        return x.sigmoid() if self.sigmoid else x


@SYSTEMS.register("adjscc")
class ADJSCC(ConvLatentJSCC):
    """ADJSCC (Xu et al. 2021): GDN/IGDN convolutions with SNR attention-feature modules.

    Args:
        cbr: bandwidth ratio ``k / (3 H W)``; must be ``c / 96`` for an integer ``c``.
        size: ``"base"`` (64 x 4, default), ``"small"`` (32 x 4) or ``"paper"`` (256 x 4).
        widths: four hidden feature widths, overriding ``size``.
        equalizer: ``"mmse"`` (default), ``"zf"`` or ``"none"``.
    """

    name = "adjscc"
    SIZES = ADJSCC_SIZES

    def __init__(self, cbr: float | str = 1 / 12, size: str = "base",
                 widths: Sequence[int] | None = None, equalizer: str = "mmse") -> None:
        super().__init__(cbr, size, widths, equalizer)
        enc_widths = (3, *self.widths, self.latent_channels)
        self.encoder = nn.ModuleList(
            _Stage(conv(enc_widths[i], enc_widths[i + 1], k, s), enc_widths[i + 1],
                   inverse=False, adaptive=i < 4)
            for i, (k, s) in enumerate(LAYERS))
        dec_widths = enc_widths[::-1]
        self.decoder = nn.ModuleList(
            _Stage(conv_transpose(dec_widths[i], dec_widths[i + 1], k, s), dec_widths[i + 1],
                   inverse=True, adaptive=i < 4, sigmoid=i == 4)
            for i, (k, s) in enumerate(LAYERS[::-1]))

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        # 64 channels, so every AF module keeps C // 16 = 4 hidden units
        return {"cbr": 1 / 12, "widths": [64, 64, 64, 64]}

    def analysis(self, images: Tensor, snr_db: Tensor) -> Tensor:
        x = images
        for stage in self.encoder:
            x = stage(x, snr_db)
        return x

    def synthesis(self, latent: Tensor, snr_db: Tensor) -> Tensor:
        x = latent
        for stage in self.decoder:
            x = stage(x, snr_db)
        return x
