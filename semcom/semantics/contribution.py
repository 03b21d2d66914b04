"""Contribution factors of encoder features: how much each feature matters to the
reconstruction (the feature-driven NUQ paper, Zhang et al., Entropy 2025, eq. 1).

For the features ``x_1 .. x_n`` of one image, ``c_i = r(x_i) / sum_j r(x_j)``: the
factors of each image are non-negative and sum to 1 over that image's features. The
relevance ``r`` is one of

* ``"gradient"`` (the paper): ``r(x_i) = |dL/dx_i|``, the magnitude of the gradient of a
  reconstruction loss ``L`` with respect to the feature, evaluated at the features;
* ``"magnitude"`` (an ablation of the paper): ``r(x_i) = |x_i|``;
* ``"std"`` (an ablation): the standard deviation of the feature's channel over the
  spatial positions, shared by every element of the channel.

Layout: ``features`` is ``(B, ...)`` with the batch first; ``dim`` names the channel
axis: ``1`` for ``(B, C, h, w)`` maps, ``-1`` (or ``2``) for ``(B, N, C)`` Swin tokens.

Granularity: ``"element"`` gives one factor per feature element, shape of ``features``
(the paper ranks the individual features). ``"channel"`` gives one factor per channel,
``(B, C)``: the sum of the element factors of that channel (so it sums to 1 per image
too), which makes per-channel categories and a much cheaper category map possible.

No image's factors depend on another image of the batch (the gradient is that of the sum
of the per-image losses, and every normalization is per image). A relevance that is zero
everywhere for an image (zero gradient, all-zero features) gives uniform factors
``1 / n`` instead of ``0 / 0``. Non-finite features or gradients raise
:class:`~semcom.errors.SemcomError`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from semcom.errors import SemcomError

#: the relevance measures :func:`contribution_factors` knows
KINDS = ("gradient", "magnitude", "std")
#: one factor per feature element, or one per channel
GRANULARITIES = ("element", "channel")


def _check_features(features: Tensor, what: str) -> None:
    if not isinstance(features, Tensor) or features.dim() < 2:
        shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
        raise SemcomError(f"{what}: features must be (B, ...) with at least one feature axis, got {shape}")
    if not torch.is_floating_point(features):
        raise SemcomError(f"{what}: features must be floating point, got {features.dtype}")
    if not bool(torch.isfinite(features).all()):
        raise SemcomError(f"{what}: features contain NaN or inf")


def _channel_axis(features: Tensor, dim: int) -> int:
    """``dim`` as a non-negative axis index, never the batch axis."""
    axis = dim % features.dim() if -features.dim() <= dim < features.dim() else -1
    if axis <= 0:
        raise SemcomError(f"channel axis {dim} is not a feature axis of a {features.dim()}-D (B, ...) tensor")
    return axis


def _normalize(relevance: Tensor, features: Tensor, granularity: str, dim: int) -> Tensor:
    """Per-image ``r / sum r`` at the granularity asked for (uniform where ``sum r == 0``)."""
    if granularity not in GRANULARITIES:
        raise SemcomError(f"contribution granularity must be one of {', '.join(GRANULARITIES)}, "
                          f"got {granularity!r}")
    r = relevance.detach().to(torch.float32)
    if granularity == "channel":
        axis = _channel_axis(features, dim)
        r = r.movedim(axis, 1).flatten(2).sum(dim=2)  # (B, C): sum over the channel's elements
    if not bool(torch.isfinite(r).all()):
        raise SemcomError("contribution factors: the relevance is not finite (NaN or inf gradient?)")
    flat = r.flatten(1)
    total = flat.sum(dim=1, keepdim=True)
    uniform = torch.full_like(flat, 1.0 / flat.shape[1])
    out = torch.where(total > 0, flat / total.clamp_min(torch.finfo(torch.float32).tiny), uniform)
    return out.reshape(r.shape)


def gradient_contribution(features: Tensor, loss_fn: Callable[[Tensor], Tensor], granularity: str = "element",
                          dim: int = 1) -> Tensor:
    """The paper's factors: ``|dL/dx_i|`` normalized per image.

    Args:
        features: ``(B, ...)`` float features (detached inside: no gradient flows back to
            the encoder, and no parameter gradient is accumulated).
        loss_fn: maps ``(B, ...)`` features to the per-image reconstruction loss ``(B,)``
            (e.g. ``mse(decoder(f), images)`` reduced per image) or to a scalar. A ``(B,)``
            loss is summed, so image ``b``'s gradient is that of its own loss alone; a scalar
            must itself be a sum (or mean) of per-image losses for the images to stay
            independent (the factors are scale-free, so sum and mean give the same).
        granularity: ``"element"`` (output shaped like ``features``) or ``"channel"``
            (``(B, C)``, the sum of the channel's element factors).
        dim: the channel axis (used by ``"channel"``).

    Returns:
        float32 factors, each image summing to 1; uniform where the gradient vanishes.

    Raises:
        SemcomError: non-finite features or gradient, a loss that is not ``(B,)`` or scalar.
    """
    _check_features(features, "gradient contribution")
    x = features.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_fn(x)
        if not isinstance(loss, Tensor) or not (loss.dim() == 0 or tuple(loss.shape) == (features.shape[0],)):
            shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise SemcomError(f"gradient contribution: loss_fn must return a (B,) or scalar loss, got {shape}")
        if not bool(torch.isfinite(loss.detach()).all()):
            raise SemcomError("gradient contribution: the loss is not finite")
        grad = None
        if loss.requires_grad:
            (grad,) = torch.autograd.grad(loss.sum(), x, allow_unused=True)
    if grad is None:  # the loss does not depend on the features
        grad = torch.zeros_like(x)
    return _normalize(grad.abs(), features, granularity, dim)


def magnitude_contribution(features: Tensor, granularity: str = "element", dim: int = 1) -> Tensor:
    """Factors from the magnitude ``|x_i|``, normalized per image.

    Args:
        features: ``(B, ...)`` float features.
        granularity: ``"element"`` (shape of ``features``) or ``"channel"`` (``(B, C)``:
            the channel's share of the image's total magnitude).
        dim: the channel axis (used by ``"channel"``).

    Returns:
        float32 factors summing to 1 per image (uniform for an all-zero image).
    """
    _check_features(features, "magnitude contribution")
    return _normalize(features.abs(), features, granularity, dim)


def std_contribution(features: Tensor, dim: int = 1, granularity: str = "element") -> Tensor:
    """Factors from each channel's standard deviation over the spatial positions.

    The standard deviation of channel ``c`` is taken over every axis except the batch axis
    and ``dim`` (``h, w`` of ``(B, C, h, w)``; ``N`` of ``(B, N, C)`` tokens with ``dim=-1``),
    as a population deviation (divisor = number of positions, so one position gives 0).

    Args:
        features: ``(B, ...)`` float features with at least one axis besides ``dim``.
        dim: the channel axis.
        granularity: ``"element"``: ``std_c`` broadcast to the elements of channel ``c``,
            normalized over all elements (shape of ``features``); ``"channel"``: ``(B, C)``,
            ``std_c / sum_c' std_c'``. The channel factors are the sums of the element ones.

    Returns:
        float32 factors summing to 1 per image (uniform when every channel is constant).
    """
    _check_features(features, "std contribution")
    axis = _channel_axis(features, dim)
    if features.dim() < 3:
        raise SemcomError("std contribution: features need a spatial axis besides the channel axis")
    moved = features.detach().to(torch.float32).movedim(axis, 1)
    std = moved.flatten(2).std(dim=2, correction=0)  # (B, C)
    relevance = std.reshape(std.shape + (1,) * (moved.dim() - 2)).expand_as(moved).movedim(1, axis)
    return _normalize(relevance, features, granularity, dim)


def contribution_factors(kind: str, features: Tensor, loss_fn: Callable[[Tensor], Tensor] | None = None, *,
                         granularity: str = "element", dim: int = 1) -> Tensor:
    """Dispatch on ``kind``: ``"gradient"`` (needs ``loss_fn``), ``"magnitude"`` or ``"std"``.

    Args:
        kind: one of :data:`KINDS`.
        features: ``(B, ...)`` float features.
        loss_fn: the per-image reconstruction loss, for ``"gradient"`` only.
        granularity: ``"element"`` or ``"channel"`` (see the module docstring).
        dim: the channel axis.

    Returns:
        float32 factors summing to 1 per image: shape of ``features`` or ``(B, C)``.

    Raises:
        SemcomError: an unknown kind, ``"gradient"`` without ``loss_fn``, bad features.
    """
    if kind == "gradient":
        if loss_fn is None:
            raise SemcomError("contribution 'gradient' needs loss_fn (features -> per-image loss)")
        return gradient_contribution(features, loss_fn, granularity=granularity, dim=dim)
    if kind == "magnitude":
        return magnitude_contribution(features, granularity=granularity, dim=dim)
    if kind == "std":
        return std_contribution(features, dim=dim, granularity=granularity)
    raise SemcomError(f"unknown contribution kind {kind!r}; expected one of {', '.join(KINDS)}")
