"""Bytes over channels with transport blocks: exact delivery, waterfall, accounting,
erasures, HARQ retransmission (incremental redundancy, chase combining, none),
repeatability."""

from __future__ import annotations

import math
import os

import pytest
import torch

from semcom.channels.base import Channel, ChannelOutput
from semcom.conventions import bits_to_channel_uses
from semcom.errors import SemcomError
from semcom.phy.mcs import get_mcs
from semcom.phy.tb_link import TransportBlockLink, bits_to_bytes, bytes_to_bits
from semcom.phy.transport import get_codec, plan_transport, scrambling_sequence


class ErasingChannel(Channel):
    """AWGN that erases each symbol (sets it to 0 and flags it) with probability p."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, z: torch.Tensor, snr_db: float, generator: torch.Generator | None = None) -> ChannelOutput:
        out = super().forward(z, snr_db, generator)
        erased = torch.rand(z.shape, generator=generator) < self.p
        out.symbols = torch.where(erased, torch.zeros_like(out.symbols), out.symbols)
        out.erasures = erased
        return out


def shannon_snr_db(mcs: int) -> float:
    """AWGN capacity limit of the MCS's spectral efficiency."""
    return 10 * math.log10(2 ** get_mcs(mcs).spectral_efficiency - 1)


def payload_of(num_bytes: int, gen: torch.Generator) -> bytes:
    return bytes(torch.randint(0, 256, (num_bytes,), generator=gen, dtype=torch.uint8).tolist())


def test_bytes_bits_round_trip() -> None:
    data = os.urandom(37)
    bits = bytes_to_bits(data)
    assert bits.shape == (296,) and set(bits.unique().tolist()) <= {0.0, 1.0}
    assert bits_to_bytes(bits) == data
    assert bytes_to_bits(b"\x80")[0] == 1  # most significant bit first


@pytest.mark.parametrize("mcs", [5, 16, 28])
def test_noiseless_channel_delivers_payload_bit_exactly(mcs: int, gen: torch.Generator) -> None:
    link = TransportBlockLink()
    payload = payload_of(1500, gen)
    d = link.send(payload, mcs, Channel(), 60.0, gen)
    assert d.payload == payload and d.ok and d.rounds == 1
    assert d.channel_uses == link.channel_uses(len(payload), mcs)
    # early stopping: punctured bits need a few iterations even without noise
    assert (d.iterations <= 4).all()


def test_channel_uses_match_hand_computation(gen: torch.Generator) -> None:
    link = TransportBlockLink()
    # 1000 bytes at MCS 15: one TB of 8064 bits, G = 13340 coded bits (see test_transport)
    assert link.channel_uses(1000, 15) == bits_to_channel_uses(13340, 4) == 3335
    d = link.send(payload_of(1000, gen), 15, Channel(), 30.0, gen)
    assert d.channel_uses == 3335
    assert link.send(b"", 15, Channel(), 30.0, gen).channel_uses == 0
    assert link.max_payload_bytes(3335, 15) == 1008  # 8064 bits fill the TB exactly
    assert link.channel_uses(1009, 15) > 3335


@pytest.mark.parametrize("mcs", [6, 18])
def test_waterfall_over_awgn(mcs: int, gen: torch.Generator) -> None:
    """BLER near 1 below the capacity limit, below 0.1 a few dB above it (10 TBs each)."""
    link = TransportBlockLink(max_tb_bits=1032)  # a TS 38.214 size
    payload = payload_of(10 * 129, gen)
    plan = link.plan(8 * len(payload), mcs)
    assert plan.num_tbs == 10
    low = link.send(payload, mcs, Channel(), shannon_snr_db(mcs) - 1.0, gen)
    high = link.send(payload, mcs, Channel(), shannon_snr_db(mcs) + 3.5, gen)
    assert (~low.tb_ok).float().mean() > 0.9
    assert (~high.tb_ok).float().mean() < 0.1
    assert high.payload == payload


def test_erasures_give_zero_llrs_and_are_corrected(gen: torch.Generator) -> None:
    link = TransportBlockLink()
    payload = payload_of(400, gen)
    plan = link.plan(8 * len(payload), 5)
    symbols, _ = link.encode(payload, 5)
    out = ErasingChannel(0.15)(symbols.reshape(1, -1), 30.0, gen)
    llr = link.llrs(out, plan).reshape(-1, 2)
    erased = out.erasures.reshape(-1)
    assert (llr[erased] == 0).all() and (llr[~erased] != 0).all()
    # a rate-0.37 code fills 15 % erasures at high SNR
    assert link.send(payload, 5, ErasingChannel(0.15), 30.0, gen).payload == payload
    assert not link.send(payload, 5, ErasingChannel(1.0), 30.0, gen).ok


def test_retransmissions_count_every_channel_use(gen: torch.Generator) -> None:
    link = TransportBlockLink(max_tb_bits=1032, max_retransmissions=3, num_iter=8)
    payload = payload_of(6 * 129, gen)
    plan = link.plan(8 * len(payload), 16)
    d = link.send(payload, 16, Channel(), shannon_snr_db(16) + 0.6, gen)
    assert d.transmissions.min() >= 1 and d.transmissions.max() <= 4 and d.rounds > 1
    assert d.channel_uses == int(d.transmissions.sum()) * plan.symbols_per_tb
    # TBs sent again are exactly those that failed before
    assert torch.equal(d.transmissions > 1, ~d.first_tb_ok)
    # bytes flagged good are exact (CRC), one flag per byte
    sent, got = torch.tensor(list(payload)), torch.tensor(list(d.payload))
    assert d.byte_ok.shape == (len(payload),)
    assert torch.equal(sent[d.byte_ok], got[d.byte_ok])


def test_incremental_redundancy_beats_chase_beats_plain_arq(gen: torch.Generator) -> None:
    """MCS 24 (64-QAM, rate 0.75) about 3 dB below its threshold: four separately decoded
    copies fail, chase combining needs 3-4 transmissions, incremental redundancy (RVs 0,
    2 of the circular buffer: rate about 3/8 after two) needs two."""
    payload = payload_of(512, gen)
    results = {}
    for harq in ("none", "chase", "ir"):
        link = TransportBlockLink(max_tb_bits=1032, max_retransmissions=3, num_iter=10, harq=harq)
        results[harq] = link.send(payload, 24, Channel(), 12.0, torch.Generator().manual_seed(3))
    assert not results["none"].ok and results["none"].rounds == 4
    assert results["chase"].ok and results["chase"].rounds >= 3
    assert results["ir"].ok and results["ir"].payload == payload and results["ir"].rounds == 2
    assert results["ir"].channel_uses < results["chase"].channel_uses < results["none"].channel_uses
    assert results["ir"].channel_uses == 2 * results["ir"].plan.channel_uses


def test_redundancy_versions_are_sionnas_circular_buffer_windows(gen: torch.Generator) -> None:
    """RV 0 equals Sionna's TBEncoder; noiseless RV 0 and RV 3 decode alone (self-decodable),
    RV 2 alone does not (mostly parity) but RVs 0 + 2 combined do."""
    plan = plan_transport(3000, 20)
    codec = get_codec(plan)
    bits = torch.randint(0, 2, (2, plan.tb_bits), generator=gen).float()
    rv0 = codec.encode(bits)
    assert torch.equal(rv0, torch.abs(codec.encoder(bits) - scrambling_sequence(plan.coded_bits_per_tb)))
    coded = {rv: codec.encode(bits, rv) for rv in (0, 2, 3)}
    assert not torch.equal(coded[0], coded[2]) and not torch.equal(coded[2], coded[3])

    def decode(rvs: list[int]) -> bool:
        llr = torch.stack([6.0 * (2 * coded[rv] - 1) for rv in rvs], dim=1)
        got, ok, _ = codec.decode_rvs(llr, rvs)
        return bool(ok.all()) and torch.equal(got, bits)

    assert decode([0]) and decode([3]) and not decode([2]) and decode([0, 2])
    with pytest.raises(SemcomError, match="RVs"):
        codec.decode_rvs(torch.zeros(2, 1, plan.coded_bits_per_tb), [4])


def test_same_seed_repeats_the_run() -> None:
    link = TransportBlockLink(max_tb_bits=1032)
    payload = os.urandom(300)
    snr = shannon_snr_db(12) + 0.8
    a = link.send(payload, 12, Channel(), snr, torch.Generator().manual_seed(5))
    b = link.send(payload, 12, Channel(), snr, torch.Generator().manual_seed(5))
    assert a.payload == b.payload and torch.equal(a.tb_ok, b.tb_ok) and torch.equal(a.iterations, b.iterations)


def test_bad_settings_are_clean_errors() -> None:
    with pytest.raises(SemcomError):
        TransportBlockLink(max_retransmissions=-1)
    with pytest.raises(SemcomError, match="harq"):
        TransportBlockLink(harq="soft")
    with pytest.raises(SemcomError):
        TransportBlockLink(cn_update="sum-product")
    with pytest.raises(SemcomError):
        TransportBlockLink(num_iter=0)
    with pytest.raises(SemcomError):
        TransportBlockLink().send(b"x", 0, Channel(), 10.0)
