"""ConvJSCC: the original deep JSCC of Bourtsoulatze, Kurka and Gunduz (2019).

Encoder: five 5x5 convolutions with strides 2, 2, 1, 1, 1 and ``w0, w1, w2, w3, c``
filters, PReLU after the first four; the last layer is linear (as in the FAJSCC
baseline code) and its ``c = 96 * cbr`` channels at ``H/4 x W/4`` are power-normalized
and sent. Decoder: the mirror image with transposed convolutions
(``c -> w3 -> w2 -> w1 -> w0 -> 3``, strides 1, 1, 1, 2, 2), PReLU, and a sigmoid.

Widths: ``size="original"`` (default) is the paper's 16, 32, 32, 32; ``"small"`` and
``"base"`` are FAJSCC's 32 and 64 feature channels; ``widths`` sets them explicitly.
The SNR is not an input of this model.
"""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from semcom.models.conv_latent import ConvLatentJSCC
from semcom.nn.conv import conv, conv_transpose
from semcom.registry import SYSTEMS

KERNEL_SIZE = 5
#: width presets: the paper's, and FAJSCC's small/base baselines
CONV_SIZES: dict[str, tuple[int, ...]] = {
    "original": (16, 32, 32, 32),
    "small": (32, 32, 32, 32),
    "base": (64, 64, 64, 64),
}


@SYSTEMS.register("convjscc")
class ConvJSCC(ConvLatentJSCC):
    """ConvJSCC (DeepJSCC, Bourtsoulatze et al. 2019): five convolutions each way, PReLU.

    Args:
        cbr: bandwidth ratio ``k / (3 H W)``; must be ``c / 96`` for an integer ``c``.
        size: ``"original"`` (16, 32, 32, 32), ``"small"`` (32 x 4) or ``"base"`` (64 x 4).
        widths: four hidden feature widths, overriding ``size``.
        equalizer: ``"mmse"`` (default), ``"zf"`` or ``"none"``.
    """

    name = "convjscc"
    SIZES = CONV_SIZES

    def __init__(self, cbr: float | str = 1 / 12, size: str = "original",
                 widths: Sequence[int] | None = None, equalizer: str = "mmse") -> None:
        super().__init__(cbr, size, widths, equalizer)
        w0, w1, w2, w3 = self.widths
        c, k = self.latent_channels, KERNEL_SIZE
        self.encoder = nn.Sequential(
            conv(3, w0, k, 2), nn.PReLU(w0),
            conv(w0, w1, k, 2), nn.PReLU(w1),
            conv(w1, w2, k, 1), nn.PReLU(w2),
            conv(w2, w3, k, 1), nn.PReLU(w3),
            conv(w3, c, k, 1),
        )
        self.decoder = nn.Sequential(
            conv_transpose(c, w3, k, 1), nn.PReLU(w3),
            conv_transpose(w3, w2, k, 1), nn.PReLU(w2),
            conv_transpose(w2, w1, k, 1), nn.PReLU(w1),
            conv_transpose(w1, w0, k, 2), nn.PReLU(w0),
            conv_transpose(w0, 3, k, 2), nn.Sigmoid(),
        )

    def analysis(self, images: Tensor, snr_db: Tensor) -> Tensor:
        return self.encoder(images)

    def synthesis(self, latent: Tensor, snr_db: Tensor) -> Tensor:
        return self.decoder(latent)
