"""Quantization modes and input checks shared by the entropy models."""

from __future__ import annotations

import torch
from torch import Tensor

from semcom.entropy.errors import SemcomError

#: ``noise``: additive U(-0.5, 0.5) (training proxy); ``round``: hard rounding (no
#: gradient); ``ste``: hard rounding forward, identity gradient backward
MODES = ("noise", "round", "ste")


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`MODES`, else raise ``SemcomError``."""
    if mode not in MODES:
        raise SemcomError(f"unknown quantization mode {mode!r}; expected one of {MODES}")
    return mode


def check_finite(name: str, tensor: Tensor | None) -> None:
    """Raise ``SemcomError`` if ``tensor`` holds NaN or +-inf."""
    if tensor is None:
        return
    if not isinstance(tensor, Tensor):
        raise SemcomError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise SemcomError(f"{name} contains NaN or infinite values")


def quantize(x: Tensor, mode: str, offset: Tensor | None = None) -> Tensor:
    """Quantize ``x`` to the integer grid shifted by ``offset``.

    Args:
        x: any shape.
        mode: one of :data:`MODES`.
        offset: broadcastable to ``x`` (means or medians); treated as a constant.

    Returns:
        same shape as ``x``: ``x + u`` (noise) or ``round(x - offset) + offset``
        (round / ste; ste's value is exactly the rounded one, its gradient is identity).
    """
    check_mode(mode)
    if mode == "noise":
        return x + torch.empty_like(x).uniform_(-0.5, 0.5)
    if offset is None:
        rounded = torch.round(x.detach())
    else:
        offset = offset.detach()
        rounded = torch.round(x.detach() - offset) + offset
    if mode == "round":
        return rounded
    return rounded + (x - x.detach())  # value == rounded exactly, d/dx == 1
