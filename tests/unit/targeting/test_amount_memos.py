"""Amounts pricing remembers between carts (minor units as Decimals, a price with its
currency's digits) are the ones it would compute afresh, with the same digits, also once
the memo has been emptied for its bound."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.model.profile import RequestContext
from segmint.targeting import cart as cart_module
from segmint.targeting import pricing
from segmint.targeting.cart import Cart, Line, Working

CURRENCIES = ("USD", "JPY", "KWD")
DIGITS = {"USD": 2, "JPY": 0, "KWD": 3}


def _working(currency: str) -> Working:
    cart = Cart(currency, (Line("A", 1, Decimal(1)),))
    return Working(cart, [Decimal(1)], RequestContext())


@settings(max_examples=200, deadline=None)
@given(
    currency=st.sampled_from(CURRENCIES),
    minors=st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=40),
)
def test_minor_units_as_decimals(currency: str, minors: list[int]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cart_module, "_DECIMALS_KEPT", 8)  # emptied over and over
        w = _working(currency)
        for minor in [*minors, *minors]:  # the second time from the memo
            got = w.decimal(minor)
            assert got == Decimal(minor) / Decimal(10) ** DIGITS[currency]
            assert got.as_tuple().exponent == -DIGITS[currency]


@settings(max_examples=200, deadline=None)
@given(
    currency=st.sampled_from(CURRENCIES),
    units=st.lists(st.integers(0, 10**9), min_size=1, max_size=40),
    padding=st.integers(0, 3),
)
def test_prices_with_the_currency_digits(currency: str, units: list[int], padding: int) -> None:
    digits = DIGITS[currency]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pricing, "_EXACT_KEPT", 8)
        for minor in [*units, *units]:
            # the same amount with more zeros (9.5 and 9.500 are equal: one key)
            amount = Decimal(minor * 10**padding).scaleb(-digits - padding)
            got = pricing._exact(amount, currency)
            assert got == amount
            assert got.as_tuple().exponent == -digits
