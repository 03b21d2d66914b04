"""Y'CbCr conversion and 4:2:0 resampling used by the raw video bitstreams."""

from __future__ import annotations

import numpy as np

from semcom.codecs.color import (
    dequantize_plane,
    downsample_420,
    quantize_plane,
    rgb_to_ycbcr,
    upsample_420,
    ycbcr_to_rgb,
)


def test_known_colours() -> None:
    pixels = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 0, 255]]], dtype=np.uint8)
    y, cb, cr = rgb_to_ycbcr(pixels)
    np.testing.assert_allclose(y[0], [1.0, 0.0, 0.299, 0.114], atol=1e-9)
    np.testing.assert_allclose(cb[0, :2], [0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(cr[0, 2], 1.0, atol=1e-9)  # pure red: Cr at its maximum
    np.testing.assert_allclose(cb[0, 3], 1.0, atol=1e-9)


def test_8bit_444_round_trip_is_within_one_level() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    planes = [dequantize_plane(quantize_plane(p, 8), 8) for p in rgb_to_ycbcr(pixels)]
    error = np.abs(ycbcr_to_rgb(*planes).astype(int) - pixels.astype(int))
    assert error.max() <= 2 and error.mean() < 0.6


def test_10bit_444_round_trip_is_exact() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    planes = [dequantize_plane(quantize_plane(p, 10), 10) for p in rgb_to_ycbcr(pixels)]
    assert np.array_equal(ycbcr_to_rgb(*planes), pixels)


def test_420_resampling() -> None:
    ramp = np.add.outer(np.arange(8.0), 2 * np.arange(10.0)) / 30.0
    down = downsample_420(ramp)
    assert down.shape == (4, 5)
    np.testing.assert_allclose(down[0, 0], ramp[:2, :2].mean())
    up = upsample_420(down)
    assert up.shape == ramp.shape
    np.testing.assert_allclose(up[1:-1, 1:-1], ramp[1:-1, 1:-1], atol=1e-12)  # linear: exact inside
    flat = np.full((3, 4), 0.25)
    np.testing.assert_allclose(upsample_420(flat), 0.25)
