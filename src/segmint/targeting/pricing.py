"""Pricing a cart (TARGETING.md §2–§5): price lists, then promotions, then totals. Pure.

    priced = price_cart(cart, price_index, promotions, rules, now=now, context=context,
                        codes=["SUMMER10"], campaigns=campaigns, account=portal)
    priced.to_dict()  # {"cart": …, "promotions": […], "rejected": […], "near": […]}

Rules stay with the caller (:class:`~segmint.targeting.promotions.PricingRules`): this
module never parses rule text nor reads a store. ``context`` is the request's (view,
store, query…); its cart fields are replaced by the cart as priced, and kept current as
promotions apply. ``now`` decides schedules; ``context.store`` the levers' stores.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from segmint.model.profile import RequestContext
from segmint.targeting import money
from segmint.targeting.cart import (
    Cart,
    LineDiscount,
    PricedCart,
    PricedLine,
    PricedShipping,
    Working,
)
from segmint.targeting.model import AccountPortal, Campaign, PriceList, Promotion
from segmint.targeting.price_lists import PriceIndex, resolve
from segmint.targeting.promotion_set import PromotionSet
from segmint.targeting.promotions import BudgetLeft, PricingRules, run


def price_cart(
    cart: Cart,
    price_lists: PriceIndex | Iterable[PriceList],
    promotions: PromotionSet | Sequence[Promotion],
    rules: PricingRules,
    *,
    now: dt.datetime,
    context: RequestContext | None = None,
    codes: Sequence[str] = (),
    campaigns: Mapping[str, Campaign] | Iterable[Campaign] = (),
    budgets_left: Mapping[str, BudgetLeft] | None = None,
    account: AccountPortal | None = None,
    default_currency: str = money.DEFAULT_CURRENCY,
    explain: bool = False,
) -> PricedCart:
    """The cart priced to the cent, with the promotions applied, the rejections (entered
    codes always; everything with ``explain``) and the near misses.

    ``promotions`` are every promotion that could apply (the caller may leave out those
    whose audience it knows to be false, at the cost of their ``explain`` entries, but
    must keep every ``code`` promotion so entered codes are recognised). ``budgets_left``
    says what is left of each campaign's budget (absent: all of it); ``account`` is the
    visitor's business account portal, if any."""
    base = context if context is not None else RequestContext()
    index = price_lists if isinstance(price_lists, PriceIndex) else PriceIndex.build(price_lists)
    prices = resolve(cart, index, now, base.store, audience=rules.audience, explain=explain)
    w = Working(cart, prices.unit_prices, base)
    prepared = (
        promotions if isinstance(promotions, PromotionSet) else PromotionSet.build(promotions)
    )
    by_code = campaigns if isinstance(campaigns, Mapping) else {c.code: c for c in campaigns}
    result = run(
        w,
        prepared,
        rules,
        now,
        codes=codes,
        campaigns=by_code,
        budgets_left=budgets_left,
        account=account,
        default_currency=default_currency,
        explain=explain,
    )
    d = w.decimal
    lines: list[PricedLine] = []
    for i, line in enumerate(cart.lines):
        discount = w.subtotals[i] - w.amounts[i]
        lines.append(
            PricedLine(
                id=cart.line_id(i),
                sku=line.sku,
                quantity=line.quantity,
                list_unit_price=_exact(line.unit_price, cart.currency),
                unit_price=_exact(prices.unit_prices[i], cart.currency),
                price_list=prices.price_lists[i],
                subtotal=d(w.subtotals[i]),
                discounts=tuple(LineDiscount(p, d(a)) for p, a in w.discounts[i]),
                discount=d(discount),
                total=d(w.amounts[i]),
                product_name=line.product_name,
                brand=line.brand,
                category=line.category,
                min_price=line.min_price,
            )
        )
    shipping = None
    if cart.shipping is not None:
        shipping = PricedShipping(
            method=cart.shipping.method,
            amount=d(w.shipping_amount),
            discount=d(w.shipping_amount - w.shipping),
            total=d(w.shipping),
        )
    return PricedCart(
        currency=cart.currency,
        lines=tuple(lines),
        subtotal=d(sum(w.subtotals)),
        discount=d(sum(w.subtotals) - sum(w.amounts)),
        shipping=shipping,
        total=d(sum(w.amounts) + w.shipping),
        promotions=tuple(result.applied),
        rejected=tuple(result.reported()),
        near=tuple(result.near),
        price_lists_rejected=prices.rejected,
    )


def _exact(amount: Decimal, currency: str) -> Decimal:
    """With exactly the currency's digits (``9`` -> ``9.00``)."""
    key = (amount, currency)  # equal amounts give the same answer (9 and 9.00: 9.00)
    found = _EXACT.get(key)
    if found is None:
        if len(_EXACT) >= _EXACT_KEPT:
            _EXACT.clear()
        found = _EXACT[key] = money.from_minor(money.to_minor(amount, currency), currency)
    return found


#: :func:`_exact`'s answers: the same unit prices come on cart after cart, and a Decimal is
#: immutable; emptied when it grows past the bound.
_EXACT: dict[tuple[Decimal, str], Decimal] = {}
_EXACT_KEPT = 1 << 16
