"""Sharing an amount over lines in whole minor units (TARGETING.md §2): pure, integers only.

Every amount here is an ``int`` of the currency's minor units (cents for USD, yen for
JPY, fils for KWD), so no step can lose a unit to binary or decimal rounding. Shares are
proportional to the lines' weights (their current amounts) by the largest-remainder
method: each line gets the whole part of its exact share, and the units left over go,
one each, to the lines with the largest remainders — equal remainders to the earlier
line. The shares always sum to the amount exactly.

With capacities (what each line can take before its floor: ``min_price`` × quantity, or
zero), a line whose *exact* share would pass its capacity takes all it can and leaves the
set; what is left is shared again, from scratch, over the lines still in the set, until
no exact share passes; only then are the remaining shares rounded. Every line removed in
a round would also be removed in any later round (removing lines that could not take
their share raises everyone else's), so removing them all at once gives the same answer
as removing them one by one. What no line can take is not granted.
"""

from __future__ import annotations

from collections.abc import Sequence


def half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` (both >= 0, denominator > 0) rounded half-up."""
    return (2 * numerator + denominator) // (2 * denominator)


def largest_remainder(amount: int, weights: Sequence[int]) -> list[int]:
    """``amount`` shared proportionally to ``weights`` (all >= 0); sums to ``amount``
    exactly unless every weight is zero (then nothing is shared: there is no proportion
    to follow)."""
    if amount < 0:
        raise ValueError(f"cannot allocate a negative amount ({amount})")
    total = sum(weights)
    if amount == 0 or total == 0:
        return [0] * len(weights)
    shares: list[int] = []
    remainders: list[int] = []
    for weight in weights:
        if weight < 0:
            raise ValueError(f"allocation weights are amounts, never negative ({weight})")
        share, remainder = divmod(amount * weight, total)
        shares.append(share)
        remainders.append(remainder)
    left = amount - sum(shares)
    if left:
        # left < the number of non-zero remainders, so only lines with a fractional
        # share get a unit: a line whose exact share is whole never gets one more
        for i in sorted(range(len(shares)), key=lambda i: (-remainders[i], i))[:left]:
            shares[i] += 1
    return shares


def allocate(
    amount: int, weights: Sequence[int], capacities: Sequence[int] | None = None
) -> list[int]:
    """``amount`` over lines proportional to ``weights``, no line's share above its
    capacity (the floors rule of §2). Returns one share per line; their sum is
    ``amount``, or less when the lines cannot take it all."""
    if capacities is None:
        return largest_remainder(amount, weights)
    if len(capacities) != len(weights):
        raise ValueError("one capacity per weight")
    if amount < 0:
        raise ValueError(f"cannot allocate a negative amount ({amount})")
    shares = [0] * len(weights)
    active = [i for i, w in enumerate(weights) if w > 0]
    left = amount
    while active and left > 0:
        total = sum(weights[i] for i in active)
        # exact share left * w / total passes capacity c  <=>  left * w > c * total
        over = {i for i in active if left * weights[i] > max(capacities[i], 0) * total}
        if not over:
            break
        for i in over:
            shares[i] = max(capacities[i], 0)
            left -= shares[i]
        active = [i for i in active if i not in over]
    if active and left > 0:
        for i, share in zip(
            active, largest_remainder(left, [weights[i] for i in active]), strict=True
        ):
            shares[i] = share
    return shares
