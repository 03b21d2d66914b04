"""Flat fading: Rayleigh (fast or block), Rician, and Gauss-Markov correlated fading.

Every model draws a per-symbol complex gain ``h`` with ``E|h|^2 = 1`` (so ``snr_db`` is
the average received SNR) and applies ``y = h z + n`` through :class:`Channel.forward`.
Time runs along each image's symbol stream (see :mod:`semcom.channels.common`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from semcom.channels.base import Channel, check_nonnegative, check_probability, complex_normal
from semcom.channels.common import check_block_length, expand_blocks, num_blocks, stream_size
from semcom.registry import CHANNELS


# ---------------------------------------------------------------------- Rayleigh
@CHANNELS.register("rayleigh")
class Rayleigh(Channel):
    """Rayleigh fading h ~ CN(0, 1): fast (block_length=1, default) or block fading.

    Args:
        block_length: ``L`` symbols sharing one ``h``. 1 (default): fast fading, ``h``
            i.i.d. per symbol; ``L > 1``: block fading, ``h`` constant over each run of
            ``L`` consecutive symbols of an image's stream and independent across blocks;
            ``None`` or 0: one ``h`` per image (quasi-static).
        csi_nmse: NMSE of the receiver's channel estimate (0: perfect CSI).
    """

    name = "rayleigh"

    def __init__(self, block_length: int | None = 1, csi_nmse: float = 0.0) -> None:
        super().__init__(csi_nmse=csi_nmse)
        self.block_length = check_block_length(block_length)

    def sample_gain(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
                    device: torch.device | str | None = None) -> Tensor:
        """``(B, ..., k)`` complex64 ``h ~ CN(0, 1)``, repeated over blocks."""
        batch, length = stream_size(shape)
        draws = complex_normal((batch, num_blocks(length, self.block_length)), generator, device)
        return expand_blocks(draws, length, self.block_length).reshape(shape)


class RayleighFastFading(Rayleigh):
    """Rayleigh fast fading: ``h_i ~ CN(0, 1)`` i.i.d. per symbol (``rayleigh``, L = 1)."""

    def __init__(self, csi_nmse: float = 0.0) -> None:
        super().__init__(block_length=1, csi_nmse=csi_nmse)


class RayleighBlockFading(Rayleigh):
    """Rayleigh block fading: one ``h ~ CN(0, 1)`` per block of ``block_length`` symbols.

    ``block_length=None`` (default) or 0: one block per image.
    """

    def __init__(self, block_length: int | None = None, csi_nmse: float = 0.0) -> None:
        super().__init__(block_length=block_length, csi_nmse=csi_nmse)


# ------------------------------------------------------------------------ Rician
def rician_gain(los_phase: Tensor, scatter: Tensor, K: float) -> Tensor:
    """``h = sqrt(K/(K+1)) exp(j phi) + sqrt(1/(K+1)) s``; broadcasting shapes, complex64."""
    los = torch.polar(torch.full_like(los_phase, math.sqrt(K / (K + 1.0))), los_phase)
    return los + scatter * math.sqrt(1.0 / (K + 1.0))


@CHANNELS.register("rician")
class Rician(Channel):
    """Rician fading, factor K: h = sqrt(K/(K+1)) e^(j phi) + sqrt(1/(K+1)) CN(0, 1).

    The line-of-sight phase ``phi`` is uniform on ``[0, 2 pi)`` and drawn once per image;
    the scattered part ``CN(0, 1)`` is drawn per block of ``block_length`` symbols
    (default 1: i.i.d. per symbol; ``None``/0: one per image). ``K = 0`` is Rayleigh.

    Args:
        K: Rician factor (linear, LOS power / scattered power), ``>= 0``.
        block_length: symbols sharing one scattered draw, see :class:`Rayleigh`.
        csi_nmse: NMSE of the receiver's channel estimate (0: perfect CSI).
    """

    name = "rician"

    def __init__(self, K: float = 3.0, block_length: int | None = 1, csi_nmse: float = 0.0) -> None:
        super().__init__(csi_nmse=csi_nmse)
        self.K = check_nonnegative("K", K)
        self.block_length = check_block_length(block_length)

    def sample_gain(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
                    device: torch.device | str | None = None) -> Tensor:
        """``(B, ..., k)`` complex64 Rician gains with ``E|h|^2 = 1``."""
        batch, length = stream_size(shape)
        phase = torch.rand(batch, 1, generator=generator, device=device) * (2.0 * math.pi)
        draws = complex_normal((batch, num_blocks(length, self.block_length)), generator, device)
        scatter = expand_blocks(draws, length, self.block_length)
        return rician_gain(phase, scatter, self.K).reshape(shape)


# ------------------------------------------------------------------ Gauss-Markov
def ar1_filter(x: Tensor, a: float, chunk: int = 128) -> Tensor:
    """First-order recursion ``y_t = a y_{t-1} + x_t`` (``y_{-1} = 0``) along the last axis.

    Vectorised as a two-level scan: inside chunks of ``C`` steps the recursion is a
    product with the lower-triangular matrix ``a^(i-j)``; the chunk end states follow the
    same recursion with factor ``a^C`` (solved recursively), and are propagated back into
    each chunk with ``a^(i+1)``. All powers of ``a`` are ``<= 1`` for ``|a| <= 1``, so it is
    stable; cost ``O(T C)``.

    Args:
        x: ``(..., T)`` real or complex tensor.
        a: the recursion coefficient.
        chunk: chunk length ``C``.

    Returns:
        ``(..., T)`` tensor of the dtype of ``x``.
    """
    length = x.shape[-1]
    if length == 0:
        return x.clone()
    c = min(chunk, length)
    idx = torch.arange(c, device=x.device)
    lag = (idx[:, None] - idx[None, :]).to(torch.float64)
    base = torch.tensor(float(a), dtype=torch.float64, device=x.device)
    mix = torch.where(lag >= 0, torch.pow(base, lag.clamp_min(0.0)), torch.zeros_like(lag))
    mix_t = mix.T.to(x.dtype)
    if length <= c:
        return x @ mix_t
    n_chunks = -(-length // c)
    pad = n_chunks * c - length
    if pad:
        x = torch.cat([x, torch.zeros(*x.shape[:-1], pad, dtype=x.dtype, device=x.device)], dim=-1)
    local = x.reshape(*x.shape[:-1], n_chunks, c) @ mix_t
    carry = ar1_filter(local[..., -1], float(a) ** c, chunk)  # state at each chunk's end
    before = torch.cat([torch.zeros_like(carry[..., :1]), carry[..., :-1]], dim=-1)
    decay = torch.pow(base, (idx + 1).to(torch.float64)).to(x.dtype)
    y = local + before[..., None] * decay
    return y.reshape(*x.shape[:-1], n_chunks * c)[..., :length]


@CHANNELS.register("gauss-markov")
class GaussMarkovFading(Channel):
    """Gauss-Markov correlated fading: h_t = a h_(t-1) + sqrt(1 - a^2) w_t, h_0 ~ CN(0, 1).

    ``w_t ~ CN(0, 1)`` i.i.d.; the process is stationary with ``E|h_t|^2 = 1`` and
    correlation ``E[h_t conj(h_(t-s))] = a^s`` along each image's symbol stream
    (images are independent). ``a = 0`` is Rayleigh fast fading; for Jakes' Doppler
    spectrum a common choice is ``a = J0(2 pi f_D T_s)``.

    Args:
        a: correlation between consecutive symbols, ``0 <= a < 1``.
        csi_nmse: NMSE of the receiver's channel estimate (0: perfect CSI).
    """

    name = "gauss-markov"

    def __init__(self, a: float = 0.99, csi_nmse: float = 0.0) -> None:
        super().__init__(csi_nmse=csi_nmse)
        self.a = check_probability("a", a, high_open=True)

    def sample_gain(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
                    device: torch.device | str | None = None) -> Tensor:
        """``(B, ..., k)`` complex64 Gauss-Markov gains, ``E|h|^2 = 1``."""
        batch, length = stream_size(shape)
        w = complex_normal((batch, length), generator, device)
        scale = torch.full((length,), math.sqrt(1.0 - self.a**2), device=device)
        scale[:1] = 1.0  # h_0 = w_0 ~ CN(0, 1)
        return ar1_filter(w * scale, self.a).reshape(shape)
