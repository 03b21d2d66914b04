"""QAM mapping and soft demapping: power, Gray labels, LLR sign, erasures, exactness."""

from __future__ import annotations

import math

import pytest
import torch

from semcom.channels.base import ChannelOutput
from semcom.errors import SemcomError
from semcom.phy.modulation import QAM, qam


@pytest.mark.parametrize("q", [2, 4, 6, 8])
def test_unit_power_and_gray_neighbours(q: int) -> None:
    points = qam(q).points
    assert points.numel() == 2 ** q
    assert points.abs().pow(2).mean().item() == pytest.approx(1.0, abs=1e-5)
    # Gray labelling: the nearest neighbours of every point differ in exactly one bit
    dist = (points[:, None] - points[None, :]).abs()
    dist.fill_diagonal_(float("inf"))
    d_min = dist.min()
    for i in range(points.numel()):
        for j in torch.nonzero(dist[i] < d_min * 1.01).flatten().tolist():
            assert bin(i ^ j).count("1") == 1


@pytest.mark.parametrize("q", [2, 4, 6, 8])
def test_noiseless_llrs_have_the_sign_of_the_bits(q: int, gen: torch.Generator) -> None:
    bits = torch.randint(0, 2, (3, 60 * q), generator=gen).float()
    llr = qam(q).demap(qam(q).map(bits), 1e-3)
    assert llr.shape == bits.shape
    assert torch.equal((llr > 0).float(), bits)  # positive LLR means bit 1
    assert llr.abs().max().item() <= 20.0  # clamped


@pytest.mark.parametrize("q", [2, 4, 6, 8])
def test_axis_demapper_equals_sionnas_full_qam_demapper(q: int, gen: torch.Generator) -> None:
    from sionna.phy.mapping import Demapper

    m = QAM(q)
    bits = torch.randint(0, 2, (2, 200 * q), generator=gen).float()
    x = m.map(bits)
    noise = torch.complex(torch.randn(x.shape, generator=gen), torch.randn(x.shape, generator=gen))
    var = torch.rand(x.shape, generator=gen) * 0.2 + 0.01
    y = x + noise * torch.sqrt(var / 2)
    ours = m.demap(y, var, llr_clip=1e9)
    with torch.inference_mode():
        full = Demapper("app", "qam", q, device="cpu")(y, var)
    assert torch.allclose(ours, full, rtol=1e-4, atol=1e-3)


def test_llr_magnitude_matches_bpsk_formula() -> None:
    # QPSK bit on one axis: LLR = 4 * Re(y) / (sqrt(2) * sigma2) for points +-1/sqrt(2)
    m = qam(2)
    sigma2 = 0.5
    y = torch.tensor([[0.3 + 0.0j]], dtype=torch.complex64)
    llr = m.demap(y, sigma2)
    expected = 4 * 0.3 / (math.sqrt(2) * sigma2)
    # Sionna's label: bit 0 of the real axis is 1 for negative amplitudes
    assert llr[0, 0].abs().item() == pytest.approx(expected, rel=1e-4)
    assert llr[0, 1].item() == pytest.approx(0.0, abs=1e-6)


def test_erasures_and_infinite_noise_give_zero_llrs(gen: torch.Generator) -> None:
    m = qam(4)
    bits = torch.randint(0, 2, (2, 400), generator=gen).float()
    x = m.map(bits)
    erased = torch.zeros(x.shape, dtype=torch.bool)
    erased[:, ::7] = True
    out = ChannelOutput(symbols=torch.where(erased, torch.zeros_like(x), x), csi=torch.ones_like(x),
                        noise_var=torch.full((2, 1), 0.01), erasures=erased, gain=torch.ones_like(x))
    llr = m.demap_channel_output(out).reshape(2, -1, 4)
    assert torch.isfinite(llr).all()
    assert (llr[erased] == 0).all()
    kept = ~erased
    assert torch.equal((llr[kept] > 0).float(), bits.reshape(2, -1, 4)[kept])
    # a deep fade (csi 0) means no information either, not NaN
    out.csi = torch.zeros_like(x)
    out.erasures = None
    assert (m.demap_channel_output(out) == 0).all()


def test_zero_forcing_uses_the_csi(gen: torch.Generator) -> None:
    m = qam(6)
    bits = torch.randint(0, 2, (1, 600), generator=gen).float()
    x = m.map(bits)
    h = torch.polar(torch.full(x.shape, 0.5), torch.rand(x.shape, generator=gen) * 6.28)
    out = ChannelOutput(symbols=h * x, csi=h, noise_var=torch.full((1, 1), 1e-4), erasures=None, gain=h)
    assert torch.equal((m.demap_channel_output(out) > 0).float(), bits)


def test_bad_arguments_are_clean_errors() -> None:
    with pytest.raises(SemcomError):
        QAM(3)
    with pytest.raises(SemcomError):
        QAM(4, demapping="exact")
    with pytest.raises(SemcomError):
        qam(4).map(torch.zeros(1, 6))
