"""Receiver-side one-tap equalization with the CSI a channel returns."""

from __future__ import annotations

import torch
from torch import Tensor

from semcom.channels.base import ChannelOutput
from semcom.conventions import SIGNAL_POWER
from semcom.errors import SemcomError

EQUALIZERS = ("zf", "mmse", "none")


def zero_forcing(y: Tensor, h_hat: Tensor, eps: float = 1e-9) -> Tensor:
    """Zero-forcing: ``conj(h_hat) y / |h_hat|^2``; shapes ``(B, ..., k)`` complex."""
    return torch.conj(h_hat) * y / (h_hat.abs().pow(2) + eps)


def mmse(y: Tensor, h_hat: Tensor, noise_var: Tensor | float, power: float = SIGNAL_POWER) -> Tensor:
    """MMSE: ``conj(h_hat) y / (|h_hat|^2 + sigma2 / P)``; ``noise_var`` broadcastable."""
    return torch.conj(h_hat) * y / (h_hat.abs().pow(2) + noise_var / power)


def equalize(out: ChannelOutput, method: str = "mmse") -> Tensor:
    """Equalize a channel's output with its CSI; erased symbols become 0.

    Args:
        out: what the channel returned.
        method: ``"zf"``, ``"mmse"`` or ``"none"`` (pass ``y`` through).

    Returns:
        ``(B, ..., k)`` complex64 estimates of the transmitted symbols.
    """
    m = method.lower()
    if m == "zf":
        z = zero_forcing(out.symbols, out.csi)
    elif m == "mmse":
        z = mmse(out.symbols, out.csi, out.noise_var)
    elif m == "none":
        z = out.symbols
    else:
        raise SemcomError(f"unknown equalizer {method!r} (known: {', '.join(EQUALIZERS)})")
    if out.erasures is not None:
        z = torch.where(out.erasures, torch.zeros_like(z), z)
    return z


def effective_noise_var(out: ChannelOutput) -> Tensor:
    """Per-symbol noise variance of the unbiased (ZF) estimate, ``sigma2 / |h_hat|^2``.

    Used for soft demapping (LLRs). Erased symbols get an infinite variance, so their
    LLRs are 0. Returns a ``(B, ..., k)`` float32 tensor.
    """
    g = out.csi.abs().pow(2)
    eff = (torch.as_tensor(out.noise_var, dtype=torch.float32) / g.clamp_min(1e-12)).expand_as(g).clone()
    if out.erasures is not None:
        eff = torch.where(out.erasures, torch.full_like(eff, float("inf")), eff)
    return eff
