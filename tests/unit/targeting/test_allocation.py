"""Largest-remainder allocation and the floors rule (TARGETING.md §2), in minor units.

Hand-computed examples, then properties checked against an independent oracle: the exact
water-filling shares computed with fractions (every line gets ``min(capacity, r × weight)``
for the one level ``r`` that grants the amount, or all capacities when they cannot)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.targeting.allocation import allocate, half_up, largest_remainder


def test_the_spec_examples() -> None:
    # [30.00, 30.00, 40.00] sharing 10.01: exact 3.003, 3.003, 4.004; the cent left goes
    # to the largest remainder (the third line)
    assert largest_remainder(1001, [3000, 3000, 4000]) == [300, 300, 401]
    # three lines of 10.00 sharing 10.00: equal remainders go to the earlier line
    assert largest_remainder(1000, [1000, 1000, 1000]) == [334, 333, 333]


def test_two_units_left_go_to_the_two_largest_remainders_then_the_earlier() -> None:
    # 5 over [1, 1, 1, 1, 3] (of 7): exact 0.714 ×4 and 2.142; floors 0,0,0,0,2 leave 3
    # units: remainders .714 (lines 1-4, tie) beat .142, so lines 1, 2, 3 get one each
    assert largest_remainder(5, [1, 1, 1, 1, 3]) == [1, 1, 1, 0, 2]


def test_nothing_to_share_over() -> None:
    assert largest_remainder(500, [0, 0]) == [0, 0]
    assert largest_remainder(0, [10, 20]) == [0, 0]
    assert allocate(500, []) == []


def test_refuses_negative_amounts_and_weights() -> None:
    with pytest.raises(ValueError, match="negative amount"):
        largest_remainder(-1, [1])
    with pytest.raises(ValueError, match="never negative"):
        largest_remainder(1, [-1, 2])
    with pytest.raises(ValueError, match="one capacity per weight"):
        allocate(1, [1, 2], [1])


def test_a_line_that_would_pass_its_floor_takes_all_it_can_and_the_rest_is_reshared() -> None:
    # 9.00 over three lines of 10.00, the first able to take 1.00 only: exact shares 3.00
    # each; the first takes 1.00 and leaves; 8.00 is shared again over the other two
    assert allocate(900, [1000, 1000, 1000], [100, 1000, 1000]) == [100, 400, 400]


def test_resharing_repeats_until_no_share_passes() -> None:
    # round 1: 3.00 each, line 1 (cap 1.00) leaves; round 2: 8.00 over two = 4.00 each,
    # line 2 (cap 3.50) leaves; round 3: line 3 takes the 4.50 left
    assert allocate(900, [1000, 1000, 1000], [100, 350, 5000]) == [100, 350, 450]


def test_shares_are_rounded_only_after_the_floors() -> None:
    # 0.10 over [3.33, 3.33, 3.34], the first at its floor: round 1 drops it whole;
    # 0.10 is re-shared over [3.33, 3.34]: exact 0.0499 and 0.0501 -> 4 + 5 + the cent
    # left to the larger remainder (.99 of the second line): [0, 5, 5]. Rounding first
    # ([3, 3, 4]) and then moving the first line's 3 cents would give another answer.
    assert allocate(10, [333, 333, 334], [0, 1000, 1000]) == [0, 5, 5]


def test_what_no_line_can_take_is_not_granted() -> None:
    assert allocate(500, [1000, 1000], [100, 100]) == [100, 100]
    assert allocate(500, [1000, 1000], [0, 0]) == [0, 0]


def test_half_up() -> None:
    assert [half_up(n, 10) for n in (4, 5, 6, 14, 15, 25)] == [0, 1, 1, 1, 2, 3]
    assert half_up(1, 3) == 0 and half_up(2, 3) == 1


# ---- properties -------------------------------------------------------------------------


def water_fill(amount: int, weights: list[int], caps: list[int]) -> list[Fraction]:
    """The exact floors-rule shares, found independently: raise a level r until
    Σ min(cap_i, r w_i) is the amount (lines whose cap/weight is below r are full)."""
    live = [i for i, w in enumerate(weights) if w > 0]
    exact = [Fraction(0)] * len(weights)
    if sum(caps[i] for i in live) <= amount:
        for i in live:
            exact[i] = Fraction(caps[i])
        return exact
    full: set[int] = set()
    for i in sorted(live, key=lambda i: Fraction(caps[i], weights[i])):
        rest = [j for j in live if j not in full]
        level = Fraction(amount - sum(caps[j] for j in full), sum(weights[j] for j in rest))
        if Fraction(caps[i], weights[i]) >= level:
            for j in rest:
                exact[j] = level * weights[j]
            break
        full.add(i)
    for j in full:
        exact[j] = Fraction(caps[j])
    return exact


amounts = st.integers(0, 10**6)
weight_lists = st.lists(st.integers(0, 10**5), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(amounts, weight_lists)
def test_shares_sum_exactly_and_each_is_within_a_unit_of_its_exact_share(
    amount: int, weights: list[int]
) -> None:
    shares = largest_remainder(amount, weights)
    total = sum(weights)
    if total == 0:
        assert shares == [0] * len(weights)
        return
    assert sum(shares) == amount
    for share, weight in zip(shares, weights, strict=True):
        exact = Fraction(amount * weight, total)
        assert share in (int(exact), int(exact) + 1)
        assert share == exact or weight > 0


@settings(max_examples=300, deadline=None)
@given(amounts, st.data())
def test_floors_match_the_exact_water_filling(amount: int, data: st.DataObject) -> None:
    weights = data.draw(weight_lists)
    caps = [data.draw(st.integers(0, w)) for w in weights]  # a line takes at most its amount
    shares = allocate(amount, weights, caps)
    exact = water_fill(amount, weights, caps)
    for share, cap in zip(shares, caps, strict=True):
        assert 0 <= share <= cap
    granted = min(amount, sum(c for c, w in zip(caps, weights, strict=True) if w > 0))
    assert sum(shares) == granted
    for share, e in zip(shares, exact, strict=True):
        assert e - 1 < share < e + 1  # rounded only once the exact shares are known
