"""Every benefit and allocation mode of TARGETING.md §4, one hand-computed scenario per
rule; every cent accounted for. Rules are real (compiled by the Python engine)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from pricing_fixtures import amt, applied, cart, line, pct, price, promo, reasons, shares

from segmint.targeting.cart import CartError, Reason
from segmint.targeting.model import (
    Allocation,
    Basis,
    BuyGetBenefit,
    ItemsBenefit,
    OrderBenefit,
    Selection,
    ShippingBenefit,
    Tier,
    TieredBenefit,
)

WINE = "category = 'wine'"


def three_lines() -> list:  # type: ignore[type-arg]
    return [line("A", 1, "30.00"), line("B", 1, "30.00"), line("C", 1, "40.00")]


# ---- order ------------------------------------------------------------------------------


def test_order_amount_is_allocated_by_largest_remainder() -> None:
    priced = price(cart(*three_lines()), [promo("p", OrderBenefit(amt("10.01")))])
    assert shares(priced, "p") == ["3.00", "3.00", "4.01"]
    assert priced.discount == D("10.01") and priced.total == D("89.99")
    assert priced.promotions[0].amount == D("10.01")


def test_order_amount_ties_go_to_the_earlier_line() -> None:
    c = cart(*(line(s, 1, "10.00") for s in "ABC"))
    priced = price(c, [promo("p", OrderBenefit(amt("10.00")))])
    assert shares(priced, "p") == ["3.34", "3.33", "3.33"]


def test_order_percentage_is_rounded_once_for_the_cart_then_allocated() -> None:
    # 10% of 0.15 = 0.015 -> 0.02 once (not 0.01 per line = 0.03), shared 1, 1, 0
    c = cart(*(line(s, 1, "0.05") for s in "ABC"))
    priced = price(c, [promo("p", OrderBenefit(pct("10")))])
    assert shares(priced, "p") == ["0.01", "0.01", "0"]
    assert priced.promotions[0].amount == D("0.02")


def test_order_amount_takes_at_most_the_subtotal() -> None:
    priced = price(
        cart(line("A", 1, "5.00"), line("B", 1, "3.00")), [promo("p", OrderBenefit(amt("10.00")))]
    )
    assert shares(priced, "p") == ["5.00", "3.00"]
    assert priced.total == D("0.00") and priced.promotions[0].amount == D("8.00")


# ---- items ------------------------------------------------------------------------------


def wine_cart() -> list:  # type: ignore[type-arg]
    return [
        line("A", 3, "10.00", category="wine"),
        line("B", 2, "5.00", category="beer"),
        line("C", 1, "4.00", category="wine"),
    ]


def test_items_each_amount_per_unit_up_to_max_quantity_per_line() -> None:
    p = promo("p", ItemsBenefit(amt("1.00"), Allocation.EACH, WINE, max_quantity=2))
    priced = price(cart(*wine_cart()), [p])
    # A: 2 of its 3 units × 1.00; C: its only unit
    assert shares(priced, "p") == ["2.00", "0", "1.00"]


def test_items_each_percentage_is_rounded_per_line_not_per_unit() -> None:
    # 10% of three units at 0.33: per line 0.099 -> 0.10 (per unit it would be 3 × 0.03)
    p = promo("p", ItemsBenefit(pct("10"), Allocation.EACH))
    priced = price(cart(line("A", 3, "0.33")), [p])
    assert shares(priced, "p") == ["0.10"]


def test_items_each_percentage_on_max_quantity_units() -> None:
    p = promo("p", ItemsBenefit(pct("15"), Allocation.EACH, WINE, max_quantity=2))
    priced = price(cart(*wine_cart()), [p])
    # A: 15% of 2 × 10.00 = 3.00; C: 15% of 4.00 = 0.60
    assert shares(priced, "p") == ["3.00", "0", "0.60"]


def test_items_across_percentage_is_rounded_per_line() -> None:
    # the same 10% as the order example above, but off each line: 0.005 -> 0.01 each
    c = cart(*(line(s, 1, "0.05") for s in "ABC"))
    priced = price(c, [promo("p", ItemsBenefit(pct("10"), Allocation.ACROSS))])
    assert shares(priced, "p") == ["0.01", "0.01", "0.01"]


def test_items_across_amount_is_allocated_over_the_matching_lines() -> None:
    # 5.00 over wine lines 30.00 and 4.00 (of 34.00): 4.4117… and 0.5882… -> 4.41 + 0.58,
    # the cent left to the larger remainder (.82 of C)
    p = promo("p", ItemsBenefit(amt("5.00"), Allocation.ACROSS, WINE))
    priced = price(cart(*wine_cart()), [p])
    assert shares(priced, "p") == ["4.41", "0", "0.59"]


def test_items_once_discounts_the_cheapest_unit_of_the_whole_cart() -> None:
    p = promo("p", ItemsBenefit(pct("100"), Allocation.ONCE))
    priced = price(cart(*wine_cart()), [p])
    assert shares(priced, "p") == ["0", "0", "4.00"]


def test_items_once_takes_max_quantity_units_cheapest_first_across_lines() -> None:
    # cheapest units: C (4.00), then B's two units (5.00): 50% of 4.00 and of 2 × 5.00
    p = promo("p", ItemsBenefit(pct("50"), Allocation.ONCE, max_quantity=3))
    priced = price(cart(*wine_cart()), [p])
    assert shares(priced, "p") == ["0", "5.00", "2.00"]


def test_items_with_no_matching_line_is_no_items() -> None:
    p = promo("p", ItemsBenefit(pct("10"), target="category = 'cheese'"))
    priced = price(cart(*wine_cart()), [p], explain=True)
    assert applied(priced) == [] and reasons(priced) == {"p": Reason.NO_ITEMS}
    assert priced.rejected[0].detail == "no line matches the target"


# ---- tiered -----------------------------------------------------------------------------


TIERS = (Tier(D("100"), pct("5")), Tier(D("200"), pct("10")))


@pytest.mark.parametrize(
    ("unit", "expected"),
    [("150.00", ["7.50", "0"]), ("250.00", ["25.00", "0"]), ("200.00", ["20.00", "0"])],
)
def test_tiered_subtotal_takes_the_highest_tier_reached(unit: str, expected: list[str]) -> None:
    p = promo("p", TieredBenefit(TIERS, Basis.SUBTOTAL, WINE))
    c = cart(line("A", 1, unit, category="wine"), line("B", 1, "500.00", category="beer"))
    assert shares(price(c, [p]), "p") == expected


def test_tiered_below_the_first_tier_is_no_items() -> None:
    p = promo("p", TieredBenefit(TIERS, Basis.SUBTOTAL, WINE))
    c = cart(line("A", 1, "99.99", category="wine"), line("B", 1, "500.00", category="beer"))
    priced = price(c, [p], explain=True)
    assert reasons(priced) == {"p": Reason.NO_ITEMS}
    assert "subtotal 99.99" in priced.rejected[0].detail


def test_tiered_quantity_basis_and_amount_tiers_allocated_like_across() -> None:
    tiers = (Tier(D("3"), amt("3.00")), Tier(D("6"), amt("9.00")))
    p = promo("p", TieredBenefit(tiers, Basis.QUANTITY, WINE))
    # 4 wine units reach the first tier: 3.00 over wine lines 30.00 and 4.00 (of 34.00):
    # 264.7… and 35.2… cents -> 264 + 35, the cent left to A's larger remainder (.7)
    priced = price(cart(*wine_cart()), [p])
    assert shares(priced, "p") == ["2.65", "0", "0.35"]


# ---- buy_get -----------------------------------------------------------------------------


def shirts() -> list:  # type: ignore[type-arg]
    return [
        line("S30", 2, "30.00", category="shirt"),
        line("S10", 2, "10.00", category="shirt"),
        line("S20", 2, "20.00", category="shirt"),
    ]


def test_buy_two_get_the_cheapest_free() -> None:
    # units 30 30 10 10 20 20; each application gets the cheapest free and takes two
    # buy units from the most expensive end: (10 | 30, 30), (10 | 20, 20); then nothing
    b = BuyGetBenefit("category = 'shirt'", "category = 'shirt'", buy_quantity=2)
    priced = price(cart(*shirts()), [promo("p", b)])
    assert shares(priced, "p") == ["0", "20.00", "0"]


def test_buy_get_stops_at_max_applications() -> None:
    b = BuyGetBenefit(
        "category = 'shirt'", "category = 'shirt'", buy_quantity=2, max_applications=1
    )
    assert shares(price(cart(*shirts()), [promo("p", b)]), "p") == ["0", "10.00", "0"]


def test_buy_one_get_the_most_expensive_half_price() -> None:
    # most_expensive: gets from the top (30, 30, then 20), buys from the bottom (10, 10,
    # then the other 20): three applications, 50% of 30 + 30 + 20
    b = BuyGetBenefit(
        "category = 'shirt'",
        "category = 'shirt'",
        selection=Selection.MOST_EXPENSIVE,
        value=pct("50"),
    )
    priced = price(cart(*shirts()), [promo("p", b)])
    assert shares(priced, "p") == ["30.00", "0", "10.00"]


def test_buy_shoes_get_socks_applies_as_often_as_both_are_found() -> None:
    b = BuyGetBenefit("category = 'shoes'", "category = 'socks'", value=amt("2.00"))
    c = cart(line("SHOE", 2, "80.00", category="shoes"), line("SOCK", 3, "5.00", category="socks"))
    assert shares(price(c, [promo("p", b)]), "p") == ["0", "4.00"]


def test_buy_get_without_enough_buy_units_is_no_items() -> None:
    b = BuyGetBenefit("category = 'shoes'", "category = 'socks'")
    priced = price(cart(line("SOCK", 3, "5.00", category="socks")), [promo("p", b)], explain=True)
    assert reasons(priced) == {"p": Reason.NO_ITEMS}


def test_buy_get_over_a_million_units_is_counted_in_runs() -> None:
    b = BuyGetBenefit(None, None)  # buy one, get one free, any line
    priced = price(cart(line("A", 1_000_000, "1.00")), [promo("p", b)])
    assert shares(priced, "p") == ["500000.00"]


# ---- shipping ----------------------------------------------------------------------------


def test_free_shipping_and_an_amount_off_shipping() -> None:
    c = cart(line("A", 1, "20.00"), shipping="10.00")
    free = price(c, [promo("free", ShippingBenefit(pct("100")))])
    assert free.shipping is not None and free.shipping.discount == D("10.00")
    assert free.shipping.total == D("0.00") and free.total == D("20.00")
    assert free.promotions[0].shipping == D("10.00") and free.promotions[0].amount == D("0.00")
    off = price(c, [promo("off", ShippingBenefit(amt("15.00")))])  # at most the shipping
    assert off.shipping is not None and off.shipping.total == D("0.00")
    assert off.promotions[0].shipping == D("10.00")


def test_shipping_without_a_shipping_amount_is_no_items() -> None:
    priced = price(
        cart(line("A", 1, "20.00")), [promo("s", ShippingBenefit(pct("100")))], explain=True
    )
    assert reasons(priced) == {"s": Reason.NO_ITEMS} and priced.shipping is None


# ---- floors --------------------------------------------------------------------------------


def test_order_floors_reshare_what_a_line_cannot_take() -> None:
    # 50% of 200.00 = 100.00: exact 50.00 each; A (min 80.00) can take 20.00 only and
    # leaves; the 80.00 left goes to B
    c = cart(line("A", 1, "100.00", min_price="80.00"), line("B", 1, "100.00"))
    priced = price(c, [promo("p", OrderBenefit(pct("50")))])
    assert shares(priced, "p") == ["20.00", "80.00"]


def test_what_no_line_can_take_is_not_granted() -> None:
    c = cart(line("A", 1, "10.00", min_price="9.00"), line("B", 1, "10.00", min_price="9.50"))
    priced = price(c, [promo("p", OrderBenefit(amt("20.00")))])
    assert shares(priced, "p") == ["1.00", "0.50"] and priced.promotions[0].amount == D("1.50")


def test_each_never_takes_a_unit_below_its_min_price() -> None:
    # 5.00 per unit, but a unit can go from 10.00 to 8.00 only: 2.00 × 2 units
    p = promo("p", ItemsBenefit(amt("5.00"), Allocation.EACH))
    priced = price(cart(line("A", 2, "10.00", min_price="8.00")), [p])
    assert shares(priced, "p") == ["4.00"]


def test_once_on_one_unit_of_a_line_takes_that_units_share_of_the_room() -> None:
    # 3 units at 10.00, min 8.00: the line can take 6.00, one unit 2.00
    p = promo("p", ItemsBenefit(pct("100"), Allocation.ONCE))
    assert shares(price(cart(line("A", 3, "10.00", min_price="8.00")), [p]), "p") == ["2.00"]


def test_a_line_at_its_floor_is_no_items() -> None:
    p = promo("p", ItemsBenefit(pct("10"), Allocation.ACROSS))
    priced = price(cart(line("A", 1, "10.00", min_price="10.00")), [p], explain=True)
    assert reasons(priced) == {"p": Reason.NO_ITEMS}
    assert "floor" in priced.rejected[0].detail


# ---- currencies with 0 and 3 digits -------------------------------------------------------


def test_jpy_has_no_minor_digits() -> None:
    c = cart(*(line(s, 1, "1000") for s in "ABC"), currency="JPY")
    priced = price(c, [promo("p", OrderBenefit(amt("1000")))])
    assert shares(priced, "p") == ["334", "333", "333"]
    # 15% of 1010 = 151.5 -> 152 (half-up), of 1003 = 150.45 -> 150
    c2 = cart(line("A", 1, "1010"), line("B", 1, "1003"), currency="JPY")
    pc = price(c2, [promo("q", ItemsBenefit(pct("15")))])
    assert shares(pc, "q") == ["152", "150"]
    assert pc.to_dict()["cart"]["total"] == "1711"


def test_kwd_has_three_minor_digits() -> None:
    c = cart(*(line(s, 1, "1.000") for s in "ABC"), currency="KWD")
    priced = price(c, [promo("p", OrderBenefit(amt("1.000")))])
    assert shares(priced, "p") == ["0.334", "0.333", "0.333"]
    assert priced.to_dict()["cart"]["lines"][0]["total"] == "0.666"


def test_an_amount_with_more_digits_than_the_currency_is_refused_naming_the_field() -> None:
    with pytest.raises(CartError, match=r"cart\.lines\[1\]\.unit_price: 1\.0005 has more digits"):
        cart(line("A", 1, "1.000"), line("B", 1, "1.0005"), currency="KWD")
    with pytest.raises(CartError, match=r"cart\.lines\[0\]\.unit_price"):
        cart(line("A", 1, "10.5"), currency="JPY")
    with pytest.raises(CartError, match=r"cart\.lines\[0\]\.quantity: must be positive"):
        cart(line("A", 0, "1.00"))
    with pytest.raises(CartError, match=r"cart\.currency"):
        cart(line("A", 1, "1.00"), currency="XYZ")
    with pytest.raises(CartError, match=r"cart\.lines\[1\]\.id: '1' is also line 0's id"):
        cart(line("A", 1, "1.00"), line("B", 1, "1.00", id="1"))
