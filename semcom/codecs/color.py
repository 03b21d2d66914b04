"""RGB <-> Y'CbCr for the raw video bitstreams (HEVC, VVC).

One fixed convention, signalled in the bitstreams' VUI as well: full-range BT.601
(the JPEG/JFIF matrix, ``matrix_coefficients = 5``, ``video_full_range_flag = 1``),
like BPG's default. 4:2:0 chroma is the mean of each 2x2 block (centre-sited) and is
upsampled bilinearly on the same grid.
"""

from __future__ import annotations

import numpy as np

_RGB_TO_YCC = np.array(
    [
        [0.299, 0.587, 0.114],
        [-0.168735892, -0.331264108, 0.5],
        [0.5, -0.418687589, -0.081312411],
    ]
)
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC)


def rgb_to_ycbcr(pixels: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(3, H, W)`` float64 Y'CbCr planes in ``[0, 1]``."""
    ycc = np.einsum("ij,hwj->ihw", _RGB_TO_YCC, pixels.astype(np.float64) / 255.0)
    ycc[1:] += 0.5
    return np.clip(ycc, 0.0, 1.0)


def ycbcr_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Full-resolution float planes in ``[0, 1]`` -> ``(H, W, 3)`` uint8 RGB."""
    ycc = np.stack([y, cb - 0.5, cr - 0.5])
    rgb = np.einsum("ij,jhw->hwi", _YCC_TO_RGB, ycc)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def quantize_plane(plane: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float plane in ``[0, 1]`` -> integer samples of ``bit_depth`` bits (uint8 or uint16)."""
    peak = (1 << bit_depth) - 1
    dtype = np.uint8 if bit_depth <= 8 else np.uint16
    return np.clip(np.round(plane * peak), 0, peak).astype(dtype)


def dequantize_plane(samples: np.ndarray, bit_depth: int) -> np.ndarray:
    """Integer samples of ``bit_depth`` bits -> float plane in ``[0, 1]``."""
    return samples.astype(np.float64) / ((1 << bit_depth) - 1)


def downsample_420(plane: np.ndarray) -> np.ndarray:
    """``(H, W)`` with even ``H, W`` -> ``(H/2, W/2)`` means of 2x2 blocks."""
    h, w = plane.shape
    return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def upsample_420(plane: np.ndarray) -> np.ndarray:
    """``(h, w)`` -> ``(2h, 2w)`` bilinear on centre-sited samples (edges replicated)."""

    def up(x: np.ndarray, axis: int) -> np.ndarray:
        n = x.shape[axis]
        prev = np.take(x, np.r_[0, np.arange(n - 1)], axis=axis)
        nxt = np.take(x, np.r_[np.arange(1, n), n - 1], axis=axis)
        even = 0.75 * x + 0.25 * prev  # output sample 2i sits a quarter step before input i
        odd = 0.75 * x + 0.25 * nxt
        out = np.stack([even, odd], axis=axis + 1)
        shape = list(x.shape)
        shape[axis] = 2 * n
        return out.reshape(shape)

    return up(up(plane, 0), 1)
