"""Fixed point: formats, presets and the range rule, grid round trips, bounded error,
clipping, and sign-magnitude bits MSB first."""

from __future__ import annotations

import pytest
import torch

from semcom.errors import SemcomError
from semcom.semantics.fixed_point import (
    FixedPointFormat,
    bits_to_codes,
    codes_to_bits,
    dequantize_fixed_point,
    format_for_width,
    quantize_fixed_point,
)

FORMATS = [FixedPointFormat(1, 3, 1), FixedPointFormat(1, 1, 1), FixedPointFormat(1, 1, 0),
           FixedPointFormat(0, 2, 3), FixedPointFormat(1, 0, 7)]


def test_format_properties_presets_and_rule() -> None:
    f = FixedPointFormat(1, 3, 1)
    assert (f.total_bits, f.step, f.max_code, f.max_value, f.min_code) == (5, 0.5, 15, 7.5, -15)
    assert FixedPointFormat(0, 2, 3).min_code == 0 and FixedPointFormat(0, 2, 3).max_value == 4 - 1 / 8
    assert [FixedPointFormat.preset(b) for b in (5, 3, 2)] == [f, FixedPointFormat(1, 1, 1), FixedPointFormat(1, 1, 0)]
    assert FixedPointFormat.for_range(5, 3.0) == FixedPointFormat(1, 2, 2)  # 2**2 - 1/4 >= 3 > 2 - 1/8
    assert FixedPointFormat.for_range(8, 0.4) == FixedPointFormat(1, 0, 7)
    assert FixedPointFormat.for_range(4, 100.0) == FixedPointFormat(1, 3, 0)  # cannot cover: all integer
    for bad in ((2, 1, 1), (1, -1, 2), (1, 20, 20)):
        with pytest.raises(SemcomError):
            FixedPointFormat(*bad)
    with pytest.raises(SemcomError):
        FixedPointFormat.preset(4)


def test_format_for_width_prefers_splits_then_presets_then_range() -> None:
    assert format_for_width(5, 100.0) == FixedPointFormat(1, 3, 1)  # the paper's preset
    assert format_for_width(5, 3.0, {5: (1, 1, 3)}) == FixedPointFormat(1, 1, 3)
    assert format_for_width(4, 0.4) == FixedPointFormat.for_range(4, 0.4)
    assert format_for_width(0, 1.0) == FixedPointFormat(0, 0, 0)
    with pytest.raises(SemcomError, match="does not have"):
        format_for_width(4, 1.0, {4: (1, 1, 1)})


@pytest.mark.parametrize("fmt", FORMATS)
def test_fixed_point_round_trip_error_and_clipping(fmt: FixedPointFormat, gen: torch.Generator) -> None:
    scale = 0.37
    codes = torch.arange(fmt.min_code, fmt.max_code + 1)
    values = dequantize_fixed_point(codes, fmt, scale)
    assert torch.equal(quantize_fixed_point(values, fmt, scale), codes)  # exact on the grid
    torch.testing.assert_close(dequantize_fixed_point(quantize_fixed_point(values, fmt, scale), fmt, scale), values)
    top = fmt.max_value * scale
    low = -top if fmt.sign_bits else 0.0
    x = low + (top - low) * torch.rand(2000, generator=gen)
    err = (dequantize_fixed_point(quantize_fixed_point(x, fmt, scale), fmt, scale) - x).abs()
    assert err.max() <= fmt.step * scale / 2 + 1e-6
    outside = torch.tensor([top * 1.5, top + 10.0, -top - 3.0])
    clipped = dequantize_fixed_point(quantize_fixed_point(outside, fmt, scale), fmt, scale)
    torch.testing.assert_close(clipped, torch.tensor([top, top, low]))
    with pytest.raises(SemcomError, match="NaN"):
        quantize_fixed_point(torch.tensor([0.0, float("nan")]), fmt)
    with pytest.raises(SemcomError, match="outside"):
        dequantize_fixed_point(torch.tensor([fmt.max_code + 1]), fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_codes_bits_round_trip(fmt: FixedPointFormat) -> None:
    codes = torch.arange(fmt.min_code, fmt.max_code + 1)
    bits = codes_to_bits(codes, fmt)
    assert bits.shape == (len(codes), fmt.total_bits) and bits.dtype == torch.uint8
    assert torch.equal(bits_to_codes(bits, fmt), codes)
    assert set(bits.unique().tolist()) <= {0, 1}


def test_bit_layout_is_sign_magnitude_msb_first() -> None:
    assert codes_to_bits(torch.tensor([5, -5, 1]), FixedPointFormat(1, 2, 1)).tolist() == [
        [0, 1, 0, 1], [1, 1, 0, 1], [0, 0, 0, 1]]
    assert codes_to_bits(torch.tensor([6]), FixedPointFormat(0, 3, 0)).tolist() == [[1, 1, 0]]
    with pytest.raises(SemcomError):
        bits_to_codes(torch.tensor([[0, 2, 1]], dtype=torch.uint8), FixedPointFormat(0, 3, 0))
