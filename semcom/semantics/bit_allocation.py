"""Bit allocation of the feature-driven NUQ (Zhang et al., Entropy 2025, Section 3.4): how
many bits each category of features gets from the budget, and which features form the
categories. :mod:`semcom.semantics.nuq` quantizes each category in the fixed-point format
(:mod:`semcom.semantics.fixed_point`) of its width.

Budget: ``budget_bits`` is the *average* width per feature, so an image of ``n``
features has a payload of exactly ``T = budget_bits * n`` bits (``T`` must be an integer;
every allocation meets it exactly, otherwise SemcomError). Widths are integers, per
category: ``b_k``. When the category sizes do not let ``sum_k t_k b_k`` hit ``T`` (e.g.
``n`` not divisible by ``m``), one category (the next in largest-remainder order) has
its first ``extra_count`` features, in flattened index order, carry one more fraction bit
(format ``(s, i, f + 1)``): the only exception, recorded in the side info
(:class:`semcom.semantics.nuq_side_info.SideInfo`).

* :func:`paper_allocation` is the paper's rule. Its ``b_k = S_k / sum_k S_k * B`` (``S_k``
  the cumulative contribution of the categories ordered from least to most important)
  evaluated with equal per-category contributions gives shares ``m, m - 1, .., 1`` (most
  important first), i.e. 3 : 2 : 1 for ``m = 3``, and ``B = 10`` -> 5, 3, 2 (largest
  remainders). Note the paper's ``B`` is the *sum* of the ``m`` category widths, so its
  10-bit example averages 10/3 bits per feature (``NonUniformQuantizer(10 / 3)``).
  :class:`~semcom.semantics.nuq.NonUniformQuantizer` uses :func:`paper_category_allocation`:
  the shares from each image's category masses (:func:`cumulative_shares`; the paper's
  allocation is "dynamic"), scaled so that ``sum_k t_k b_k = T`` for the actual category
  sizes (clipped at ``max_bits``, the rest redistributed).
* :func:`water_filling_allocation`: reverse water filling, the paper's Theorem 1:
  ``b = 0.5 * log2(2 ln2 * c * C / lambda)`` clipped to ``[0, max_bits]``, with ``c`` the
  contribution of one feature and ``C = (2 r)**2 / 12`` its range constant (``r`` the
  magnitude span ``|x|max - |x|min`` of its category: a signed ``b``-bit code has steps
  of about ``2 r / 2**b``); ``lambda`` is
  solved exactly (the width sum is piecewise linear in ``log2 lambda``), then widths are
  rounded by largest remainders with the total kept.

Categories (:func:`categorize`): category 0 is the most important; ``by="count"``: equal
counts (sizes differ by at most 1, ties broken by index); ``by="mass"``: a feature is in
category ``k`` when the contribution mass ranked before it lies in ``[k/m, (k+1)/m)``
(categories may be empty).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from semcom.errors import SemcomError

ALLOCATIONS = ("paper", "water-filling")
CATEGORY_RULES = ("count", "mass")


class Allocation(NamedTuple):
    """Integer widths of groups of features.

    Attributes:
        widths: ``(k,)`` int64 bits per feature of each group.
        extra_index: the group whose first ``extra_count`` features carry one bit more.
        extra_count: how many (0: none).
    """

    widths: Tensor
    extra_index: int = 0
    extra_count: int = 0

    def total_bits(self, sizes: Tensor | None = None) -> int:
        """Total bits for ``sizes`` features per group (default one each)."""
        t = torch.ones_like(self.widths) if sizes is None else torch.as_tensor(sizes).long()
        return int((t * self.widths).sum()) + self.extra_count


def payload_bits(budget_bits: float, n: int) -> int:
    """Payload ``T = budget_bits * n`` bits of ``n`` features (SemcomError if not a whole number)."""
    t = float(budget_bits) * n
    if not math.isfinite(t) or t < 0 or abs(t - round(t)) > 1e-6 * max(1.0, t):
        raise SemcomError(f"budget {budget_bits} bits x {n} features is not a whole number of bits")
    return int(round(t))


def _fill_linear(a: np.ndarray, b: np.ndarray, sizes: np.ndarray, total: int, max_bits: int) -> np.ndarray:
    """Real widths ``clip(a p + b, 0, max_bits)`` (``a > 0``) with ``sum sizes * w == total``:
    the sum is piecewise linear and increasing in ``p``, so solve it on its breakpoints."""
    if total > int(sizes.sum()) * max_bits:
        raise SemcomError(f"budget of {total} bits exceeds {max_bits} bits for each of {int(sizes.sum())} features")
    points = np.unique(np.concatenate([-b / a, (max_bits - b) / a]))
    sums = np.array([(sizes * np.clip(a * p + b, 0, max_bits)).sum() for p in points])
    i = int(np.searchsorted(sums, total, side="left"))
    if i == 0:
        p = points[0]
    elif i >= len(points):
        p = points[-1]
    else:
        lo, hi = sums[i - 1], sums[i]
        p = points[i - 1] + (total - lo) * (points[i] - points[i - 1]) / (hi - lo) if hi > lo else points[i]
    return np.clip(a * p + b, 0, max_bits)


def _integerize(real: np.ndarray, sizes: np.ndarray, total: int, max_bits: int) -> Allocation:
    """Largest remainders with sizes: floors, then +1 per group by decreasing remainder while
    its whole group fits, the last bits to the first features of the next group."""
    base = np.clip(np.floor(real + 1e-9), 0, max_bits).astype(np.int64)
    left = total - int((sizes * base).sum())
    if left < 0:
        raise SemcomError("allocation: widths exceed the budget (internal error)")
    rem = np.where((sizes > 0) & (base < max_bits), real - base, -np.inf)
    order = np.argsort(-rem, kind="stable")
    bumped = np.zeros(len(base), dtype=bool)
    for k in order:
        if rem[k] > -np.inf and 0 < sizes[k] <= left:
            base[k] += 1
            left -= int(sizes[k])
            bumped[k] = True
    extra = (0, 0)
    if left > 0:
        cands = [k for k in order if rem[k] > -np.inf and not bumped[k] and sizes[k] > left]
        if not cands:
            raise SemcomError(f"allocation: cannot place {left} more bits under max {max_bits} bits")
        extra = (int(cands[0]), left)
    return Allocation(torch.from_numpy(base), *extra)


def paper_shares(m: int) -> np.ndarray:
    """The paper's category shares for equal category contributions: ``m, m - 1, .., 1``
    (most important first)."""
    return np.arange(m, 0, -1, dtype=np.float64)


def cumulative_shares(masses: np.ndarray) -> np.ndarray:
    """The paper's shares ``S_k`` from the categories' contribution masses ``(m,)`` (most
    important first): ``S_k`` is the mass of category ``k`` and every less important one,
    so the widths follow the contributions of the image (equal masses give
    :func:`paper_shares`); all-zero masses fall back to :func:`paper_shares`."""
    masses = np.clip(np.asarray(masses, dtype=np.float64), 0.0, None)
    if not np.isfinite(masses).all() or masses.sum() <= 0:
        return paper_shares(len(masses))
    return np.cumsum(masses[::-1])[::-1] / masses.sum() * len(masses)


def paper_allocation(budget: int, m: int = 3, max_bits: int = 16) -> Tensor:
    """The paper's widths of ``m`` categories whose *sum* is ``budget`` (the paper's ``B``).

    Shares ``m : m-1 : .. : 1`` (see the module docstring), rounded by largest remainders:
    ``paper_allocation(10) == [5, 3, 2]``, ``(8) -> [4, 3, 1]``, ``(10, 2) -> [7, 3]``.

    Returns:
        ``(m,)`` int64 bits per feature of each category, most important first, summing
        exactly to ``budget`` (SemcomError if ``budget > m * max_bits``).
    """
    if m < 1 or int(budget) != budget or budget < 0:
        raise SemcomError(f"paper allocation: need m >= 1 and a whole budget >= 0, got m={m}, budget={budget}")
    ones = np.ones(m)
    real = _fill_linear(paper_shares(m), np.zeros(m), ones, int(budget), max_bits)
    return _integerize(real, ones.astype(np.int64), int(budget), max_bits).widths


def paper_category_allocation(masses: Tensor | np.ndarray, sizes: Tensor | np.ndarray, total_bits: int,
                              max_bits: int = 16) -> Allocation:
    """The paper's widths for one image's categories, meeting its payload exactly.

    Args:
        masses: ``(m,)`` contribution mass of each category, most important first (>= 0).
        sizes: ``(m,)`` features in each category.
        total_bits: the payload ``T`` (bits) that ``sum_k t_k b_k`` (+ extra bits) must equal.
        max_bits: the largest width.

    Returns:
        :class:`Allocation` with widths proportional to :func:`cumulative_shares` of the
        masses (clipped at ``max_bits``, the rest redistributed, rounded by largest
        remainders); SemcomError if ``T`` exceeds ``max_bits`` per feature.
    """
    t = torch.as_tensor(sizes).long().flatten().numpy()
    shares = cumulative_shares(torch.as_tensor(masses).double().flatten().numpy())
    if len(shares) != len(t):
        raise SemcomError(f"paper allocation: {len(shares)} masses for {len(t)} category sizes")
    real = _fill_linear(shares, np.zeros(len(t)), t, int(total_bits), max_bits)
    return _integerize(real, t, int(total_bits), max_bits)


def water_filling_allocation(contributions: Tensor, budget_bits: float, sizes: Tensor | None = None,
                             ranges: Tensor | None = None, max_bits: int = 16) -> Allocation:
    """Reverse water filling: ``b = 0.5 log2(2 ln2 c C / lambda)`` in ``[0, max_bits]``.

    Args:
        contributions: ``(k,)`` contribution factor of one feature of each group (>= 0).
        budget_bits: average bits per feature; the total is ``budget_bits * sum(sizes)``.
        sizes: ``(k,)`` features per group (default 1: one feature per entry).
        ranges: ``(k,)`` magnitude span ``r = |x|max - |x|min`` of each group
            (``C = (2 r)**2 / 12``); default 1.
        max_bits: the largest width.

    Returns:
        :class:`Allocation`; ``total_bits(sizes)`` equals the total exactly. Groups of zero
        contribution (or range) get bits only once all others are at ``max_bits``.
    """
    c = contributions.detach().double().flatten().numpy()
    t = np.ones(len(c), dtype=np.int64) if sizes is None else torch.as_tensor(sizes).long().flatten().numpy()
    r = np.ones(len(c)) if ranges is None else torch.as_tensor(ranges).double().flatten().numpy()
    if len(t) != len(c) or len(r) != len(c) or not np.all(np.isfinite(c)) or (c < 0).any() or (r < 0).any():
        raise SemcomError("water filling: need finite contributions >= 0 with matching sizes and ranges")
    with np.errstate(divide="ignore"):
        level = np.log2(2 * math.log(2) * c * (2 * r) ** 2 / 12)
    finite = np.isfinite(level)
    level = np.where(finite, level, (level[finite].min() - 4 * max_bits) if finite.any() else 0.0)
    total = payload_bits(budget_bits, int(t.sum()))
    real = _fill_linear(np.full(len(c), 0.5), 0.5 * level, t, total, max_bits)
    return _integerize(real, t, total, max_bits)


def categorize(contributions: Tensor, m: int = 3, by: str = "count") -> Tensor:
    """Category of each feature, 0 = most important, ranked per image.

    Args:
        contributions: ``(B, ...)`` non-negative factors (each image ranked on its own).
        m: number of categories.
        by: ``"count"`` (equal counts) or ``"mass"`` (equal contribution mass).

    Returns:
        int64, shape of ``contributions``, values in ``[0, m)``.
    """
    if by not in CATEGORY_RULES or m < 1:
        raise SemcomError(f"categorize: need m >= 1 and by in {CATEGORY_RULES}, got m={m}, by={by!r}")
    if contributions.dim() < 2 or not bool(torch.isfinite(contributions).all()) or bool((contributions < 0).any()):
        raise SemcomError("categorize: contributions must be (B, ...), finite and >= 0")
    flat = contributions.detach().double().flatten(1)
    n = flat.shape[1]
    values, order = torch.sort(flat, dim=1, descending=True, stable=True)
    by_count = ((torch.arange(n) * m) // n).expand_as(flat)
    if by == "count":
        ranked = by_count
    else:
        total = values.sum(dim=1, keepdim=True)
        before = (values.cumsum(dim=1) - values) / total.clamp_min(1e-300)
        ranked = torch.where(total > 0, (before * m).floor().clamp(0, m - 1).long(), by_count)
    return torch.empty_like(order).scatter_(1, order, ranked).reshape(contributions.shape)
