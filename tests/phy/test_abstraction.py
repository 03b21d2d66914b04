"""BLER tables in Sionna's format, read by ``sionna.sys.PHYAbstraction``: the shipped
tables' counts and shape, effective SNR (EESM), MCS selection, the table builder, and
the PHY-abstraction links against full simulation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from semcom.channels import create_channel
from semcom.channels.base import Channel
from semcom.errors import SemcomError
from semcom.phy import AbstractTransportBlockLink, TransportBlockLink
from semcom.phy.abstraction import (DATA_DIR, NR_TABLE, bler, code_block_bler, eesm_db, effective_snr_db, full_tb,
                                    select_mcs, tabulated_mcs, threshold_snr, wifi_bler)
from semcom.phy.bler_tables import Log, simulate_entry, write_sionna_table
from semcom.phy.mcs import get_mcs, usable_mcs


def shannon_db(mcs: int) -> float:
    return 10 * math.log10(2 ** get_mcs(mcs).spectral_efficiency - 1)


def test_shipped_table_is_sionna_format_with_enough_blocks_near_the_target() -> None:
    table = json.loads((DATA_DIR / NR_TABLE).read_text())
    mcs = table["category"]["1"]["index"]["1"]["MCS"]
    assert set(tabulated_mcs()) == {int(m) for m in mcs} and set(tabulated_mcs()) <= set(usable_mcs())
    counts = table["semcom"]["counts [errors, blocks] by 'MCS/CBS' and SNR"]
    for key, points in counts.items():
        m, cbs = key.split("/")
        if m not in mcs:  # an entry still being simulated
            continue
        grid = mcs[m]["SNR_db"]
        assert np.allclose(np.diff(grid), 0.25) and len(mcs[m]["CBS"][cbs]["BLER"]) == len(grid)
        rates = {float(s): e / n for s, (e, n) in points.items()}
        assert all(n >= 200 for s, (e, n) in points.items() if 0.03 <= e / n <= 0.4), key
        assert max(rates.values()) >= 0.95 and min(rates.values()) < 0.01, key  # the whole waterfall


def test_thresholds_lie_above_capacity_and_long_blocks_need_less_snr() -> None:
    for m in tabulated_mcs():
        large, c = full_tb(m)
        t_large = threshold_snr(m, 0.1, cbs=large, num_code_blocks=1)
        assert shannon_db(m) < t_large < shannon_db(m) + 3.0, m
        assert threshold_snr(m, 0.1, cbs=1000) > t_large - 0.05, m  # shorter blocks, shallower waterfall
        assert threshold_snr(m, 0.01) > threshold_snr(m, 0.1) > threshold_snr(m, 0.9)
    t = threshold_snr(tabulated_mcs()[-1], 0.1)
    assert bler(tabulated_mcs()[-1], t) == pytest.approx(0.1, abs=0.01)


def test_select_mcs_is_the_fastest_meeting_the_target() -> None:
    lowest = tabulated_mcs()[0]
    assert select_mcs(threshold_snr(lowest, 0.1) - 1.0) is None
    snr = 8.0
    chosen = select_mcs(snr)
    assert bler(chosen, snr) <= 0.1
    faster = [m for m in tabulated_mcs() if get_mcs(m).spectral_efficiency > get_mcs(chosen).spectral_efficiency]
    assert all(bler(m, snr) > 0.1 for m in faster)
    assert get_mcs(select_mcs(snr, margin_db=3.0)).spectral_efficiency < get_mcs(chosen).spectral_efficiency
    # a small allocation has short TBs: never a faster MCS than for full-size TBs
    assert get_mcs(select_mcs(snr, channel_uses=300)).spectral_efficiency <= get_mcs(chosen).spectral_efficiency
    with pytest.raises(SemcomError, match="target_bler"):
        select_mcs(snr, target_bler=1.5)


def test_rayleigh_selection_uses_the_eesm_effective_snr() -> None:
    # EESM of a constant SINR is that SINR; over |h|^2 ~ Exp(1) its mean is beta log(1 + snr / beta)
    assert eesm_db(np.full((1, 50), 10.0), 15)[0] == pytest.approx(10.0)
    rng = np.random.default_rng(0)
    sinr = 10.0 * rng.exponential(size=(1, 200_000))
    assert eesm_db(sinr, 15)[0] == pytest.approx(effective_snr_db(10.0, 15, "rayleigh"), abs=0.05)
    assert effective_snr_db(10.0, 15, "rayleigh") < 10.0
    assert select_mcs(10.0, channel="rayleigh") < select_mcs(10.0)
    with pytest.raises(SemcomError, match="selection channel"):
        effective_snr_db(10.0, 15, "rician")


def test_wifi_table_is_a_waterfall() -> None:
    curve = wifi_bler(4, np.linspace(8.0, 13.0, 21))
    assert curve[0] > 0.9 and curve[-1] == 0.0 and (np.diff(curve) <= 1e-12).all()
    with pytest.raises(SemcomError, match="bits per symbol"):
        wifi_bler(6, 10.0)


def test_table_builder_writes_what_phy_abstraction_reads(tmp_path) -> None:
    """Two short blocks at MCS 28: the log, the Sionna file, and the lookup agree."""
    from sionna.sys import PHYAbstraction

    log = Log(tmp_path / "counts.jsonl")
    link = TransportBlockLink()
    for tbs in (120, 256):
        simulate_entry(28, tbs, 20.0, log, Channel(), link, seed=1, num_blocks=100, say=lambda _: None)
    table = write_sionna_table(log, tmp_path / "t.json", "test")
    pa = PHYAbstraction(load_bler_tables_from=[str(tmp_path / "t.json")], cbs_interp_min_max_delta=(24, 1048, 8),
                        snr_db_interp_min_max_delta=(-5.0, 30.01, 0.05))
    row = table["category"]["1"]["index"]["1"]["MCS"]["28"]
    snr = np.array(row["SNR_db"])
    got = pa.get_bler(28, 1, 1, 136, torch.as_tensor(10 ** (snr / 10))).numpy()
    assert np.allclose(got, row["CBS"]["136"]["BLER"], atol=1e-6)
    assert Log(tmp_path / "counts.jsonl").rows == log.rows  # resumable: the log is on disk


def test_abstract_link_matches_full_simulation_accounting() -> None:
    """Same channel uses as full simulation; exact bytes above the waterfall, flagged
    garbage below it; drawn TB errors follow the table."""
    full = TransportBlockLink(max_retransmissions=3)
    fast = AbstractTransportBlockLink(full)
    payload = bytes(range(256)) * 12
    m = 19
    for snr in (threshold_snr(m, 0.1) + 2.0, -3.0):  # all pass at once; all fail four times (even with IR)
        a = full.send(payload, m, create_channel("awgn"), snr, torch.Generator().manual_seed(0))
        b = fast.send(payload, m, create_channel("awgn"), snr, torch.Generator().manual_seed(0))
        assert a.ok == b.ok and a.channel_uses == b.channel_uses and torch.equal(a.transmissions, b.transmissions)
        assert (b.payload == payload) == b.ok
    cbs, _ = full_tb(m)
    snr = threshold_snr(m, 0.3, cbs=cbs)
    one = AbstractTransportBlockLink(TransportBlockLink())
    big = bytes(1024 * 200)  # 200 full TBs
    d = one.send(big, m, create_channel("awgn"), snr, torch.Generator().manual_seed(1))
    p = float(code_block_bler(m, cbs, snr))
    assert abs((~d.tb_ok).float().mean().item() - p) < 4 * math.sqrt(p * (1 - p) / d.plan.num_tbs) + 0.01
    faded = one.send(big, m, create_channel("rayleigh"), snr, torch.Generator().manual_seed(1))
    assert (~faded.tb_ok).sum() > (~d.tb_ok).sum()  # EESM: fading costs SNR
