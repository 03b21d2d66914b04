import math

import pytest
import torch

from semcom import conventions as cv
from semcom.errors import SemcomError


def test_cbr_converters_agree():
    # 1/16 of a 32x32 image is exactly 192 complex symbols
    assert cv.channel_uses_for_cbr(1 / 16, 32, 32) == 192
    assert cv.cbr_from_channel_uses(192, 32, 32) == pytest.approx(1 / 16)
    assert cv.cbr_to_rcpp(1 / 16) == pytest.approx(16)
    assert cv.rcpp_to_cbr(24) == pytest.approx(1 / 24)
    assert cv.cbr_to_cpp_sp(1 / 12) == pytest.approx(0.25)
    assert cv.cpp_sp_to_cbr(0.25) == pytest.approx(1 / 12)
    assert cv.real_values_to_channel_uses(7) == 4
    assert cv.channel_uses_to_real_values(4) == 8
    assert cv.bits_to_channel_uses(1001, 4) == 251


@pytest.mark.parametrize("text,value", [("1/16", 1 / 16), ("0.25", 0.25), (0.5, 0.5)])
def test_parse_cbr(text, value):
    assert cv.parse_cbr(text) == pytest.approx(value)


@pytest.mark.parametrize("bad", ["abc", "1/0", "-1/4", "nan", 0])
def test_parse_cbr_rejects(bad):
    with pytest.raises(SemcomError):
        cv.parse_cbr(bad)


def test_normalize_power_is_per_image():
    z = torch.randn(3, 100, dtype=torch.complex64) * torch.tensor([[0.1], [1.0], [10.0]])
    out = cv.normalize_power(z)
    torch.testing.assert_close(cv.average_power(out), torch.ones(3))
    # direction is kept
    cos = (out.conj() * z).sum(1).real / (out.abs().pow(2).sum(1).sqrt() * z.abs().pow(2).sum(1).sqrt())
    torch.testing.assert_close(cos, torch.ones(3))


def test_snr_noise_var_round_trip():
    assert cv.snr_db_to_noise_var(10.0) == pytest.approx(0.1)
    assert cv.noise_var_to_snr_db(0.01) == pytest.approx(20.0)
    t = torch.tensor([0.0, 3.0, 20.0])
    torch.testing.assert_close(cv.noise_var_to_snr_db(cv.snr_db_to_noise_var(t)), t)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "ten", torch.tensor([1.0, float("nan")])])
def test_snr_validation(bad):
    with pytest.raises(SemcomError):
        cv.snr_db_to_noise_var(bad)


def test_ebno():
    # 16-QAM rate 1/2 carries 2 information bits per symbol: Eb/N0 = SNR - 3.01 dB
    assert cv.ebno_db(10.0, 4, 0.5) == pytest.approx(10.0 - 10 * math.log10(2))
    assert cv.ebno_to_snr_db(cv.ebno_db(7.0, 6, 0.75), 6, 0.75) == pytest.approx(7.0)


def test_real_complex_pairing_round_trip():
    x = torch.randn(2, 7)
    z = cv.real_to_complex(x)
    assert z.shape == (2, 4) and z.dtype == torch.complex64
    torch.testing.assert_close(cv.complex_to_real(z, 7), x)


def test_psnr_hand_computed():
    ref = torch.zeros(1, 3, 4, 4)
    rec = torch.full((1, 3, 4, 4), 10 / 255)  # every pixel off by 10 levels
    assert cv.psnr(ref, rec).item() == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-4)
    # clamping and 8-bit rounding: values beyond [0, 1] and sub-level noise do not count
    noisy = (ref + 0.001).clamp_min(0) - 0.5 * (torch.rand_like(ref) < 0.5)
    assert cv.psnr(ref, noisy).item() == pytest.approx(100.0)
    assert cv.ms_ssim_to_db(0.99) == pytest.approx(20.0)
