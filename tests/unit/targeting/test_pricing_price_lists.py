"""Price list resolution per line (TARGETING.md §3.2), one scenario per rule."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from pricing_fixtures import NOW, cart, line, pct, price, price_list, promo, shares

from segmint.model.profile import Profile
from segmint.targeting.cart import Cart, Reason
from segmint.targeting.model import OrderBenefit, Schedule
from segmint.targeting.price_lists import PriceIndex


def a3() -> Cart:
    return cart(line("A", 3, "25.00"), line("B", 1, "7.00"))


def test_the_highest_priority_list_wins_and_within_it_the_largest_min_quantity() -> None:
    lists = [
        price_list("vip", ("A", "22.00", 1), ("A", "20.00", 3), ("A", "12.00", 10), priority=5),
        price_list("cheap", ("A", "15.00", 1)),  # lower price, lower priority
    ]
    priced = price(a3(), price_lists=lists)
    a, b = priced.lines
    assert (a.list_unit_price, a.unit_price, a.price_list) == (D("25.00"), D("20.00"), "vip")
    assert a.subtotal == D("60.00")
    assert (b.list_unit_price, b.unit_price, b.price_list) == (D("7.00"), D("7.00"), None)
    assert priced.subtotal == D("67.00")


def test_equal_priorities_go_to_the_lower_price_then_the_code() -> None:
    lower = [price_list("b-list", ("A", "18.00", 1)), price_list("a-list", ("A", "19.00", 1))]
    assert price(a3(), price_lists=lower).lines[0].price_list == "b-list"
    same = [price_list("b2", ("A", "18.00", 1)), price_list("a2", ("A", "18", 1))]
    priced = price(a3(), price_lists=same)
    assert priced.lines[0].price_list == "a2"
    assert priced.cart_dict()["lines"][0]["unit_price"] == "18.00"


def test_a_list_applies_to_a_line_only_from_its_min_quantity() -> None:
    lists = [
        price_list("bulk", ("A", "10.00", 10), priority=9),
        price_list("std", ("A", "24.00", 1)),
    ]
    assert price(a3(), price_lists=lists).lines[0].price_list == "std"


def test_lists_in_another_currency_of_another_audience_or_out_of_dates_do_not_apply() -> None:
    lists = [
        price_list("eur", ("A", "1.00", 1), priority=9, currency="EUR"),
        price_list("vip", ("A", "2.00", 1), priority=8, audience="tags CONTAINS 'vip'"),
        price_list("old", ("A", "3.00", 1), priority=7, schedule=Schedule(ends_at=NOW)),
        price_list("std", ("A", "24.00", 1)),
        price_list("cheap", ("A", "23.00", 1), priority=-1),
        price_list("other", ("Z", "1.00", 1)),
    ]
    priced = price(a3(), price_lists=lists, explain=True)
    assert priced.lines[0].price_list == "std"
    assert {r.price_list: r.reason for r in priced.price_lists_rejected} == {
        "eur": Reason.CURRENCY,
        "vip": Reason.AUDIENCE,
        "old": Reason.ENDED,
        "cheap": Reason.BETTER_OFFER,
        "other": Reason.NO_ITEMS,
    }
    assert {"price_list": "cheap", "reason": "better_offer"}.items() <= next(
        r for r in priced.to_dict()["rejected"] if r.get("price_list") == "cheap"
    ).items()
    vip = price(a3(), price_lists=lists, profile=Profile("c1", fields={"tags": ["vip"]}))
    assert vip.lines[0].price_list == "vip"
    assert price(a3(), price_lists=lists).price_lists_rejected == ()


def test_promotions_see_the_price_list_price() -> None:
    lists = [price_list("vip", ("A", "20.00", 3))]
    priced = price(a3(), [promo("p", OrderBenefit(pct("10")))], lists)
    # 10% of 60.00 + 7.00 = 6.70
    assert shares(priced, "p") == ["6.00", "0.70"]
    assert priced.cart_dict()["lines"][0]["list_unit_price"] == "25.00"


def test_an_index_is_built_once_and_refuses_duplicate_codes() -> None:
    index = PriceIndex.build([price_list("x", ("A", "1.00", 1), ("A", "0.50", 5))])
    assert [e.min_quantity for e in index.by_sku["A"][0].entries] == [5, 1]
    with pytest.raises(ValueError, match="unique"):
        PriceIndex.build([price_list("x", ("A", "1.00", 1)), price_list("x", ("B", "1.00", 1))])
