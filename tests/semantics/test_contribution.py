"""Contribution factors: the analytic gradient of a linear loss, per-image independence,
zero-gradient fallback, magnitude and standard-deviation factors, channel granularity,
dispatch and clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from semcom.errors import SemcomError
from semcom.semantics.contribution import (
    contribution_factors,
    gradient_contribution,
    magnitude_contribution,
    std_contribution,
)


def _per_image_sum(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(dim=1)


def test_gradient_of_linear_loss_is_normalized_abs_weights(gen: torch.Generator) -> None:
    x = torch.randn(3, 4, 5, 6, generator=gen)
    a = torch.randn(3, 4, 5, 6, generator=gen)  # signed: the factor is |dL/dx| = |a|
    c = gradient_contribution(x, lambda f: _per_image_sum(a * f))
    expected = a.abs() / a.abs().flatten(1).sum(dim=1).view(3, 1, 1, 1)
    torch.testing.assert_close(c, expected)
    torch.testing.assert_close(_per_image_sum(c), torch.ones(3))
    per_channel = gradient_contribution(x, lambda f: _per_image_sum(a * f), granularity="channel")
    assert per_channel.shape == (3, 4)
    torch.testing.assert_close(per_channel, expected.sum(dim=(2, 3)))


def test_gradient_per_image_independence(gen: torch.Generator) -> None:
    x = torch.randn(4, 3, 8, generator=gen)
    target = torch.randn(4, 3, 8, generator=gen)
    w = torch.rand(3, 8, generator=gen)

    def loss(f: torch.Tensor) -> torch.Tensor:
        return _per_image_sum(w * torch.tanh(f - target[: len(f)]) ** 2)

    batch = gradient_contribution(x, loss)
    for b in range(4):
        alone = gradient_contribution(x[b:b + 1], lambda f, b=b: _per_image_sum(w * torch.tanh(f - target[b]) ** 2))
        torch.testing.assert_close(batch[b:b + 1], alone)
    # a scalar sum or mean of the per-image losses gives the same (scale-free) factors
    torch.testing.assert_close(gradient_contribution(x, lambda f: loss(f).sum()), batch)
    torch.testing.assert_close(gradient_contribution(x, lambda f: loss(f).mean()), batch)


def test_zero_gradient_gives_uniform_not_nan(gen: torch.Generator) -> None:
    x = torch.randn(2, 3, 5, generator=gen)
    for loss_fn in (lambda f: _per_image_sum(f * 0.0), lambda f: torch.zeros(2), lambda f: torch.zeros(())):
        c = gradient_contribution(x, loss_fn)
        assert not torch.isnan(c).any()
        torch.testing.assert_close(c, torch.full_like(x, 1.0 / 15))
    # one image with zero gradient, the other not: only the first falls back to uniform
    mask = torch.tensor([0.0, 1.0]).view(2, 1, 1)
    c = gradient_contribution(x, lambda f: _per_image_sum(mask * f ** 2))
    torch.testing.assert_close(c[0], torch.full((3, 5), 1.0 / 15))
    torch.testing.assert_close(c[1], x[1].abs() / x[1].abs().sum())


def test_gradient_leaves_model_parameters_alone(gen: torch.Generator) -> None:
    decoder = nn.Linear(6, 6)
    x, images = torch.randn(2, 4, 6, generator=gen), torch.randn(2, 4, 6, generator=gen)
    with torch.no_grad():  # works inside no_grad (evaluation loops)
        c = gradient_contribution(x, lambda f: ((decoder(f) - images) ** 2).mean(dim=(1, 2)))
    assert all(p.grad is None for p in decoder.parameters())
    assert not x.requires_grad and not c.requires_grad
    torch.testing.assert_close(_per_image_sum(c), torch.ones(2))


def test_magnitude_and_channel_granularity(gen: torch.Generator) -> None:
    x = torch.randn(2, 3, 4, generator=gen)
    c = magnitude_contribution(x)
    torch.testing.assert_close(c, x.abs() / x.abs().sum(dim=(1, 2), keepdim=True))
    tokens = x.transpose(1, 2)  # (B, N, C) with the channel last
    ch = magnitude_contribution(tokens, granularity="channel", dim=-1)
    torch.testing.assert_close(ch, c.sum(dim=2))
    torch.testing.assert_close(magnitude_contribution(torch.zeros(2, 3, 4)), torch.full((2, 3, 4), 1 / 12))


def test_std_factors(gen: torch.Generator) -> None:
    x = torch.randn(2, 3, 4, 5, generator=gen) * torch.tensor([0.5, 1.0, 4.0]).view(1, 3, 1, 1)
    std = x.flatten(2).std(dim=2, correction=0)
    ch = std_contribution(x, dim=1, granularity="channel")
    torch.testing.assert_close(ch, std / std.sum(dim=1, keepdim=True))
    assert (ch[:, 2] > ch[:, 1]).all() and (ch[:, 1] > ch[:, 0]).all()
    el = std_contribution(x, dim=1)
    torch.testing.assert_close(el, (std / (20 * std.sum(dim=1, keepdim=True))).view(2, 3, 1, 1).expand(2, 3, 4, 5))
    # the same numbers for (B, N, C) tokens with the channel axis last
    tokens = x.flatten(2).transpose(1, 2)
    torch.testing.assert_close(std_contribution(tokens, dim=-1, granularity="channel"), ch)
    # constant channels: uniform, not NaN
    torch.testing.assert_close(std_contribution(torch.ones(1, 2, 3), dim=1), torch.full((1, 2, 3), 1 / 6))


def test_dispatch_and_errors(gen: torch.Generator) -> None:
    x = torch.randn(2, 3, 4, generator=gen)
    torch.testing.assert_close(contribution_factors("magnitude", x), magnitude_contribution(x))
    torch.testing.assert_close(contribution_factors("std", x, granularity="channel"),
                               std_contribution(x, granularity="channel"))
    torch.testing.assert_close(contribution_factors("gradient", x, lambda f: _per_image_sum(f ** 2)),
                               magnitude_contribution(x))  # |2x| normalized == |x| normalized
    with pytest.raises(SemcomError, match="unknown contribution kind"):
        contribution_factors("entropy", x)
    with pytest.raises(SemcomError, match="needs loss_fn"):
        contribution_factors("gradient", x)
    with pytest.raises(SemcomError, match="granularity"):
        magnitude_contribution(x, granularity="pixel")
    with pytest.raises(SemcomError, match=r"\(B,\) or scalar"):
        gradient_contribution(x, lambda f: f.sum(dim=2))
    with pytest.raises(SemcomError, match="channel axis"):
        std_contribution(x, dim=0)
    bad = x.clone()
    bad[1, 2, 3] = float("nan")
    for kind in ("gradient", "magnitude", "std"):
        with pytest.raises(SemcomError, match="NaN"):
            contribution_factors(kind, bad, lambda f: _per_image_sum(f ** 2))
    with pytest.raises(SemcomError, match="not finite"):
        gradient_contribution(x, lambda f: _per_image_sum(f) * float("inf"))
