"""Composite channel: Rician K=3, multipath through OFDM, time-varying SNR."""

from __future__ import annotations

import math

import pytest
import torch

from semcom.channels import CompositeChannel, create_channel
from semcom.conventions import snr_db_to_noise_var
from semcom.errors import SemcomError


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_unit_power_on_every_subcarrier(stats) -> None:
    channel = CompositeChannel()
    h = channel.sample_gain((2000, 64), gen(1))  # one OFDM symbol per image
    power = h.abs().pow(2).double()
    mean, se = stats.row_mean(power)
    stats.within(mean, 1.0, se, "E|H|^2")
    per_subcarrier = power.mean(dim=0)
    se = power.std(dim=0) / math.sqrt(power.shape[0])
    assert ((per_subcarrier - 1).abs() <= (stats.n_se + 0.5) * se).all(), per_subcarrier
    groups = torch.tensor([stats.rician_k(g) for g in power[:, 5].chunk(20)])
    stats.within(stats.rician_k(power[:, 5]), 3.0, groups.std().item() / math.sqrt(20),
                 "Rician K of one subcarrier")


def test_frequency_response_of_a_tapped_delay_line(stats) -> None:
    channel = CompositeChannel(K=3.0, num_taps=5, tap_decay_db=3.0, fft_size=64)
    h = channel.sample_gain((2000, 64), gen(2))
    taps = torch.fft.ifft(h, dim=-1)  # back to the delay domain
    # support: only the first num_taps delays carry energy (no delay beyond the prefix)
    assert taps[:, 5:].abs().max() < 1e-5
    # exponential power delay profile; the LOS path adds K/(K+1) at delay 0
    p = 10 ** (-0.3 * torch.arange(5, dtype=torch.float64))
    p = p / p.sum()
    expected = p / 4.0
    expected[0] += 3.0 / 4.0
    assert torch.allclose(channel.tap_powers().double(), p, atol=1e-6)
    for lag in range(5):
        mean, se = stats.iid_mean(taps[:, lag].abs().pow(2))
        stats.within(mean, expected[lag].item(), se, f"power at delay {lag}")


def test_gain_is_constant_over_ofdm_symbols_unless_blocked(stats) -> None:
    h = CompositeChannel().sample_gain((8, 64 * 6 + 10), gen(3))
    grid = h[:, : 64 * 6].reshape(8, 6, 64)
    assert torch.equal(grid, grid[:, :1].expand_as(grid))  # the taps are fixed per image
    assert torch.equal(h[:, 64 * 6:], h[:, :10])  # the partial last OFDM symbol too
    h = CompositeChannel(block_length=2).sample_gain((8, 64 * 6), gen(4)).reshape(8, 3, 2, 64)
    assert torch.equal(h[:, :, 0], h[:, :, 1])  # two OFDM symbols per tap draw
    assert (h[:, 1:, 0] != h[:, :-1, 0]).all()


def test_snr_follows_the_sinusoid(stats) -> None:
    snr_db, amplitude = 6.0, 3.0
    channel = CompositeChannel(snr_amplitude_db=amplitude)
    batch, length = 400, 256
    z = torch.zeros(batch, length, dtype=torch.complex64)
    out = channel(z, snr_db, gen(5))
    # reported noise variance: snr_db + A sin(t / 10) with t spanning [0, 100]
    t = torch.linspace(0, 100, length)
    expected_snr = snr_db + amplitude * torch.sin(t / 10)
    assert torch.allclose(out.noise_var, snr_db_to_noise_var(expected_snr).expand(batch, -1), rtol=1e-4)
    # measured: per-symbol SNR from the received noise power, regressed on sin(t / 10)
    measured_db = -10 * torch.log10(out.symbols.abs().pow(2).double().mean(dim=0))
    x = torch.sin(t / 10).double()
    slope = ((x - x.mean()) * (measured_db - measured_db.mean())).sum() / (x - x.mean()).pow(2).sum()
    resid = measured_db - measured_db.mean() - slope * (x - x.mean())
    se = resid.std() / (x - x.mean()).pow(2).sum().sqrt()
    stats.within(slope.item(), amplitude, se.item(), "SNR oscillation amplitude (dB)")
    # mean of an average of `batch` exponentials in dB is biased by about -4.34 / batch
    stats.within(measured_db.mean().item() - slope.item() * x.mean().item(), snr_db,
                 resid.std().item() / math.sqrt(length), "SNR centre (dB)", floor=0.05)


def test_time_in_symbols() -> None:
    channel = CompositeChannel(time_span=None, snr_amplitude_db=2.0, snr_time_scale=10.0)
    offset = channel.snr_offset_db(300)
    i = torch.arange(300, dtype=torch.float32)
    assert torch.allclose(offset, 2.0 * torch.sin(i / 10), atol=1e-5)
    assert torch.allclose(CompositeChannel().snr_offset_db(1), torch.zeros(1))


def test_matches_rician_when_flat() -> None:
    # one tap, no SNR swing: every subcarrier sees the same Rician gain and noise
    channel = create_channel("composite", num_taps=1, cp_length=0, snr_amplitude_db=0.0)
    out = channel(torch.ones(4, 128, dtype=torch.complex64), 10.0, gen(6))
    assert torch.equal(out.gain, out.gain[:, :1].expand_as(out.gain))
    assert torch.allclose(out.noise_var, torch.full_like(out.noise_var, 0.1))


@pytest.mark.parametrize("params, message", [
    ({"K": -1}, "K must be"),
    ({"num_taps": 0}, "num_taps must be an integer >= 1"),
    ({"num_taps": 8, "fft_size": 4}, "num_taps must be <= fft_size"),
    ({"num_taps": 5, "cp_length": 2}, "cp_length must be >= num_taps - 1 = 4"),
    ({"tap_decay_db": -1}, "tap_decay_db must be"),
    ({"snr_amplitude_db": float("nan")}, "snr_amplitude_db must be"),
    ({"snr_time_scale": 0}, "snr_time_scale must be > 0"),
    ({"time_span": -5}, "time_span must be > 0"),
    ({"block_length": -2}, "block_length must be an integer >= 0"),
])
def test_bad_parameters(params, message) -> None:
    with pytest.raises(SemcomError, match=message):
        create_channel("composite", **params)
