"""Bit allocation: the paper's shares and reverse water filling meet the budget exactly,
and categories by count and by mass."""

from __future__ import annotations

import pytest
import torch

from semcom.errors import SemcomError
from semcom.semantics.bit_allocation import categorize, paper_allocation, water_filling_allocation


def test_paper_allocation_meets_budget_exactly() -> None:
    assert paper_allocation(10).tolist() == [5, 3, 2]  # the paper's 10-bit example
    assert paper_allocation(6).tolist() == [3, 2, 1]
    for m in (1, 2, 3, 4, 5):
        for budget in range(0, min(41, 16 * m + 1)):
            w = paper_allocation(budget, m)
            assert int(w.sum()) == budget and len(w) == m
            assert (w[:-1] >= w[1:]).all()  # more important categories never get fewer bits
    with pytest.raises(SemcomError, match="exceeds"):
        paper_allocation(60, 3)


def test_water_filling_follows_the_formula_and_meets_budget(gen: torch.Generator) -> None:
    # contributions 4x apart: b = 0.5 log2(c) + const differs by exactly 1 bit
    c = torch.tensor([256.0, 64.0, 16.0, 4.0, 1.0])
    assert water_filling_allocation(c, 6).widths.tolist() == [8, 7, 6, 5, 4]
    # a range twice as wide is worth one more bit
    assert water_filling_allocation(torch.ones(3), 5, ranges=torch.tensor([4.0, 2.0, 1.0])).widths.tolist() == [6, 5, 4]
    # zero contribution: no bits while the others are below max_bits
    assert water_filling_allocation(torch.tensor([1.0, 1.0, 0.0]), 4).widths.tolist() == [6, 6, 0]
    assert water_filling_allocation(torch.tensor([1.0, 1.0, 0.0]), 12, max_bits=16).widths.tolist() == [16, 16, 4]
    for budget in (2, 6, 8, 10):
        contrib = torch.rand(37, generator=gen) ** 3
        alloc = water_filling_allocation(contrib, budget)
        assert alloc.total_bits() == budget * 37 and alloc.extra_count == 0
        order = torch.argsort(contrib, descending=True)
        assert (alloc.widths[order][:-1] >= alloc.widths[order][1:]).all()  # larger c, more bits
        assert alloc.widths[order[0]] > alloc.widths[order[-1]]
        sizes = torch.randint(1, 50, (4,), generator=gen)
        grouped = water_filling_allocation(contrib[:4], budget, sizes=sizes)
        assert grouped.total_bits(sizes) == budget * int(sizes.sum())
    with pytest.raises(SemcomError, match="whole number"):
        water_filling_allocation(torch.ones(3), 7.5)
    with pytest.raises(SemcomError, match="exceeds"):
        water_filling_allocation(torch.ones(3), 17)


def test_categorize_count_and_mass(gen: torch.Generator) -> None:
    c = torch.tensor([[0.05, 0.3, 0.1, 0.2, 0.0, 0.15, 0.05, 0.1, 0.02, 0.03]])
    cats = categorize(c, 3)
    assert torch.bincount(cats[0]).tolist() == [4, 3, 3]
    assert cats[0, 1] == 0 and cats[0, 3] == 0 and cats[0, 4] == 2
    ranked = torch.argsort(c[0], descending=True, stable=True)
    assert (cats[0][ranked][:-1] <= cats[0][ranked][1:]).all()
    mass = categorize(torch.tensor([[0.8, 0.1, 0.05, 0.05]]), 3, by="mass")
    assert mass.tolist() == [[0, 2, 2, 2]]  # the first feature alone holds over 2/3 of the mass
    two = torch.rand(2, 5, 6, generator=gen)
    both = categorize(two, 4)
    assert torch.equal(both[1:], categorize(two[1:], 4)) and both.shape == two.shape
    with pytest.raises(SemcomError):
        categorize(torch.tensor([[1.0, float("nan")]]), 2)
