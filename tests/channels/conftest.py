"""Statistics helpers for the channel tests: estimates with their standard errors.

Images (rows) are independent in every channel model, so the standard error of a
per-image statistic is the spread of its per-row values over sqrt(B), whatever the
correlation along the symbol stream.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from torch import Tensor

#: how many standard errors a seeded estimate may miss its expected value by
N_SE = 4.5


def row_mean(values: Tensor) -> tuple[float, float]:
    """Mean of ``(B, T)`` values and its standard error from the ``B`` row means."""
    rows = values.reshape(values.shape[0], -1).double().mean(dim=1)
    return rows.mean().item(), rows.std().item() / math.sqrt(rows.numel())


def iid_mean(values: Tensor) -> tuple[float, float]:
    """Mean and standard error of i.i.d. samples."""
    v = values.reshape(-1).double()
    return v.mean().item(), v.std().item() / math.sqrt(v.numel())


def row_ratio(num: Tensor, den: Tensor) -> tuple[float, float]:
    """``sum(num) / sum(den)`` over ``(B, T)`` values and its delta-method standard error."""
    a = num.reshape(num.shape[0], -1).double().mean(dim=1)
    b = den.reshape(den.shape[0], -1).double().mean(dim=1)
    ratio = (a.mean() / b.mean()).item()
    resid = a - ratio * b
    se = resid.std().item() / (math.sqrt(a.numel()) * b.mean().item())
    return ratio, se


def rician_k_moment(power: Tensor) -> float:
    """Moment estimate of the Rician factor from samples of ``|h|^2``.

    ``gamma = Var(|h|^2) / E[|h|^2]^2 = (2K + 1) / (K + 1)^2``, so
    ``K = sqrt(1 - gamma) / (1 - sqrt(1 - gamma))``.
    """
    p = power.reshape(-1).double()
    gamma = (p.var() / p.mean() ** 2).clamp(max=1.0).item()
    root = math.sqrt(1.0 - gamma)
    return root / (1.0 - root)


def assert_within(measured: float, expected: float, se: float, what: str, floor: float = 0.0) -> None:
    """Assert ``|measured - expected| <= N_SE * se + floor``."""
    tol = N_SE * se + floor
    assert abs(measured - expected) <= tol, (
        f"{what}: measured {measured:.5g}, expected {expected:.5g} (tolerance {tol:.3g}, se {se:.3g})")


@pytest.fixture
def stats() -> SimpleNamespace:
    """Estimators with standard errors and an assertion within ``N_SE`` standard errors."""
    return SimpleNamespace(row_mean=row_mean, iid_mean=iid_mean, row_ratio=row_ratio,
                           rician_k=rician_k_moment, within=assert_within, n_se=N_SE)
