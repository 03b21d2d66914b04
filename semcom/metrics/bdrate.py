"""Bjontegaard deltas between two rate-quality curves (VCEG-M33 cubic fit).

* :func:`bd_rate`: average rate difference of curve B relative to curve A at equal
  quality, in percent (negative: B needs less rate). Codecs use bpp as the rate.
* :func:`bd_cbr`: the same on the channel-bandwidth-ratio axis, for links.
* :func:`bd_psnr`: average quality difference of B over A at equal rate, in the
  quality's own unit (dB for PSNR; any quality metric works).

Method (the ``bjontegaard`` package, ``method="cubic"``): fit a cubic polynomial of
``log10(rate)`` against quality (BD-rate) or of quality against ``log10(rate)``
(BD-PSNR) through each curve's points by least squares, integrate both fits over the
interval where the two curves overlap on the horizontal axis, divide by its length, and
for BD-rate report ``(10 ** mean_log_difference - 1) * 100``. Each curve needs at least
4 points with distinct values on the integration axis. The package warns (it does not
fail) when the curves overlap on less than 75 % of their joint range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from semcom.errors import SemcomError

__all__ = ["MIN_POINTS", "bd_cbr", "bd_psnr", "bd_rate"]

#: Points each curve needs for the cubic fit.
MIN_POINTS = 4

Values = Sequence[float] | np.ndarray


def _curve(
    rate: Values, quality: Values, name: str, rate_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate one curve and return ``(rate, quality)`` as float64 arrays."""
    try:
        r = np.asarray(rate, dtype=np.float64).reshape(-1)
        q = np.asarray(quality, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise SemcomError(f"curve {name}: {rate_name} and quality must be numbers") from None
    if r.size != q.size:
        raise SemcomError(f"curve {name}: {r.size} {rate_name} values but {q.size} quality values")
    if r.size < MIN_POINTS:
        raise SemcomError(
            f"curve {name} has {r.size} points; "
            f"the Bjontegaard cubic fit needs at least {MIN_POINTS}"
        )
    if not (np.isfinite(r).all() and np.isfinite(q).all()):
        raise SemcomError(f"curve {name} contains NaN or inf")
    if (r <= 0).any():
        raise SemcomError(
            f"curve {name}: {rate_name} must be positive (it is fitted on a log axis)"
        )
    return r, q


def _distinct(values: np.ndarray, name: str, axis: str) -> None:
    if np.unique(values).size < MIN_POINTS:
        raise SemcomError(
            f"curve {name} has fewer than {MIN_POINTS} distinct {axis} values; "
            "the cubic fit is undefined"
        )


def _overlap(a: np.ndarray, b: np.ndarray, axis: str) -> None:
    low, high = max(a.min(), b.min()), min(a.max(), b.max())
    if high <= low:
        raise SemcomError(
            f"the curves do not overlap in {axis} (A spans [{a.min():.4g}, {a.max():.4g}], "
            f"B spans [{b.min():.4g}, {b.max():.4g}]); a Bjontegaard delta is undefined"
        )


def _checked_curves(
    rate_a: Values, quality_a: Values, rate_b: Values, quality_b: Values, rate_name: str, axis: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate both curves for a fit along ``axis`` (``"quality"`` for BD-rate, ``"rate"``
    for BD-PSNR): distinct values on it, overlapping ranges, and each curve sorted by it.

    Returns:
        ``(rate_a, quality_a, rate_b, quality_b)`` as float64 arrays.
    """
    ra, qa = _curve(rate_a, quality_a, "A", rate_name)
    rb, qb = _curve(rate_b, quality_b, "B", rate_name)
    xa, xb = (qa, qb) if axis == "quality" else (ra, rb)
    _distinct(xa, "A", axis)
    _distinct(xb, "B", axis)
    _overlap(xa, xb, axis)
    order_a, order_b = np.argsort(xa, kind="stable"), np.argsort(xb, kind="stable")
    return ra[order_a], qa[order_a], rb[order_b], qb[order_b]


def _bjontegaard():
    # imported on use: the package imports matplotlib.pyplot, which is slow to load
    import bjontegaard

    return bjontegaard


def _finite(value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise SemcomError("the Bjontegaard delta is not finite: check the curves")
    return value


def _bd_rate(
    rate_a: Values, quality_a: Values, rate_b: Values, quality_b: Values, rate_name: str
) -> float:
    ra, qa, rb, qb = _checked_curves(rate_a, quality_a, rate_b, quality_b, rate_name, "quality")
    bd = _bjontegaard()
    return _finite(bd.bd_rate(ra, qa, rb, qb, method="cubic", require_matching_points=False))


def bd_rate(rate_a: Values, quality_a: Values, rate_b: Values, quality_b: Values) -> float:
    """BD-rate of curve B against anchor A, in percent.

    Args:
        rate_a, quality_a: anchor curve, ``>= 4`` points (rates > 0, e.g. bpp).
        rate_b, quality_b: test curve, ``>= 4`` points, same rate unit.

    Returns:
        Average rate change at equal quality, percent (``-20.0``: B needs 20 % less).

    Raises:
        SemcomError: fewer than 4 (distinct) points, mismatched lengths, non-positive or
            non-finite values, or quality ranges that do not overlap.
    """
    return _bd_rate(rate_a, quality_a, rate_b, quality_b, "rate")


def bd_cbr(cbr_a: Values, quality_a: Values, cbr_b: Values, quality_b: Values) -> float:
    """BD-CBR of link B against anchor A, in percent: :func:`bd_rate` with the channel
    bandwidth ratio ``cbr = k / n`` as the rate (``-20.0``: B needs 20 % fewer channel
    uses for the same quality)."""
    return _bd_rate(cbr_a, quality_a, cbr_b, quality_b, "cbr")


def bd_psnr(rate_a: Values, quality_a: Values, rate_b: Values, quality_b: Values) -> float:
    """BD-PSNR (more generally BD-quality) of curve B against anchor A.

    Args:
        rate_a, quality_a: anchor curve, ``>= 4`` points with distinct rates > 0.
        rate_b, quality_b: test curve, ``>= 4`` points, same units.

    Returns:
        Average quality difference ``B - A`` at equal rate, in the quality's unit
        (dB for PSNR).

    Raises:
        SemcomError: as :func:`bd_rate`, with the overlap checked on the rate axis.
    """
    ra, qa, rb, qb = _checked_curves(rate_a, quality_a, rate_b, quality_b, "rate", "rate")
    bd = _bjontegaard()
    return _finite(bd.bd_psnr(ra, qa, rb, qb, method="cubic", require_matching_points=False))
