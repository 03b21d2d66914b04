"""Fixed point: formats, presets and the range rule, the paper's offset grid (exact on the
grid, error within half a step, clipping), sign-only formats at the mid magnitude, code
words' bits MSB first, and expected values under bit posteriors."""

from __future__ import annotations

import pytest
import torch

from semcom.errors import SemcomError
from semcom.semantics.fixed_point import (
    FixedPointFormat,
    bits_to_codes,
    codes_to_bits,
    dequantize_fixed_point,
    expected_value,
    format_for_width,
    grid_step,
    quantize_fixed_point,
)

FORMATS = [FixedPointFormat(1, 3, 1), FixedPointFormat(1, 1, 1), FixedPointFormat(1, 1, 0),
           FixedPointFormat(0, 2, 3), FixedPointFormat(1, 0, 7)]
LOW, HIGH = 0.3, 2.1  # a category's |x|min and |x|max


def test_format_properties_presets_and_rule() -> None:
    f = FixedPointFormat(1, 3, 1)
    assert (f.total_bits, f.magnitude_bits, f.max_code) == (5, 4, 15)
    assert FixedPointFormat(1, 0, 0).max_code == 0
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


def test_the_grid_is_the_papers_offset_grid() -> None:
    # Delta = (|x|max - |x|min) / (2**(i+f) - 1), values |x|min + q Delta, for either sign
    fmt = FixedPointFormat(1, 1, 1)
    step = (HIGH - LOW) / 3
    assert float(grid_step(fmt, LOW, HIGH)) == pytest.approx(step)
    words = torch.arange(8)  # sign bit, then q in 2 bits
    want = torch.tensor([LOW, LOW + step, LOW + 2 * step, HIGH, -LOW, -LOW - step, -LOW - 2 * step, -HIGH])
    torch.testing.assert_close(dequantize_fixed_point(words, fmt, LOW, HIGH), want.float())
    # |x|min itself is on the grid and is not 0: the offset is there, and +lo and -lo differ
    got = quantize_fixed_point(torch.tensor([LOW, -LOW, HIGH, -HIGH]), fmt, LOW, HIGH)
    assert got.tolist() == [0, 4, 3, 7]
    # the integer and fraction parts are the high and low magnitude bits (the paper's L(b_k2))
    assert codes_to_bits(torch.tensor([6]), fmt).tolist() == [[1, 1, 0]]  # negative, int 1, frac 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_exact_on_the_grid_and_within_half_a_step(fmt: FixedPointFormat, gen: torch.Generator) -> None:
    words = torch.arange(2 ** fmt.total_bits)
    values = dequantize_fixed_point(words, fmt, LOW, HIGH)
    assert torch.equal(quantize_fixed_point(values, fmt, LOW, HIGH), words)  # exact on the grid
    magnitude = LOW + (HIGH - LOW) * torch.rand(2000, generator=gen)
    sign = torch.where(torch.rand(2000, generator=gen) < 0.5, -1.0, 1.0) if fmt.sign_bits else 1.0
    x = sign * magnitude
    err = (dequantize_fixed_point(quantize_fixed_point(x, fmt, LOW, HIGH), fmt, LOW, HIGH) - x).abs()
    assert err.max() <= float(grid_step(fmt, LOW, HIGH)) / 2 + 1e-6
    assert err.max() > float(grid_step(fmt, LOW, HIGH)) / 4  # the bound is tight, not slack
    outside = torch.tensor([HIGH * 1.5, HIGH + 10.0, 0.0])
    clipped = dequantize_fixed_point(quantize_fixed_point(outside, fmt, LOW, HIGH), fmt, LOW, HIGH)
    torch.testing.assert_close(clipped, torch.tensor([HIGH, HIGH, LOW]))


def test_enough_bits_reproduce_values_on_the_grid_exactly() -> None:
    fmt = FixedPointFormat(1, 4, 4)  # 255 steps
    step = (HIGH - LOW) / 255
    q = torch.tensor([0, 1, 77, 254, 255])
    x = torch.cat([LOW + q * step, -(LOW + q * step)]).double().float()
    back = dequantize_fixed_point(quantize_fixed_point(x, fmt, LOW, HIGH), fmt, LOW, HIGH)
    torch.testing.assert_close(back, x, rtol=0, atol=1e-6)


def test_a_sign_only_code_reconstructs_at_the_mid_magnitude() -> None:
    fmt = FixedPointFormat(1, 0, 0)  # a category given 1 bit
    x = torch.tensor([0.4, -1.9, 2.0, -0.3])
    words = quantize_fixed_point(x, fmt, LOW, HIGH)
    assert words.tolist() == [0, 1, 0, 1] and float(grid_step(fmt, LOW, HIGH)) == 0.0
    mid = (LOW + HIGH) / 2
    torch.testing.assert_close(dequantize_fixed_point(words, fmt, LOW, HIGH), torch.tensor([mid, -mid, mid, -mid]))
    # every magnitude in the range is within half the range of its reconstruction
    err = (dequantize_fixed_point(words, fmt, LOW, HIGH) - x).abs()
    assert err.max() <= (HIGH - LOW) / 2 + 1e-6
    # a code without any bit carries nothing: 0
    none = FixedPointFormat(0, 0, 0)
    assert dequantize_fixed_point(quantize_fixed_point(x, none, LOW, HIGH), none, LOW, HIGH).abs().sum() == 0


def test_bad_ranges_and_words_are_refused() -> None:
    fmt = FixedPointFormat(1, 2, 1)
    with pytest.raises(SemcomError, match="NaN"):
        quantize_fixed_point(torch.tensor([0.0, float("nan")]), fmt, LOW, HIGH)
    with pytest.raises(SemcomError, match="low <= high"):
        quantize_fixed_point(torch.tensor([0.0]), fmt, 2.0, 1.0)
    with pytest.raises(SemcomError, match="low >= 0"):
        dequantize_fixed_point(torch.tensor([0]), fmt, -1.0, 1.0)
    with pytest.raises(SemcomError, match="outside"):
        dequantize_fixed_point(torch.tensor([2 ** fmt.total_bits]), fmt, LOW, HIGH)


@pytest.mark.parametrize("fmt", FORMATS)
def test_codes_bits_round_trip(fmt: FixedPointFormat) -> None:
    words = torch.arange(2 ** fmt.total_bits)
    bits = codes_to_bits(words, fmt)
    assert bits.shape == (len(words), fmt.total_bits) and bits.dtype == torch.uint8
    assert torch.equal(bits_to_codes(bits, fmt), words)
    assert set(bits.unique().tolist()) <= {0, 1}


def test_bit_layout_is_sign_magnitude_msb_first() -> None:
    fmt = FixedPointFormat(1, 2, 1)
    words = quantize_fixed_point(torch.tensor([1.5, -1.5, 0.0]), fmt, 0.0, 3.5)  # step 0.5: q = 3, 3, 0
    assert codes_to_bits(words, fmt).tolist() == [[0, 0, 1, 1], [1, 0, 1, 1], [0, 0, 0, 0]]
    assert codes_to_bits(torch.tensor([6]), FixedPointFormat(0, 3, 0)).tolist() == [[1, 1, 0]]
    with pytest.raises(SemcomError):
        bits_to_codes(torch.tensor([[0, 2, 1]], dtype=torch.uint8), FixedPointFormat(0, 3, 0))


@pytest.mark.parametrize("fmt", FORMATS + [FixedPointFormat(1, 0, 0)])
def test_expected_value_is_exact_for_independent_bits(fmt: FixedPointFormat, gen: torch.Generator) -> None:
    p = torch.rand(5, fmt.total_bits, generator=gen, dtype=torch.float64)
    words = torch.arange(2 ** fmt.total_bits)
    values = dequantize_fixed_point(words, fmt, LOW, HIGH).double()
    bits = codes_to_bits(words, fmt).double()  # (W, b)
    prob = (p[:, None, :] * bits + (1 - p[:, None, :]) * (1 - bits)).prod(dim=-1)  # (5, W)
    torch.testing.assert_close(expected_value(p, fmt, LOW, HIGH), prob @ values)
    # certain bits give the word's value
    hard = codes_to_bits(words, fmt).double()
    torch.testing.assert_close(expected_value(hard, fmt, LOW, HIGH).float(), values.float())
