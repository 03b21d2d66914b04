"""Transport-block segmentation and coding: sizes from TS 38.214 by hand, agreement with
Sionna's TBEncoder/TBDecoder, and every usable MCS encodable at its largest TB."""

from __future__ import annotations

import math

import pytest
import torch

from semcom.channels.base import Channel
from semcom.errors import SemcomError
from semcom.phy.mcs import usable_mcs
from semcom.phy.tb_link import TransportBlockLink
from semcom.phy.mcs import get_mcs
from semcom.phy.transport import (TransportBlockCodec, allocation_tbs, largest_tb_size, plan_transport,
                                  tb_size_at_least)


def test_plan_mcs15_one_kilobyte_by_hand() -> None:
    # TBS of the payload (TS 38.214 5.1.3.2), N_info = 8000 > 3824: n = floor(log2(8000 - 24)) - 5
    # = 7, N'_info = 2^7 * round(7976 / 2^7) = 7936 < 8000, so the next size N'_info = 8064;
    # R = 616/1024 > 1/4 and N'_info <= 8424 -> C = 1, TBS = 8 * ceil(8088 / 8) - 24 = 8064.
    # CRC: 24 bits (TBS > 3824), no code-block CRC (C = 1).
    # G from the allocation: G = 13340 gives N_info = 13340 * 616 / 1024 = 8024.8,
    # 2^7 * round(8000.8 / 128 = 62.506) = 8064 -> TBS 8064; G = 13336 gives 8022.4,
    # round(62.49) = 62 -> 7936 -> TBS 7936. So G = 13340 (was 4 * ceil(8088 / 2.40625) = 13448).
    plan = plan_transport(8000, 15)
    assert (plan.num_tbs, plan.tb_bits, plan.num_code_blocks, plan.crc_bits_per_tb) == (1, 8064, 1, 24)
    assert plan.coded_bits_per_tb == 13340
    assert plan.channel_uses == 3335
    assert plan.padding_bits == 64
    assert allocation_tbs(13340, 15) == 8064 and allocation_tbs(13336, 15) == 7936
    assert 616 / 1024 < plan.code_rate < 0.95  # CB CRCs are outside N_info


def test_plan_small_payload_mcs28_by_hand() -> None:
    # N_info = 800 <= 3824: n = max(3, floor(log2 800) - 6) = 3, N'_info = 8 * floor(800 / 8) = 800,
    # smallest TBS of Table 5.1.3.2-1 >= 800 is 808; CRC16. The smallest allocation giving TBS 808
    # (N'_info >= 776, G >= 776 / 0.9258 -> 840) has an effective rate 824 / 840 = 0.98 > 0.95,
    # which a UE may skip (TS 38.214 5.1.3): G = 6 * ceil(824 / 0.95 / 6) = 870.
    plan = plan_transport(800, 28)
    assert (plan.num_tbs, plan.tb_bits, plan.crc_bits_per_tb, plan.coded_bits_per_tb) == (1, 808, 16, 870)
    assert plan.channel_uses == 145
    assert allocation_tbs(840, 28) == 808 and allocation_tbs(834, 28) == 768


def test_plan_mcs3_has_three_code_blocks_by_hand() -> None:
    # R = 251/1024 <= 1/4: C = ceil((8064 + 24) / 3816) = 3, TBS = 24 * ceil(8088 / 24) - 24 = 8064;
    # CRC = 24 (TB) + 3 * 24 (CB) = 96. G = 32736: N_info = 8024.25, 2^7 * round(8000.25 / 128)
    # = 8064 -> TBS 8064; G = 32732: N_info = 8023.27 -> 7936 -> TBS 24 * ceil(7960 / 24) - 24 = 7944.
    plan = plan_transport(8064, 3)
    assert (plan.tb_bits, plan.num_code_blocks, plan.crc_bits_per_tb) == (8064, 3, 96)
    assert plan.coded_bits_per_tb == 32736
    assert plan.channel_uses == 16368
    assert allocation_tbs(32732, 3) == 7944


def test_allocation_sizing_carries_more_than_equal_rate_sizing() -> None:
    """About 1.6 % more payload at most MCS (TS 38.214 sizing vs G = ceil((TBS + CRC) / R))."""
    link = TransportBlockLink()
    k = 47_186  # cbr 0.04 of a 768 x 512 image
    gains = []
    for mcs in (3, 9, 19, 24, 28):
        plan = link.plan(8 * link.max_payload_bytes(k, mcs), mcs)
        q, t = plan.bits_per_symbol, plan.num_tbs
        # the payload is T times the TBS of an equal share of the allocation
        assert plan.payload_bits == t * allocation_tbs(q * (k // t), mcs) and plan.channel_uses <= k
        old_g = q * math.ceil((plan.tb_bits + plan.crc_bits_per_tb) / (get_mcs(mcs).code_rate * q))
        gains.append(old_g / plan.coded_bits_per_tb)
    assert all(g >= 1.0 for g in gains) and max(gains) > 1.01


def test_plan_splits_large_payloads_into_equal_tbs() -> None:
    # 40000 bits, TBs <= 8192: T = ceil(40000 / 8192) = 5 of ceil(40000 / 5) = 8000 -> TBS 8064
    plan = plan_transport(40_000, 15)
    assert (plan.num_tbs, plan.tb_bits) == (5, 8064)
    assert plan.channel_uses == 5 * 3335
    for payload in (1, 24, 25, 3825, 9000, 100_000):
        for mcs in (3, 4, 10, 20, 28):
            p = plan_transport(payload, mcs)
            assert p.num_tbs * p.tb_bits >= payload
            assert p.tb_bits <= (3752 if mcs in (4, 10) else 8192)
            assert p.coded_bits_per_tb % p.bits_per_symbol == 0
    assert plan_transport(0, 15).channel_uses == 0


def test_tb_sizes_are_standard_sizes() -> None:
    # a few entries of TS 38.214 Table 5.1.3.2-1 and the large-size formula
    assert tb_size_at_least(1000, 15) == 1032
    assert tb_size_at_least(3800, 15) == 3824
    assert tb_size_at_least(3825, 15) == 3840
    assert largest_tb_size(8192, 15) == 8192
    assert largest_tb_size(8192, 3) == 8064  # 8192 would be 8208 with C = 3 at R <= 1/4


def test_bad_plans_are_clean_errors() -> None:
    with pytest.raises(SemcomError):
        plan_transport(-1, 10)
    with pytest.raises(SemcomError):
        plan_transport(100, 1)
    with pytest.raises(SemcomError):
        plan_transport(100, 10, max_tb_bits=8)


def test_codec_equals_sionna_tb_encoder_and_decoder(gen: torch.Generator) -> None:
    """Without early stopping the codec is Sionna's TBEncoder/TBDecoder, bit for bit."""
    from sionna.phy.nr import TBDecoder, TBEncoder

    link = TransportBlockLink()
    plan = plan_transport(2 * 2000, 12)
    codec = TransportBlockCodec(12, plan.tb_bits, plan.coded_bits_per_tb, num_iter=6, check_every=6)
    bits = torch.randint(0, 2, (plan.num_tbs, plan.tb_bits), generator=gen).float()
    coded = codec.encode(bits)
    with torch.inference_mode():
        ref_encoder = TBEncoder(plan.tb_bits, plan.coded_bits_per_tb, plan.mcs.code_rate, 4, device="cpu")
        assert torch.equal(coded, ref_encoder(bits))  # scrambled the same way
        out = Channel()(link.modulator(plan).map(coded).reshape(1, -1), 4.5, gen)
        llr = link.llrs(out, plan)
        ref_bits, ref_ok = TBDecoder(ref_encoder, num_bp_iter=6, cn_update="boxplus", device="cpu")(llr)
    ours, ok, iterations = codec.decode(llr)
    assert torch.equal(ours, ref_bits) and torch.equal(ok, ref_ok)
    assert (iterations == 6).all()


@pytest.mark.slow
def test_every_usable_mcs_codes_small_and_largest_tbs(gen: torch.Generator) -> None:
    link = TransportBlockLink()
    for mcs in usable_mcs():
        for plan in (link.plan(24, mcs), link.plan(1000, mcs), link.full_tb_plan(1, mcs)):
            codec = link.codec(plan)
            bits = torch.randint(0, 2, (1, plan.tb_bits), generator=gen).float()
            decoded, ok, _ = codec.decode(20.0 * (2.0 * codec.encode(bits) - 1.0))
            assert ok.all() and torch.equal(decoded, bits), (mcs, plan.tb_bits)
