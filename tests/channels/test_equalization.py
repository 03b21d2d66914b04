"""Zero-forcing and MMSE equalization with the CSI a channel returns."""

from __future__ import annotations

import math

import pytest
import torch

from semcom.channels import (ChannelOutput, complex_normal, create_channel, effective_noise_var, equalize,
                             mmse, zero_forcing)
from semcom.conventions import normalize_power, snr_db_to_noise_var
from semcom.errors import SemcomError


def gaussian_symbols(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    return normalize_power(complex_normal((batch, length), torch.Generator().manual_seed(seed)))


def test_zero_forcing_on_a_noiseless_path_returns_the_input() -> None:
    z = gaussian_symbols(4, 1000)
    h = complex_normal((4, 1000), torch.Generator().manual_seed(1))
    h = h[h.abs() > 1e-2].reshape(-1)[:3000].reshape(3, 1000)  # keep ZF's eps negligible
    z = z[:3]
    assert ((zero_forcing(h * z, h) - z).abs() < 1e-4).all()


def test_zero_forcing_at_300_db_on_rayleigh() -> None:
    z = gaussian_symbols(8, 1000)
    out = create_channel("rayleigh")(z, 300.0, torch.Generator().manual_seed(2))
    ok = out.gain.abs() > 1e-2
    assert ((equalize(out, "zf") - z).abs()[ok] < 1e-4).all()


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 10.0])
def test_mmse_shrinks_awgn_by_the_wiener_factor(snr_db: float, stats) -> None:
    # AWGN, h = 1: z_hat = y / (1 + sigma2), so E[z_hat conj(z)] = 1 / (1 + sigma2) < 1
    sigma2 = snr_db_to_noise_var(snr_db)
    z = gaussian_symbols(100, 1000)
    z_hat = equalize(create_channel("awgn")(z, snr_db, torch.Generator().manual_seed(3)), "mmse")
    gain, se = stats.row_ratio((z_hat * z.conj()).real, z.abs().pow(2))
    stats.within(gain, 1 / (1 + sigma2), se, f"MMSE gain at {snr_db} dB")


def test_mmse_goes_to_zero_at_low_snr_and_to_zf_at_high_snr() -> None:
    z = gaussian_symbols(20, 1000)
    channel = create_channel("rayleigh")
    powers = []
    for snr_db in (-30.0, -10.0, 10.0, 30.0):
        out = channel(z, snr_db, torch.Generator().manual_seed(4))
        z_mmse = equalize(out, "mmse")
        powers.append(z_mmse.abs().pow(2).mean().item())
        assert (z_mmse.abs() <= equalize(out, "zf").abs() + 1e-6).all()  # always a shrinkage of ZF
    assert powers == sorted(powers) and powers[0] < 0.01
    out = channel(z, 60.0, torch.Generator().manual_seed(4))
    ok = out.gain.abs() > 0.1
    assert ((equalize(out, "mmse") - equalize(out, "zf")).abs()[ok] < 1e-3).all()


def test_mmse_beats_zf_in_mean_squared_error() -> None:
    z = gaussian_symbols(50, 1000)
    out = create_channel("rayleigh")(z, 0.0, torch.Generator().manual_seed(5))
    mse = {m: (equalize(out, m) - z).abs().pow(2).mean().item() for m in ("zf", "mmse")}
    assert mse["mmse"] < mse["zf"]
    # Gaussian z, perfect CSI: the MMSE error per symbol is sigma2 / (|h|^2 + sigma2)
    expected = (1.0 / (out.gain.abs().pow(2) + 1.0)).mean().item()
    assert mse["mmse"] == pytest.approx(expected, rel=0.03)


def test_imperfect_csi_costs_accuracy() -> None:
    z = gaussian_symbols(20, 1000)
    mse = []
    for nmse in (0.0, 0.01, 0.1):
        out = create_channel("rayleigh", csi_nmse=nmse)(z, 20.0, torch.Generator().manual_seed(6))
        mse.append((equalize(out, "mmse") - z).abs().pow(2).mean().item())
    assert mse[0] < mse[1] < mse[2]


def test_erasures_and_effective_noise() -> None:
    y = torch.tensor([[1 + 1j, 2 + 0j, 3 - 1j]], dtype=torch.complex64)
    h = torch.tensor([[1 + 0j, 0 + 2j, 1 + 0j]], dtype=torch.complex64)
    erased = torch.tensor([[False, False, True]])
    out = ChannelOutput(symbols=y, csi=h, noise_var=torch.tensor([[0.5]]), erasures=erased, gain=h)
    z_hat = equalize(out, "zf")
    assert torch.allclose(z_hat, torch.tensor([[1 + 1j, -1j, 0]], dtype=torch.complex64))
    assert torch.allclose(mmse(y, h, 0.5)[0, 1], torch.conj(h[0, 1]) * y[0, 1] / 4.5)
    eff = effective_noise_var(out)
    assert eff[0, 0].item() == pytest.approx(0.5) and eff[0, 1].item() == pytest.approx(0.125)
    assert math.isinf(eff[0, 2].item())
    assert torch.equal(equalize(out, "none"), torch.where(erased, 0, y))
    with pytest.raises(SemcomError, match="unknown equalizer 'lmmse'"):
        equalize(out, "lmmse")
