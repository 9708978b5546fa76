"""``format_amount`` writes an amount as the answer carries it; checked against rounding
every amount to the currency's unit and formatting that (the definition)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from segmint.targeting.money import format_amount, round_half_up

CURRENCIES = ("USD", "JPY", "KWD")
amounts = st.builds(
    lambda digits, exponent, negative: (-1 if negative else 1) * Decimal(digits).scaleb(exponent),
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=-9, max_value=5),
    st.booleans(),
)


@given(amounts, st.sampled_from(CURRENCIES))
def test_format_amount_is_the_rounded_amount_in_fixed_notation(
    amount: Decimal, currency: str
) -> None:
    assert format_amount(amount, currency) == format(round_half_up(amount, currency), "f")


def test_format_amount_edges() -> None:
    assert format_amount(Decimal("-0.00"), "USD") == "-0.00"
    assert format_amount(Decimal("1E+2"), "USD") == "100.00"
    assert format_amount(Decimal("1E+2"), "JPY") == "100"
    assert format_amount(Decimal("0.5"), "JPY") == "1"
    assert format_amount(Decimal("1.005"), "USD") == "1.01"
    assert format_amount(Decimal("12.345"), "KWD") == "12.345"
