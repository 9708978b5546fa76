"""Properties of pricing on random carts, price lists and promotion sets (TARGETING.md
§2–§4): every cent is accounted for, no line goes below its floor or zero, totals are the
sums of the lines, order discounts grant exactly what they compute, and the answer is
deterministic and does not depend on the order promotions or price lists are given in."""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from pricing_fixtures import NOW, rules_for

from segmint.model.profile import RequestContext
from segmint.targeting import money
from segmint.targeting.allocation import half_up
from segmint.targeting.cart import Cart, Line, PricedCart, Shipping
from segmint.targeting.model import (
    Allocation,
    Amount,
    Basis,
    BuyGetBenefit,
    ItemsBenefit,
    OrderBenefit,
    Percentage,
    PriceEntry,
    PriceList,
    Promotion,
    Schedule,
    Selection,
    ShippingBenefit,
    Tier,
    TieredBenefit,
    Value,
)
from segmint.targeting.pricing import price_cart

CURRENCIES = ("USD", "JPY", "KWD")
SKUS = ("A", "B", "C", "D")
CATEGORIES = ("wine", "beer", "food")
CONDITIONS = (
    None,
    None,
    "cart.subtotal >= 50",
    "cart.quantity >= 3",
    "cart.subtotal < 100",
    "SUM(cart.lines.amount WHERE category = 'wine') >= 20",
)
TARGETS = (None, "category = 'wine'", "amount >= 10", "sku IN ('A', 'B')")


def minor(currency: str, units: int) -> Decimal:
    return money.from_minor(units, currency)


@st.composite
def carts(draw: st.DrawFn) -> Cart:
    currency = draw(st.sampled_from(CURRENCIES))
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        unit = draw(st.integers(0, 20_000))
        floor = draw(st.one_of(st.none(), st.integers(0, unit + unit // 5)))
        lines.append(
            Line(
                sku=draw(st.sampled_from(SKUS)),
                quantity=draw(st.integers(1, 5)),
                unit_price=minor(currency, unit),
                category=draw(st.sampled_from(CATEGORIES)),
                min_price=None if floor is None else minor(currency, floor),
            )
        )
    shipping = draw(st.one_of(st.none(), st.integers(0, 2_000)))
    ship = None if shipping is None else Shipping(minor(currency, shipping))
    return Cart(currency, tuple(lines), ship)


@st.composite
def values(draw: st.DrawFn, currency: str) -> Value:
    if draw(st.booleans()):
        return Percentage(Decimal(draw(st.integers(1, 1000))) / 10)
    bound = draw(st.sampled_from((None, None, currency, "EUR")))
    return Amount(minor(currency, draw(st.integers(1, 5_000))), bound)


@st.composite
def benefits(draw: st.DrawFn, currency: str) -> object:
    kind = draw(st.sampled_from(("order", "items", "tiered", "buy_get", "shipping")))
    if kind == "order":
        return OrderBenefit(draw(values(currency)))
    if kind == "shipping":
        return ShippingBenefit(draw(values(currency)))
    target = draw(st.sampled_from(TARGETS))
    if kind == "items":
        allocation = draw(st.sampled_from(list(Allocation)))
        cap = (
            None
            if allocation is Allocation.ACROSS
            else draw(st.one_of(st.none(), st.integers(1, 4)))
        )
        return ItemsBenefit(draw(values(currency)), allocation, target, cap)
    if kind == "tiered":
        basis = draw(st.sampled_from(list(Basis)))
        mins = sorted(set(draw(st.lists(st.integers(1, 300), min_size=1, max_size=3))))
        tiers = tuple(Tier(Decimal(m), draw(values(currency))) for m in mins)
        return TieredBenefit(tiers, basis, target)
    return BuyGetBenefit(
        buy=draw(st.sampled_from(TARGETS)),
        get=target,
        buy_quantity=draw(st.integers(1, 3)),
        get_quantity=draw(st.integers(1, 2)),
        selection=draw(st.sampled_from(list(Selection))),
        max_applications=draw(st.one_of(st.none(), st.integers(1, 3))),
        value=draw(values(currency)),
    )


@st.composite
def promotion_sets(draw: st.DrawFn, currency: str) -> list[Promotion]:
    out = []
    for i in range(draw(st.integers(0, 8))):
        out.append(
            Promotion(
                code=f"p{i}",
                benefit=draw(benefits(currency)),  # type: ignore[arg-type]
                schedule=Schedule(priority=draw(st.integers(-2, 2))),
                condition=draw(st.sampled_from(CONDITIONS)),
                exclusive=draw(st.integers(0, 9)) == 0,
                stop_further=draw(st.integers(0, 9)) == 0,
                best_of=draw(st.sampled_from((None, None, None, "g1", "g2"))),
            )
        )
    return out


@st.composite
def price_list_sets(draw: st.DrawFn, currency: str) -> list[PriceList]:
    out = []
    for i in range(draw(st.integers(0, 3))):
        entries = {
            (draw(st.sampled_from(SKUS)), draw(st.integers(1, 4))): draw(st.integers(0, 20_000))
            for _ in range(draw(st.integers(1, 4)))
        }
        prices = tuple(PriceEntry(s, minor(currency, p), q) for (s, q), p in entries.items())
        list_currency = draw(st.sampled_from((currency, currency, "EUR")))
        schedule = Schedule(priority=draw(st.integers(0, 2)))
        out.append(PriceList(f"l{i}", list_currency, prices, schedule=schedule))
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Cart, list[PriceList], list[Promotion]]:
    cart = draw(carts())
    return cart, draw(price_list_sets(cart.currency)), draw(promotion_sets(cart.currency))


def run(cart: Cart, lists: list[PriceList], promotions: list[Promotion]) -> PricedCart:
    rules = rules_for(promotions, lists)
    context = RequestContext(view="web")
    return price_cart(cart, lists, promotions, rules, now=NOW, context=context, explain=True)


def units(amount: Decimal, currency: str) -> int:
    return money.to_minor(amount, currency)


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_every_cent_is_accounted_for_and_no_line_passes_its_floor(
    scenario: tuple[Cart, list[PriceList], list[Promotion]],
) -> None:
    cart, lists, promotions = scenario
    priced = run(cart, lists, promotions)
    cur = cart.currency
    for given_line, ln in zip(cart.lines, priced.lines, strict=True):
        assert ln.subtotal == ln.unit_price * ln.quantity
        assert ln.discount == sum((d.amount for d in ln.discounts), Decimal(0))
        assert ln.total == ln.subtotal - ln.discount
        floor = (given_line.min_price or Decimal(0)) * ln.quantity
        assert ln.total >= min(ln.subtotal, floor) and ln.total >= 0
        assert all(d.amount > 0 for d in ln.discounts)
    assert priced.subtotal == sum((ln.subtotal for ln in priced.lines), Decimal(0))
    assert priced.discount == sum((ln.discount for ln in priced.lines), Decimal(0))
    shipping_total = Decimal(0)
    if priced.shipping is not None:
        s = priced.shipping
        assert s.total == s.amount - s.discount and s.total >= 0
        assert s.discount == sum((p.shipping for p in priced.promotions), Decimal(0))
        shipping_total = s.total
    assert priced.total == sum((ln.total for ln in priced.lines), Decimal(0)) + shipping_total
    for p in priced.promotions:
        on_lines = [d.amount for ln in priced.lines for d in ln.discounts if d.promotion == p.code]
        assert p.amount == sum(on_lines, Decimal(0))
        assert p.amount + p.shipping > 0
    # every amount of the answer has exactly the currency's digits
    digits = money.digits(cur)
    pattern = re.compile(r"^\d+$" if digits == 0 else rf"^\d+\.\d{{{digits}}}$")
    data = priced.to_dict()
    amounts = [data["cart"]["subtotal"], data["cart"]["discount"], data["cart"]["total"]]
    for ln_data in data["cart"]["lines"]:
        amounts += [
            ln_data[k] for k in ("list_unit_price", "unit_price", "subtotal", "discount", "total")
        ]
        amounts += [d["amount"] for d in ln_data["discounts"]]
    amounts += [p[k] for p in data["promotions"] for k in ("amount", "shipping")]
    assert all(pattern.match(a) for a in amounts), amounts


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_order_discounts_grant_exactly_what_they_compute_when_nothing_has_a_floor(
    scenario: tuple[Cart, list[PriceList], list[Promotion]],
) -> None:
    cart, lists, promotions = scenario
    cart = Cart(
        cart.currency,
        tuple(Line(ln.sku, ln.quantity, ln.unit_price, category=ln.category) for ln in cart.lines),
        cart.shipping,
    )
    priced = run(cart, lists, promotions)
    by_code = {p.code: p for p in promotions}
    seen = units(priced.subtotal, cart.currency)  # the subtotal each promotion saw
    for applied in priced.promotions:
        benefit = by_code[applied.code].benefit
        granted = units(applied.amount, cart.currency)
        if isinstance(benefit, OrderBenefit):
            value = benefit.value
            if isinstance(value, Percentage):
                num, den = value.percentage.as_integer_ratio()
                assert granted == half_up(seen * num, den * 100)
            else:
                assert granted == min(units(value.amount, cart.currency), seen)
        seen -= granted


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_pricing_is_deterministic_and_independent_of_the_order_levers_are_given_in(
    scenario: tuple[Cart, list[PriceList], list[Promotion]], rnd: object
) -> None:
    cart, lists, promotions = scenario
    first = run(cart, lists, promotions)
    assert run(cart, lists, promotions).to_dict() == first.to_dict()
    shuffled_promotions, shuffled_lists = list(promotions), list(lists)
    rnd.shuffle(shuffled_promotions)  # type: ignore[attr-defined]
    rnd.shuffle(shuffled_lists)  # type: ignore[attr-defined]
    again = run(cart, shuffled_lists, shuffled_promotions)
    assert again.to_dict() == first.to_dict()
    assert again.near == first.near
