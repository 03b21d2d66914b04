"""Channels for tests that count what passes through them."""

from __future__ import annotations

from torch import Tensor

from semcom.channels.awgn import AWGN
from semcom.channels.base import ChannelOutput


class RecordingAWGN(AWGN):
    """AWGN that counts the complex symbols it is given (``count``, over all calls)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def forward(self, z: Tensor, snr_db, generator=None) -> ChannelOutput:
        self.count += z.numel()
        return super().forward(z, snr_db, generator)
