"""ResJSCC: ConvJSCC's shape built from residual convolution blocks.

The FAJSCC paper's baseline "deepJSCC based on residual convolution blocks" (after
Zhang et al. 2023). Layout chosen here (see :mod:`semcom.nn.residual` for the blocks):

* encoder: five :class:`~semcom.nn.residual.ResidualBlock` s, ``3 -> w0 -> w1 -> w2 ->
  w3 -> c`` with strides 2, 2, 1, 1, 1; each block is ``conv5x5(stride) -> PReLU ->
  conv5x5`` plus a shortcut (identity, or a strided 1x1 convolution where the shape
  changes), followed by PReLU; the last block has no output activation (its output is
  power-normalized and sent).
* decoder: five :class:`~semcom.nn.residual.ResidualUpBlock` s, ``c -> w3 -> w2 -> w1
  -> w0 -> 3`` with scales 1, 1, 1, 2, 2; each is ``transposed conv5x5(scale) -> PReLU
  -> conv5x5`` plus a shortcut (identity, or nearest up-sampling and a 1x1
  convolution), followed by PReLU; the last block ends in a sigmoid.

Widths as ConvJSCC: ``"original"`` 16, 32, 32, 32 (default), ``"small"`` 32 and
``"base"`` 64 (FAJSCC's variants), or explicit ``widths``. The SNR is not an input.
"""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from semcom.models.conv_latent import ConvLatentJSCC
from semcom.models.convjscc import CONV_SIZES
from semcom.nn.residual import ResidualBlock, ResidualUpBlock
from semcom.registry import SYSTEMS

KERNEL_SIZE = 5


@SYSTEMS.register("resjscc")
class ResJSCC(ConvLatentJSCC):
    """ResJSCC: five residual blocks each way (strides 2, 2, 1, 1, 1), PReLU, sigmoid output.

    Args:
        cbr: bandwidth ratio ``k / (3 H W)``; must be ``c / 96`` for an integer ``c``.
        size: ``"original"`` (16, 32, 32, 32), ``"small"`` (32 x 4) or ``"base"`` (64 x 4).
        widths: four hidden feature widths, overriding ``size``.
        equalizer: ``"mmse"`` (default), ``"zf"`` or ``"none"``.
    """

    name = "resjscc"
    SIZES = CONV_SIZES

    def __init__(self, cbr: float | str = 1 / 12, size: str = "original",
                 widths: Sequence[int] | None = None, equalizer: str = "mmse") -> None:
        super().__init__(cbr, size, widths, equalizer)
        w0, w1, w2, w3 = self.widths
        c, k = self.latent_channels, KERNEL_SIZE
        self.encoder = nn.Sequential(
            ResidualBlock(3, w0, k, stride=2),
            ResidualBlock(w0, w1, k, stride=2),
            ResidualBlock(w1, w2, k, stride=1),
            ResidualBlock(w2, w3, k, stride=1),
            ResidualBlock(w3, c, k, stride=1, activation=None),
        )
        self.decoder = nn.Sequential(
            ResidualUpBlock(c, w3, k, scale=1),
            ResidualUpBlock(w3, w2, k, scale=1),
            ResidualUpBlock(w2, w1, k, scale=1),
            ResidualUpBlock(w1, w0, k, scale=2),
            ResidualUpBlock(w0, 3, k, scale=2, activation=nn.Sigmoid()),
        )

    def analysis(self, images: Tensor, snr_db: Tensor) -> Tensor:
        return self.encoder(images)

    def synthesis(self, latent: Tensor, snr_db: Tensor) -> Tensor:
        return self.decoder(latent)
