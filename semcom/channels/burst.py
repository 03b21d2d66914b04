"""Burst errors: the Gilbert-Elliott two-state Markov channel over symbols."""

from __future__ import annotations

import torch
from torch import Tensor

from semcom.channels.base import Channel, ChannelOutput, check_probability, check_symbols, complex_normal
from semcom.channels.common import check_at_least, stream_size, two_state_markov_chain
from semcom.conventions import SNR, snr_db_to_noise_var, snr_to_batch
from semcom.registry import CHANNELS


@CHANNELS.register("gilbert-elliott")
class GilbertElliott(Channel):
    """Gilbert-Elliott burst channel: Markov good/bad states, bad = noisier + erasures.

    A two-state Markov chain runs over each image's symbol stream (stationary start):
    ``P(good -> bad) = p``, ``P(bad -> good) = r``, so the bad-state occupancy is
    ``p / (p + r)`` and bursts last ``1/r`` symbols on average (good runs ``1/p``). The
    gain is 1 (no fading). In the good state ``y = z + n``, ``n ~ CN(0, sigma2)`` with
    ``sigma2 = 10^(-snr_db/10)``; in the bad state the noise variance is
    ``kappa * sigma2`` and each symbol is independently erased with probability ``e``
    (``y = 0``). ``snr_db`` is therefore the good-state SNR; the long-run erasure rate is
    ``e p / (p + r)``.

    What the receiver knows: the erasure flags (``ChannelOutput.erasures``) always. The
    state itself only with ``state_known=True``, in which case ``noise_var`` is the true
    per-symbol variance ``(B, ..., k)``; by default (``False``) ``noise_var`` is the
    nominal good-state ``sigma2`` per image ``(B, 1...)``, i.e. the receiver cannot tell
    which unerased symbols were hit by the noisier bad state.

    Args:
        p: per-symbol probability good -> bad, in ``[0, 1]``.
        r: per-symbol probability bad -> good, in ``[0, 1]``.
        kappa: noise-variance multiplier in the bad state, ``>= 1``.
        e: erasure probability of a bad-state symbol, in ``[0, 1]``.
        state_known: whether ``noise_var`` reveals the per-symbol state.
        csi_nmse: NMSE of the receiver's channel estimate of the unit gain.
    """

    name = "gilbert-elliott"

    def __init__(self, p: float = 0.01, r: float = 0.1, kappa: float = 10.0, e: float = 0.5,
                 state_known: bool = False, csi_nmse: float = 0.0) -> None:
        super().__init__(csi_nmse=csi_nmse)
        self.p = check_probability("p", p)
        self.r = check_probability("r", r)
        self.kappa = check_at_least("kappa", kappa, 1.0)
        self.e = check_probability("e", e)
        self.state_known = bool(state_known)

    @property
    def bad_fraction(self) -> float:
        """Stationary bad-state occupancy ``p / (p + r)`` (0 when ``p = r = 0``)."""
        return self.p / (self.p + self.r) if self.p + self.r > 0 else 0.0

    def sample_state(self, batch: int, length: int, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> Tensor:
        """``(B, T)`` bool, True where the chain is in the bad state."""
        bad, _ = two_state_markov_chain(batch, length, self.p, self.r, generator, device)
        return bad

    def forward(self, z: Tensor, snr_db: SNR, generator: torch.Generator | None = None) -> ChannelOutput:
        """Send ``(B, ..., k)`` complex symbols; see the class docstring for the model.

        Returns:
            :class:`ChannelOutput` with ``erasures`` ``(B, ..., k)`` bool and ``gain`` 1.
        """
        z = check_symbols(z)
        shape = tuple(z.shape)
        batch, length = stream_size(shape)
        nominal = snr_db_to_noise_var(snr_to_batch(snr_db, batch, z.device)).reshape(batch, 1)
        bad = self.sample_state(batch, length, generator, z.device)
        var = nominal * torch.where(bad, self.kappa, 1.0)
        noise = complex_normal((batch, length), generator, z.device) * torch.sqrt(var)
        erased = bad & (torch.rand(batch, length, generator=generator, device=z.device) < self.e)
        received = z.reshape(batch, length) + noise
        y = torch.where(erased, torch.zeros_like(received), received).reshape(shape)
        gain = torch.ones(shape, dtype=torch.complex64, device=z.device)
        csi = self.estimate(gain, generator)
        if self.state_known:
            noise_var = var.reshape(shape)
        else:
            noise_var = nominal.reshape((batch,) + (1,) * (len(shape) - 1))
        return ChannelOutput(symbols=y, csi=csi, noise_var=noise_var,
                             erasures=erased.reshape(shape), gain=gain)
