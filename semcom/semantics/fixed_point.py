"""Sign-magnitude fixed-point codes of the feature-driven NUQ (Zhang et al., Entropy 2025,
Section 3.4): the formats, quantization to integer codes and back, and the code words'
bits. :mod:`semcom.semantics.nuq` quantizes each category of features in one of these
formats, at the widths chosen by :mod:`semcom.semantics.bit_allocation`.

Fixed point (:class:`FixedPointFormat`): sign-magnitude, the paper's sign / integer /
fraction split. A code is a signed integer ``q`` with ``|q| <= 2**(i+f) - 1``; its value
is ``q * 2**-f * scale``; its bits are the sign bit (1 = negative, only when
``sign_bits == 1``) then ``|q|`` in ``i + f`` bits, MSB first. A flipped bit therefore
changes one value, by at most the format's range (a sign flip maps ``v`` to ``-v``).
``-0`` decodes as ``0``, so a signed ``b``-bit format has ``2**b - 1`` levels, and a
1-bit signed format (sign only) carries no magnitude: it decodes as 0.

Steps from the category's range (the paper's ``Delta = |x|max / (2**b - 1)``, measured
from 0): the transmitter sends each category's range ``r = max |x|`` as float16 (rounded
up, so nothing inside the category clips) and both sides use ``scale = r / max_value``:
the top code lands on ``r``, and the grid is ``k * r / (2**(b - sign) - 1)`` whatever the
split. The split labels the integer and fraction parts as in the paper: the paper's
presets 5 -> (1, 3, 1), 3 -> (1, 1, 1), 2 -> (1, 1, 0) (:data:`PAPER_SPLITS`); any other
width ``b`` -> :meth:`FixedPointFormat.for_range` ``(b, r)``: the literal fixed-point rule,
one sign bit, the fewest integer bits whose range covers ``r`` at scale 1, the rest
fraction. :func:`format_for_width` picks the split of a width (a quantizer's ``splits``
override it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import Tensor

from semcom.errors import SemcomError

#: the paper's sign:integer:fraction splits by total width (Section 4.2)
PAPER_SPLITS: dict[int, tuple[int, int, int]] = {5: (1, 3, 1), 3: (1, 1, 1), 2: (1, 1, 0)}
_FIELD = 5  # bits of the integer and fraction fields in the side info


@dataclass(frozen=True)
class FixedPointFormat:
    """A sign-magnitude fixed-point format: ``sign_bits`` (0 or 1) + ``integer_bits`` +
    ``fraction_bits``; values ``q * step * scale`` with ``|q| <= max_code``."""

    sign_bits: int
    integer_bits: int
    fraction_bits: int

    def __post_init__(self) -> None:
        parts = (self.sign_bits, self.integer_bits, self.fraction_bits)
        if not all(isinstance(p, int) and p >= 0 for p in parts) or self.sign_bits > 1:
            raise SemcomError(f"fixed point: need sign 0 or 1 and non-negative integer/fraction bits, got {parts}")
        if self.integer_bits >= 2 ** _FIELD or self.fraction_bits >= 2 ** _FIELD or self.total_bits > 32:
            raise SemcomError(f"fixed point: at most 32 bits (fields < {2 ** _FIELD}), got {parts}")

    @property
    def total_bits(self) -> int:
        """Width of one code word (bits)."""
        return self.sign_bits + self.integer_bits + self.fraction_bits

    @property
    def step(self) -> float:
        """Quantization step at scale 1: ``2 ** -fraction_bits``."""
        return 2.0 ** -self.fraction_bits

    @property
    def max_code(self) -> int:
        """Largest magnitude code ``2 ** (integer_bits + fraction_bits) - 1``."""
        return 2 ** (self.integer_bits + self.fraction_bits) - 1

    @property
    def max_value(self) -> float:
        """Largest representable value at scale 1 (``2**i - 2**-f``); the range is
        ``[-max_value, max_value]`` when signed, ``[0, max_value]`` otherwise."""
        return self.max_code * self.step

    @property
    def min_code(self) -> int:
        """Smallest code: ``-max_code`` when signed, else 0."""
        return -self.max_code if self.sign_bits else 0

    @classmethod
    def preset(cls, bits: int) -> FixedPointFormat:
        """The paper's split for a width of 2, 3 or 5 bits (:data:`PAPER_SPLITS`)."""
        if bits not in PAPER_SPLITS:
            raise SemcomError(f"the paper has splits for {sorted(PAPER_SPLITS)} bits only, not {bits}")
        return cls(*PAPER_SPLITS[bits])

    @classmethod
    def for_range(cls, bits: int, max_abs: float) -> FixedPointFormat:
        """The fixed-point split of ``bits`` bits for values up to ``max_abs`` at scale 1:
        a sign bit, the fewest integer bits ``i`` with ``2**i - 2**-f >= max_abs`` (all
        ``bits - 1`` if none suffice), the rest fraction. 0 bits -> ``(0, 0, 0)``."""
        if bits == 0:
            return cls(0, 0, 0)
        for i in range(bits):
            if 2.0 ** i - 2.0 ** -(bits - 1 - i) >= max_abs:
                return cls(1, i, bits - 1 - i)
        return cls(1, bits - 1, 0)


def format_for_width(bits: int, max_abs: float,
                     splits: Mapping[int, Sequence[int]] | None = None) -> FixedPointFormat:
    """The format of a ``bits``-bit code for values up to ``max_abs`` at scale 1: the split in
    ``splits`` if it has one (SemcomError if it is not ``bits`` wide), else the paper's preset
    (:data:`PAPER_SPLITS`), else :meth:`FixedPointFormat.for_range`."""
    if splits and bits in splits:
        fmt = FixedPointFormat(*splits[bits])
        if fmt.total_bits != bits:
            raise SemcomError(f"split {tuple(splits[bits])} does not have {bits} bits")
        return fmt
    return FixedPointFormat.preset(bits) if bits in PAPER_SPLITS else FixedPointFormat.for_range(bits, max_abs)


def _scale_tensor(scale: float | Tensor) -> Tensor:
    s = torch.as_tensor(scale, dtype=torch.float64)
    if not bool(torch.isfinite(s).all()) or bool((s <= 0).any()):
        raise SemcomError("fixed point: scale must be finite and > 0")
    return s


def quantize_fixed_point(x: Tensor, fmt: FixedPointFormat, scale: float | Tensor = 1.0) -> Tensor:
    """Integer codes of ``x``: ``round(x / (step * scale))`` clipped to the format's codes.

    Args:
        x: float tensor (any shape), finite.
        fmt: the format.
        scale: positive float or tensor broadcastable to ``x`` (value units per unit).

    Returns:
        int64 codes, shape of ``x``; ``|x - dequantize(codes)| <= step * scale / 2`` inside
        the range, values beyond it clip to the end of the range.
    """
    if not bool(torch.isfinite(x).all()):
        raise SemcomError("fixed point: input contains NaN or inf")
    q = torch.round(x.double() / (fmt.step * _scale_tensor(scale)))
    return q.clamp(fmt.min_code, fmt.max_code).long()


def dequantize_fixed_point(codes: Tensor, fmt: FixedPointFormat, scale: float | Tensor = 1.0) -> Tensor:
    """Values ``codes * step * scale`` as float32 (codes outside the format: SemcomError)."""
    if codes.numel() and (int(codes.min()) < fmt.min_code or int(codes.max()) > fmt.max_code):
        raise SemcomError(f"fixed point: codes outside [{fmt.min_code}, {fmt.max_code}]")
    return (codes.double() * (fmt.step * _scale_tensor(scale))).float()


def codes_to_bits(codes: Tensor, fmt: FixedPointFormat) -> Tensor:
    """Sign-magnitude bits, MSB first: ``(..., total_bits)`` uint8 of 0/1."""
    mag = codes.long().abs()
    shifts = torch.arange(fmt.integer_bits + fmt.fraction_bits - 1, -1, -1)
    bits = (mag.unsqueeze(-1) >> shifts) & 1
    if fmt.sign_bits:
        bits = torch.cat([(codes < 0).long().unsqueeze(-1), bits], dim=-1)
    return bits.to(torch.uint8)


def bits_to_codes(bits: Tensor, fmt: FixedPointFormat) -> Tensor:
    """Inverse of :func:`codes_to_bits`: ``(..., total_bits)`` 0/1 -> int64 codes ``(...)``."""
    if bits.shape[-1:] != (fmt.total_bits,) or (bits.numel() and int(bits.max()) > 1):
        raise SemcomError(f"fixed point: expected (..., {fmt.total_bits}) bits of 0/1, got {tuple(bits.shape)}")
    b = bits.long()
    shifts = torch.arange(fmt.integer_bits + fmt.fraction_bits - 1, -1, -1)
    mag = (b[..., fmt.sign_bits:] << shifts).sum(dim=-1)
    return mag * (1 - 2 * b[..., 0]) if fmt.sign_bits else mag
