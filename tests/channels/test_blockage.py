"""Blockage: LOS/NLOS Markov segments, piecewise-constant fading, NLOS attenuation."""

from __future__ import annotations

import math

import pytest
import torch

from semcom.channels import Blockage, create_channel
from semcom.errors import SemcomError

MEAN_LOS, MEAN_NLOS = 50.0, 20.0


def draw(channel: Blockage, seed: int, batch: int = 50, length: int = 2000):
    g = torch.Generator().manual_seed(seed)
    blocked, segment = channel.sample_state(batch, length, g)
    return blocked, segment, channel.gain_for_state(blocked, segment, g)


def segment_values(h: torch.Tensor, blocked: torch.Tensor, segment: torch.Tensor):
    """One gain per segment (its first symbol) and whether the segment is blocked."""
    first = torch.ones_like(blocked)
    first[:, 1:] = segment[:, 1:] != segment[:, :-1]
    return h[first], blocked[first]


def test_los_fraction_and_segment_lengths(stats) -> None:
    channel = Blockage(mean_los=MEAN_LOS, mean_nlos=MEAN_NLOS)
    blocked, segment, h = draw(channel, 1)
    mean, se = stats.row_mean((~blocked).double())
    stats.within(mean, MEAN_LOS / (MEAN_LOS + MEAN_NLOS), se, "LOS fraction")
    assert channel.los_fraction == pytest.approx(MEAN_LOS / (MEAN_LOS + MEAN_NLOS))
    # the chain's per-symbol exit probabilities are 1/mean, so segment lengths have those means
    prev, nxt = blocked[:, :-1], blocked[:, 1:]
    leave_los, se = stats.row_ratio((~prev & nxt).double(), (~prev).double())
    stats.within(1 / leave_los, MEAN_LOS, se / leave_los**2, "mean LOS segment length")
    leave_nlos, se = stats.row_ratio((prev & ~nxt).double(), prev.double())
    stats.within(1 / leave_nlos, MEAN_NLOS, se / leave_nlos**2, "mean NLOS segment length")


def test_fading_is_piecewise_constant_over_segments() -> None:
    blocked, segment, h = draw(Blockage(mean_los=MEAN_LOS, mean_nlos=MEAN_NLOS), 2, batch=10)
    changes = h[:, 1:] != h[:, :-1]
    assert torch.equal(changes, blocked[:, 1:] != blocked[:, :-1])
    assert torch.equal(changes, segment[:, 1:] != segment[:, :-1])


@pytest.mark.parametrize("shadowing_std_db", [0.0, 6.0])
def test_nlos_attenuation_and_shadowing(shadowing_std_db: float, stats) -> None:
    A, K = 20.0, 5.0
    channel = Blockage(K=K, attenuation_db=A, shadowing_std_db=shadowing_std_db,
                       mean_los=MEAN_LOS, mean_nlos=MEAN_NLOS, normalize=False)
    blocked, segment, h = draw(channel, 3)
    values, nlos = segment_values(h, blocked, segment)
    los_power, se = stats.iid_mean(values[~nlos].abs().pow(2))
    stats.within(los_power, 1.0, se, "LOS E|h|^2")
    los_values = values[~nlos].abs().pow(2)
    groups = torch.tensor([stats.rician_k(g) for g in los_values.chunk(20)])
    stats.within(stats.rician_k(los_values), K, groups.std().item() / math.sqrt(20), "LOS Rician K")
    nlos_power, se = stats.iid_mean(values[nlos].abs().pow(2))
    lognormal_mean = math.exp((shadowing_std_db * math.log(10) / 10) ** 2 / 2)
    expected = 10 ** (-A / 10) * lognormal_mean
    assert channel.nlos_power == pytest.approx(expected)
    stats.within(nlos_power, expected, se, "NLOS E|h|^2")
    # the shadowing spreads the NLOS power in dB: Var(10 log10 |h|^2) = s^2 + Var of an Exp(1) in dB
    nlos_db = 10 * torch.log10(values[nlos].abs().pow(2).double())
    exp_var_db = (10 / math.log(10)) ** 2 * math.pi**2 / 6
    centred = nlos_db - nlos_db.mean()
    se = math.sqrt((centred.pow(4).mean() - centred.pow(2).mean() ** 2).item() / nlos_db.numel())
    stats.within(nlos_db.var().item(), shadowing_std_db**2 + exp_var_db, se, "Var of NLOS power in dB")


def test_normalized_blockage_has_unit_power_and_los_gain(stats) -> None:
    raw = Blockage(mean_los=MEAN_LOS, mean_nlos=MEAN_NLOS, normalize=False)
    norm = Blockage(mean_los=MEAN_LOS, mean_nlos=MEAN_NLOS)
    blocked, segment, h_raw = draw(raw, 4)
    _, _, h_norm = draw(norm, 4)
    assert (h_norm - h_raw / math.sqrt(raw.mean_power)).abs().max() <= 1e-6 * h_raw.abs().max()
    mean, se = stats.row_mean(h_norm.abs().pow(2))
    stats.within(mean, 1.0, se, "normalized E|h|^2")


def test_imperfect_csi_is_relative_to_the_mean_power(stats) -> None:
    channel = Blockage(mean_los=MEAN_LOS, mean_nlos=MEAN_NLOS, normalize=False, csi_nmse=0.05)
    out = channel(torch.ones(100, 1000, dtype=torch.complex64), 10.0, torch.Generator().manual_seed(5))
    err, se = stats.iid_mean((out.csi - out.gain).abs().pow(2))
    stats.within(err, 0.05 * channel.mean_power, se, "CSI error variance")


@pytest.mark.parametrize("params, message", [
    ({"K": -1}, "K must be"),
    ({"attenuation_db": -3}, "attenuation_db must be"),
    ({"shadowing_std_db": float("nan")}, "shadowing_std_db must be"),
    ({"shadowing_std_db": 1e4}, "shadowing_std_db=10000.0 is too large"),
    ({"mean_los": 0.5}, "mean_los must be >= 1, got 0.5"),
    ({"mean_nlos": float("inf")}, "mean_nlos must be finite"),
])
def test_bad_parameters(params, message) -> None:
    with pytest.raises(SemcomError, match=message):
        create_channel("blockage", **params)
