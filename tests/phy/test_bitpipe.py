"""The one bit pipe: fixed and automatic MCS over 5G NR, the 802.11n code."""

from __future__ import annotations

import pytest
import torch

from semcom.channels.awgn import AWGN
from semcom.errors import SemcomError
from semcom.phy.bitpipe import SIDE_INFO_MCS, NRBitPipe, WifiBitPipe, create_bit_pipe, side_info_pipe


class Counting(AWGN):
    def __init__(self):
        super().__init__()
        self.symbols = 0

    def forward(self, z, snr_db, generator=None):
        self.symbols += z.numel()
        return super().forward(z, snr_db, generator)


def test_fixed_and_automatic_mcs_deliver_and_charge_what_passed():
    payload = bytes(range(256)) * 4
    auto = NRBitPipe("auto")
    for snr, pipe in ((20.0, auto), (20.0, NRBitPipe(9)), (3.0, auto)):
        channel = Counting()
        d = pipe.send(payload, channel, snr, torch.Generator().manual_seed(0))
        assert d.ok and d.payload == payload
        assert d.channel_uses == channel.symbols == pipe.channel_uses(len(payload), snr_db=snr)
    # higher SNR -> a faster MCS -> fewer channel uses for the same bytes
    assert auto.mcs_for(20.0) > auto.mcs_for(3.0) >= SIDE_INFO_MCS
    assert auto.channel_uses(1024, snr_db=20.0) < auto.channel_uses(1024, snr_db=3.0)
    with pytest.raises(SemcomError, match="needs the SNR"):
        auto.channel_uses(10)
    assert NRBitPipe(9).send(payload, AWGN(), 20.0, mcs=19).channel_uses == NRBitPipe(19).channel_uses(1024)


def test_short_payloads_are_padded_and_trimmed_and_empty_ones_cost_nothing():
    pipe = NRBitPipe(SIDE_INFO_MCS, max_retransmissions=0)
    d = pipe.send(b"\x07\x01", AWGN(), 10.0, torch.Generator().manual_seed(1))
    assert d.ok and d.payload == b"\x07\x01" and d.channel_uses == pipe.channel_uses(4)
    assert pipe.send(b"", AWGN(), 10.0).channel_uses == 0 == pipe.channel_uses(0)
    side = side_info_pipe()  # one byte takes the short control code, longer payloads a TB
    assert side.channel_uses(1) == 32 < pipe.channel_uses(1) and side.channel_uses(2) == pipe.channel_uses(2)


def test_wifi_pipe_and_bad_names():
    pipe = create_bit_pipe("wifi", bits_per_symbol=4)
    assert isinstance(pipe, WifiBitPipe)
    d = pipe.send(b"hello world", AWGN(), 20.0, torch.Generator().manual_seed(0))
    assert d.ok and d.payload == b"hello world" and d.channel_uses == 1944 // 4
    with pytest.raises(SemcomError, match="unknown bit pipe"):
        create_bit_pipe("lte")
    with pytest.raises(SemcomError, match="MCS index or auto"):
        NRBitPipe("fast")
