"""Image quality metrics, per image, on 8-bit-rounded images (see conventions.md).

Every metric takes a reference and a reconstruction, ``(B, C, H, W)`` float tensors
nominally in ``[0, 1]``; both are clamped to ``[0, 1]`` and rounded to the 8-bit grid
(:func:`semcom.conventions.quantize_8bit`) before measuring, and every metric returns a
``(B,)`` float32 tensor. A dataset's score is the mean of the per-image scores.

SSIM and MS-SSIM use ``pytorch_msssim`` with ``data_range=1``, an 11-tap Gaussian
window (sigma 1.5), ``K = (0.01, 0.03)`` and the standard scale weights
``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``.

Small images
------------
Five-scale MS-SSIM needs a short side of at least 161 px (the fifth scale must still
hold one 11-px window). For smaller images (CIFAR's 32 x 32, 64-px crops) semcom keeps
the window and drops the *coarsest* scales: it uses the largest number of scales ``L``
for which every scale still holds a full window (the image is halved, rounding up,
between scales), keeps the first ``L`` weights and renormalizes them to sum to 1.
A 32 x 32 image gets ``L = 2`` (32 and 16 px) with weights
``(0.0448, 0.2856) / 0.3304``. See :func:`ms_ssim_num_scales`. Such numbers are not
comparable with five-scale MS-SSIM on large images; tables state the image size.
Images whose short side is under 11 px (SSIM and MS-SSIM alike) use the largest odd
window that fits, with a single scale. Under :data:`MIN_SSIM_SIDE` (3 px) the window
would be one pixel, whose variances and covariance are zero, so SSIM's structure term
is undefined: :func:`ssim` and :func:`ms_ssim` raise a clear error there, and
:func:`quality_metrics` returns NaN for them, with the reason in :func:`quality_notes`
(PSNR is still computed, down to 1 x 1).

Odd sizes are halved as ``pytorch_msssim`` does it, by 2x2 average pooling with one
zero-padded row/column (counted in the average), so image borders darken slightly at
coarse scales; Kodak (512 x 768) and CIFAR (32 x 32) stay even at every scale used.
"""

from __future__ import annotations

import pytorch_msssim
import torch
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim
from torch import Tensor

from semcom.conventions import ms_ssim_to_db, psnr, quantize_8bit
from semcom.errors import SemcomError

__all__ = [
    "MS_SSIM_WEIGHTS",
    "SSIM_WINDOW",
    "ms_ssim",
    "ms_ssim_db",
    "ms_ssim_num_scales",
    "psnr",
    "quality_metrics",
    "quality_notes",
    "ssim",
    "ssim_window_size",
]

#: Standard MS-SSIM scale weights, finest scale first (Wang et al. 2003).
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: Gaussian window size (taps) and standard deviation (px) of SSIM.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
#: smallest short side (px) SSIM and MS-SSIM are defined on (a 3-px window)
MIN_SSIM_SIDE = 3
_K = (0.01, 0.03)
_DATA_RANGE = 1.0


def _check_pair(reference: Tensor, reconstruction: Tensor, quantize: bool = True) -> tuple[Tensor, Tensor]:
    """Validate two ``(B, C, H, W)`` float batches of one shape; return them as float32,
    clamped and 8-bit rounded when ``quantize``, else unchanged (keeping gradients)."""
    for name, t in (("reference", reference), ("reconstruction", reconstruction)):
        if not isinstance(t, Tensor) or t.dim() != 4:
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise SemcomError(f"{name} must be a (B, C, H, W) tensor, got {shape}")
        if not t.is_floating_point():
            raise SemcomError(f"{name} must be float in [0, 1], got dtype {t.dtype}")
        if t.numel() == 0:
            raise SemcomError(f"{name} is empty: shape {tuple(t.shape)}")
    if reference.shape != reconstruction.shape:
        raise SemcomError(
            f"shape mismatch: {tuple(reference.shape)} vs {tuple(reconstruction.shape)}"
        )
    if not quantize:
        return reference.float(), reconstruction.float()
    return quantize_8bit(reference.float()), quantize_8bit(reconstruction.float())


def quality_notes(height: int, width: int) -> dict[str, str]:
    """Why a metric cannot be computed on an ``height x width`` image: metric name ->
    one-line reason (``{}`` when every metric can). E.g. ``{"ssim": "image smaller than
    3x3 px (SSIM needs a 3-px window)", "ms_ssim": ...}`` for a 1 x 1 image."""
    if min(int(height), int(width)) >= MIN_SSIM_SIDE:
        return {}
    why = f"image smaller than {MIN_SSIM_SIDE}x{MIN_SSIM_SIDE} px (SSIM needs a {MIN_SSIM_SIDE}-px window)"
    return {"ssim": why, "ms_ssim": why, "ms_ssim_db": why}


def _check_size(x: Tensor, metric: str) -> None:
    notes = quality_notes(x.shape[-2], x.shape[-1])
    if metric in notes:
        raise SemcomError(f"{metric.upper().replace('_', '-')} is undefined on {x.shape[-2]}x{x.shape[-1]} "
                          f"images: {notes[metric]}")


def ssim_window_size(height: int, width: int) -> int:
    """Gaussian window used for an ``height x width`` image: 11, or the largest odd size
    that fits when the short side is under 11 px."""
    short = min(int(height), int(width))
    if short >= SSIM_WINDOW:
        return SSIM_WINDOW
    return short if short % 2 else max(short - 1, 1)


def ms_ssim_num_scales(height: int, width: int) -> int:
    """Number of MS-SSIM scales (1 to 5) for an ``height x width`` image.

    The largest ``L <= 5`` such that the image, halved ``L - 1`` times (rounding up, as
    ``pytorch_msssim``'s padded average pooling does), still holds one full window on its
    short side. 5 for a short side of 161 px or more; 2 for 32 px.
    """
    window = ssim_window_size(height, width)
    size = min(int(height), int(width))
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS):
        size = (size + 1) // 2
        if size < window or window < SSIM_WINDOW:
            break
        scales += 1
    return scales


def ssim(reference: Tensor, reconstruction: Tensor, quantize: bool = True) -> Tensor:
    """Per-image SSIM (mean over channels and window positions).

    Args:
        reference: ``(B, C, H, W)`` float in ``[0, 1]``.
        reconstruction: ``(B, C, H, W)`` float.
        quantize: clamp both images to ``[0, 1]`` and round them to 8 bits first (the
            metric). ``False`` uses them as given, differentiably (e.g. for a loss).

    Returns:
        ``(B,)`` float32 SSIM in ``[-1, 1]`` (1 for identical images).
    """
    x, y = _check_pair(reference, reconstruction, quantize)
    _check_size(x, "ssim")
    window = ssim_window_size(x.shape[-2], x.shape[-1])
    out = pytorch_msssim.ssim(
        x, y, data_range=_DATA_RANGE, size_average=False, win_size=window,
        win_sigma=SSIM_SIGMA, K=_K,
    )
    return out.float()


def _ms_ssim_reduced(x: Tensor, y: Tensor, weights: tuple[float, ...], window: int) -> Tensor:
    """MS-SSIM with ``len(weights)`` scales, the same steps as ``pytorch_msssim.ms_ssim``
    (which hard-codes a 161-px minimum for its assertion even with fewer weights)."""
    channels = x.shape[1]
    win = _fspecial_gauss_1d(window, SSIM_SIGMA).repeat([channels, 1, 1, 1])
    w = x.new_tensor(weights)
    factors = []
    for level in range(len(weights)):
        ssim_per_channel, cs = _ssim(
            x, y, data_range=_DATA_RANGE, win=win, size_average=False, K=_K
        )
        if level < len(weights) - 1:
            factors.append(torch.relu(cs))
            padding = [s % 2 for s in x.shape[2:]]
            x = torch.nn.functional.avg_pool2d(x, kernel_size=2, padding=padding)
            y = torch.nn.functional.avg_pool2d(y, kernel_size=2, padding=padding)
    factors.append(torch.relu(ssim_per_channel))
    stacked = torch.stack(factors, dim=0)  # (levels, B, C)
    return torch.prod(stacked ** w.view(-1, 1, 1), dim=0).mean(dim=1)


def ms_ssim(reference: Tensor, reconstruction: Tensor, quantize: bool = True) -> Tensor:
    """Per-image MS-SSIM; fewer scales for images under 161 px (see module docstring).

    Args:
        reference: ``(B, C, H, W)`` float in ``[0, 1]``.
        reconstruction: ``(B, C, H, W)`` float.
        quantize: clamp both images to ``[0, 1]`` and round them to 8 bits first (the
            metric). ``False`` uses them as given (no clamping, no rounding), so the
            result is differentiable: training's MS-SSIM loss uses it. On images already
            on the 8-bit grid in ``[0, 1]`` both give the same number.

    Returns:
        ``(B,)`` float32 MS-SSIM in ``[0, 1]`` (1 for identical images).
    """
    x, y = _check_pair(reference, reconstruction, quantize)
    _check_size(x, "ms_ssim")
    height, width = x.shape[-2], x.shape[-1]
    scales = ms_ssim_num_scales(height, width)
    window = ssim_window_size(height, width)
    if scales == len(MS_SSIM_WEIGHTS):
        out = pytorch_msssim.ms_ssim(
            x, y, data_range=_DATA_RANGE, size_average=False, win_size=window,
            win_sigma=SSIM_SIGMA, weights=list(MS_SSIM_WEIGHTS), K=_K,
        )
        return out.float()
    kept = MS_SSIM_WEIGHTS[:scales]
    total = sum(kept)
    return _ms_ssim_reduced(x, y, tuple(w / total for w in kept), window).float()


def ms_ssim_db(reference: Tensor, reconstruction: Tensor) -> Tensor:
    """Per-image MS-SSIM in dB, ``-10 log10(1 - ms_ssim)``: ``(B,)`` float32 (capped at
    100 dB for identical images)."""
    return ms_ssim_to_db(ms_ssim(reference, reconstruction))


def quality_metrics(reference: Tensor, reconstruction: Tensor) -> dict[str, Tensor]:
    """Every full-reference quality metric of a batch, per image.

    Args:
        reference: ``(B, C, H, W)`` float in ``[0, 1]``.
        reconstruction: ``(B, C, H, W)`` float; clamped and rounded to 8 bits.

    Returns:
        ``{"psnr": dB, "ssim": ..., "ms_ssim": ..., "ms_ssim_db": dB}``, each ``(B,)``.
        A metric the image is too small for is NaN; :func:`quality_notes` says why
        (SSIM and MS-SSIM under 3 x 3 px). LPIPS needs a weights file and is computed
        separately (:func:`semcom.metrics.lpips.lpips_distance`).
    """
    x, _ = _check_pair(reference, reconstruction)
    out = {"psnr": psnr(reference, reconstruction)}
    if quality_notes(x.shape[-2], x.shape[-1]):
        nan = torch.full((x.shape[0],), float("nan"))
        return {**out, "ssim": nan, "ms_ssim": nan.clone(), "ms_ssim_db": nan.clone()}
    ms = ms_ssim(reference, reconstruction)
    return {**out, "ssim": ssim(reference, reconstruction), "ms_ssim": ms, "ms_ssim_db": ms_ssim_to_db(ms)}
