"""BLER tables (PHY abstraction): fitting, physical sanity of the shipped AWGN table,
look-ups, MCS selection, and agreement with full simulation (slow)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semcom.channels.base import Channel
from semcom.errors import SemcomError
from semcom.phy.bler import (bler, fit_probit, load_table, probit_bler, select_mcs, simulate_bler,
                             threshold_snr)
from semcom.phy.mcs import get_mcs, usable_mcs


def shannon_snr_db(mcs: int) -> float:
    return 10 * math.log10(2 ** get_mcs(mcs).spectral_efficiency - 1)


def test_probit_fit_recovers_a_known_waterfall() -> None:
    rng = np.random.default_rng(0)
    mu, sigma, n = 3.0, 0.2, 400
    points = [(s, int(rng.binomial(n, probit_bler(s, mu, sigma))), n) for s in (2.7, 2.9, 3.0, 3.1, 3.3)]
    mu_hat, sigma_hat = fit_probit(points)
    assert mu_hat == pytest.approx(mu, abs=0.03)
    assert sigma_hat == pytest.approx(sigma, abs=0.04)


def test_awgn_table_covers_every_usable_mcs_and_respects_capacity() -> None:
    table = load_table("awgn")
    assert set(table["mcs"]) == {str(m) for m in usable_mcs()}
    for m in usable_mcs():
        # no code works below the capacity limit; 5G LDPC at ~8k bits is within 3.5 dB of it
        assert shannon_snr_db(m) < threshold_snr(m, 0.5) < shannon_snr_db(m) + 3.5, m
        entry = table["mcs"][str(m)]
        assert entry["tb_bits"] == (3752 if m in (4, 10) else 8064 if m == 3 else 8192)
        # the fitted curve explains the counts it was fitted to (binomial, 4.5 standard errors)
        for snr, errors, trials in entry["points"]:
            p = bler(m, snr)
            assert abs(errors / trials - p) <= 4.5 * math.sqrt(max(p * (1 - p), 0.02) / trials) + 1e-9, (m, snr)


def test_fast_rayleigh_fading_never_beats_awgn() -> None:
    """At equal average SNR with perfect CSI, i.i.d. fading costs SNR at every MCS, and
    more at high code rates (less diversity per information bit)."""
    assert set(load_table("rayleigh")["mcs"]) == {str(m) for m in usable_mcs()}
    loss = {m: threshold_snr(m, 0.1, "rayleigh") - threshold_snr(m, 0.1, "awgn") for m in usable_mcs()}
    assert all(v > 0.3 for v in loss.values())
    assert loss[28] > loss[17] > loss[10]  # rates 0.93 > 0.43 > 0.33
    assert loss[9] > loss[3]  # QPSK rate 0.66 vs 0.25


def test_thresholds_grow_with_the_index() -> None:
    thresholds = [threshold_snr(m, 0.1) for m in usable_mcs()]
    # MCS 10 and 17 switch to a denser constellation at about the same spectral efficiency
    # as MCS 9 and 16; the denser one needs a little more SNR (BICM loss), never less
    assert all(b > a for a, b in zip(thresholds, thresholds[1:]))
    assert 0.0 < threshold_snr(10, 0.1) - threshold_snr(9, 0.1) < 1.0
    assert 0.0 < threshold_snr(17, 0.1) - threshold_snr(16, 0.1) < 1.0
    assert thresholds[-1] - thresholds[0] > 15.0


def test_bler_lookup_is_a_decreasing_curve() -> None:
    t = threshold_snr(15, 0.1)
    assert bler(15, t) == pytest.approx(0.1, abs=1e-6)
    curve = bler(15, np.linspace(t - 2, t + 2, 41))
    assert curve.shape == (41,) and np.all(np.diff(curve) <= 0)
    assert curve[0] > 0.99 and curve[-1] < 1e-3
    assert threshold_snr(15, 0.01) > threshold_snr(15, 0.1) > threshold_snr(15, 0.9)


def test_select_mcs_picks_the_fastest_that_meets_the_target() -> None:
    assert select_mcs(threshold_snr(3, 0.1) - 0.5) is None
    assert select_mcs(40.0) == 28
    snr = threshold_snr(15, 0.1) + 0.01
    chosen = select_mcs(snr)
    assert threshold_snr(chosen, 0.1) <= snr
    faster = [m for m in usable_mcs() if get_mcs(m).spectral_efficiency > get_mcs(chosen).spectral_efficiency]
    assert all(threshold_snr(m, 0.1) > snr for m in faster)
    assert get_mcs(select_mcs(snr, margin_db=3.0)).spectral_efficiency < get_mcs(chosen).spectral_efficiency


def test_bad_lookups_are_clean_errors() -> None:
    with pytest.raises(SemcomError):
        bler(10, 5.0, channel="rician")
    with pytest.raises(SemcomError):
        threshold_snr(10, 1.5)
    with pytest.raises(SemcomError):
        bler(1, 5.0)


@pytest.mark.slow
@pytest.mark.parametrize("mcs", [8, 22])
def test_table_agrees_with_full_simulation(mcs: int) -> None:
    gen = torch.Generator().manual_seed(mcs)
    (_, good, n_good), (_, bad, n_bad) = simulate_bler(
        mcs, [threshold_snr(mcs, 0.1) + 0.3, threshold_snr(mcs, 0.9) - 0.3], 16, Channel(), generator=gen)
    assert good / n_good <= 0.15
    assert bad / n_bad >= 0.85
