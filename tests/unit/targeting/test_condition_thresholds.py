"""A condition of nothing but cart thresholds is compared in minor units by the pricing
sequence; it must answer as the compiled rule does over the same cart (the Python engine
is the oracle), at and around every threshold, for ``>=`` and ``>``, in JPY and USD."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st
from pricing_fixtures import NOW, amt, applied, cart, line, price, promo

from segmint.compile.python import compile_predicate
from segmint.model.profile import Profile, RequestContext
from segmint.rules import check, parse
from segmint.rules.schema import DEFAULT_SCHEMA
from segmint.targeting.model import OrderBenefit


@settings(max_examples=150, deadline=None)
@given(
    cents=st.integers(1, 20_000),
    quantity=st.integers(1, 6),
    bound=st.integers(0, 30_000),
    digits=st.sampled_from(["", ".5", ".995", ".01"]),
    op=st.sampled_from([">=", ">"]),
    count=st.one_of(st.none(), st.integers(0, 7)),
    currency=st.sampled_from(["USD", "JPY"]),
)
def test_threshold_conditions_answer_as_the_rule_does(
    cents: int,
    quantity: int,
    bound: int,
    digits: str,
    op: str,
    count: int | None,
    currency: str,
) -> None:
    unit = D(cents) if currency == "JPY" else D(cents).scaleb(-2)
    limit = f"{bound // 100}{digits}"
    condition = f"cart.subtotal {op} {limit}"
    if count is not None:
        condition += f" AND cart.quantity {op} {count}"
    c = cart(line("A", quantity, str(unit)), currency=currency)
    # the smallest discount there is: it applies exactly when the condition holds
    p = promo("p", OrderBenefit(amt("0.01" if currency == "USD" else "1")), condition=condition)
    got = "p" in applied(price(c, [p]))
    checked = check(parse(condition), DEFAULT_SCHEMA)
    context = RequestContext(cart_subtotal=unit * quantity, cart_quantity=quantity)
    expected = compile_predicate(checked.rule, DEFAULT_SCHEMA)(Profile(id="x"), NOW, context)
    assert got == expected, (condition, unit, quantity, currency)
