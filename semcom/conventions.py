"""One definition of each convention: rate, power, SNR and PSNR.

Every other module converts through these functions; nothing re-derives them locally.
See ``shared/design/conventions.md`` for the reasoning.

Glossary
--------
* ``k``: complex channel uses (symbols) per image.
* ``n = 3 * H * W``: real source dimensions of the (unpadded) image.
* ``cbr = k / n``: the canonical channel bandwidth ratio (DeepJSCC's k/n,
  SwinJSCC's and Quad-DeepSC's CBR).
* ``rcpp = 1 / cbr``: FAJSCC's "CPP" (12, 16, 24, ...).
* ``cpp_sp = k / (H * W) = 3 * cbr``: SP-JSCC's complex symbols per pixel.
* ``real values = 2 * k``: what some code counts instead of complex symbols.
* ``snr_db = 10 log10(P / sigma2)`` with ``P = 1`` and ``sigma2`` the *total* complex
  noise variance (real and imaginary parts each ``sigma2 / 2``).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Union

import torch
from torch import Tensor

from semcom.errors import SemcomError

Number = Union[int, float]
SNR = Union[float, int, Tensor]

#: Average power per complex channel symbol after normalization.
SIGNAL_POWER = 1.0


# ----------------------------------------------------------------------------- rate
def parse_cbr(value: str | Number) -> float:
    """Parse a CBR given as a number or a fraction string (``"1/16"``, ``"0.0625"``).

    Raises:
        SemcomError: if it is not a finite number in ``(0, inf)``.
    """
    try:
        cbr = float(Fraction(value.strip())) if isinstance(value, str) else float(value)
    except (ValueError, ZeroDivisionError, TypeError):
        raise SemcomError(f"invalid CBR {value!r}: give a number or a fraction like 1/16") from None
    if not math.isfinite(cbr) or cbr <= 0:
        raise SemcomError(f"invalid CBR {value!r}: it must be a positive, finite number")
    return cbr


def source_dims(height: int, width: int, channels: int = 3) -> int:
    """``n``: real source dimensions of an image of ``channels x height x width``."""
    return int(channels) * int(height) * int(width)


def cbr_from_channel_uses(channel_uses: Number | Tensor, height: int, width: int) -> float | Tensor:
    """``cbr = k / (3 H W)`` for ``k`` complex channel uses of an ``H x W`` RGB image."""
    n = source_dims(height, width)
    if isinstance(channel_uses, Tensor):
        return channel_uses.to(torch.float64) / n
    return float(channel_uses) / n


def channel_uses_for_cbr(cbr: Number, height: int, width: int) -> int:
    """Largest integer ``k`` with ``k / (3 H W) <= cbr`` (rounded to the nearest symbol
    when within 1e-9 of an integer, so ``1/16`` of a 32x32 image is exactly 192)."""
    exact = float(cbr) * source_dims(height, width)
    nearest = round(exact)
    return int(nearest) if abs(exact - nearest) < 1e-9 * max(1.0, exact) else int(math.floor(exact))


def cbr_to_rcpp(cbr: Number) -> float:
    """FAJSCC's rcpp (real source values per complex channel use) = ``1 / cbr``."""
    return 1.0 / float(cbr)


def rcpp_to_cbr(rcpp: Number) -> float:
    """Inverse of :func:`cbr_to_rcpp`."""
    return 1.0 / float(rcpp)


def cbr_to_cpp_sp(cbr: Number) -> float:
    """SP-JSCC's CPP, complex symbols per pixel (not per sub-pixel) = ``3 * cbr``."""
    return 3.0 * float(cbr)


def cpp_sp_to_cbr(cpp_sp: Number) -> float:
    """Inverse of :func:`cbr_to_cpp_sp`."""
    return float(cpp_sp) / 3.0


def channel_uses_to_real_values(channel_uses: int) -> int:
    """Real values carried by ``k`` complex symbols: ``2 k``."""
    return 2 * int(channel_uses)


def real_values_to_channel_uses(real_values: int) -> int:
    """Complex symbols needed for ``r`` real values: ``ceil(r / 2)``."""
    return (int(real_values) + 1) // 2


def bits_to_channel_uses(coded_bits: int, bits_per_symbol: int) -> int:
    """Digital links: ``k = ceil(coded_bits / bits_per_symbol)`` for one transmission."""
    if bits_per_symbol <= 0:
        raise SemcomError(f"bits_per_symbol must be positive, got {bits_per_symbol}")
    return -(-int(coded_bits) // int(bits_per_symbol))


def bpp(num_bytes: int, height: int, width: int) -> float:
    """Bits per pixel of a compressed image of ``num_bytes`` bytes."""
    return 8.0 * num_bytes / (int(height) * int(width))


# ---------------------------------------------------------------------------- power
def normalize_power(z: Tensor, power: float = SIGNAL_POWER, mask: Tensor | None = None) -> Tensor:
    """Per-image power normalization ``z <- sqrt(k P) z / ||z||_2`` over the sent symbols.

    Args:
        z: ``(B, ...)`` complex (or real) symbols; everything after the batch dimension
            belongs to one image, whose ``k`` symbols are normalized together.
        power: average power per symbol ``P``.
        mask: optional ``(B, ...)`` mask of the symbols that are sent (bool, or float
            0/1 with a straight-through gradient); then ``k`` is each image's number of
            sent symbols, unsent symbols are set to 0, and the mean power per *sent*
            symbol is ``P`` (an image that sends nothing stays all zero).

    Returns:
        ``(B, ...)`` tensor of the same dtype with ``mean(|z|^2) = P`` per image (over
        its sent symbols).
    """
    if z.dim() < 2:
        raise SemcomError(f"normalize_power expects (B, ...) symbols, got shape {tuple(z.shape)}")
    flat = z.reshape(z.shape[0], -1)
    if mask is None:
        k = flat.shape[1]
        norm = torch.linalg.vector_norm(flat, dim=1, keepdim=True).clamp_min(1e-12)
        return (flat * (math.sqrt(k * power) / norm)).reshape(z.shape)
    if tuple(mask.shape) != tuple(z.shape):
        raise SemcomError(f"power mask of shape {tuple(mask.shape)} does not match symbols {tuple(z.shape)}")
    m = mask.reshape(flat.shape).to(flat.real.dtype if flat.is_complex() else flat.dtype)
    kept = flat * m
    k = m.detach().sum(dim=1, keepdim=True)
    norm = torch.linalg.vector_norm(kept, dim=1, keepdim=True).clamp_min(1e-12)
    return (kept * (torch.sqrt(k * power) / norm)).reshape(z.shape)


def average_power(z: Tensor) -> Tensor:
    """``(B,)`` mean power per symbol of each image's ``(B, ...)`` symbols."""
    return z.reshape(z.shape[0], -1).abs().pow(2).mean(dim=1)


def real_to_complex(x: Tensor) -> Tensor:
    """Pair real values into complex symbols: ``(B, 2k)`` -> ``(B, k)`` complex64.

    The first half of each image's values are the real parts, the second half the
    imaginary parts. An odd count is zero-padded by one value.
    """
    flat = x.reshape(x.shape[0], -1)
    if flat.shape[1] % 2:
        flat = torch.nn.functional.pad(flat, (0, 1))
    half = flat.shape[1] // 2
    return torch.complex(flat[:, :half].float(), flat[:, half:].float())


def complex_to_real(z: Tensor, num_values: int | None = None) -> Tensor:
    """Inverse of :func:`real_to_complex`: ``(B, k)`` complex -> ``(B, num_values)`` real."""
    flat = z.reshape(z.shape[0], -1)
    out = torch.cat([flat.real, flat.imag], dim=1)
    return out if num_values is None else out[:, :num_values]


# ------------------------------------------------------------------------------ SNR
def check_snr_db(snr_db: SNR) -> SNR:
    """Validate an SNR in dB (finite); returns it unchanged.

    Raises:
        SemcomError: for NaN, infinite or non-numeric values.
    """
    if isinstance(snr_db, Tensor):
        if not torch.isfinite(snr_db).all():
            raise SemcomError("SNR must be finite (got NaN or inf)")
        return snr_db
    try:
        value = float(snr_db)
    except (TypeError, ValueError):
        raise SemcomError(f"SNR must be a number in dB, got {snr_db!r}") from None
    if not math.isfinite(value):
        raise SemcomError(f"SNR must be finite, got {snr_db!r}")
    return snr_db


def snr_db_to_noise_var(snr_db: SNR, power: float = SIGNAL_POWER) -> SNR:
    """Total complex noise variance ``sigma2 = P / 10^(snr_db / 10)``."""
    check_snr_db(snr_db)
    if isinstance(snr_db, Tensor):
        return power * torch.pow(10.0, -snr_db.to(torch.float32) / 10.0)
    return power * 10.0 ** (-float(snr_db) / 10.0)


def noise_var_to_snr_db(noise_var: SNR, power: float = SIGNAL_POWER) -> SNR:
    """Inverse of :func:`snr_db_to_noise_var`: ``10 log10(P / sigma2)``."""
    if isinstance(noise_var, Tensor):
        return 10.0 * torch.log10(power / noise_var)
    return 10.0 * math.log10(power / float(noise_var))


def snr_to_batch(snr_db: SNR, batch: int, device: torch.device | str | None = None) -> Tensor:
    """SNR as a ``(B,)`` float32 tensor in dB (a scalar is broadcast to every image)."""
    check_snr_db(snr_db)
    t = torch.as_tensor(snr_db, dtype=torch.float32, device=device)
    if t.dim() == 0:
        return t.expand(batch).clone()
    t = t.reshape(-1)
    if t.numel() != batch:
        raise SemcomError(f"got {t.numel()} SNR values for a batch of {batch} images")
    return t


def ebno_db(snr_db: float, bits_per_symbol: int, code_rate: float) -> float:
    """Eb/N0 of a digital link: ``snr_db - 10 log10(bits_per_symbol * code_rate)``."""
    return float(snr_db) - 10.0 * math.log10(bits_per_symbol * code_rate)


def ebno_to_snr_db(ebno: float, bits_per_symbol: int, code_rate: float) -> float:
    """Inverse of :func:`ebno_db`."""
    return float(ebno) + 10.0 * math.log10(bits_per_symbol * code_rate)


# -------------------------------------------------------------------------- quality
#: what a receiver shows for an image it lost (failed CRC, lost side information, a
#: codec that could not fit the budget): mid-gray, counted in ``extras["failed"]``
LOST_IMAGE_VALUE = 0.5

def quantize_8bit(images: Tensor) -> Tensor:
    """Clamp to ``[0, 1]`` and round to the 8-bit grid (values stay in ``[0, 1]``)."""
    return torch.round(images.clamp(0.0, 1.0) * 255.0) / 255.0


def mse_per_image(x: Tensor, y: Tensor) -> Tensor:
    """``(B,)`` mean squared error over all pixels and channels of ``(B, C, H, W)``."""
    if x.shape != y.shape:
        raise SemcomError(f"shape mismatch: {tuple(x.shape)} vs {tuple(y.shape)}")
    return (x.float() - y.float()).pow(2).reshape(x.shape[0], -1).mean(dim=1)


def psnr(reference: Tensor, reconstruction: Tensor, max_db: float = 100.0) -> Tensor:
    """Per-image PSNR in dB on 8-bit-rounded, clamped images.

    Args:
        reference: ``(B, C, H, W)`` in ``[0, 1]``.
        reconstruction: ``(B, C, H, W)``; clamped to ``[0, 1]`` and rounded to 8 bits.
        max_db: value reported for identical images (MSE = 0).

    Returns:
        ``(B,)`` float tensor, ``10 log10(255^2 / MSE)`` with MSE on the 0-255 scale.
    """
    mse = mse_per_image(quantize_8bit(reference), quantize_8bit(reconstruction)) * (255.0**2)
    out = 10.0 * torch.log10((255.0**2) / mse.clamp_min(1e-20))
    return out.clamp(max=max_db)


def psnr_from_mse(mse: float | Tensor, peak: float = 1.0) -> float | Tensor:
    """PSNR in dB of an MSE measured on a ``[0, peak]`` scale."""
    if isinstance(mse, Tensor):
        return 10.0 * torch.log10(peak**2 / mse.clamp_min(1e-20))
    return 10.0 * math.log10(peak**2 / max(float(mse), 1e-20))


def ms_ssim_to_db(ms_ssim: float | Tensor) -> float | Tensor:
    """MS-SSIM in dB: ``-10 log10(1 - ms_ssim)``."""
    if isinstance(ms_ssim, Tensor):
        return -10.0 * torch.log10((1.0 - ms_ssim).clamp_min(1e-10))
    return -10.0 * math.log10(max(1.0 - float(ms_ssim), 1e-10))
