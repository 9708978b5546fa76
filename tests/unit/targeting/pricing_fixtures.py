"""Building carts and promotions for the pricing suites, and pricing them with real rules:
every condition, audience and line target is parsed, type-checked and compiled by the
Python engine (segmint.engine.pricing_rules), never faked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from segmint.engine.pricing_rules import CompiledPricingRules
from segmint.model.profile import Profile, RequestContext
from segmint.targeting.cart import Cart, Line, PricedCart, Shipping
from segmint.targeting.model import (
    Amount,
    Benefit,
    Percentage,
    PriceEntry,
    PriceList,
    Promotion,
    Schedule,
    Trigger,
)
from segmint.targeting.pricing import price_cart
from segmint.targeting.promotions import PricingRules, Refusal

NOW = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
D = Decimal


def pct(p: str) -> Percentage:
    return Percentage(D(p))


def amt(a: str, currency: str | None = None) -> Amount:
    return Amount(D(a), currency)


def line(sku: str, quantity: int, unit_price: str, **kw: Any) -> Line:
    if "min_price" in kw and kw["min_price"] is not None:
        kw["min_price"] = D(kw["min_price"])
    return Line(sku, quantity, D(unit_price), **kw)


def cart(*lines: Line, currency: str = "USD", shipping: str | None = None) -> Cart:
    ship = Shipping(D(shipping), "standard") if shipping is not None else None
    return Cart(currency, tuple(lines), ship)


def promo(code: str, benefit: Benefit, *, priority: int = 0, **kw: Any) -> Promotion:
    schedule = kw.pop("schedule", Schedule())
    if kw.get("codes"):
        kw.setdefault("trigger", Trigger.CODE)
    return Promotion(code, benefit, schedule=replace(schedule, priority=priority), **kw)


def price_list(code: str, *prices: tuple[str, str, int], priority: int = 0, **kw: Any) -> PriceList:
    currency = kw.pop("currency", "USD")
    entries = tuple(PriceEntry(sku, D(p), q) for sku, p, q in prices)
    schedule = kw.pop("schedule", Schedule())
    return PriceList(code, currency, entries, schedule=replace(schedule, priority=priority), **kw)


def rules_for(
    promotions: Iterable[Promotion],
    price_lists: Iterable[PriceList] = (),
    *,
    profile: Profile | None = None,
    context: RequestContext | None = None,
    limits: Callable[[Promotion, str | None], Refusal | None] | None = None,
    code_owners: Callable[[str], Collection[str]] | None = None,
) -> PricingRules:
    compiled = CompiledPricingRules.build(promotions, price_lists)
    rules = compiled.for_request(profile or Profile("c1"), NOW, context)
    if limits is not None:
        rules = replace(rules, limits=limits)
    if code_owners is not None:
        rules = replace(rules, code_owners=code_owners)
    return rules


def price(
    c: Cart,
    promotions: Sequence[Promotion] = (),
    price_lists: Sequence[PriceList] = (),
    *,
    profile: Profile | None = None,
    context: RequestContext | None = None,
    limits: Callable[[Promotion, str | None], Refusal | None] | None = None,
    code_owners: Callable[[str], Collection[str]] | None = None,
    **kw: Any,
) -> PricedCart:
    rules = rules_for(
        promotions,
        price_lists,
        profile=profile,
        context=context,
        limits=limits,
        code_owners=code_owners,
    )
    kw.setdefault("now", NOW)
    return price_cart(c, price_lists, promotions, rules, context=context, **kw)


def shares(priced: PricedCart, promotion: str) -> list[str]:
    """The promotion's discount on every line, in line order ("0.00" where none)."""
    out = []
    for ln in priced.lines:
        found = [d.amount for d in ln.discounts if d.promotion == promotion]
        out.append(format(sum(found, D(0)).quantize(ln.subtotal), "f") if found else "0")
    return out


def reasons(priced: PricedCart) -> dict[str | None, str]:
    return {r.promotion: r.reason for r in priced.rejected}


def applied(priced: PricedCart) -> list[str]:
    return [p.code for p in priced.promotions]
