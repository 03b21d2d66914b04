"""The feature-driven NUQ paper's composite channel: Rician + multipath (OFDM) + time-varying SNR.

Zhang et al., "Feature-Driven Semantic Communication for Efficient Image Transmission"
(Entropy 2025) describe it only as "Rician fading (K = 3) ... multipath fading and
time-varying noise modulated as a sinusoidal waveform (sin(t/10), where t in [0, 100])".
Everything else below is our choice, stated in :class:`CompositeChannel`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from semcom.channels.base import Channel, check_nonnegative, complex_normal
from semcom.channels.common import (check_block_length, check_finite, check_int, num_blocks,
                                    stream_size)
from semcom.channels.fading import rician_gain
from semcom.conventions import snr_db_to_noise_var
from semcom.errors import SemcomError
from semcom.registry import CHANNELS


@CHANNELS.register("composite")
class CompositeChannel(Channel):
    """Composite (feature-driven NUQ paper): Rician K=3, OFDM multipath, SNR snr_db + A sin(t/10).

    Multipath. The channel is a tapped delay line with ``num_taps`` taps at integer
    sample delays ``l = 0 .. num_taps-1`` and an exponential power delay profile: tap
    ``l`` has power ``p_l`` proportional to ``10^(-tap_decay_db * l / 10)`` (``sum p_l =
    1``), taps ``g_l ~ CN(0, p_l)`` independent. A line-of-sight path at delay 0 carries
    the Rician part. A one-tap receiver cannot equalize a raw delay line, so the link is
    OFDM with ``fft_size`` subcarriers and a cyclic prefix of ``cp_length >= num_taps - 1``
    samples; with such a prefix, IFFT -> delay line -> FFT is exactly a per-subcarrier
    gain, which is what is simulated (frequency domain):

        ``H[f] = sqrt(K/(K+1)) e^(j phi) + sqrt(1/(K+1)) sum_l g_l e^(-j 2 pi f l / fft_size)``

    so ``E|H[f]|^2 = 1`` on every subcarrier and each ``H[f]`` is Rician with factor
    ``K``. ``phi`` is uniform, drawn once per image; the taps are drawn once per image
    (``block_length=None``/0) or once per ``block_length`` OFDM symbols. ``H[f]`` is the
    per-symbol gain and the receiver's CSI (plus ``CN(0, csi_nmse)`` error).

    Symbol placement. Each image's symbol stream (row-major over ``(..., k)``) fills
    OFDM symbols frequency-first: symbol ``i`` goes to subcarrier ``i % fft_size`` of OFDM
    symbol ``i // fft_size``; a last, partly filled OFDM symbol leaves its other
    subcarriers unused. The cyclic prefix is not charged to the channel uses (``k``
    counts data symbols, as the paper does); it costs ``cp_length / fft_size`` more air
    time.

    Time-varying SNR. Symbol ``i`` of a ``T``-symbol stream sees noise variance
    ``10^(-snr_i / 10)`` with ``snr_i = snr_db + A sin(t_i / snr_time_scale)`` (dB) and
    ``t_i = time_span * i / (T - 1)``, i.e. ``t`` runs over ``[0, time_span]`` = ``[0, 100]``
    across each image as in the paper (``time_span=None``: ``t_i = i``, one time unit
    per symbol). ``A`` is not given in the paper; we use 3 dB. The receiver knows the
    per-symbol noise variance (``noise_var`` has shape ``(B, ..., k)``). ``snr_db`` is the
    centre of the oscillation (the average of the per-symbol SNR in dB when the stream
    covers whole periods).

    Defaults: ``K = 3``, 5 taps decaying 3 dB per tap (powers 0, -3, ..., -12 dB
    relative to the first; RMS delay spread of the scattered part 1.08 samples), ``fft_size = 64``,
    ``cp_length = 16``, taps constant per image, ``A = 3`` dB, ``snr_time_scale = 10``,
    ``time_span = 100``.

    Args:
        K: Rician factor (linear), ``>= 0``.
        num_taps: delay-line taps, ``1 <= num_taps <= fft_size``.
        tap_decay_db: power drop per tap in dB, ``>= 0`` (0: uniform profile).
        fft_size: OFDM subcarriers, ``>= 1``.
        cp_length: cyclic-prefix samples, ``>= num_taps - 1`` (no inter-symbol interference).
        block_length: OFDM symbols sharing one tap draw; ``None``/0: one per image.
        snr_amplitude_db: ``A``, amplitude of the SNR oscillation in dB, ``>= 0``.
        snr_time_scale: divisor of ``t`` inside the sine (10 in the paper), ``> 0``.
        time_span: range of ``t`` over an image's stream; ``None`` for ``t = i``.
        csi_nmse: NMSE of the receiver's channel estimate (0: perfect CSI).
    """

    name = "composite"

    def __init__(self, K: float = 3.0, num_taps: int = 5, tap_decay_db: float = 3.0,
                 fft_size: int = 64, cp_length: int = 16, block_length: int | None = None,
                 snr_amplitude_db: float = 3.0, snr_time_scale: float = 10.0,
                 time_span: float | None = 100.0, csi_nmse: float = 0.0) -> None:
        super().__init__(csi_nmse=csi_nmse)
        self.K = check_nonnegative("K", K)
        self.fft_size = check_int("fft_size", fft_size, minimum=1)
        self.num_taps = check_int("num_taps", num_taps, minimum=1)
        if self.num_taps > self.fft_size:
            raise SemcomError(f"num_taps must be <= fft_size ({self.fft_size}), got {num_taps!r}")
        self.cp_length = check_int("cp_length", cp_length, minimum=0)
        if self.cp_length < self.num_taps - 1:
            raise SemcomError(f"cp_length must be >= num_taps - 1 = {self.num_taps - 1} "
                              f"(longer than the delay spread), got {cp_length!r}")
        self.tap_decay_db = check_nonnegative("tap_decay_db", tap_decay_db)
        self.block_length = check_block_length(block_length)
        self.snr_amplitude_db = check_nonnegative("snr_amplitude_db", snr_amplitude_db)
        self.snr_time_scale = check_finite("snr_time_scale", snr_time_scale)
        if self.snr_time_scale <= 0:
            raise SemcomError(f"snr_time_scale must be > 0, got {snr_time_scale!r}")
        if time_span is None:
            self.time_span = None
        else:
            self.time_span = check_finite("time_span", time_span)
            if self.time_span <= 0:
                raise SemcomError(f"time_span must be > 0 (or None for t = symbol index), got {time_span!r}")

    def tap_powers(self) -> Tensor:
        """``(num_taps,)`` float32 power delay profile ``p_l``, summing to 1."""
        db = -self.tap_decay_db * torch.arange(self.num_taps, dtype=torch.float64)
        p = torch.pow(10.0, db / 10.0)
        return (p / p.sum()).float()

    def symbol_times(self, length: int, device: torch.device | str | None = None) -> Tensor:
        """``(T,)`` float32 time ``t_i`` of each symbol of a ``T``-symbol stream."""
        i = torch.arange(length, dtype=torch.float32, device=device)
        if self.time_span is None:
            return i
        return i * (self.time_span / (length - 1)) if length > 1 else torch.zeros_like(i)

    def snr_offset_db(self, length: int, device: torch.device | str | None = None) -> Tensor:
        """``(T,)`` float32 SNR offset ``A sin(t_i / snr_time_scale)`` in dB per symbol."""
        return self.snr_amplitude_db * torch.sin(self.symbol_times(length, device) / self.snr_time_scale)

    def sample_gain(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
                    device: torch.device | str | None = None) -> Tensor:
        """``(B, ..., k)`` complex64 per-subcarrier gains ``H[f]`` of each symbol."""
        batch, length = stream_size(shape)
        n_fft = self.fft_size
        n_ofdm = -(-length // n_fft)
        n_draws = num_blocks(n_ofdm, self.block_length)
        phase = torch.rand(batch, 1, 1, generator=generator, device=device) * (2.0 * math.pi)
        amplitude = self.tap_powers().to(device).sqrt()
        taps = complex_normal((batch, n_draws, self.num_taps), generator, device) * amplitude
        freq = torch.fft.fft(taps, n=n_fft, dim=-1)  # (B, draws, fft_size)
        h = rician_gain(phase, freq, self.K)
        if n_draws == 1:
            h = h.expand(batch, n_ofdm, n_fft)
        else:
            h = h.repeat_interleave(self.block_length, dim=1)[:, :n_ofdm]
        return h.reshape(batch, n_ofdm * n_fft)[:, :length].reshape(shape)

    def noise_variance(self, shape: tuple[int, ...], snr_db: Tensor) -> Tensor:
        """``(B, ..., k)`` float32 per-symbol noise variance of the oscillating SNR."""
        batch, length = stream_size(shape)
        snr = snr_db.reshape(batch, 1) + self.snr_offset_db(length, snr_db.device)
        return snr_db_to_noise_var(snr).reshape(shape)
