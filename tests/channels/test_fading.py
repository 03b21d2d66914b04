"""Rayleigh (fast and block), Rician and Gauss-Markov fading statistics."""

from __future__ import annotations

import math
import time

import pytest
import torch

from semcom.channels import (GaussMarkovFading, Rayleigh, RayleighBlockFading, RayleighFastFading,
                             Rician, ar1_filter, complex_normal, create_channel)
from semcom.errors import SemcomError


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------- Rayleigh
def test_rayleigh_power_is_exponential(stats) -> None:
    h = RayleighFastFading().sample_gain((100, 1000), gen(1))
    power = h.abs().pow(2).reshape(-1).double()
    n = power.numel()
    # Exp(1): mean 1, variance 1 (sample variance has variance (mu4 - sigma^4)/n = 8/n),
    # P(|h|^2 > x) = exp(-x).
    stats.within(power.mean().item(), 1.0, 1 / math.sqrt(n), "E|h|^2")
    stats.within(power.var().item(), 1.0, math.sqrt(8 / n), "Var|h|^2")
    for x in (0.1, 1.0, 3.0):
        q = math.exp(-x)
        stats.within((power > x).double().mean().item(), q, math.sqrt(q * (1 - q) / n), f"P(|h|^2 > {x})")
    # circular symmetry: E[h] = 0 and E[h^2] = 0
    stats.within(h.mean().abs().item(), 0.0, 1 / math.sqrt(n), "|E h|")
    stats.within((h * h).mean().abs().item(), 0.0, 1 / math.sqrt(n), "|E h^2|")


def test_fast_fading_is_independent_per_symbol(stats) -> None:
    h = create_channel("rayleigh").sample_gain((100, 1000), gen(2))
    lag1 = (h[:, 1:] * h[:, :-1].conj()).real
    mean, se = stats.row_mean(lag1)
    stats.within(mean, 0.0, se, "lag-1 correlation of fast fading")


def test_block_fading_constant_within_blocks_independent_across(stats) -> None:
    length, block = 1003, 8  # the last block has 3 symbols
    h = RayleighBlockFading(block_length=block).sample_gain((100, length), gen(3))
    starts = (torch.arange(length) // block) * block
    assert torch.equal(h, h[:, starts])  # every symbol equals its block's first symbol
    blocks = h[:, ::block]  # one value per block
    assert blocks.shape == (100, 126)
    assert (blocks[:, 1:] != blocks[:, :-1]).all()
    mean, se = stats.row_mean(blocks.abs().pow(2))
    stats.within(mean, 1.0, se, "E|h|^2 per block")
    mean, se = stats.row_mean((blocks[:, 1:] * blocks[:, :-1].conj()).real)
    stats.within(mean, 0.0, se, "correlation of consecutive blocks")


@pytest.mark.parametrize("block_length", [None, 0])
def test_one_block_per_image(block_length, stats) -> None:
    channel = create_channel("rayleigh", block_length=block_length)
    assert isinstance(channel, Rayleigh) and channel.block_length == 0
    h = channel.sample_gain((4000, 3, 16), gen(4))
    assert torch.equal(h, h[:, :1, :1].expand_as(h))  # one h for all of an image's symbols
    per_image = h[:, 0, 0]
    stats.within(per_image.abs().pow(2).mean().item(), 1.0, 1 / math.sqrt(4000), "E|h|^2 per image")
    corr = (per_image[1:] * per_image[:-1].conj()).real.mean().item()
    stats.within(corr, 0.0, math.sqrt(0.5 / 4000), "correlation across images")
    assert RayleighBlockFading().block_length == 0


# ------------------------------------------------------------------------ Rician
@pytest.mark.parametrize("K", [0.5, 3.0, 10.0])
def test_rician_factor_recovered_by_moments(K: float, stats) -> None:
    h = Rician(K=K).sample_gain((100, 1000), gen(5))
    power = h.abs().pow(2)
    per_row = torch.tensor([stats.rician_k(row) for row in power])
    se = per_row.std().item() / math.sqrt(per_row.numel())
    stats.within(stats.rician_k(power), K, se, "Rician K (moment estimate)")
    mean, se = stats.row_mean(power)
    stats.within(mean, 1.0, se, "E|h|^2")


def test_rician_los_phase_is_uniform_per_image(stats) -> None:
    K = 4.0
    h = Rician(K=K).sample_gain((2000, 200), gen(6))
    los = h.mean(dim=1)  # the scattered part averages out over an image's symbols
    amplitude = math.sqrt(K / (K + 1))
    scatter_se = math.sqrt(1 / (K + 1) / 200)
    stats.within(los.abs().mean().item(), amplitude, scatter_se, "LOS amplitude")
    phasor = los / los.abs()
    stats.within(phasor.mean().abs().item(), 0.0, 1 / math.sqrt(2000), "mean LOS phasor over images")
    # uniform phase: each quadrant holds a quarter of the images
    quadrant = ((torch.angle(phasor) + math.pi) // (math.pi / 2)).clamp(max=3).long()
    counts = torch.bincount(quadrant, minlength=4).double() / 2000
    for c in counts:
        stats.within(c.item(), 0.25, math.sqrt(0.25 * 0.75 / 2000), "LOS phase quadrant share")


def test_rician_zero_k_is_rayleigh(stats) -> None:
    power = Rician(K=0).sample_gain((100, 1000), gen(7)).abs().pow(2).reshape(-1).double()
    stats.within(power.var().item(), 1.0, math.sqrt(8 / power.numel()), "Var|h|^2 at K=0")


def test_rician_block_length() -> None:
    h = Rician(K=2.0, block_length=10).sample_gain((5, 100), gen(8))
    assert torch.equal(h, h[:, (torch.arange(100) // 10) * 10])
    assert (h[:, 10:] != h[:, :-10]).all()


# ------------------------------------------------------------------ Gauss-Markov
def ar1_loop(x: torch.Tensor, a: float) -> torch.Tensor:
    y = torch.zeros_like(x)
    state = torch.zeros_like(x[..., 0])
    for t in range(x.shape[-1]):
        state = a * state + x[..., t]
        y[..., t] = state
    return y


@pytest.mark.parametrize("a", [0.0, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("length", [1, 7, 64, 1000])
def test_ar1_filter_matches_the_recursion(a: float, length: int) -> None:
    x = complex_normal((3, length), gen(9)).to(torch.complex128)
    # chunk=16 exercises three levels of the chunked scan at length 1000
    assert (ar1_filter(x, a, chunk=16) - ar1_loop(x, a)).abs().max() < 1e-10


@pytest.mark.parametrize("a", [0.5, 0.9, 0.99])
def test_gauss_markov_correlation(a: float, stats) -> None:
    h = GaussMarkovFading(a=a).sample_gain((50, 2000), gen(10))
    power = h.abs().pow(2)
    for lag in (1, 5):
        corr, se = stats.row_ratio((h[:, lag:] * h[:, :-lag].conj()).real, power[:, lag:])
        stats.within(corr, a**lag, se, f"lag-{lag} correlation (a={a})")
    mean, se = stats.row_mean(power)
    stats.within(mean, 1.0, se, "E|h|^2")


def test_gauss_markov_starts_stationary(stats) -> None:
    a = 0.8
    h = GaussMarkovFading(a=a).sample_gain((40000, 3), gen(11))
    for t in range(3):
        mean, se = stats.iid_mean(h[:, t].abs().pow(2))
        stats.within(mean, 1.0, se, f"E|h_{t}|^2")
    mean, se = stats.iid_mean((h[:, 1] * h[:, 0].conj()).real)
    stats.within(mean, a, se, "E[h_1 conj(h_0)]")


def test_gauss_markov_is_fast_for_long_streams() -> None:
    channel = GaussMarkovFading(a=0.999)
    z = torch.ones(2, 100_000, dtype=torch.complex64)
    channel(z[:, :1000], 10.0, gen(12))  # warm-up
    start = time.perf_counter()
    out = channel(z, 10.0, gen(12))
    elapsed = time.perf_counter() - start
    assert torch.isfinite(out.symbols).all()
    assert elapsed < 2.0, f"Gauss-Markov over 2 x 100k symbols took {elapsed:.2f} s"


def test_fading_parameters_are_validated() -> None:
    with pytest.raises(SemcomError, match=r"K must be .*>= 0, got -1"):
        Rician(K=-1)
    with pytest.raises(SemcomError, match=r"a must be in \[0, 1\), got 1"):
        GaussMarkovFading(a=1.0)
    with pytest.raises(SemcomError, match=r"a must be in \[0, 1\)"):
        create_channel("gauss-markov", a=-0.2)
    for bad in (-1, 2.5, "x", True):
        with pytest.raises(SemcomError, match="block_length must be an integer >= 0"):
            create_channel("rayleigh", block_length=bad)
    with pytest.raises(SemcomError, match="K must be a number"):
        create_channel("rician", K="three")
