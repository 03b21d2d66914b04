"""The small-block control code: RM(2, 5) + CRC6 over QPSK, for one-byte side information."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcom.channels import create_channel
from semcom.errors import SemcomError
from semcom.phy.bitpipe import SIDE_INFO_MCS, NRBitPipe
from semcom.phy.small_block import SmallBlockPipe, reed_muller_generator, row_reduced


def test_the_code_is_rm25_with_distance_8():
    g = reed_muller_generator()
    assert g.shape == (16, 32)
    reduced, pivots = row_reduced(g)
    assert len(pivots) == 16 and (reduced[:, pivots] == np.eye(16, dtype=np.uint8)).all()
    messages = (np.arange(2**16)[:, None] >> np.arange(16)[None, :]) & 1
    words = messages @ reduced % 2
    weights = words.sum(axis=1)
    assert sorted(set(weights.tolist())) == [0, 8, 12, 16, 20, 24, 32]  # RM(2, 5)'s weight spectrum
    same = messages @ g % 2  # the reduced generator spans the same code
    assert {w.tobytes() for w in words} == {w.tobytes() for w in same}


def test_every_byte_round_trips_and_the_channel_uses_are_the_symbols_sent():
    pipe = SmallBlockPipe(repetitions=2)
    channel = create_channel("awgn")
    generator = torch.Generator().manual_seed(0)
    for value in range(256):
        got = pipe.send(bytes([value]), channel, 30.0, generator)
        assert got.ok and got.payload == bytes([value])
        assert got.channel_uses == pipe.channel_uses(1) == 32
    assert SmallBlockPipe(repetitions=3).channel_uses(1) == 48


def test_garbage_is_detected_not_delivered():
    pipe = SmallBlockPipe(repetitions=1)
    channel = create_channel("awgn")
    generator = torch.Generator().manual_seed(3)
    outcomes = [pipe.send(bytes([i % 256]), channel, -15.0, generator) for i in range(200)]
    failed = sum(not d.ok for d in outcomes)
    wrong = sum(d.ok and d.payload != bytes([i % 256]) for i, d in enumerate(outcomes))
    assert failed > 150  # at -15 dB nearly everything fails its CRC...
    assert wrong <= 8  # ...and a wrong byte rarely passes (CRC6 and 2 known bits: 1/256 by chance)


def test_at_0_db_it_is_cheaper_and_more_reliable_than_a_transport_block():
    small, nr = SmallBlockPipe(repetitions=2), NRBitPipe(SIDE_INFO_MCS, max_retransmissions=0)
    channel = create_channel("awgn")
    rates = []
    for pipe in (small, nr):
        generator = torch.Generator().manual_seed(1)
        rates.append(sum(not pipe.send(bytes([i]), channel, 0.0, generator).ok for i in range(150)) / 150)
    assert small.channel_uses(1) < nr.channel_uses(1)
    assert rates[0] < 0.06 and rates[1] > rates[0] + 0.05, rates


def test_longer_payloads_take_the_fallback_and_bad_settings_are_refused():
    nr = NRBitPipe(SIDE_INFO_MCS, max_retransmissions=0)
    pipe = SmallBlockPipe(fallback=nr)
    got = pipe.send(b"hello", create_channel("awgn"), 20.0, torch.Generator().manual_seed(0))
    assert got.ok and got.payload == b"hello" and got.channel_uses == nr.channel_uses(5) == pipe.channel_uses(5)
    assert pipe.send(b"", create_channel("awgn"), 0.0).channel_uses == 0 == pipe.channel_uses(0)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(SemcomError, match="repetitions"):
            SmallBlockPipe(repetitions=bad)
    assert pipe.describe()["fallback"]["pipe"] == "5g"
