"""Side information of the feature-driven NUQ: what the receiver needs, besides the image
size and the system's configuration, to dequantize one image's payload, its bytes, and
the payload layout it describes.

Everything per image travels here, charged: each category's split and magnitude range
(``|x|min``, ``|x|max`` as float16), the category map and whether it has one entry per
feature element or per channel, the channel axis of a per-channel map, and the
one-extra-bit exception of :mod:`semcom.semantics.bit_allocation`. So the bytes alone
(:meth:`SideInfo.from_bytes`) and the per-image feature shape (from the configuration)
rebuild the layout (:func:`payload_layout`) and the values; no quantizer setting is
needed at the receiver.

Bit layout (:meth:`SideInfo.to_bytes`, MSB first, zero-padded to whole bytes):
``m`` (8 bits); if ``m > 1``: map kind (1: 0 per element, 1 per channel), for a
per-channel map its channel axis (4: the axis of the per-image feature shape, batch
excluded), number of map entries ``u`` (32); per category: sign (1), integer (5),
fraction (5), ``|x|min`` as float16 (16), ``|x|max`` as float16 (16); if ``m > 1``:
extra category (``ceil(log2 m)``), extra count (32), then the category map, ``u`` entries
of ``ceil(log2 m)`` bits in flattened index order. :meth:`SideInfo.num_bits` is the exact
length: 51 bits for the uniform quantizer (``m = 1``), and for ``m = 3``
``8 + 33 + 3 * 43 + 34 + 2 u`` bits per element, 4 more per channel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Sequence

import numpy as np
import torch
from torch import Tensor

from semcom.errors import SemcomError
from semcom.semantics.fixed_point import SPLIT_FIELD_BITS, FixedPointFormat

#: bits of the channel axis of a per-channel category map (axes 0..15 of the image's features)
AXIS_BITS = 4
#: bits of the map length and of the extra-bit count
COUNT_BITS = 32
#: bits of one category's fields: sign, integer, fraction, |x|min and |x|max as float16
CATEGORY_BITS = 1 + 2 * SPLIT_FIELD_BITS + 2 * 16


def float16_up(values: Tensor) -> Tensor:
    """float32 -> float16, rounded up (nothing at ``values`` clips); SemcomError beyond float16."""
    return _float16(values, math.inf)


def float16_down(values: Tensor) -> Tensor:
    """float32 -> float16, rounded down; SemcomError beyond float16."""
    return _float16(values, -math.inf)


def _float16(values: Tensor, towards: float) -> Tensor:
    v = values.float()
    h = v.half()
    wrong = h.float() < v if towards > 0 else h.float() > v
    h = torch.where(wrong, torch.nextafter(h, torch.full_like(h, towards)), h)
    if not bool(torch.isfinite(h).all()):
        raise SemcomError("quantizer: a feature magnitude exceeds the float16 range of the side info")
    return h


def _uint_bits(values: Tensor | int, width: int) -> np.ndarray:
    """Unsigned integers -> ``width`` bits each, MSB first, flattened (uint8)."""
    if width == 0:
        return np.zeros(0, dtype=np.uint8)
    v = torch.as_tensor(values).long().flatten()
    return ((v.unsqueeze(-1) >> torch.arange(width - 1, -1, -1)) & 1).to(torch.uint8).flatten().numpy()


def _float16_bits(values: Tensor) -> Tensor:
    return values.to(torch.float16).view(torch.int16).long() & 0xFFFF


@dataclass(eq=False)
class SideInfo:
    """What the receiver needs to dequantize one image's payload.

    Attributes:
        formats: the split of each category (``m`` entries, most important first).
        lows, highs: ``(m,)`` float16 magnitude range ``[|x|min, |x|max]`` of each category
            (0, 0 for an empty category).
        categories: ``(u,)`` int64 category of each feature, or of each channel when
            ``channel_axis`` is set, in flattened index order; None when ``m == 1``.
        channel_axis: None for a per-element map; else the map has one entry per index
            of this axis of the per-image feature shape (batch excluded: 0 is the
            channel axis of ``(c, h, w)``).
        extra_category, extra_count: the first ``extra_count`` features (index order) of
            that category use its split with one more fraction bit.
    """

    formats: tuple[FixedPointFormat, ...]
    lows: Tensor
    highs: Tensor
    categories: Tensor | None = None
    channel_axis: int | None = None
    extra_category: int = 0
    extra_count: int = 0

    def __post_init__(self) -> None:
        m = len(self.formats)
        if not 1 <= m <= 255 or self.lows.shape != (m,) or self.highs.shape != (m,):
            raise SemcomError(f"side info: need 1..255 categories with one range each, got {m} formats, "
                              f"ranges {tuple(self.lows.shape)}, {tuple(self.highs.shape)}")
        if m > 1 and self.categories is None:
            raise SemcomError("side info: more than one category needs a category map")
        if self.channel_axis is not None and not 0 <= self.channel_axis < 2 ** AXIS_BITS:
            raise SemcomError(f"side info: channel axis must be in [0, {2 ** AXIS_BITS}), got {self.channel_axis}")

    @property
    def map_bits(self) -> int:
        """Bits per category-map entry: ``ceil(log2 m)``."""
        return (len(self.formats) - 1).bit_length()

    def num_bits(self) -> int:
        """Exact length of the :meth:`to_bytes` field stream (bits, before byte padding)."""
        m = len(self.formats)
        n = 8 + m * CATEGORY_BITS
        if m > 1:
            n += 1 + (AXIS_BITS if self.channel_axis is not None else 0) + COUNT_BITS
            n += self.map_bits + COUNT_BITS + int(self.categories.numel()) * self.map_bits
        return n

    def to_bytes(self) -> bytes:
        """The fields of the module docstring's layout, zero-padded to whole bytes."""
        m = len(self.formats)
        parts = [_uint_bits(m, 8)]
        if m > 1:
            parts.append(_uint_bits(int(self.channel_axis is not None), 1))
            if self.channel_axis is not None:
                parts.append(_uint_bits(self.channel_axis, AXIS_BITS))
            parts.append(_uint_bits(self.categories.numel(), COUNT_BITS))
        for fmt, lo, hi in zip(self.formats, _float16_bits(self.lows), _float16_bits(self.highs)):
            parts += [_uint_bits(fmt.sign_bits, 1), _uint_bits(fmt.integer_bits, SPLIT_FIELD_BITS),
                      _uint_bits(fmt.fraction_bits, SPLIT_FIELD_BITS), _uint_bits(lo, 16), _uint_bits(hi, 16)]
        if m > 1:
            parts += [_uint_bits(self.extra_category, self.map_bits), _uint_bits(self.extra_count, COUNT_BITS),
                      _uint_bits(self.categories, self.map_bits)]
        return np.packbits(np.concatenate(parts)).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> SideInfo:
        """Parse :meth:`to_bytes` output (SemcomError on truncated or invalid bytes)."""
        bits = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8)).astype(np.int64)
        pos = 0

        def take(width: int, count: int = 1) -> np.ndarray:
            nonlocal pos
            if pos + width * count > len(bits):
                raise SemcomError("side info: truncated bytes")
            chunk = bits[pos:pos + width * count].reshape(count, width)
            pos += width * count
            return (chunk << np.arange(width - 1, -1, -1)).sum(axis=1)

        m = int(take(8)[0])
        if m < 1:
            raise SemcomError("side info: corrupt bytes (no category)")
        axis, units = None, 0
        if m > 1:
            if take(1)[0]:
                axis = int(take(AXIS_BITS)[0])
            units = int(take(COUNT_BITS)[0])
        formats, raw = [], []
        for _ in range(m):
            s, i, f = int(take(1)[0]), int(take(SPLIT_FIELD_BITS)[0]), int(take(SPLIT_FIELD_BITS)[0])
            formats.append(FixedPointFormat(s, i, f))
            raw.append((int(take(16)[0]), int(take(16)[0])))
        lows, highs = torch.from_numpy(np.array(raw, dtype=np.uint16).view(np.float16).copy()).unbind(dim=1)
        if not bool(torch.isfinite(lows).all() & torch.isfinite(highs).all()) or bool((lows < 0).any()) \
                or bool((lows > highs).any()):
            raise SemcomError("side info: corrupt bytes (range not finite with 0 <= |x|min <= |x|max)")
        categories, extra = None, (0, 0)
        if m > 1:
            map_bits = (m - 1).bit_length()
            extra = (int(take(map_bits)[0]), int(take(COUNT_BITS)[0]))
            categories = torch.from_numpy(take(map_bits, units).astype(np.int64))
            if extra[0] >= m or (units and int(categories.max()) >= m):
                raise SemcomError("side info: corrupt bytes (category out of range)")
            if extra[1] and formats[extra[0]].total_bits >= 32:
                raise SemcomError("side info: corrupt bytes (extra bit beyond 32 bits)")
        if len(data) != (pos + 7) // 8 or bits[pos:].any():
            raise SemcomError("side info: corrupt bytes (wrong length or non-zero padding)")
        return cls(tuple(formats), lows.contiguous(), highs.contiguous(), categories, axis, *extra)


def feature_categories(categories: Tensor | None, channel_axis: int | None, shape: Sequence[int]) -> Tensor:
    """Category of every feature of one image, ``(n,)`` int64 in flattened index order.

    Args:
        categories: the map, ``(u,)`` (None: one category, all 0).
        channel_axis: None for a per-element map (``u == n``), else the axis of ``shape``
            whose indices the ``u`` entries label.
        shape: the per-image feature shape (batch excluded), ``n`` features.
    """
    shape = tuple(int(s) for s in shape)
    n = math.prod(shape)
    if categories is None:
        return torch.zeros(n, dtype=torch.long)
    if channel_axis is None:
        if categories.numel() != n:
            raise SemcomError(f"side info: {categories.numel()} map entries for {n} features")
        return categories.long().flatten()
    if channel_axis >= len(shape) or categories.numel() != shape[channel_axis]:
        raise SemcomError(f"side info: {categories.numel()} entries on axis {channel_axis} of a {shape} image")
    view = [shape[channel_axis] if d == channel_axis else 1 for d in range(len(shape))]
    return categories.long().reshape(view).expand(*shape).reshape(-1)


class PayloadLayout(NamedTuple):
    """Where each feature's code word sits in one image's payload.

    Attributes:
        format_index: ``(n,)`` int64 index into ``formats`` of each feature.
        formats: the categories' formats, then (if ``extra_count``) the extra-bit one.
        lows, highs: the magnitude range of each entry of ``formats`` (value units).
        offsets: ``(n,)`` int64 first payload bit of each feature's code word.
        total_bits: the payload length (bits).
    """

    format_index: Tensor
    formats: list[FixedPointFormat]
    lows: list[float]
    highs: list[float]
    offsets: Tensor
    total_bits: int

    def groups(self) -> Iterator[tuple[FixedPointFormat, float, float, Tensor, Tensor]]:
        """Per format with bits and features: ``(fmt, low, high, selected, positions)``,
        ``selected`` the ``(n,)`` bool mask of its features and ``positions`` the
        ``(t, fmt.total_bits)`` payload bit index of each of their code words (0-bit
        features have no group: they decode as 0)."""
        for j, fmt in enumerate(self.formats):
            selected = self.format_index == j
            if fmt.total_bits and bool(selected.any()):
                positions = self.offsets[selected].unsqueeze(1) + torch.arange(fmt.total_bits)
                yield fmt, self.lows[j], self.highs[j], selected, positions


def payload_layout(side: SideInfo, shape: Sequence[int]) -> PayloadLayout:
    """The payload layout ``side`` describes for one image of per-image feature ``shape``
    (SemcomError when it does not fit the shape)."""
    cat = feature_categories(side.categories, side.channel_axis, shape)
    m = len(side.formats)
    index, formats = cat.clone(), list(side.formats)
    lows, highs = [float(v) for v in side.lows.float()], [float(v) for v in side.highs.float()]
    if side.extra_count:
        members = torch.nonzero(cat == side.extra_category).flatten()
        if len(members) < side.extra_count:
            raise SemcomError("side info: more extra-bit features than the category has")
        index[members[:side.extra_count]] = m
        base = side.formats[side.extra_category]
        formats.append(FixedPointFormat(base.sign_bits, base.integer_bits, base.fraction_bits + 1))
        lows.append(lows[side.extra_category])
        highs.append(highs[side.extra_category])
    widths = torch.tensor([f.total_bits for f in formats])[index]
    return PayloadLayout(index, formats, lows, highs, widths.cumsum(0) - widths, int(widths.sum()))
