"""Quality metrics: per-image SSIM / MS-SSIM on 8-bit images, small-image scales."""

from __future__ import annotations

import math
import warnings

import pytest
import pytorch_msssim
import torch

import semcom.conventions
from semcom.errors import SemcomError
from semcom.metrics import quality
from semcom.metrics.quality import (
    MS_SSIM_WEIGHTS,
    ms_ssim,
    ms_ssim_db,
    ms_ssim_num_scales,
    quality_metrics,
    ssim,
)

C1 = 0.01**2
C2 = 0.03**2


def constant(value_8bit: int, size: int, batch: int = 1) -> torch.Tensor:
    return torch.full((batch, 3, size, size), value_8bit / 255.0)


def luminance_term(a: float, b: float) -> float:
    """SSIM of two constant images: variances are 0, so only (2ab + C1)/(a^2 + b^2 + C1)."""
    return (2 * a * b + C1) / (a * a + b * b + C1)


def test_psnr_is_the_conventions_one() -> None:
    assert quality.psnr is semcom.conventions.psnr


@pytest.mark.parametrize(
    ("height", "width", "scales"),
    [(32, 32, 2), (64, 48, 3), (160, 500, 4), (161, 161, 5), (512, 768, 5), (8, 8, 1), (11, 40, 1)],
)
def test_number_of_scales_keeps_a_full_window_at_every_scale(height, width, scales) -> None:
    assert ms_ssim_num_scales(height, width) == scales


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    a, b = 51 / 255, 153 / 255
    got = ssim(constant(51, 32), constant(153, 32))
    assert got.shape == (1,)
    assert got.item() == pytest.approx(luminance_term(a, b), rel=1e-5)


@pytest.mark.parametrize("size", [32, 64, 176])
def test_ms_ssim_of_constant_images_uses_renormalized_last_weight(size: int) -> None:
    # contrast-structure terms are 1 at every scale (even sizes: no zero padding in the
    # pooling), so MS-SSIM = l ** w_last, the renormalized weight of the coarsest scale
    a, b = 51 / 255, 153 / 255
    scales = ms_ssim_num_scales(size, size)
    w_last = MS_SSIM_WEIGHTS[scales - 1] / sum(MS_SSIM_WEIGHTS[:scales])
    got = ms_ssim(constant(51, size), constant(153, size)).item()
    assert got == pytest.approx(luminance_term(a, b) ** w_last, rel=1e-5)


def test_reduced_scale_loop_matches_pytorch_msssim_at_five_scales(gen) -> None:
    x = torch.rand(1, 3, 161, 161, generator=gen)
    y = (x + 0.1 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    xq, yq = semcom.conventions.quantize_8bit(x), semcom.conventions.quantize_8bit(y)
    ours = quality._ms_ssim_reduced(xq, yq, MS_SSIM_WEIGHTS, 11)
    ref = pytorch_msssim.ms_ssim(xq, yq, data_range=1.0, size_average=False)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ms_ssim(x, y), ref, rtol=1e-5, atol=1e-6)


def test_identical_images_score_perfect_and_per_image(gen) -> None:
    x = torch.rand(3, 3, 32, 32, generator=gen)
    y = x.clone()
    y[1] = (y[1] + 0.05 * torch.randn(y[1].shape, generator=gen)).clamp(0, 1)
    y[2] = (y[2] + 0.20 * torch.randn(y[2].shape, generator=gen)).clamp(0, 1)
    m = quality_metrics(x, y)
    assert set(m) == {"psnr", "ssim", "ms_ssim", "ms_ssim_db"}
    for name, value in m.items():
        assert value.shape == (3,), name
    assert m["ssim"][0].item() == pytest.approx(1.0, abs=1e-6)
    assert m["ms_ssim"][0].item() == pytest.approx(1.0, abs=1e-6)
    assert m["ms_ssim_db"][0].item() == pytest.approx(100.0, abs=1e-3)
    # more noise, lower score, for every metric
    for name in m:
        assert m[name][0] > m[name][1] > m[name][2], name
    # each image is scored alone: the batch does not leak between images
    alone = ms_ssim(x[2:3], y[2:3])
    torch.testing.assert_close(m["ms_ssim"][2:3], alone)
    expected_db = -10 * math.log10(1 - m["ms_ssim"][1].item())
    assert m["ms_ssim_db"][1].item() == pytest.approx(expected_db, rel=1e-4)
    torch.testing.assert_close(ms_ssim_db(x, y), m["ms_ssim_db"])


def test_images_are_clamped_and_rounded_to_8_bits(gen) -> None:
    x = torch.randint(0, 256, (2, 3, 32, 32), generator=gen).float() / 255
    # below half an 8-bit step, and out-of-range values that clamp back onto x
    y = x + 0.4 / 255
    y[x == 1.0] = 1.7
    y[x == 0.0] = -0.3
    assert torch.all(ssim(x, y) == 1.0)
    assert torch.all(ms_ssim(x, y) == 1.0)


@pytest.mark.parametrize("metric", [ssim, ms_ssim])
def test_quantize_false_keeps_values_and_gradients(metric, gen) -> None:
    x = torch.randint(0, 256, (2, 3, 64, 64), generator=gen).float() / 255
    y = (x + 0.4 / 255).requires_grad_()  # rounds back onto x, but is not x
    assert torch.all(metric(x, y) == 1.0)
    exact = metric(x, y, quantize=False)
    assert torch.all(exact < 1.0)  # no rounding: the sub-step offset is measured
    exact.sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    y8 = semcom.conventions.quantize_8bit(x + 0.05 * torch.randn(x.shape, generator=gen))
    assert torch.equal(metric(x, y8, quantize=False), metric(x, y8))  # on the 8-bit grid: equal
    assert not torch.equal(metric(x, 1.5 * y8, quantize=False), metric(x, 1.5 * y8))  # no clamping


def test_tiny_images_shrink_the_window_without_warnings(gen) -> None:
    x = torch.rand(2, 3, 8, 8, generator=gen)
    y = (x + 0.1 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s, ms = ssim(x, y), ms_ssim(x, y)
    assert torch.all(s < 1) and torch.all(s > 0)
    # a single scale: MS-SSIM is the (non-negative) SSIM itself
    torch.testing.assert_close(ms, s.clamp_min(0))


def test_bad_inputs_raise_semcom_errors() -> None:
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(SemcomError, match="shape mismatch"):
        ssim(x, torch.rand(1, 3, 32, 31))
    with pytest.raises(SemcomError, match=r"\(B, C, H, W\)"):
        ms_ssim(x[0], x[0])
    with pytest.raises(SemcomError, match="float"):
        quality_metrics(x, (x * 255).to(torch.uint8))


@pytest.mark.parametrize("size", [1, 2])
def test_images_too_small_for_ssim_get_nan_and_a_reason(size: int) -> None:
    from semcom.metrics.quality import quality_notes

    x = torch.full((2, 3, size, size), 0.5)
    m = quality_metrics(x, x * 0.9)
    assert torch.isfinite(m["psnr"]).all() and m["psnr"].shape == (2,)
    assert all(torch.isnan(m[k]).all() for k in ("ssim", "ms_ssim", "ms_ssim_db"))
    assert quality_notes(size, 7)["ms_ssim"] == "image smaller than 3x3 px (SSIM needs a 3-px window)"
    three = torch.rand(2, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    assert quality_notes(3, 3) == {} and torch.isfinite(quality_metrics(three, three * 0.9)["ssim"]).all()
    with pytest.raises(SemcomError, match=f"MS-SSIM is undefined on {size}x{size} images"):
        ms_ssim(x, x)
