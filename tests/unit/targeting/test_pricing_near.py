"""Near misses (TARGETING.md §4): automatic promotions only a cart threshold keeps away,
with what is missing from the cart as that promotion saw it."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from pricing_fixtures import amt, cart, line, pct, price, promo

from segmint.model.profile import RequestContext
from segmint.targeting.cart import PricedCart
from segmint.targeting.model import OrderBenefit, ShippingBenefit

FREE_SHIP = ShippingBenefit(pct("100"))


def near(priced: PricedCart) -> dict[str, dict[str, object]]:
    return {n["promotion"]: n["missing"] for n in priced.to_dict()["near"]}


@pytest.mark.parametrize(
    ("condition", "missing"),
    [
        ("cart.subtotal >= 100", {"cart.subtotal": "6.00"}),
        ("cart.subtotal > 100", {"cart.subtotal": "6.01"}),  # one cent more than 100
        ("100 <= cart.subtotal", {"cart.subtotal": "6.00"}),  # written the other way round
        ("cart.quantity >= 3", {"cart.quantity": 2}),
        (
            "cart.subtotal >= 100 AND cart.quantity >= 3 AND context.view = 'web'",
            {"cart.subtotal": "6.00", "cart.quantity": 2},
        ),
        ("cart.subtotal >= 50 AND cart.subtotal > 99.5", {"cart.subtotal": "5.51"}),
    ],
)
def test_thresholds_inside_an_and_say_what_is_missing(
    condition: str, missing: dict[str, object]
) -> None:
    p = promo("free-ship", FREE_SHIP, condition=condition)
    c = cart(line("A", 1, "94.00"), shipping="5.00")
    priced = price(c, [p], context=RequestContext(view="web"))
    assert near(priced) == {"free-ship": missing}


@pytest.mark.parametrize(
    "condition",
    [
        "cart.subtotal >= 100 AND context.view = 'business'",  # another part is false
        "cart.subtotal >= 100 OR context.view = 'business'",  # not inside an AND
        "cart.subtotal >= 100 AND cart.subtotal < 80",  # no amount can reach it
        "SUM(cart.lines.amount) >= 100",  # not a threshold on cart.subtotal itself
        "cart.subtotal >= 90 AND context.view = 'business'",  # the threshold holds
    ],
)
def test_not_a_near_miss(condition: str) -> None:
    p = promo("p", FREE_SHIP, condition=condition)
    priced = price(
        cart(line("A", 1, "94.00"), shipping="5.00"), [p], context=RequestContext(view="web")
    )
    assert priced.near == ()


def test_missing_is_measured_from_the_cart_as_that_promotion_saw_it() -> None:
    # first 10% off: 94.00 -> 84.60; free shipping at 100 then lacks 15.40, not 6.00
    ps = [
        promo("ten", OrderBenefit(pct("10")), priority=1),
        promo("free-ship", FREE_SHIP, condition="cart.subtotal >= 100"),
    ]
    priced = price(cart(line("A", 1, "94.00"), shipping="5.00"), ps)
    assert near(priced) == {"free-ship": {"cart.subtotal": "15.40"}}


def test_code_promotions_and_promotions_refused_earlier_are_never_near() -> None:
    ps = [
        promo("code", FREE_SHIP, condition="cart.subtotal >= 100", codes=("SHIP",)),
        promo("vip", FREE_SHIP, condition="cart.subtotal >= 100", audience="tags CONTAINS 'vip'"),
    ]
    priced = price(cart(line("A", 1, "94.00"), shipping="5.00"), ps, codes=["ship"])
    assert priced.near == ()


def test_a_promotion_that_applies_is_not_near() -> None:
    p = promo("p", OrderBenefit(amt("1.00")), condition="cart.subtotal >= 90")
    assert price(cart(line("A", 1, "94.00")), [p]).near == ()


def test_zero_and_three_digit_currencies() -> None:
    jpy = promo("p", FREE_SHIP, condition="cart.subtotal > 1000")
    priced = price(cart(line("A", 1, "940"), shipping="500", currency="JPY"), [jpy])
    assert near(priced) == {"p": {"cart.subtotal": "61"}}  # one yen more than 1000
    kwd = promo("p", FREE_SHIP, condition="cart.subtotal > 10")
    priced = price(cart(line("A", 1, "9.400"), shipping="1.000", currency="KWD"), [kwd])
    assert near(priced) == {"p": {"cart.subtotal": "0.601"}}  # one fils more than 10


def test_a_threshold_finer_than_the_currency_is_met_from_the_next_minor_unit() -> None:
    p = promo("p", FREE_SHIP, condition="cart.subtotal >= 99.995")
    priced = price(cart(line("A", 1, "94.00"), shipping="5.00"), [p])
    assert near(priced) == {"p": {"cart.subtotal": "6.00"}}
    assert D("94.00") + D("6.00") >= D("99.995")
