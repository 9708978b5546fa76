"""What one promotion's benefit takes off the cart as it is now (TARGETING.md §4): pure.

Amounts are whole minor units (:class:`~segmint.targeting.cart.Working`). A unit's current
price is its line's current amount divided by its quantity (the discounts so far spread
evenly over the line's units, as an invoice shows a discounted unit price); a discount on
``n`` of a line's ``q`` units can take at most ``n / q`` of what the line can take before
its floor (``min_price`` × quantity, or zero), rounded down to the minor unit — so no unit
goes below its ``min_price`` and no line below zero. Percentages are computed exactly and
rounded half-up once per line (``order``: once for the cart, then allocated); amounts
allocated over lines use :func:`~segmint.targeting.allocation.allocate`. An amount in the
cart's currency with more digits than it allows is rounded half-up to it once.

Which lines a target matches is the caller's: ``match(rule, context)`` gives the indexes
of ``context.cart_lines`` the rule (over one line) is true for; None means every line.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from segmint.model.profile import RequestContext
from segmint.targeting import money
from segmint.targeting.allocation import allocate, half_up
from segmint.targeting.cart import Working
from segmint.targeting.model import (
    Allocation,
    Amount,
    Basis,
    Benefit,
    BuyGetBenefit,
    ItemsBenefit,
    OrderBenefit,
    Percentage,
    Selection,
    ShippingBenefit,
    TieredBenefit,
    Value,
)

#: The indexes of ``context.cart_lines`` a rule over one line is true for.
LineMatcher = Callable[[str, RequestContext], Collection[int]]


@dataclass(frozen=True)
class Outcome:
    """Minor units off each line (only lines with a share) and off shipping; ``detail``
    says why nothing was found to discount."""

    lines: dict[int, int] = field(default_factory=dict)
    shipping: int = 0
    detail: str = ""

    @property
    def lines_total(self) -> int:
        return sum(self.lines.values())

    @property
    def total(self) -> int:
        return self.lines_total + self.shipping


def currency_of(value: Value) -> str | None:
    return value.currency if isinstance(value, Amount) else None


def value_currencies(benefit: Benefit) -> set[str]:
    """The currencies the benefit's amounts are bound to (empty: any cart)."""
    if isinstance(benefit, TieredBenefit):
        found = {currency_of(t.value) for t in benefit.tiers}
        # a tier without a bound currency applies to any cart
        return set() if None in found else {c for c in found if c is not None}
    bound = currency_of(benefit.value)
    return {bound} if bound is not None else set()


def _fits(value: Value, currency: str) -> bool:
    bound = currency_of(value)
    return bound is None or bound == currency


class _Compute:
    def __init__(self, w: Working, match: LineMatcher, why: bool) -> None:
        self.w = w
        self.match = match
        self.why = why

    def nothing(self, lines: Sequence[int]) -> str:
        """Why nothing came off (only worded when someone reads it)."""
        return _nothing(self.w, lines) if self.why else ""

    def lines(self, rule: str | None) -> list[int]:
        if rule is None:
            return list(range(len(self.w.amounts)))
        found = self.w.matched.get(rule)
        if found is None:  # a line rule's answer is fixed while the cart does not change
            found = self.w.matched[rule] = sorted(set(self.match(rule, self.w.context)))
        return found

    def amount_units(self, value: Amount) -> int:
        return money.to_minor(money.round_half_up(value.amount, self.w.currency), self.w.currency)

    def percent(self, amount: int, p: Decimal) -> int:
        num, den = _ratio(p)
        return half_up(amount * num, den)

    def units(self, i: int, n: int, value: Value) -> int:
        """The discount of ``value`` per unit on ``n`` of line ``i``'s units."""
        w = self.w
        q = w.quantities[i]
        limit = w.capacity(i) * n // q
        if isinstance(value, Percentage):
            num, den = _ratio(value.percentage)
            wanted = half_up(w.amounts[i] * n * num, q * den)
        else:
            wanted = self.amount_units(value) * n
        return min(wanted, limit)

    def per_line(self, units: dict[int, int], value: Value) -> dict[int, int]:
        out = {i: self.units(i, n, value) for i, n in sorted(units.items()) if n > 0}
        return {i: d for i, d in out.items() if d > 0}

    def across(self, lines: Sequence[int], value: Value) -> dict[int, int]:
        """A percentage off each line (rounded per line), or an amount allocated."""
        w = self.w
        if isinstance(value, Percentage):
            return self.per_line({i: w.quantities[i] for i in lines}, value)
        shares = allocate(
            self.amount_units(value),
            [w.amounts[i] for i in lines],
            [w.capacity(i) for i in lines],
        )
        return {i: s for i, s in zip(lines, shares, strict=True) if s > 0}

    # ---- one method per benefit type --------------------------------------------------

    def order(self, b: OrderBenefit) -> Outcome:
        w = self.w
        lines = list(range(len(w.amounts)))
        if isinstance(b.value, Percentage):
            amount = self.percent(w.subtotal(), b.value.percentage)
            if amount <= 0 or w.room() == 0:
                return Outcome({}, 0, self.nothing(lines))
            shares = allocate(amount, w.amounts, [w.capacity(i) for i in lines])
            found = {i: s for i, s in enumerate(shares) if s > 0}
        else:
            found = self.across(lines, b.value)
        return Outcome(found, 0, "" if found else self.nothing(lines))

    def items(self, b: ItemsBenefit) -> Outcome:
        w = self.w
        lines = self.lines(b.target)
        if not lines:
            return Outcome(detail="no line matches the target")
        if b.allocation is Allocation.ACROSS:
            found = self.across(lines, b.value)
        elif b.allocation is Allocation.EACH:
            cap = b.max_quantity
            found = self.per_line(
                {i: min(w.quantities[i], cap or w.quantities[i]) for i in lines}, b.value
            )
        else:  # once: cheapest units of the whole cart first
            left = b.max_quantity or 1
            chosen: dict[int, int] = {}
            for i in sorted(lines, key=lambda i: (Fraction(w.amounts[i], w.quantities[i]), i)):
                if left == 0:
                    break
                chosen[i] = min(left, w.quantities[i])
                left -= chosen[i]
            found = self.per_line(chosen, b.value)
        return Outcome(found, 0, "" if found else self.nothing(lines))

    def tiered(self, b: TieredBenefit) -> Outcome:
        w = self.w
        lines = self.lines(b.target)
        if not lines:
            return Outcome(detail="no line matches the target")
        if b.basis is Basis.QUANTITY:
            reached: Decimal = Decimal(sum(w.quantities[i] for i in lines))
            shown = f"quantity {reached}"
        else:
            reached = w.decimal(sum(w.amounts[i] for i in lines))
            shown = f"subtotal {money.format_amount(reached, w.currency)}"
        tiers = [t for t in b.tiers if _fits(t.value, w.currency)]
        tier = next((t for t in reversed(tiers) if reached >= t.min), None)
        if tier is None:
            first = format(tiers[0].min, "f") if tiers else "?"
            detail = f"no tier reached: the matching lines' {shown}; the first needs {first}"
            return Outcome(detail=detail)
        found = self.across(lines, tier.value)
        return Outcome(found, 0, "" if found else self.nothing(lines))

    def buy_get(self, b: BuyGetBenefit) -> Outcome:
        w = self.w
        gets, buys = self.lines(b.get), self.lines(b.buy)
        get_free = _buy_get_units(w, gets, buys, b)
        if not get_free:
            return Outcome(
                detail=f"no {b.buy_quantity} unit(s) to buy beside {b.get_quantity} to get"
            )
        found = self.per_line(get_free, b.value)
        return Outcome(found, 0, "" if found else self.nothing(sorted(get_free)))

    def shipping(self, b: ShippingBenefit) -> Outcome:
        w = self.w
        if w.shipping <= 0:
            return Outcome(detail="the cart has no shipping amount to discount")
        if isinstance(b.value, Percentage):
            amount = self.percent(w.shipping, b.value.percentage)
        else:
            amount = min(self.amount_units(b.value), w.shipping)
        return Outcome({}, amount, "" if amount else "the discount rounds to nothing")


@functools.lru_cache(maxsize=4096)
def _ratio(percentage: Decimal) -> tuple[int, int]:
    """``percentage / 100`` as (numerator, denominator)."""
    num, den = percentage.as_integer_ratio()
    return num, den * 100


AT_FLOOR = "every line it applies to is at its floor (min_price, or zero)"


def _nothing(w: Working, lines: Sequence[int]) -> str:
    if all(w.capacity(i) == 0 for i in lines):
        return AT_FLOOR
    return "the discount rounds to nothing"


def _buy_get_units(
    w: Working, gets: Sequence[int], buys: Sequence[int], b: BuyGetBenefit
) -> dict[int, int]:
    """Units to discount per line. Units of one line are alike, so a line is a count of
    available units; the get units are taken in ``selection`` order and the buy units from
    the opposite end, ties by line order; whole runs of applications that take from the
    same two lines are done at once (quantities may be large)."""

    def price(i: int) -> Fraction:
        return Fraction(w.amounts[i], w.quantities[i])

    cheapest = b.selection is Selection.CHEAPEST
    get_order = sorted(gets, key=lambda i: (price(i) if cheapest else -price(i), i))
    buy_order = sorted(buys, key=lambda i: (-price(i) if cheapest else price(i), i))
    avail = {i: w.quantities[i] for i in {*gets, *buys}}
    discounted: dict[int, int] = {}
    x, y = b.buy_quantity, b.get_quantity
    left = b.max_applications  # None: no limit
    while left is None or left > 0:
        g = next((i for i in get_order if avail[i] > 0), None)
        k = 0
        if g is not None and avail[g] >= y:
            avail[g] -= y  # look for the buy units beside one application's gets
            bl = next((i for i in buy_order if avail[i] > 0), None)
            avail[g] += y
            if bl is not None and bl != g and avail[bl] >= x:
                k = min(avail[g] // y, avail[bl] // x)
            elif bl == g:
                k = avail[g] // (x + y)
            if k and left is not None:
                k = min(k, left)
            if k:
                avail[g] -= k * y
                discounted[g] = discounted.get(g, 0) + k * y
                if bl is not None:
                    avail[bl] -= k * x
        if k == 0:  # one application unit by unit, across lines
            picked = _take(get_order, y, avail)
            if picked is None:
                break
            bought = _take(buy_order, x, avail)
            if bought is None:
                for i, n in picked.items():
                    avail[i] += n
                break
            for i, n in picked.items():
                discounted[i] = discounted.get(i, 0) + n
            k = 1
        if left is not None:
            left -= k
    return discounted


def _take(order: Sequence[int], count: int, avail: dict[int, int]) -> dict[int, int] | None:
    """``count`` units in ``order`` (taken from ``avail``), or None (and nothing taken)."""
    taken: dict[int, int] = {}
    for i in order:
        if count == 0:
            break
        n = min(avail[i], count)
        if n:
            taken[i] = n
            avail[i] -= n
            count -= n
    if count:
        for i, n in taken.items():
            avail[i] += n
        return None
    return taken


def compute(benefit: Benefit, w: Working, match: LineMatcher, *, why: bool = True) -> Outcome:
    """What ``benefit`` takes off the cart as it is now; ``why``: word the detail when
    nothing comes off."""
    if w.room() == 0 and not isinstance(benefit, ShippingBenefit):
        return Outcome(detail=AT_FLOOR)  # nothing can come off any line
    c = _Compute(w, match, why)
    match benefit:
        case OrderBenefit():
            return c.order(benefit)
        case ItemsBenefit():
            return c.items(benefit)
        case TieredBenefit():
            return c.tiered(benefit)
        case BuyGetBenefit():
            return c.buy_get(benefit)
        case ShippingBenefit():
            return c.shipping(benefit)
    raise TypeError(f"not a benefit: {type(benefit).__name__}")
