"""Channel interface: complex baseband, seeded, differentiable.

A channel is split into drawing its state (:meth:`Channel.sample_gain`) and applying it
(:meth:`Channel.forward`), so a draw can be reused, inspected, or given to the receiver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from semcom.conventions import SNR, snr_db_to_noise_var, snr_to_batch
from semcom.errors import SemcomError


@dataclass
class ChannelOutput:
    """What a channel delivers and what the receiver knows.

    Attributes:
        symbols: ``(B, ..., k)`` complex64 received symbols ``y``.
        csi: ``(B, ..., k)`` complex64 channel estimate ``h_hat`` known at the receiver
            (ones for AWGN; ``h`` itself with perfect CSI).
        noise_var: float32 total complex noise variance per symbol, broadcastable to
            ``symbols`` (``(B, 1...)`` or ``(B, ..., k)`` for time-varying noise).
        erasures: ``(B, ..., k)`` bool, True where a symbol was erased (set to 0), or
            None if the channel never erases.
        gain: ``(B, ..., k)`` complex64 true per-symbol channel ``h`` (for analysis).
    """

    symbols: Tensor
    csi: Tensor
    noise_var: Tensor
    erasures: Tensor | None
    gain: Tensor


def complex_normal(shape: tuple[int, ...], generator: torch.Generator | None = None,
                   device: torch.device | str | None = None) -> Tensor:
    """``CN(0, 1)`` samples: real and imaginary parts each ``N(0, 1/2)``; complex64."""
    re = torch.randn(shape, generator=generator, device=device)
    im = torch.randn(shape, generator=generator, device=device)
    return torch.complex(re, im) * (1.0 / math.sqrt(2.0))


def check_probability(name: str, value: float, low_open: bool = False, high_open: bool = False) -> float:
    """Validate a probability-like parameter in [0, 1] (optionally open ends)."""
    v = _as_float(name, value)
    ok = math.isfinite(v) and (v > 0 if low_open else v >= 0) and (v < 1 if high_open else v <= 1)
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise SemcomError(f"{name} must be in {lo}0, 1{hi}, got {value!r}")
    return v


def _as_float(name: str, value: object) -> float:
    """``float(value)``, or a SemcomError naming the parameter (not a bare TypeError)."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SemcomError(f"{name} must be a number, got {value!r}") from None


def check_nonnegative(name: str, value: float) -> float:
    """Validate a finite, non-negative parameter."""
    v = _as_float(name, value)
    if not math.isfinite(v) or v < 0:
        raise SemcomError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


class Channel(nn.Module):
    """Base class of every channel.

    Subclasses implement :meth:`sample_gain` (the fading state, ``(B, ..., k)``
    complex) and may override :meth:`noise_variance` (time-varying noise) or
    :meth:`forward` (erasures, multipath).

    Args:
        csi_nmse: normalized MSE of the receiver's channel estimate:
            ``h_hat = h + e``, ``e ~ CN(0, csi_nmse)``; 0 means perfect CSI.
    """

    #: registry name
    name: str = "channel"

    def __init__(self, csi_nmse: float = 0.0) -> None:
        super().__init__()
        self.csi_nmse = check_nonnegative("csi_nmse", csi_nmse)

    # -- state ------------------------------------------------------------------
    def sample_gain(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
                    device: torch.device | str | None = None) -> Tensor:
        """Draw the channel state ``h``: ``(B, ..., k)`` complex64 with ``E|h|^2 = 1``."""
        return torch.ones(shape, dtype=torch.complex64, device=device)

    def noise_variance(self, shape: tuple[int, ...], snr_db: Tensor) -> Tensor:
        """Total complex noise variance per symbol, broadcastable to ``shape``.

        Args:
            shape: ``(B, ..., k)`` shape of the symbols.
            snr_db: ``(B,)`` float32 SNR per image.
        """
        var = snr_db_to_noise_var(snr_db)
        return var.reshape((shape[0],) + (1,) * (len(shape) - 1))

    def estimate(self, gain: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The receiver's channel estimate ``h_hat = h + CN(0, csi_nmse)``."""
        if self.csi_nmse == 0.0:
            return gain
        err = complex_normal(tuple(gain.shape), generator, gain.device) * math.sqrt(self.csi_nmse)
        return gain + err

    # -- apply ------------------------------------------------------------------
    def forward(self, z: Tensor, snr_db: SNR, generator: torch.Generator | None = None) -> ChannelOutput:
        """Send symbols through the channel.

        Args:
            z: ``(B, ..., k)`` complex symbols (power-normalized by the transmitter).
            snr_db: average received SNR in dB, scalar or ``(B,)``.
            generator: source of randomness (fading, noise, CSI error, erasures).

        Returns:
            :class:`ChannelOutput`; differentiable with respect to ``z``.
        """
        z = check_symbols(z)
        shape = tuple(z.shape)
        snr = snr_to_batch(snr_db, shape[0], z.device)
        gain = self.sample_gain(shape, generator, z.device)
        var = self.noise_variance(shape, snr)
        noise = complex_normal(shape, generator, z.device) * torch.sqrt(var)
        y = gain * z + noise
        csi = self.estimate(gain, generator)
        return ChannelOutput(symbols=y, csi=csi, noise_var=var, erasures=None, gain=gain)

    def describe(self) -> dict[str, float | int | str]:
        """Name and parameters, JSON-serialisable (for result files and ``semcom channels``)."""
        params = {k: v for k, v in vars(self).items()
                  if not k.startswith("_") and k != "training"
                  and (v is None or isinstance(v, (int, float, str, bool)))}
        return {"name": self.name, **params}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.describe().items() if k != "name")


def check_symbols(z: Tensor) -> Tensor:
    """Validate channel input: a complex ``(B, ..., k)`` tensor; returns complex64."""
    if not isinstance(z, Tensor) or not torch.is_complex(z):
        raise SemcomError("channel input must be a complex tensor of shape (B, ..., k)")
    if z.dim() < 2:
        raise SemcomError(f"channel input must be (B, ..., k), got shape {tuple(z.shape)}")
    return z.to(torch.complex64)
