"""Random blockage: Markov switching between LOS (Rician) and blocked NLOS segments."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from semcom.channels.base import Channel, check_nonnegative, complex_normal
from semcom.channels.common import check_at_least, stream_size, two_state_markov_chain
from semcom.channels.fading import rician_gain
from semcom.errors import SemcomError
from semcom.registry import CHANNELS

_DB_TO_NEPER = math.log(10.0) / 10.0  # 10^(x/10) = exp(x * _DB_TO_NEPER)


@CHANNELS.register("blockage")
class Blockage(Channel):
    """Blockage: LOS (Rician K) / NLOS (Rayleigh, -A dB, log-normal shadowing) segments.

    Each image's symbol stream alternates between line-of-sight and blocked (NLOS)
    segments whose lengths are geometric with means ``mean_los`` and ``mean_nlos``
    symbols (a two-state Markov chain with ``P(LOS -> NLOS) = 1/mean_los`` and
    ``P(NLOS -> LOS) = 1/mean_nlos``, started from its stationary distribution), so the
    LOS fraction is ``mean_los / (mean_los + mean_nlos)``. The fading is piecewise
    constant: one gain per segment, drawn independently for every segment:

    * LOS: ``h = sqrt(K/(K+1)) e^(j phi) + sqrt(1/(K+1)) CN(0, 1)``, ``phi`` uniform
      (a new LOS geometry per segment);
    * NLOS: ``h = 10^((-A + s X) / 20) CN(0, 1)``, ``X ~ N(0, 1)``: Rayleigh attenuated by
      ``A`` dB with log-normal shadowing of standard deviation ``s`` dB, so
      ``E|h|^2 = 10^(-A/10) exp((s ln10 / 10)^2 / 2)``.

    With ``normalize=True`` (default) every gain is divided by the root of the overall
    mean power, so ``E|h|^2 = 1`` and ``snr_db`` is the average received SNR as for every
    other channel (LOS segments are then slightly above 0 dB). With ``normalize=False``
    ``snr_db`` is the SNR of an unblocked (LOS) link and blockage lowers the average.

    Defaults (our choice, typical of a mmWave link with human blockage): ``K = 10``,
    ``A = 20`` dB, ``s = 4`` dB, ``mean_los = 500``, ``mean_nlos = 100`` symbols
    (LOS 5/6 of the time).

    Args:
        K: Rician factor of LOS segments (linear), ``>= 0``.
        attenuation_db: blockage loss ``A`` in dB, ``>= 0``.
        shadowing_std_db: standard deviation ``s`` of the NLOS shadowing in dB, ``>= 0``.
        mean_los: mean LOS segment length in symbols, ``>= 1``.
        mean_nlos: mean NLOS segment length in symbols, ``>= 1``.
        normalize: scale to ``E|h|^2 = 1`` overall.
        csi_nmse: NMSE of the receiver's channel estimate, relative to ``E|h|^2``.
    """

    name = "blockage"

    def __init__(self, K: float = 10.0, attenuation_db: float = 20.0, shadowing_std_db: float = 4.0,
                 mean_los: float = 500.0, mean_nlos: float = 100.0, normalize: bool = True,
                 csi_nmse: float = 0.0) -> None:
        super().__init__(csi_nmse=csi_nmse)
        self.K = check_nonnegative("K", K)
        self.attenuation_db = check_nonnegative("attenuation_db", attenuation_db)
        self.shadowing_std_db = check_nonnegative("shadowing_std_db", shadowing_std_db)
        self.mean_los = check_at_least("mean_los", mean_los, 1.0)
        self.mean_nlos = check_at_least("mean_nlos", mean_nlos, 1.0)
        self.normalize = bool(normalize)
        try:
            self.nlos_power
        except OverflowError:
            raise SemcomError(f"shadowing_std_db={shadowing_std_db!r} is too large "
                              "(the mean NLOS power overflows)") from None

    @property
    def los_fraction(self) -> float:
        """Stationary fraction of symbols in LOS segments."""
        return self.mean_los / (self.mean_los + self.mean_nlos)

    @property
    def nlos_power(self) -> float:
        """``E|h|^2`` in NLOS segments before normalization (LOS segments: 1)."""
        shadow = math.exp((self.shadowing_std_db * _DB_TO_NEPER) ** 2 / 2.0)
        return 10.0 ** (-self.attenuation_db / 10.0) * shadow

    @property
    def mean_power(self) -> float:
        """``E|h|^2`` over time before normalization."""
        return self.los_fraction + (1.0 - self.los_fraction) * self.nlos_power

    def sample_state(self, batch: int, length: int, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
        """``(blocked, segment)``: ``(B, T)`` bool NLOS flags and int64 segment indices."""
        return two_state_markov_chain(batch, length, 1.0 / self.mean_los, 1.0 / self.mean_nlos,
                                      generator, device)

    def gain_for_state(self, blocked: Tensor, segment: Tensor,
                       generator: torch.Generator | None = None) -> Tensor:
        """Draw one gain per segment and spread it over the segment's symbols.

        Args:
            blocked: ``(B, T)`` bool NLOS flags; segment: ``(B, T)`` int64 indices.

        Returns:
            ``(B, T)`` complex64 gains, piecewise constant over segments.
        """
        batch, length = blocked.shape
        device = blocked.device
        n_seg = int(segment.max()) + 1 if length else 0
        phase = torch.rand(batch, n_seg, generator=generator, device=device) * (2.0 * math.pi)
        los = rician_gain(phase, complex_normal((batch, n_seg), generator, device), self.K)
        shadow_db = torch.randn(batch, n_seg, generator=generator, device=device) * self.shadowing_std_db
        amplitude = torch.pow(10.0, (shadow_db - self.attenuation_db) / 20.0)
        nlos = complex_normal((batch, n_seg), generator, device) * amplitude
        per_segment = torch.gather(torch.stack([los, nlos], dim=-1).reshape(batch, -1), 1,
                                   2 * segment + blocked.long())
        if self.normalize:
            per_segment = per_segment * (1.0 / math.sqrt(self.mean_power))
        return per_segment

    def sample_gain(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
                    device: torch.device | str | None = None) -> Tensor:
        """``(B, ..., k)`` complex64 piecewise-constant blockage gains."""
        batch, length = stream_size(shape)
        blocked, segment = self.sample_state(batch, length, generator, device)
        return self.gain_for_state(blocked, segment, generator).reshape(shape)

    def estimate(self, gain: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``h_hat = h + CN(0, csi_nmse * E|h|^2)`` (``E|h|^2 = 1`` when normalized)."""
        if self.csi_nmse == 0.0 or self.normalize:
            return super().estimate(gain, generator)
        err = complex_normal(tuple(gain.shape), generator, gain.device)
        return gain + err * math.sqrt(self.csi_nmse * self.mean_power)
