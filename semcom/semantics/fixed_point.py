"""Sign-magnitude fixed-point codes of the feature-driven NUQ (Zhang et al., Entropy 2025,
Section 3.4, Algorithms 1 and 2): the formats, the paper's offset grid, quantization to
code words and back, their bits, and the expected value of a code word under bit
posteriors. :mod:`semcom.semantics.nuq` quantizes each category of features in one of
these formats, at the widths chosen by :mod:`semcom.semantics.bit_allocation`.

Format (:class:`FixedPointFormat`): the paper's sign / integer / fraction split
``(s, i, f)``, ``s`` = 0 or 1. A code word is the sign bit (1 = negative, only when
``s == 1``) followed by a magnitude code ``q`` in ``i + f`` bits, MSB first; as an
integer the word is ``sign << (i + f) | q``, so its bits are its binary digits.

The grid (the paper's eqs. for ``Delta_k1``, ``Delta_k2`` and Algorithm 2): each
category ``k`` has a magnitude range ``[lo, hi] = [|x_k|min, |x_k|max]``; the magnitude
``|x| - lo`` is quantized with ``q = round((|x| - lo) / Delta)``,
``Delta = (hi - lo) / (2**(i + f) - 1)``, and dequantized as ``sign * (lo + q Delta)``.
The integer part is the top ``i`` bits of ``q`` (steps of ``2**f Delta``), the fraction
part its low ``f`` bits (steps of ``Delta``), combined by the paper's left shift
``L(b_k2)``. Read literally, the paper gives each part its own step over the whole
range and adds ``|x|min`` to both parts when they are recombined (``2 |x|min`` in
total); the single grid above is the reading in which code 0 lands on ``|x|min``, the
top code on ``|x|max`` and the steps are those of eq. (15) for ``b = i + f`` bits. The
split ``(i, f)`` then labels the bits and does not move the grid. A signed format has
``2**(i + f + 1)`` distinct values (``+lo`` and ``-lo`` differ), and inside ``[lo, hi]``
the magnitude error is at most ``Delta / 2``; magnitudes outside clip to the range.

Formats without magnitude bits:

* a sign-only format ``(1, 0, 0)`` (a category given 1 bit) has one magnitude level;
  the paper's ``Delta = (hi - lo) / (2**0 - 1)`` is undefined there, and its quantization
  error model (Assumption 5: the error is uniform within ``+-Delta/2`` of the
  reconstruction) puts the level in the middle of the one interval: ``sign * (lo + hi) / 2``,
  so the bit carries the sign and the category's mid magnitude (error at most
  ``(hi - lo) / 2``), not 0;
* a format without any bit (a category given 0 bits) carries nothing and decodes as 0;
* an unsigned format ``(0, i, f)`` (only through a quantizer's ``splits``) codes ``x``
  itself on ``[lo, hi]`` (negative values clip to ``lo``).

The transmitter sends ``lo`` and ``hi`` of each category as float16 (``lo`` rounded down,
``hi`` up, so nothing inside the category clips; :mod:`semcom.semantics.nuq_side_info`).
The split of a width comes from :func:`format_for_width`: the paper's presets
5 -> (1, 3, 1), 3 -> (1, 1, 1), 2 -> (1, 1, 0) (:data:`PAPER_SPLITS`), any other width ``b``
:meth:`FixedPointFormat.for_range` (one sign bit, the fewest integer bits whose range
covers ``|x|max``, the rest fraction); a quantizer's ``splits`` override both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import Tensor

from semcom.errors import SemcomError

#: the paper's sign:integer:fraction splits by total width (Section 4.2)
PAPER_SPLITS: dict[int, tuple[int, int, int]] = {5: (1, 3, 1), 3: (1, 1, 1), 2: (1, 1, 0)}
#: bits of the integer and of the fraction field of a split in the side information
SPLIT_FIELD_BITS = 5


@dataclass(frozen=True)
class FixedPointFormat:
    """A sign-magnitude fixed-point format: ``sign_bits`` (0 or 1) + ``integer_bits`` +
    ``fraction_bits`` (each field below ``2**SPLIT_FIELD_BITS``, at most 32 bits in all)."""

    sign_bits: int
    integer_bits: int
    fraction_bits: int

    def __post_init__(self) -> None:
        parts = (self.sign_bits, self.integer_bits, self.fraction_bits)
        if not all(isinstance(p, int) and p >= 0 for p in parts) or self.sign_bits > 1:
            raise SemcomError(f"fixed point: need sign 0 or 1 and non-negative integer/fraction bits, got {parts}")
        limit = 2 ** SPLIT_FIELD_BITS
        if self.integer_bits >= limit or self.fraction_bits >= limit or self.total_bits > 32:
            raise SemcomError(f"fixed point: at most 32 bits (fields < {limit}), got {parts}")

    @property
    def total_bits(self) -> int:
        """Width of one code word (bits)."""
        return self.sign_bits + self.integer_bits + self.fraction_bits

    @property
    def magnitude_bits(self) -> int:
        """Bits of the magnitude code: ``integer_bits + fraction_bits``."""
        return self.integer_bits + self.fraction_bits

    @property
    def max_code(self) -> int:
        """Largest magnitude code ``2 ** magnitude_bits - 1`` (0: a single level)."""
        return 2 ** self.magnitude_bits - 1

    @classmethod
    def preset(cls, bits: int) -> FixedPointFormat:
        """The paper's split for a width of 2, 3 or 5 bits (:data:`PAPER_SPLITS`)."""
        if bits not in PAPER_SPLITS:
            raise SemcomError(f"the paper has splits for {sorted(PAPER_SPLITS)} bits only, not {bits}")
        return cls(*PAPER_SPLITS[bits])

    @classmethod
    def for_range(cls, bits: int, max_abs: float) -> FixedPointFormat:
        """The fixed-point split of ``bits`` bits for values up to ``max_abs``: a sign bit,
        the fewest integer bits ``i`` with ``2**i - 2**-f >= max_abs`` (all ``bits - 1`` if
        none suffice), the rest fraction. 0 bits -> ``(0, 0, 0)``. (The split labels the
        bits; the grid depends on ``i + f`` only.)"""
        if bits == 0:
            return cls(0, 0, 0)
        for i in range(bits):
            if 2.0 ** i - 2.0 ** -(bits - 1 - i) >= max_abs:
                return cls(1, i, bits - 1 - i)
        return cls(1, bits - 1, 0)


def format_for_width(bits: int, max_abs: float,
                     splits: Mapping[int, Sequence[int]] | None = None) -> FixedPointFormat:
    """The format of a ``bits``-bit code for magnitudes up to ``max_abs``: the split in
    ``splits`` if it has one (SemcomError if it is not ``bits`` wide), else the paper's preset
    (:data:`PAPER_SPLITS`), else :meth:`FixedPointFormat.for_range`."""
    if splits and bits in splits:
        fmt = FixedPointFormat(*splits[bits])
        if fmt.total_bits != bits:
            raise SemcomError(f"split {tuple(splits[bits])} does not have {bits} bits")
        return fmt
    return FixedPointFormat.preset(bits) if bits in PAPER_SPLITS else FixedPointFormat.for_range(bits, max_abs)


def _range(fmt: FixedPointFormat, low: float | Tensor, high: float | Tensor) -> tuple[Tensor, Tensor]:
    lo, hi = torch.as_tensor(low, dtype=torch.float64), torch.as_tensor(high, dtype=torch.float64)
    if not bool(torch.isfinite(lo).all() & torch.isfinite(hi).all()) or bool((lo > hi).any()):
        raise SemcomError("fixed point: the range needs finite low <= high")
    if fmt.sign_bits and bool((lo < 0).any()):
        raise SemcomError("fixed point: a signed format's magnitude range needs low >= 0")
    return lo, hi


def grid_step(fmt: FixedPointFormat, low: float | Tensor, high: float | Tensor) -> Tensor:
    """The paper's step ``Delta = (high - low) / (2**(i + f) - 1)`` (float64; 0 for a format
    without magnitude bits, whose one level is the mid-range)."""
    lo, hi = _range(fmt, low, high)
    return (hi - lo) / fmt.max_code if fmt.max_code else torch.zeros_like(hi - lo)


def _levels(fmt: FixedPointFormat, lo: Tensor, hi: Tensor, q: Tensor) -> Tensor:
    """Magnitude of code ``q`` (float64): ``lo + q Delta``, the mid-range without magnitude bits."""
    if fmt.max_code:
        return lo + q * ((hi - lo) / fmt.max_code)
    return (lo + hi) / 2 + torch.zeros_like(q)


def quantize_fixed_point(x: Tensor, fmt: FixedPointFormat, low: float | Tensor, high: float | Tensor) -> Tensor:
    """Code words of ``x`` on the grid of ``[low, high]`` (see the module docstring).

    Args:
        x: float tensor (any shape), finite (value units).
        fmt: the format.
        low, high: the magnitude range ``|x|min``, ``|x|max`` (value units), floats or
            tensors broadcastable to ``x``; ``0 <= low <= high`` for a signed format.

    Returns:
        int64 code words ``sign << (i + f) | q``, shape of ``x`` (all 0 for a 0-bit format);
        inside the range ``|x - dequantize(words)| <= grid_step / 2`` (``(high - low) / 2``
        for a sign-only format), magnitudes outside it clip to the range.
    """
    if not bool(torch.isfinite(x).all()):
        raise SemcomError("fixed point: input contains NaN or inf")
    lo, hi = _range(fmt, low, high)
    if not fmt.total_bits:
        return torch.zeros(x.shape, dtype=torch.long)
    v = x.double()
    magnitude = v.abs() if fmt.sign_bits else v
    q = torch.zeros_like(magnitude)
    if fmt.max_code:
        step = (hi - lo) / fmt.max_code
        offset = (torch.minimum(torch.maximum(magnitude, lo), hi) - lo)
        q = torch.where(step > 0, torch.round(offset / torch.where(step > 0, step, 1.0)), q)
    q = q.clamp(0, fmt.max_code).long()
    if fmt.sign_bits:
        q = q | ((v < 0).long() << fmt.magnitude_bits)
    return q


def dequantize_fixed_point(words: Tensor, fmt: FixedPointFormat, low: float | Tensor,
                           high: float | Tensor) -> Tensor:
    """Values of code words: ``(1 - 2 sign) * (low + q Delta)`` as float32 (module docstring).

    Args:
        words: int64 code words in ``[0, 2**total_bits)`` (SemcomError otherwise).
        fmt: the format.
        low, high: the magnitude range, broadcastable to ``words``.
    """
    lo, hi = _range(fmt, low, high)
    if words.numel() and (int(words.min()) < 0 or int(words.max()) >= 2 ** fmt.total_bits):
        raise SemcomError(f"fixed point: code words outside [0, {2 ** fmt.total_bits - 1}]")
    if not fmt.total_bits:
        return torch.zeros(words.shape)
    w = words.long()
    value = _levels(fmt, lo, hi, (w & fmt.max_code).double())
    if fmt.sign_bits:
        value = value * (1 - 2 * (w >> fmt.magnitude_bits)).double()
    return value.float()


def expected_value(p_one: Tensor, fmt: FixedPointFormat, low: float | Tensor, high: float | Tensor) -> Tensor:
    """Expected value of a code word whose bits are independent with ``P(bit = 1) = p_one``.

    The value is ``sign_factor * magnitude`` with the sign factor ``1 - 2 b_sign`` and the
    magnitude ``low + Delta * sum_j 2**j b_j`` both linear in their bits, so
    ``E = (1 - 2 p_sign) * (low + Delta * sum_j 2**j p_j)`` is exact for independent bits.

    Args:
        p_one: ``(..., total_bits)`` probabilities, MSB first (the word's bit order).
        fmt: the format.
        low, high: the magnitude range, broadcastable to ``p_one[..., 0]``.

    Returns:
        float64 ``(...)`` expected values (0 for a 0-bit format).
    """
    if p_one.shape[-1:] != (fmt.total_bits,):
        raise SemcomError(f"fixed point: expected (..., {fmt.total_bits}) bit probabilities, got {tuple(p_one.shape)}")
    lo, hi = _range(fmt, low, high)
    p = p_one.double()
    if not fmt.total_bits:
        return torch.zeros(p.shape[:-1], dtype=torch.float64)
    weights = 2.0 ** torch.arange(fmt.magnitude_bits - 1, -1, -1, dtype=torch.float64)
    magnitude = _levels(fmt, lo, hi, (p[..., fmt.sign_bits:] * weights).sum(dim=-1))
    return magnitude * (1.0 - 2.0 * p[..., 0]) if fmt.sign_bits else magnitude


def codes_to_bits(words: Tensor, fmt: FixedPointFormat) -> Tensor:
    """Code words -> their bits, MSB first (sign bit, then the magnitude code):
    ``(..., total_bits)`` uint8 of 0/1."""
    shifts = torch.arange(fmt.total_bits - 1, -1, -1)
    return ((words.long().unsqueeze(-1) >> shifts) & 1).to(torch.uint8)


def bits_to_codes(bits: Tensor, fmt: FixedPointFormat) -> Tensor:
    """Inverse of :func:`codes_to_bits`: ``(..., total_bits)`` 0/1 -> int64 code words ``(...)``."""
    if bits.shape[-1:] != (fmt.total_bits,) or (bits.numel() and int(bits.max()) > 1):
        raise SemcomError(f"fixed point: expected (..., {fmt.total_bits}) bits of 0/1, got {tuple(bits.shape)}")
    shifts = torch.arange(fmt.total_bits - 1, -1, -1)
    return (bits.long() << shifts).sum(dim=-1)
