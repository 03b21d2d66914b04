"""Feature-driven non-uniform quantization (NUQ) of encoder features, and its uniform
baseline (the feature-driven NUQ paper, Zhang et al., Entropy 2025, Section 3.4).

Pipeline per image: contribution factors (:mod:`semcom.semantics.contribution`) rank the
features into ``m`` categories and each category gets a bit width from the budget
(:mod:`semcom.semantics.bit_allocation`: :func:`~semcom.semantics.bit_allocation.categorize`,
:func:`~semcom.semantics.bit_allocation.paper_category_allocation` or
:func:`~semcom.semantics.bit_allocation.water_filling_allocation`); every feature is
quantized in its category's fixed-point format on the paper's grid from the category's
``[|x|min, |x|max]`` (:mod:`semcom.semantics.fixed_point`) and its code word is sent MSB
first, in flattened index order. The receiver needs only the per-image
:class:`~semcom.semantics.nuq_side_info.SideInfo` (:mod:`semcom.semantics.nuq_side_info`:
its fields, bytes and payload layout) and the feature shape: :func:`dequantize_payload`
(hard bits) and :func:`soft_dequantize_payload` (bit posteriors) need no quantizer.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from semcom.errors import SemcomError
from semcom.semantics.bit_allocation import (
    ALLOCATIONS,
    CATEGORY_RULES,
    categorize,
    paper_category_allocation,
    payload_bits,
    water_filling_allocation,
)
from semcom.semantics.fixed_point import (
    bits_to_codes,
    codes_to_bits,
    dequantize_fixed_point,
    expected_value,
    format_for_width,
    quantize_fixed_point,
)
from semcom.semantics.nuq_side_info import (
    AXIS_BITS,
    PayloadLayout,
    SideInfo,
    feature_categories,
    float16_down,
    float16_up,
    payload_layout,
)


def _layouts(payload: Tensor, sides: Sequence[SideInfo], shape: tuple[int, ...]) -> list[PayloadLayout]:
    """Each image's layout, checked against the ``(B, T)`` payload (SemcomError if it does not fit)."""
    if payload.dim() != 2 or payload.shape[0] != shape[0] or len(sides) != shape[0]:
        raise SemcomError(f"decode: bits {tuple(payload.shape)} and {len(sides)} side infos for shape {shape}")
    layouts = [payload_layout(side, shape[1:]) for side in sides]
    for layout in layouts:
        if layout.total_bits != payload.shape[1]:
            raise SemcomError(f"decode: side info needs {layout.total_bits} bits per image, got {payload.shape[1]}")
    return layouts


def dequantize_payload(bits: Tensor, sides: Sequence[SideInfo], shape: Sequence[int]) -> Tensor:
    """Features from hard payload bits and each image's side info.

    Args:
        bits: ``(B, T)`` 0/1 payload bits, ``T`` the length the side info describes.
        sides: one :class:`SideInfo` per image.
        shape: ``(B, ...)`` feature shape.

    Returns:
        float32 features of ``shape`` on the device of ``bits`` (0-bit features are 0).
    """
    shape, device = tuple(shape), bits.device
    layouts = _layouts(bits, sides, shape)
    bits, out = bits.cpu(), torch.zeros(shape, dtype=torch.float32)
    for b, layout in enumerate(layouts):
        hat = torch.zeros(layout.format_index.numel())
        for fmt, low, high, selected, positions in layout.groups():
            hat[selected] = dequantize_fixed_point(bits_to_codes(bits[b][positions], fmt), fmt, low, high)
        out[b] = hat.reshape(shape[1:])
    return out.to(device)


def soft_dequantize_payload(p_one: Tensor, sides: Sequence[SideInfo], shape: Sequence[int]) -> Tensor:
    """Features as each code word's expected value under independent bit posteriors
    (:func:`~semcom.semantics.fixed_point.expected_value`).

    Args:
        p_one: ``(B, T)`` probabilities ``P(bit = 1)`` of the payload bits.
        sides: one :class:`SideInfo` per image.
        shape: ``(B, ...)`` feature shape.

    Returns:
        float32 features of ``shape`` on the device of ``p_one``.
    """
    shape = tuple(shape)
    layouts = _layouts(p_one, sides, shape)
    p = p_one.detach().double().cpu()
    out = torch.zeros(shape, dtype=torch.float32)
    for b, layout in enumerate(layouts):
        hat = torch.zeros(layout.format_index.numel(), dtype=torch.float64)
        for fmt, low, high, selected, positions in layout.groups():
            hat[selected] = expected_value(p[b][positions], fmt, low, high)
        out[b] = hat.float().reshape(shape[1:])
    return out.to(p_one.device)


class _Quantizer(nn.Module):
    """Shared encode/decode of per-image side info and code words (planning and coding run
    on the CPU; ``forward`` returns on the features' device, ``decode`` on the bits')."""

    def _plan(self, x: Tensor, c: Tensor | None) -> SideInfo:  # pragma: no cover - abstract
        raise NotImplementedError

    def _budget_total(self, n: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _code(self, features: Tensor, contributions: Tensor | None, want_bits: bool):
        """Per image: plan the side info, then dequantized values or payload bits."""
        if not isinstance(features, Tensor) or features.dim() < 2 or not torch.is_floating_point(features):
            raise SemcomError("quantizer: features must be a (B, ...) float tensor")
        x = features.detach().cpu()
        if x[0].numel() == 0:
            raise SemcomError("quantizer: no features")
        if not bool(torch.isfinite(x).all()):
            raise SemcomError("quantizer: features contain NaN or inf")
        c = None if contributions is None else contributions.detach().cpu()
        if c is not None and (c.dim() < 2 or c.shape[0] != x.shape[0]):
            raise SemcomError(f"contributions {tuple(c.shape)} fit neither the features {tuple(x.shape)} "
                              f"nor (B, C)")
        sides = [self._plan(x[b], None if c is None else c[b]) for b in range(len(x))]
        rows = []
        for b, side in enumerate(sides):
            layout = payload_layout(side, x.shape[1:])
            flat = x[b].reshape(-1)
            if want_bits and layout.total_bits != self._budget_total(flat.numel()):
                raise SemcomError("quantizer: payload does not meet the budget (internal error)")
            row = torch.zeros(layout.total_bits if want_bits else flat.numel(),
                              dtype=torch.uint8 if want_bits else x.dtype)
            for fmt, low, high, selected, positions in layout.groups():  # 0-bit features stay 0
                words = quantize_fixed_point(flat[selected], fmt, low, high)
                if want_bits:
                    row[positions] = codes_to_bits(words, fmt)
                else:
                    row[selected] = dequantize_fixed_point(words, fmt, low, high).to(x.dtype)
            rows.append(row if want_bits else row.reshape(x.shape[1:]))
        return torch.stack(rows), sides

    def forward(self, features: Tensor, contributions: Tensor | None = None) -> tuple[Tensor, list[SideInfo]]:
        """Quantize-dequantize with a straight-through estimator (gradient = identity).

        Args:
            features: ``(B, ...)`` float features.
            contributions: per-element ``(B, ...)`` or per-channel ``(B, C)`` factors (NUQ).

        Returns:
            ``(features_hat, sides)``: shape of ``features``, equal to
            ``decode(*encode(..), shape)``, and one :class:`SideInfo` per image.
        """
        hat, sides = self._code(features, contributions, want_bits=False)
        return features + (hat.to(features.device) - features).detach(), sides

    def encode(self, features: Tensor, contributions: Tensor | None = None) -> tuple[Tensor, list[SideInfo]]:
        """Payload bits and side info.

        Returns:
            ``(bits, sides)``: ``(B, T)`` uint8 of 0/1 on the CPU, each feature's code word in
            flattened index order (``T`` = budget x features, exactly), and one
            :class:`SideInfo` per image.
        """
        return self._code(features, contributions, want_bits=True)

    def decode(self, bits: Tensor, side: Sequence[SideInfo], shape: Sequence[int]) -> Tensor:
        """:func:`dequantize_payload` (the side info alone describes the payload)."""
        return dequantize_payload(bits, side, shape)


def _category_ranges(x: Tensor, cat: Tensor, m: int) -> tuple[Tensor, Tensor]:
    """float16 ``(m,)`` ``|x|min`` (rounded down) and ``|x|max`` (rounded up) per category
    (0, 0 for an empty one)."""
    mag = x.reshape(-1).abs().float()
    highs = torch.zeros(m).scatter_reduce(0, cat, mag, "amax")
    lows = torch.full((m,), float("inf")).scatter_reduce(0, cat, mag, "amin")
    return float16_down(torch.where(torch.isfinite(lows), lows, 0.0)), float16_up(highs)


class NonUniformQuantizer(_Quantizer):
    """The paper's contribution-driven NUQ (see the module docstring).

    Args:
        budget_bits: average bits per feature (``budget_bits * n`` must be whole).
        categories: ``m``, the number of categories.
        allocation: ``"paper"`` (shares ``m : .. : 1``) or ``"water-filling"``.
        splits: ``{width: (sign, integer, fraction)}`` overriding the default splits.
        by: category rule of :func:`~semcom.semantics.bit_allocation.categorize` (``"count"`` or ``"mass"``).
        dim: the channel axis of ``(B, ...)`` features, for per-channel contributions
            (sent in the side info with each per-channel map).
        max_bits: the widest code word (<= 24).
    """

    def __init__(self, budget_bits: float, categories: int = 3, allocation: str = "paper",
                 splits: Mapping[int, Sequence[int]] | None = None, by: str = "count", dim: int = 1,
                 max_bits: int = 16) -> None:
        super().__init__()
        if allocation not in ALLOCATIONS or by not in CATEGORY_RULES:
            raise SemcomError(f"NUQ: allocation in {ALLOCATIONS} and by in {CATEGORY_RULES}, "
                              f"got {allocation!r}, {by!r}")
        if not 1 <= categories <= 255 or not 1 <= max_bits <= 24 or not 0 <= budget_bits <= max_bits:
            raise SemcomError(f"NUQ: need 1 <= categories <= 255, 1 <= max_bits <= 24 and 0 <= budget <= "
                              f"max_bits, got {categories}, {max_bits}, {budget_bits}")
        if categories == 1 and budget_bits != int(budget_bits):
            raise SemcomError("NUQ: one category needs a whole budget (its side info has no extra bits)")
        self.budget_bits, self.m, self.allocation = float(budget_bits), int(categories), allocation
        self.splits, self.by, self.dim, self.max_bits = dict(splits or {}), by, dim, int(max_bits)

    def _budget_total(self, n: int) -> int:
        return payload_bits(self.budget_bits, n)

    def _channel_axis(self, x: Tensor, c: Tensor | None) -> int | None:
        """The per-image channel axis when ``c`` is per channel, None when per element."""
        if not isinstance(c, Tensor):
            raise SemcomError("non-uniform quantizer: contributions are required")
        if c.shape == x.shape:
            return None
        axis = self.dim % (x.dim() + 1) - 1 if -(x.dim() + 1) <= self.dim <= x.dim() else -1
        if axis >= 0 and tuple(c.shape) == (x.shape[axis],):
            if axis >= 2 ** AXIS_BITS:
                raise SemcomError(f"NUQ: the channel axis {self.dim} is beyond the side info's {AXIS_BITS} bits")
            return axis
        raise SemcomError(f"contributions {(-1,) + tuple(c.shape)} fit neither the features "
                          f"{(-1,) + tuple(x.shape)} nor (B, C) with C on axis {self.dim}")

    def _plan(self, x: Tensor, c: Tensor | None) -> SideInfo:
        axis = self._channel_axis(x, c)
        if not bool(torch.isfinite(c).all()) or bool((c < 0).any()):
            raise SemcomError("NUQ: contributions must be finite and >= 0")
        units = categorize(c.reshape(1, -1), self.m, self.by)[0]
        cat = feature_categories(units, axis, x.shape)
        sizes = torch.bincount(cat, minlength=self.m)
        lows, highs = _category_ranges(x, cat, self.m)
        mass = torch.zeros(self.m, dtype=torch.float64).scatter_add(0, units, c.reshape(-1).double())
        if self.allocation == "paper":
            alloc = paper_category_allocation(mass, sizes, self._budget_total(x.numel()), self.max_bits)
        else:
            alloc = water_filling_allocation(mass / sizes.clamp_min(1), self.budget_bits, sizes,
                                             highs.float() - lows.float(), self.max_bits)
        formats = tuple(format_for_width(int(w), float(r), self.splits) for w, r in zip(alloc.widths, highs.float()))
        return SideInfo(formats, lows, highs, units if self.m > 1 else None, axis if self.m > 1 else None,
                        alloc.extra_index, alloc.extra_count)


class UniformQuantizer(_Quantizer):
    """The baseline: every feature at ``bits`` bits on one grid per image, from the image's
    ``[|x|min, |x|max]`` (side info: the split and the two float16 values, 51 bits).
    ``contributions`` are ignored."""

    def __init__(self, bits: int, splits: Mapping[int, Sequence[int]] | None = None) -> None:
        super().__init__()
        if not 0 <= int(bits) <= 24 or int(bits) != bits:
            raise SemcomError(f"uniform quantizer: bits must be a whole number in [0, 24], got {bits}")
        self.bits, self.splits = int(bits), dict(splits or {})

    def _budget_total(self, n: int) -> int:
        return self.bits * n

    def _plan(self, x: Tensor, c: Tensor | None) -> SideInfo:
        lows, highs = _category_ranges(x, torch.zeros(x.numel(), dtype=torch.long), 1)
        return SideInfo((format_for_width(self.bits, float(highs[0]), self.splits),), lows, highs)

