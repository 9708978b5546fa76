"""Pricing the request's cart (TARGETING.md §2–§5) against the stored catalog.

:class:`PricingCatalog` holds what does not change between requests: the promotions in
§4's order, the price lists by sku, the campaigns and business-account portals, every rule
compiled once. :func:`price_request` fills the request's lines from the product catalog,
prices them with :func:`~segmint.targeting.pricing.price_cart` and answers the limits
from the redemption rows.

Everything pricing reads from the store goes through :class:`PricingReads`: the API
first answers from its caches with :class:`CachedReads`, which raises
:class:`NeedsStore` the moment something is not cached (a count, a generated code, a
product not seen yet); the request is then answered on a store connection.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol

from segmint.compile.audience_index import AudienceIndex
from segmint.engine.pricing_rules import AudienceAnswer, CompiledPricingRules
from segmint.model.profile import CartLine, Profile, RequestContext
from segmint.rules.schema import Schema
from segmint.services.evaluate_request import RequestCart, RequestError
from segmint.store.base import Store
from segmint.store.redemptions import PromoCode, RedemptionRepository
from segmint.store.redemptions import normalize_code as stored_code
from segmint.targeting import money
from segmint.targeting.cart import Cart, CartError, Line, PricedCart, Reason, Shipping
from segmint.targeting.model import (
    AccountPortal,
    Campaign,
    Promotion,
    TargetingDocument,
    Trigger,
)
from segmint.targeting.price_lists import PriceIndex
from segmint.targeting.pricing import price_cart
from segmint.targeting.promotion_set import PromotionSet, normalize_code
from segmint.targeting.promotions import BudgetLeft, Refusal


class NeedsStore(Exception):
    """Raised by :class:`CachedReads` when answering needs the store."""


@dataclass(frozen=True)
class Product:
    sku: str
    product_name: str | None
    brand: str | None
    category: str | None
    unit_price: Decimal | None
    min_price: Decimal | None


class PricingReads(Protocol):
    """What pricing reads from the store."""

    def products(self, skus: Sequence[str]) -> Mapping[str, Product]: ...
    def generated_code(self, code: str) -> PromoCode | None: ...
    def promotion_uses(self, promotion: str) -> int: ...
    def code_uses(self, code: str) -> int: ...
    def customer_uses(self, customer_id: str, promotion: str) -> int: ...
    def campaign_totals(self, campaigns: Sequence[str]) -> Mapping[str, tuple[Decimal, int]]: ...


@dataclass
class ProductCache:
    """Products by sku, read once per ``ttl`` seconds (the API drops it on a products
    import; another process's import shows within ``ttl``)."""

    ttl: float = 5.0
    _rows: dict[str, Product | None] = field(default_factory=dict)
    _since: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invalidate(self) -> None:
        with self._lock:
            self._rows = {}
            self._since = time.monotonic()

    def cached(self, skus: Sequence[str]) -> dict[str, Product | None] | None:
        if time.monotonic() - self._since > self.ttl:
            self.invalidate()
            return None
        rows = self._rows
        if any(sku not in rows for sku in skus):
            return None
        return {sku: rows[sku] for sku in skus}

    def remember(self, found: Mapping[str, Product | None]) -> None:
        with self._lock:
            self._rows.update(found)


class StoreReads:
    """:class:`PricingReads` over one store connection (values always bound)."""

    def __init__(self, store: Store, products: ProductCache | None = None) -> None:
        self.store = store
        self.repo = RedemptionRepository(store)
        self.cache = products

    def products(self, skus: Sequence[str]) -> Mapping[str, Product]:
        wanted = sorted(set(skus))
        if self.cache is not None and (hit := self.cache.cached(wanted)) is not None:
            return {sku: p for sku, p in hit.items() if p is not None}
        found: dict[str, Product | None] = dict.fromkeys(wanted)
        for chunk in self.store.id_chunks(wanted):
            marks = ", ".join(f"$s{i}" for i in range(len(chunk)))
            rows = self.store._q(
                "SELECT sku, product_name, brand, category, unit_price, min_price "  # noqa: S608
                f"FROM products WHERE sku IN ({marks})",
                {f"s{i}": sku for i, sku in enumerate(chunk)},
            )
            for r in rows:
                found[str(r[0])] = Product(
                    str(r[0]), r[1], r[2], r[3], _decimal(r[4]), _decimal(r[5])
                )
        if self.cache is not None:
            self.cache.remember(found)
        return {sku: p for sku, p in found.items() if p is not None}

    def generated_code(self, code: str) -> PromoCode | None:
        key = stored_code(code)
        return self.repo.find_codes([key]).get(key)

    def promotion_uses(self, promotion: str) -> int:
        return self.repo.promotion_uses([promotion]).get(promotion, 0)

    def code_uses(self, code: str) -> int:
        key = stored_code(code)
        return self.repo.code_uses([key]).get(key, 0)

    def customer_uses(self, customer_id: str, promotion: str) -> int:
        return self.repo.customer_uses(customer_id, [promotion]).get(promotion, 0)

    def campaign_totals(self, campaigns: Sequence[str]) -> Mapping[str, tuple[Decimal, int]]:
        return self.repo.campaign_totals(list(campaigns))


class RecordingReads:
    """:class:`PricingReads` that remembers every count and code it read, so a checkout
    can tell, once it holds its locks, whether the answer priced before still stands:
    pricing is a function of the request, the catalog and these reads."""

    def __init__(self, reads: StoreReads) -> None:
        self.reads = reads
        self.seen: list[tuple[str, tuple[Any, ...], Any]] = []

    def _read(self, name: str, *args: Any) -> Any:
        value = getattr(self.reads, name)(*args)
        self.seen.append((name, args, value))
        return value

    def products(self, skus: Sequence[str]) -> Mapping[str, Product]:
        return self.reads.products(skus)  # not a limit: the catalog as it was a moment ago

    def generated_code(self, code: str) -> PromoCode | None:
        found: PromoCode | None = self._read("generated_code", code)
        return found

    def promotion_uses(self, promotion: str) -> int:
        return int(self._read("promotion_uses", promotion))

    def code_uses(self, code: str) -> int:
        return int(self._read("code_uses", code))

    def customer_uses(self, customer_id: str, promotion: str) -> int:
        return int(self._read("customer_uses", customer_id, promotion))

    def campaign_totals(self, campaigns: Sequence[str]) -> Mapping[str, tuple[Decimal, int]]:
        found: Mapping[str, tuple[Decimal, int]] = self._read("campaign_totals", tuple(campaigns))
        return found

    def unchanged(self) -> bool:
        """Whether every read gives the same value again."""
        return all(getattr(self.reads, name)(*args) == value for name, args, value in self.seen)


class CachedReads:
    """:class:`PricingReads` from the caches alone: products already seen; anything
    else raises :class:`NeedsStore`."""

    def __init__(self, products: ProductCache) -> None:
        self.cache = products

    def products(self, skus: Sequence[str]) -> Mapping[str, Product]:
        hit = self.cache.cached(sorted(set(skus)))
        if hit is None:
            raise NeedsStore
        return {sku: p for sku, p in hit.items() if p is not None}

    def generated_code(self, code: str) -> PromoCode | None:
        raise NeedsStore

    def promotion_uses(self, promotion: str) -> int:
        raise NeedsStore

    def code_uses(self, code: str) -> int:
        raise NeedsStore

    def customer_uses(self, customer_id: str, promotion: str) -> int:
        raise NeedsStore

    def campaign_totals(self, campaigns: Sequence[str]) -> Mapping[str, tuple[Decimal, int]]:
        raise NeedsStore


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


# ---- the catalog ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PricingCatalog:
    promotions: PromotionSet
    price_lists: PriceIndex
    campaigns: dict[str, Campaign]
    accounts: dict[str, AccountPortal]
    rules: CompiledPricingRules
    budgeted: tuple[str, ...]  # campaigns with a budget that some promotion names
    generated: bool  # some promotion takes codes: an entered one may be a generated code
    currency: str
    reads_profile: bool  # some audience or condition reads the stored profile
    index: AudienceIndex[tuple[str, str]]  # promotions' and price lists' audiences
    everyone: tuple[str, ...]  # the promotions without an audience (GLOBAL)

    @classmethod
    def build(cls, document: TargetingDocument, schema: Schema, currency: str) -> PricingCatalog:
        rules = CompiledPricingRules.build(
            document.promotions, document.price_lists, schema, lenient=True
        )
        named = {p.campaign for p in document.promotions}
        budgeted = tuple(
            c.code
            for c in document.campaigns
            if c.code in named
            and c.budget is not None
            and (c.budget.spend is not None or c.budget.usage is not None)
        )
        # the account portal reads the customer's business_account
        reads = bool(document.accounts or rules.conditions_reading_customer) or any(
            own for own, _ in rules.audience_needs.values()
        )
        audiences = list(rules.audience_checked.items())
        return cls(
            index=AudienceIndex.build(audiences, schema),
            everyone=tuple(p.code for p in document.promotions if p.audience is None),
            promotions=PromotionSet.build(document.promotions),
            price_lists=PriceIndex.build(document.price_lists),
            campaigns={c.code: c for c in document.campaigns},
            accounts={a.id: a for a in document.accounts},
            rules=rules,
            budgeted=budgeted,
            generated=any(p.trigger is Trigger.CODE for p in document.promotions),
            currency=currency,
            reads_profile=reads,
        )


# ---- one request -----------------------------------------------------------------------------


def request_cart(catalog: PricingCatalog, cart: RequestCart, reads: PricingReads) -> Cart:
    """The request's cart with what its lines omit taken from the product catalog; a
    :class:`RequestError` naming the field when it cannot be priced."""
    currency = cart.currency or catalog.currency
    missing = [
        ln.sku
        for ln in cart.lines
        if ln.unit_price is None
        or ln.min_price is None
        or None in (ln.product_name, ln.brand, ln.category)
    ]
    products = reads.products(missing) if missing else {}
    lines: list[Line] = []
    for i, ln in enumerate(cart.lines):
        p = products.get(ln.sku)
        unit_price = ln.unit_price
        if unit_price is None and p is not None and p.unit_price is not None:
            unit_price = _in_currency(p.unit_price, currency)
        if unit_price is None:
            raise RequestError(
                f"cart.lines[{i}].unit_price: no price given, and product {ln.sku!r} "
                "has none in the catalog"
            )
        min_price = ln.min_price
        if min_price is None and p is not None and p.min_price is not None:
            min_price = _in_currency(p.min_price, currency)
        lines.append(
            Line(
                sku=ln.sku,
                quantity=ln.quantity,
                unit_price=unit_price,
                id=ln.id,
                product_name=_given_or(ln.product_name, p.product_name if p else None),
                brand=_given_or(ln.brand, p.brand if p else None),
                category=_given_or(ln.category, p.category if p else None),
                min_price=min_price,
            )
        )
    shipping = None
    if cart.shipping_amount is not None:
        shipping = Shipping(cart.shipping_amount, cart.shipping_method)
    try:
        return Cart(currency, tuple(lines), shipping)
    except CartError as error:
        raise RequestError(str(error)) from None


def _in_currency(amount: Decimal, currency: str) -> Decimal:
    """A catalog amount rounded to the cart currency's digits (a request amount must fit:
    the cart refuses it, naming the field)."""
    return money.round_half_up(amount, currency) if money.is_currency(currency) else amount


def _given_or(given: str | None, catalog: str | None) -> str | None:
    return given if given is not None else catalog


def cart_context(base: RequestContext, cart: Cart) -> RequestContext:
    """The request context with the cart as requested (what segments and audiences read)."""
    lines = [
        CartLine(
            ln.sku,
            ln.product_name,
            ln.brand,
            ln.category,
            ln.quantity,
            ln.unit_price,
            ln.unit_price * ln.quantity,
        )
        for ln in cart.lines
    ]
    return _with_cart(base, lines)


def priced_context(base: RequestContext, priced: PricedCart) -> RequestContext:
    """The context with the cart as priced (what placements read): each line's amount is
    its total after discounts, its unit price the price list's."""
    lines = [
        CartLine(
            ln.sku, ln.product_name, ln.brand, ln.category, ln.quantity, ln.unit_price, ln.total
        )
        for ln in priced.lines
    ]
    return _with_cart(base, lines)


def _with_cart(base: RequestContext, lines: list[CartLine]) -> RequestContext:
    return RequestContext(
        logged_in=base.logged_in,
        view=base.view,
        store=base.store,
        channel=base.channel,
        path=base.path,
        query=base.query,
        cart_subtotal=sum((ln.amount or Decimal(0) for ln in lines), Decimal(0)) if lines else None,
        cart_quantity=sum(ln.quantity or 0 for ln in lines) if lines else None,
        cart_lines=lines,
    )


@dataclass
class Limits:
    """The limits callback of one request: counts read once each, through ``reads``.
    ``checked`` collects the promotions (and their campaigns) whose limits were asked,
    the keys a checkout locks."""

    reads: PricingReads
    customer_id: str | None
    checked: set[str] = field(default_factory=set)
    _generated: dict[str, PromoCode | None] = field(default_factory=dict)

    def generated(self, code: str) -> PromoCode | None:
        if code not in self._generated:
            self._generated[code] = self.reads.generated_code(code)
        return self._generated[code]

    def __call__(self, p: Promotion, code: str | None) -> Refusal | None:
        self.checked.add(p.code)
        if p.usage_limit is not None and self.reads.promotion_uses(p.code) >= p.usage_limit:
            return Reason.USAGE_LIMIT, f"used by {p.usage_limit} orders, its limit"
        if code is not None:
            generated = self.generated(code)
            if generated is not None and generated.promotion == p.code:
                if generated.customer_id is not None and generated.customer_id != self.customer_id:
                    return Reason.CODE_RECIPIENT, "the code was issued to another customer"
                if generated.uses is not None and self.reads.code_uses(code) >= generated.uses:
                    return Reason.CODE_USED, f"the code has been used {generated.uses} times"
        if p.per_customer_limit is not None:
            if self.customer_id is None:
                return Reason.CUSTOMER_LIMIT, "limited per customer: a known customer only"
            used = self.reads.customer_uses(self.customer_id, p.code)
            if used >= p.per_customer_limit:
                return Reason.CUSTOMER_LIMIT, f"this customer has used it {used} times"
        return None

    def code_owners(self, code: str) -> tuple[str, ...]:
        generated = self.generated(code)
        return (generated.promotion,) if generated is not None else ()


def needs_limits(p: Promotion) -> bool:
    return p.usage_limit is not None or p.per_customer_limit is not None


def budgets_left(
    catalog: PricingCatalog, reads: PricingReads, campaigns: Sequence[str]
) -> dict[str, BudgetLeft]:
    if not campaigns:
        return {}
    totals = reads.campaign_totals(campaigns)
    out: dict[str, BudgetLeft] = {}
    for code in campaigns:
        budget = catalog.campaigns[code].budget
        assert budget is not None
        spent, orders = totals.get(code, (Decimal(0), 0))
        out[code] = BudgetLeft(
            spend=budget.spend - spent if budget.spend is not None else None,
            usage=budget.usage - orders if budget.usage is not None else None,
        )
    return out


@dataclass(frozen=True)
class PricedRequest:
    priced: PricedCart
    limits: Limits  # what it asked of the limits: the keys a checkout locks
    catalog: PricingCatalog


def price_request(
    catalog: PricingCatalog,
    cart: Cart,
    codes: Sequence[str],
    profile: Profile,
    *,
    customer_id: str | None,
    known: bool,
    context: RequestContext,
    at: dt.datetime,
    reads: PricingReads,
    anonymous_segments: frozenset[str],
    explain: bool,
) -> PricedRequest:
    """The cart priced for this visitor at ``at``. ``context`` is the request's, with the
    cart as requested; ``profile`` what audiences read (stored data and segments)."""
    limits = Limits(reads, customer_id if known else None)
    account = None
    if known and catalog.accounts:
        account_id = profile.fields.get("business_account")
        account = catalog.accounts.get(account_id) if isinstance(account_id, str) else None
    budgets = budgets_left(catalog, reads, catalog.budgeted)
    # every audience answered as its predicate would (login_required is decided apart)
    matched = frozenset(catalog.index.match(profile, at, context))
    rules = catalog.rules.for_request(
        profile,
        at,
        context,
        known=known,
        anonymous_segments=anonymous_segments,
        indexed=AudienceAnswer(catalog.rules.audience_checked.keys(), matched),
    )
    rules = replace(rules, limits=limits)
    if catalog.generated:
        rules = replace(rules, code_owners=limits.code_owners)
    promotions = catalog.promotions
    if not explain:
        # Only the promotions that can apply are priced: GLOBAL ones, those whose audience
        # the index finds true, and the owners of the codes entered (their rejections are
        # always reported). Explain prices every one, to say why each did not apply.
        kept = [*catalog.everyone, *(code for kind, code in matched if kind == "promotion")]
        for entered in codes:
            key = normalize_code(entered)
            kept += promotions.listed.get(key, ())
            if catalog.generated and key:
                kept += limits.code_owners(key)
        promotions = promotions.subset(kept)
    priced = price_cart(
        cart,
        catalog.price_lists,
        promotions,
        rules,
        now=at,
        context=context,
        codes=codes,
        campaigns=catalog.campaigns,
        budgets_left=budgets,
        account=account,
        default_currency=catalog.currency,
        explain=explain,
    )
    return PricedRequest(priced, limits, catalog)
