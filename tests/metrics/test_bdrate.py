"""Bjontegaard deltas against closed-form cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semcom.errors import SemcomError
from semcom.metrics.bdrate import bd_cbr, bd_psnr, bd_rate

RATES = np.array([0.1, 0.25, 0.5, 1.0, 2.0])
PSNR = np.array([27.0, 30.5, 33.0, 36.2, 39.0])


def test_rates_scaled_by_0_8_give_minus_20_percent() -> None:
    assert bd_rate(RATES, PSNR, 0.8 * RATES, PSNR) == pytest.approx(-20.0, abs=1e-9)
    assert bd_rate(0.8 * RATES, PSNR, RATES, PSNR) == pytest.approx(25.0, abs=1e-9)


def test_bd_cbr_is_bd_rate_on_the_cbr_axis() -> None:
    cbr = np.array([1 / 48, 1 / 24, 1 / 12, 1 / 6])
    quality = np.array([24.0, 27.5, 31.0, 34.0])
    assert bd_cbr(cbr, quality, 0.5 * cbr, quality) == pytest.approx(-50.0, abs=1e-9)


def test_quality_shift_of_one_db_gives_bd_psnr_of_one() -> None:
    assert bd_psnr(RATES, PSNR, RATES, PSNR + 1.0) == pytest.approx(1.0, abs=1e-9)
    assert bd_psnr(RATES, PSNR + 1.0, RATES, PSNR) == pytest.approx(-1.0, abs=1e-9)


def test_bd_rate_integrates_over_the_overlapping_quality_interval() -> None:
    # A: log10 r = (q - 30) / 10 for q in [30, 40]; B: log10 r = (q - 30) / 12 for q in
    # [32, 44]. Both are exact cubics. On the overlap [32, 40] the mean log-rate
    # difference is (36 - 30) * (1/12 - 1/10) = -0.1, so BD-rate = 10^-0.1 - 1.
    qa = np.linspace(30, 40, 5)
    qb = np.array([32.0, 36.0, 40.0, 44.0])
    ra, rb = 10 ** ((qa - 30) / 10), 10 ** ((qb - 30) / 12)
    with pytest.warns(UserWarning, match="overlap"):  # 8 of 14 dB: under 75 %
        got = bd_rate(ra, qa, rb, qb)
    assert got == pytest.approx((10**-0.1 - 1) * 100, abs=1e-9)


def test_bd_psnr_integrates_over_the_overlapping_log_rate_interval() -> None:
    # A: q = 30 + 10 log10 r on log r in [0, 1]; B: q = 30 + 12 log10 r on [1/6, 7/6].
    # Mean of 2 log10 r over the overlap [1/6, 1] is 2 * 7/12.
    la = np.linspace(0, 1, 4)
    lb = np.linspace(1 / 6, 7 / 6, 6)
    with pytest.warns(UserWarning, match="overlap"):
        got = bd_psnr(10**la, 30 + 10 * la, 10**lb, 30 + 12 * lb)
    assert got == pytest.approx(7 / 6, abs=1e-9)


def test_point_order_does_not_matter() -> None:
    perm = np.array([3, 0, 4, 1, 2])
    expected = bd_rate(RATES, PSNR, 0.9 * RATES, PSNR + 0.3)
    assert bd_rate(RATES[perm], PSNR[perm], 0.9 * RATES, PSNR + 0.3) == pytest.approx(expected)
    assert math.isfinite(expected)


def test_bad_curves_raise_semcom_errors() -> None:
    with pytest.raises(SemcomError, match="at least 4"):
        bd_rate(RATES[:3], PSNR[:3], RATES, PSNR)
    with pytest.raises(SemcomError, match="at least 4"):
        bd_psnr(RATES, PSNR, RATES[:2], PSNR[:2])
    with pytest.raises(SemcomError, match="do not overlap"):
        bd_rate(RATES, PSNR, RATES, PSNR + 20.0)
    with pytest.raises(SemcomError, match="do not overlap"):
        bd_psnr(RATES, PSNR, RATES * 100, PSNR)
    with pytest.raises(SemcomError, match="positive"):
        bd_rate(np.array([0.0, 0.1, 0.2, 0.3]), PSNR[:4], RATES, PSNR)
    with pytest.raises(SemcomError, match="5 rate values but 4"):
        bd_rate(RATES, PSNR[:4], RATES, PSNR)
    with pytest.raises(SemcomError, match="distinct"):
        bd_rate(RATES[:4], np.array([30.0, 30.0, 31.0, 32.0]), RATES, PSNR)
    with pytest.raises(SemcomError, match="NaN"):
        bd_cbr(RATES, np.array([27.0, np.nan, 33.0, 36.2, 39.0]), RATES, PSNR)
