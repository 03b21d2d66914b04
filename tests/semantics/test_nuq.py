"""Feature-driven NUQ quantizers: payloads that meet the budget exactly, the paper's
example, side-info bytes and size, the straight-through estimator, bit errors, and the
property that NUQ with gradient contributions beats uniform quantization at the same
payload (fixed point and allocations: ``test_fixed_point.py``, ``test_bit_allocation.py``)."""

from __future__ import annotations

import math
from typing import Callable

import pytest
import torch

from semcom.errors import SemcomError
from semcom.semantics.contribution import gradient_contribution, magnitude_contribution
from semcom.semantics.fixed_point import FixedPointFormat, grid_step
from semcom.semantics.nuq import NonUniformQuantizer, UniformQuantizer, dequantize_payload
from semcom.semantics.nuq_side_info import SideInfo, feature_categories, payload_layout


@pytest.mark.parametrize("allocation", ["paper", "water-filling"])
@pytest.mark.parametrize("by", ["count", "mass"])
@pytest.mark.parametrize("m", [2, 3, 4])
def test_payload_meets_budget_exactly(allocation: str, by: str, m: int, gen: torch.Generator) -> None:
    x = torch.randn(2, 7, 11, generator=gen)  # 77 features: not divisible by 2, 3 or 4
    c = magnitude_contribution(x) ** 2
    for budget in (6, 8, 10):
        q = NonUniformQuantizer(budget, categories=m, allocation=allocation, by=by)
        bits, sides = q.encode(x, c)
        assert bits.shape == (2, budget * 77)
        assert len(sides) == 2 and all(len(s.formats) == m for s in sides)
        hat = q.decode(bits, sides, x.shape)
        torch.testing.assert_close(hat, q(x, c)[0])  # forward == decode(encode)


def test_paper_example_widths_and_splits(gen: torch.Generator) -> None:
    x = torch.randn(1, 30, generator=gen)
    q = NonUniformQuantizer(10 / 3)  # the paper's 10 bits = the sum of the 3 category widths
    bits, (side,) = q.encode(x, torch.full_like(x, 1 / 30))  # equal category masses: shares 3:2:1
    assert bits.shape == (1, 100) and side.extra_count == 0
    assert side.formats == (FixedPointFormat(1, 3, 1), FixedPointFormat(1, 1, 1), FixedPointFormat(1, 1, 0))


def test_paper_widths_follow_each_images_contributions(gen: torch.Generator) -> None:
    x = torch.randn(1, 30, generator=gen)
    q = NonUniformQuantizer(10 / 3)
    equal = q.encode(x, torch.full_like(x, 1 / 30))[1][0].formats
    skewed_c = torch.cat([torch.full((1, 10), 0.09), torch.full((1, 20), 0.005)], dim=1)  # 90 % in the top third
    skewed = q.encode(x, skewed_c)[1][0].formats
    widths = [f.total_bits for f in skewed]
    assert [f.total_bits for f in equal] == [5, 3, 2] and sum(widths) == 10
    assert widths[0] > 5 and widths[2] < 2  # more of the budget to the dominant category


def test_side_info_round_trip_and_size(gen: torch.Generator) -> None:
    x = torch.randn(2, 6, 10, generator=gen)
    cases = [(NonUniformQuantizer(8), magnitude_contribution(x), 60, None),
             (NonUniformQuantizer(6, allocation="water-filling", by="mass"), magnitude_contribution(x), 60, None),
             (NonUniformQuantizer(7, categories=4), magnitude_contribution(x, granularity="channel"), 6, 0)]
    for q, c, units, axis in cases:
        bits, sides = q.encode(x, c)
        for side in sides:
            m, map_bits = len(side.formats), math.ceil(math.log2(len(side.formats)))
            # m, map kind (+ channel axis), map length; per category split + float16
            # |x|min and |x|max; extra (category, count); the map
            axis_bits = 0 if axis is None else 4
            assert side.num_bits() == 8 + 1 + axis_bits + 32 + m * (11 + 32) + map_bits + 32 + units * map_bits
            data = side.to_bytes()
            assert len(data) == math.ceil(side.num_bits() / 8)
            back = SideInfo.from_bytes(data)
            assert back.to_bytes() == data and back.formats == side.formats and back.channel_axis == axis
            assert torch.equal(back.lows, side.lows) and torch.equal(back.highs, side.highs)
            assert torch.equal(back.categories, side.categories)
        parsed = [SideInfo.from_bytes(s.to_bytes()) for s in sides]
        assert torch.equal(q.decode(bits, parsed, x.shape), q.decode(bits, sides, x.shape))
    u = UniformQuantizer(8)
    bits, (side,) = u.encode(x[:1])
    assert side.num_bits() == 51 and SideInfo.from_bytes(side.to_bytes()).to_bytes() == side.to_bytes()
    # float16 range rounded outwards: nothing inside the image clips
    assert float(side.highs[0]) >= float(x[0].abs().max()) and float(side.lows[0]) <= float(x[0].abs().min())


def test_side_info_rejects_truncated_and_corrupt_bytes(gen: torch.Generator) -> None:
    x = torch.randn(1, 3, 10, generator=gen)
    _, (side,) = NonUniformQuantizer(8).encode(x, magnitude_contribution(x))
    data = side.to_bytes()
    with pytest.raises(SemcomError, match="truncated"):
        SideInfo.from_bytes(data[:-3])
    with pytest.raises(SemcomError, match="truncated"):
        SideInfo.from_bytes(b"")
    with pytest.raises(SemcomError, match="length"):
        SideInfo.from_bytes(data + b"\x00")
    with pytest.raises(SemcomError, match="no category"):
        SideInfo.from_bytes(b"\x00" + data[1:])
    bad_map = SideInfo(side.formats, side.lows, side.highs, torch.full((30,), 3))  # 2-bit entry 3 with m = 3
    with pytest.raises(SemcomError, match="category out of range"):
        SideInfo.from_bytes(bad_map.to_bytes())
    nan_range = SideInfo(side.formats, side.lows, torch.tensor([1.0, float("nan"), 1.0]).half(), side.categories)
    with pytest.raises(SemcomError, match="range"):
        SideInfo.from_bytes(nan_range.to_bytes())
    inverted = SideInfo(side.formats, side.highs + 1, side.highs, side.categories)  # |x|min > |x|max
    with pytest.raises(SemcomError, match="range"):
        SideInfo.from_bytes(inverted.to_bytes())
    with pytest.raises(SemcomError, match="map entries"):  # a per-element map for another shape
        payload_layout(side, (3, 11))


def test_the_side_bytes_alone_rebuild_the_payload_layout_and_values(gen: torch.Generator) -> None:
    # (B, N, C) tokens with per-channel categories on the last axis: the receiver knows
    # only the per-image shape; the map kind and its axis come from the bytes
    x = torch.randn(2, 9, 5, generator=gen)
    q = NonUniformQuantizer(6, dim=-1)
    bits, sides = q.encode(x, magnitude_contribution(x, granularity="channel", dim=-1))
    parsed = [SideInfo.from_bytes(s.to_bytes()) for s in sides]
    assert all(p.channel_axis == 1 and p.categories.numel() == 5 for p in parsed)
    want = q.decode(bits, sides, x.shape)
    assert torch.equal(dequantize_payload(bits, parsed, x.shape), want)
    assert torch.equal(NonUniformQuantizer(6, dim=1).decode(bits, parsed, x.shape), want)  # no dim needed
    # a per-channel map labels whole channels: every feature of a channel has its category
    cat = feature_categories(parsed[0].categories, parsed[0].channel_axis, x.shape[1:]).reshape(9, 5)
    assert torch.equal(cat, parsed[0].categories.expand(9, 5))
    # per element: the kind says so, and 4 bits of axis are not sent
    _, (element,) = q.encode(x[:1], magnitude_contribution(x[:1]))
    assert SideInfo.from_bytes(element.to_bytes()).channel_axis is None
    assert sides[0].num_bits() - element.num_bits() == 4 + 2 * (5 - 45)


def test_each_category_is_quantized_on_its_offset_grid(gen: torch.Generator) -> None:
    # the paper: |x| - |x_k|min in steps of (|x_k|max - |x_k|min) / (2**b - 1), plus |x_k|min
    magnitude = 2.0 + torch.rand(1, 4, 25, generator=gen)
    x = torch.where(torch.rand(1, 4, 25, generator=gen) < 0.5, -magnitude, magnitude)
    q = NonUniformQuantizer(4)
    bits, (side,) = q.encode(x, magnitude_contribution(x))
    hat = q.decode(bits, [side], x.shape).flatten().double()
    layout = payload_layout(side, x.shape[1:])
    flat = x.flatten().double()
    for j, fmt in enumerate(layout.formats):
        sel = layout.format_index == j
        lo, hi = layout.lows[j], layout.highs[j]
        assert lo > 1.9  # the features keep away from 0: the offset matters
        assert bool((hat[sel].abs() >= lo - 1e-6).all() & (hat[sel].abs() <= hi + 1e-6).all())
        assert torch.equal(torch.sign(hat[sel]), torch.sign(flat[sel]))
        bound = float(grid_step(fmt, lo, hi)) / 2 if fmt.max_code else (hi - lo) / 2
        assert (hat[sel] - flat[sel]).abs().max() <= bound + 1e-3


def test_a_one_bit_category_sends_the_sign_of_its_mid_magnitude(gen: torch.Generator) -> None:
    x = torch.randn(1, 30, generator=gen)
    q = NonUniformQuantizer(2)  # equal masses, shares 3:2:1 of 6 bits: widths 3, 2, 1
    bits, (side,) = q.encode(x, torch.full_like(x, 1 / 30))
    assert [f.total_bits for f in side.formats] == [3, 2, 1]
    hat = q.decode(bits, [side], x.shape).flatten()
    last = feature_categories(side.categories, None, x.shape[1:]) == 2
    mid = float(side.lows[2] + side.highs[2]) / 2
    assert mid > 0
    torch.testing.assert_close(hat[last], torch.sign(x.flatten()[last]) * mid)
    # the charged bit is worth something: closer than sending nothing (decoding as 0)
    assert (hat[last] - x.flatten()[last]).pow(2).sum() < x.flatten()[last].pow(2).sum()


def test_straight_through_gradient_is_identity(gen: torch.Generator) -> None:
    x = torch.randn(2, 4, 9, generator=gen).requires_grad_(True)
    g = torch.randn(2, 4, 9, generator=gen)
    for q, c in ((NonUniformQuantizer(4), magnitude_contribution(x.detach())), (UniformQuantizer(3), None)):
        x.grad = None
        hat, _ = q(x, c)
        assert not torch.equal(hat.detach(), x.detach())  # the forward really quantizes
        (hat * g).sum().backward()
        torch.testing.assert_close(x.grad, g)


def test_single_bit_error_changes_one_value(gen: torch.Generator) -> None:
    x = torch.randn(1, 3, 8, generator=gen)
    bits_u = 5
    u = UniformQuantizer(bits_u)
    bits, sides = u.encode(x)
    clean = u.decode(bits, sides, x.shape).flatten()
    for pos in range(bits.shape[1]):
        flipped = bits.clone()
        flipped[0, pos] ^= 1
        changed = torch.nonzero(u.decode(flipped, sides, x.shape).flatten() != clean).flatten().tolist()
        sign_of_zero = pos % bits_u == 0 and clean[pos // bits_u] == 0
        assert changed == ([] if sign_of_zero else [pos // bits_u])
    q = NonUniformQuantizer(6, allocation="water-filling")
    bits, sides = q.encode(x, gradient_contribution(x, lambda f: (f ** 4).flatten(1).sum(1)))
    clean = q.decode(bits, sides, x.shape)
    counts = []
    for pos in range(bits.shape[1]):
        flipped = bits.clone()
        flipped[0, pos] ^= 1
        counts.append(int((q.decode(flipped, sides, x.shape) != clean).sum()))
    assert set(counts) <= {0, 1} and counts.count(0) <= x.numel()  # at most a sign bit of a zero per feature


def test_quantizer_errors(gen: torch.Generator) -> None:
    x = torch.randn(2, 3, 5, generator=gen)
    bad = x.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(SemcomError, match="NaN"):
        NonUniformQuantizer(8).encode(bad, magnitude_contribution(x))
    with pytest.raises(SemcomError, match="NaN"):
        UniformQuantizer(8)(bad)
    with pytest.raises(SemcomError, match="contributions are required"):
        NonUniformQuantizer(8).encode(x)
    with pytest.raises(SemcomError, match="fit neither"):
        NonUniformQuantizer(8).encode(x, torch.rand(2, 5))
    with pytest.raises(SemcomError, match="whole number"):
        NonUniformQuantizer(7.1).encode(x, magnitude_contribution(x))
    with pytest.raises(SemcomError):
        NonUniformQuantizer(8, allocation="greedy")
    with pytest.raises(SemcomError, match="whole budget"):
        NonUniformQuantizer(7.5, categories=1)
    one = NonUniformQuantizer(8, categories=1)  # one category: the uniform quantizer's numbers
    bits, sides = one.encode(x, magnitude_contribution(x))
    u_bits, u_sides = UniformQuantizer(8).encode(x)
    assert torch.equal(bits, u_bits) and sides[0].to_bytes() == u_sides[0].to_bytes()
    bits, sides = UniformQuantizer(8).encode(x)
    with pytest.raises(SemcomError, match="needs"):
        UniformQuantizer(8).decode(bits[:, :-1], sides, x.shape)


def _toy(seed: int) -> tuple[torch.Tensor, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """Gaussian features whose true importance is known: ``loss = sum w_c (x_hat - x)^2``
    with channel weights from 1e-2 to 1e2; the decoder's own residual ``e`` makes the
    loss's gradient at the features, ``2 w e``, non-zero (as in a trained system)."""
    g = torch.Generator().manual_seed(seed)
    channels, positions = 24, 64
    w = torch.logspace(-2, 2, channels)[torch.randperm(channels, generator=g)].view(1, channels, 1)
    std = torch.exp(torch.empty(channels).uniform_(-0.7, 0.7, generator=g)).view(1, channels, 1)
    x = torch.randn(2, channels, positions, generator=g) * std
    e = 0.1 * torch.randn(2, channels, positions, generator=g)
    return x, w, lambda f: (w * (f + e - x) ** 2).flatten(1).sum(dim=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_property_nuq_beats_uniform_at_equal_bits(seed: int) -> None:
    x, w, loss = _toy(seed)
    n = x[0].numel()

    def wmse(q, c):
        """Weighted MSE after encode/decode, payload bits per image, side-info bits."""
        bits, sides = q.encode(x, c)
        return float((w * (q.decode(bits, sides, x.shape) - x) ** 2).mean()), bits.shape[1], sides[0].num_bits()

    for granularity in ("channel", "element"):
        c = gradient_contribution(x, loss, granularity=granularity)
        for budget in (6, 8, 10):
            uniform, u_payload, u_side = wmse(UniformQuantizer(budget), None)
            water, w_payload, _ = wmse(NonUniformQuantizer(budget, allocation="water-filling"), c)
            paper, p_payload, _ = wmse(NonUniformQuantizer(budget, allocation="paper"), c)
            assert u_payload == w_payload == p_payload == budget * n  # the same total bits
            assert water <= uniform and water <= paper
            # (the paper's linear rule may lose to uniform here: with weights over four
            # decades the top category's mass takes most of the bits; the optimum does not)
            if granularity == "channel":  # charge the side info too: NUQ gets fewer payload bits
                probe = NonUniformQuantizer(budget, allocation="water-filling").encode(x, c)[1][0].num_bits()
                total = budget * n - (probe - u_side)
                nuq = NonUniformQuantizer(total / n, allocation="water-filling")
                charged, payload, side_bits = wmse(nuq, c)
                assert payload + side_bits <= u_payload + u_side and charged <= uniform
