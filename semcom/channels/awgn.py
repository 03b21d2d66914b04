"""Additive white Gaussian noise: ``y = z + n``, ``n ~ CN(0, sigma2)``."""

from __future__ import annotations

from semcom.channels.base import Channel
from semcom.registry import CHANNELS


@CHANNELS.register("awgn")
class AWGN(Channel):
    """AWGN: y = z + n with n ~ CN(0, sigma2), sigma2 = 10^(-snr_db/10); gain h = 1.

    The receiver's CSI is ``1`` (plus ``CN(0, csi_nmse)`` error if ``csi_nmse > 0``).

    Args:
        csi_nmse: NMSE of the receiver's channel estimate (0: perfect CSI).
    """

    name = "awgn"

    def __init__(self, csi_nmse: float = 0.0) -> None:
        super().__init__(csi_nmse=csi_nmse)
