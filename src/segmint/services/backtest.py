"""Simulating promotions on the real orders of a past period (issue 21).

Every successful order placed in ``[start, end)`` becomes a cart — its lines, their unit
prices, its currency, its customer and store — and is priced at its own instant by the
one pricing engine (:func:`~segmint.services.cart_pricing.price_request`), once per
simulated promotion (a *variant*), as the customer stood then:

- segment memberships from ``membership_history`` (a change recorded at or before the
  instant counts, as ``segments members --at`` reads them);
- the customer's orders, lines, events and wishlist items dated strictly before the order
  (the order itself excluded); stored customer fields and attributes as they are now (they
  have no history);
- real-time segments and audiences evaluated with the order's store as ``context.store``
  (a logged-in visitor) and the cart as requested.

Each variant is priced together with the stored promotions (their own schedules decide
whether they were live at the instant) or alone; limits and campaign budgets start empty
at ``start`` and are consumed by the variant's earlier simulated orders, so exclusivity,
``stop_further``, ``best_of`` and budgets act as they would have.

Speed: orders are streamed in ``(placed_at, id)`` order in chunks; each customer's state
timeline (history sorted once, memberships advanced by a pointer) is loaded once, with only
the collections and item fields the rules read, when their first order comes; per order
nothing is read from the store.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from segmint.clock import parse_instant
from segmint.errors import ConfigError, NotFoundError
from segmint.model.profile import Profile, RequestContext
from segmint.rules import ast
from segmint.rules.items import item_fields
from segmint.rules.schema import UNSUCCESSFUL_STATUSES
from segmint.services.cart_pricing import (
    PricedRequest,
    PricingCatalog,
    Product,
    StoreReads,
    cart_context,
    price_request,
)
from segmint.services.evaluate import Catalog, CustomerState, Evaluation, Evaluator
from segmint.services.levers import current_document, default_currency
from segmint.services.targeting import audience_profile
from segmint.store.base import Store
from segmint.store.levers import LeverRepository
from segmint.store.profile_reads import COLLECTIONS
from segmint.store.redemptions import PromoCode
from segmint.store.segments import ENTER, SegmentRepository
from segmint.targeting import document as doc
from segmint.targeting import money
from segmint.targeting.cart import Cart, CartError, Line, PricedCart
from segmint.targeting.model import (
    AccountPortal,
    Campaign,
    LeverKind,
    Promotion,
    TargetingDocument,
    Trigger,
)

#: Orders read per query (keyset pagination over ``(placed_at, id)``).
ORDER_CHUNK = 2_000

Progress = Callable[[int, int], None]  # (orders done, orders in the period)
#: Lends a store for a moment (a connection pool's ``acquire``/``release``).
Lender = Callable[[], AbstractContextManager[Store]]


def lender(source: Store | Lender) -> Lender:
    """A store as a lender of itself."""
    if isinstance(source, Store):
        store = source
        return lambda: nullcontext(store)
    return source


# ---- what is simulated --------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One simulated promotion and the catalog it is priced in."""

    code: str
    promotion: Promotion
    campaign: Campaign | None
    catalog: PricingCatalog
    #: promotions whose pricing leaves a state later orders read: usage or per-customer
    #: limits, a campaign budget
    stateful: frozenset[str] = frozenset()

    @property
    def may_skip(self) -> bool:
        """Whether an order may be found not to need pricing: neither the variant nor any
        stateful promotion is GLOBAL (else every order is a candidate for them)."""
        everyone = set(self.catalog.everyone)
        return self.code not in everyone and not (self.stateful & everyone)

    def needs_pricing(self, profile: Profile, at: dt.datetime, context: RequestContext) -> bool:
        """Whether pricing this order can matter to the report: the variant or a stateful
        promotion is a candidate (its audience true). Otherwise the variant neither applies
        nor is near, and what applies changes no count that a later order reads — the
        answer is exact without pricing."""
        for kind, code in self.catalog.index.match(profile, at, context):
            if kind == "promotion" and (code == self.code or code in self.stateful):
                return True
        return False


def _simulated(p: Promotion) -> Promotion:
    """The promotion as if launched over the whole period: active, no dates of its own, and
    automatic (a code promotion as if every customer entered its code: an upper bound)."""
    schedule = replace(p.schedule, active=True, starts_at=None, ends_at=None)
    return replace(p, schedule=schedule, trigger=Trigger.AUTOMATIC, codes=())


def read_drafts(store: Store, data: Mapping[str, Any]) -> TargetingDocument:
    """A targeting document of drafts, validated as ``levers apply`` would (its campaigns
    may be stored ones), and not applied."""
    known: dict[LeverKind, set[str]] = {}
    for row in LeverRepository(store).all():
        known.setdefault(LeverKind(row.kind), set()).add(row.code)
    segments = {r.code: r.definition.kind.materialized for r in SegmentRepository(store).all()}
    return doc.read_document(
        data,
        store.rule_schema(),
        segments=segments,
        known=known,
        default_currency=default_currency(store),
    )


def build_variants(
    store: Store,
    codes: Sequence[str],
    drafts: TargetingDocument | None = None,
    *,
    alone: bool = False,
) -> list[Variant]:
    """One :class:`Variant` per code (a draft of that code replaces the stored promotion).
    No code with drafts: every draft promotion."""
    stored = current_document(store)
    drafts = drafts or TargetingDocument()
    wanted = list(dict.fromkeys(codes)) or [p.code for p in drafts.promotions]
    if not wanted:
        raise ConfigError("error: name at least one promotion to simulate")
    promotions = {p.code: p for p in stored.promotions} | {p.code: p for p in drafts.promotions}
    campaigns = {c.code: c for c in stored.campaigns} | {c.code: c for c in drafts.campaigns}
    missing = [c for c in wanted if c not in promotions]
    if missing:
        raise NotFoundError(
            "error: no promotion " + ", ".join(repr(c) for c in missing) + " (stored or drafted)"
        )
    live = [p for p in stored.promotions if p.code not in wanted]
    accounts = stored.accounts
    if alone:  # no other discount: an account's automatic one is a promotion too
        accounts = tuple(replace(a, auto_discount=None) for a in accounts)
    schema = store.rule_schema()
    currency = default_currency(store)
    out: list[Variant] = []
    for code in wanted:
        promotion = _simulated(promotions[code])
        own = campaigns.get(promotion.campaign) if promotion.campaign is not None else None
        these = dict(campaigns)
        if own is not None:  # the campaign's dates follow the simulated period too
            own = replace(own, schedule=replace(own.schedule, starts_at=None, ends_at=None))
            these[own.code] = own
        document = TargetingDocument(
            campaigns=tuple(these[k] for k in sorted(these)),
            promotions=tuple(sorted([*([] if alone else live), promotion], key=_code)),
            accounts=tuple(sorted(accounts, key=_account_id)),
        )
        catalog = PricingCatalog.build(document, schema, currency)
        stateful = frozenset(
            p.code
            for p in document.promotions
            if p.usage_limit is not None
            or p.per_customer_limit is not None
            or (p.campaign is not None and p.campaign in catalog.budgeted)
        )
        out.append(Variant(code, promotion, own, catalog, stateful))
    return out


def _code(p: Promotion) -> str:
    return p.code


def _account_id(a: AccountPortal) -> str:
    return a.id


def period(start: str, end: str) -> tuple[dt.datetime, dt.datetime]:
    """``--from``/``--to`` as a half-open period: a date is a whole UTC day, so ``--to``
    2017-01-31 ends at 2017-02-01T00:00Z; an instant is taken as it is."""
    a = parse_instant(start, what="from")
    b = parse_instant(end, what="to")
    if len(end.strip()) == 10:
        b += dt.timedelta(days=1)
    if not a < b:
        raise ConfigError(f"error: the period {start} .. {end} is empty (from must be before to)")
    return a, b


# ---- the orders -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PastOrder:
    id: str
    customer_id: str
    placed_at: dt.datetime
    store: str | None
    cart: Cart
    revenue: Decimal  # the cart's subtotal


def order_cart(
    currency: str,
    lines: Sequence[tuple[str | None, int | None, Any, Any, str | None, str | None, str | None]],
    products: Mapping[str, Product],
) -> Cart | None:
    """The cart of an order's lines ``(sku, quantity, unit_price, amount, product_name,
    brand, category)``: a line's unit price is its amount over its quantity when that is a
    whole number of minor units, else the line is one unit of its amount (so the revenue
    is exactly what was paid); without an amount, its ``unit_price`` half-up to the
    currency's digits. ``min_price`` comes from
    the product catalog. Lines without a sku or a positive quantity are left out; None when
    nothing is left or the currency is unknown."""
    if not money.is_currency(currency):
        return None
    out: list[Line] = []
    for sku, quantity, unit_price, amount, name, brand, category in lines:
        if not sku or quantity is None or quantity < 1:
            continue
        if amount is not None:
            paid = money.round_half_up(max(Decimal(str(amount)), Decimal(0)), currency)
            unit = money.round_half_up(paid / quantity, currency)
            if unit * quantity != paid:
                # not a whole number of minor units per unit (3 for 1.00, 16,738 ml of
                # fuel for 41.33): one unit of what was paid, so the revenue stays exact
                unit, quantity = paid, 1
        elif unit_price is not None:
            unit = money.round_half_up(max(Decimal(str(unit_price)), Decimal(0)), currency)
        else:
            continue
        p = products.get(sku)
        min_price = None
        if p is not None and p.min_price is not None:
            min_price = money.round_half_up(p.min_price, currency)
        out.append(
            Line(
                sku=sku,
                quantity=quantity,
                unit_price=unit,
                id=str(len(out) + 1),
                product_name=name if name is not None else p.product_name if p else None,
                brand=brand if brand is not None else p.brand if p else None,
                category=category if category is not None else p.category if p else None,
                min_price=min_price,
            )
        )
    if not out:
        return None
    try:
        return Cart(currency, tuple(out), None)
    except CartError:
        return None


_SUCCESSFUL = (
    "(o.status IS NULL OR lower(o.status) NOT IN ("
    + ", ".join(f"'{s}'" for s in UNSUCCESSFUL_STATUSES)
    + "))"
)


def count_orders(store: Store, start: dt.datetime, end: dt.datetime) -> int:
    return store._count(
        f"SELECT COUNT(*) FROM orders o WHERE o.placed_at >= $a AND o.placed_at < $b "  # noqa: S608
        f"AND {_SUCCESSFUL}",
        {"a": start, "b": end},
    )


def stream_orders(
    source: Store | Lender,
    start: dt.datetime,
    end: dt.datetime,
    currency: str,
    products: ProductStock,
    chunk: int = ORDER_CHUNK,
) -> Iterator[PastOrder | None]:
    """The period's successful orders in ``(placed_at, id)`` order, ``chunk`` at a time
    (None for an order that gives no cart: no priced line, an unknown currency). The store
    is borrowed for each chunk's reads only, never while the caller works on the orders."""
    lend = lender(source)
    after: tuple[dt.datetime, str] | None = None
    while True:
        params: dict[str, Any] = {"a": start, "b": end, "n": chunk}
        keyset = ""
        if after is not None:
            keyset = " AND (o.placed_at > $t OR (o.placed_at = $t AND o.id > $i))"
            params |= {"t": after[0], "i": after[1]}
        lines: dict[str, list[Any]] = {}
        with lend() as store:
            rows = store._q(
                "SELECT o.id, o.customer_id, o.placed_at, o.store, o.currency FROM orders o "  # noqa: S608
                f"WHERE o.placed_at >= $a AND o.placed_at < $b AND {_SUCCESSFUL}{keyset} "
                "ORDER BY o.placed_at, o.id LIMIT $n",
                params,
            )
            if not rows:
                return
            ids = [str(r[0]) for r in rows]
            for part in store.id_chunks(ids):
                marks = ", ".join(f"$o{i}" for i in range(len(part)))
                for r in store._q(
                    "SELECT order_id, sku, quantity, unit_price, amount, product_name, brand, "  # noqa: S608
                    f"category FROM order_lines WHERE order_id IN ({marks}) "
                    "ORDER BY order_id, line_no",
                    {f"o{i}": o for i, o in enumerate(part)},
                ):
                    lines.setdefault(str(r[0]), []).append(tuple(r[1:]))
            products.load(store, {str(ln[0]) for ls in lines.values() for ln in ls if ln[0]})
        for oid, cid, placed_at, shop, cur in rows:
            cart = order_cart(str(cur or currency).upper(), lines.get(str(oid), []), products.rows)
            if cart is None:
                yield None
            else:
                revenue = sum((ln.unit_price * ln.quantity for ln in cart.lines), Decimal(0))
                yield PastOrder(str(oid), str(cid), placed_at, shop, cart, revenue)
        last = rows[-1]
        after = (last[2], str(last[0]))


@dataclass
class ProductStock:
    """The products the period's orders name, read once each."""

    rows: dict[str, Product] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def load(self, store: Store, skus: set[str]) -> None:
        new = sorted(skus - self.seen)
        if new:
            self.rows.update(StoreReads(store).products(new))
            self.seen.update(new)


# ---- the customers' state at an instant -----------------------------------------------------


def _time(item: Any, name: str) -> dt.datetime | None:
    value = getattr(item, name)
    return value if isinstance(value, dt.datetime) else None


@dataclass
class CustomerTimeline:
    """One customer's history, sorted once: the state at any later instant is a prefix of
    each collection (found by bisection) and the memberships the changes up to it leave."""

    profile: Profile  # stored fields; every collection sorted by its instant (undated out)
    explicit_groups: list[str]
    changes: list[tuple[dt.datetime, int, str, str]]  # (at, seq, segment, change), sorted
    times: dict[str, list[dt.datetime]] = field(default_factory=dict)
    memberships: dict[str, dt.datetime] = field(default_factory=dict)
    applied: int = 0  # changes applied so far (instants only move forward)
    last: dt.datetime | None = None

    @classmethod
    def of(
        cls,
        profile: Profile,
        changes: list[tuple[dt.datetime, int, str, str]],
    ) -> CustomerTimeline:
        times: dict[str, list[dt.datetime]] = {}
        for name, stamp in _STAMPS.items():
            dated = [(t, i) for i, x in enumerate(getattr(profile, name)) if (t := _time(x, stamp))]
            dated.sort(key=lambda ti: ti)
            items = getattr(profile, name)
            setattr(profile, name, [items[i] for _, i in dated])
            times[name] = [t for t, _ in dated]
        groups = profile.fields.get("user_groups") or []
        return cls(profile, [str(g) for g in groups], sorted(changes), times)

    def state_at(self, at: dt.datetime) -> CustomerState:
        """The customer as they stood at ``at`` (never earlier than the last instant asked)."""
        if self.last is not None and at < self.last:
            raise ValueError("a customer timeline moves forward only")
        self.last = at
        changes = self.changes
        while self.applied < len(changes) and changes[self.applied][0] <= at:
            when, _, code, change = changes[self.applied]
            if change == ENTER:
                self.memberships[code] = when
            else:
                self.memberships.pop(code, None)
            self.applied += 1
        base = self.profile
        cut = {n: bisect.bisect_left(t, at) for n, t in self.times.items()}
        profile = Profile(
            id=base.id,
            fields=base.fields,
            attributes=base.attributes,
            orders=base.orders[: cut["orders"]],
            lines=base.lines[: cut["lines"]],
            events=base.events[: cut["events"]],
            wishlist=base.wishlist[: cut["wishlist"]],
        )
        return CustomerState(True, dict(self.memberships), self.explicit_groups, profile, 0.0)


#: each collection's instant field: items dated strictly before an order are its history
_STAMPS = {"orders": "placed_at", "lines": "placed_at", "events": "at", "wishlist": "added_at"}


def profile_reads(
    catalogs: Sequence[PricingCatalog], segments: Catalog
) -> tuple[list[str], dict[str, frozenset[str]]]:
    """The collections and item fields any rule reads (real-time segments, audiences,
    conditions), with the instants that cut them; what :meth:`Store.load_profiles` prunes."""
    rules: list[ast.Rule] = [rt.predicate.rule for rt in segments.realtime]
    for catalog in catalogs:
        rules += [c.rule for c in catalog.rules.audience_checked.values()]
        rules += list(catalog.rules.condition_asts.values())
    found = {c: f for c, f in item_fields(rules).items() if c in COLLECTIONS}
    fields = {c: f | {_STAMPS[c]} for c, f in found.items()}
    return sorted(found), fields


def load_timelines(
    store: Store,
    customer_ids: Sequence[str],
    before: dt.datetime,
    collections: Sequence[str],
    fields: Mapping[str, frozenset[str]],
) -> dict[str, CustomerTimeline]:
    """The timelines of these customers (unknown ids absent): one read per table."""
    profiles = store.load_profiles(customer_ids, collections, fields)
    changes: dict[str, list[tuple[dt.datetime, int, str, str]]] = {}
    ids = sorted(profiles)
    for part in store.id_chunks(ids):
        marks = ", ".join(f"$c{i}" for i in range(len(part)))
        params: dict[str, Any] = {f"c{i}": c for i, c in enumerate(part)} | {"b": before}
        for cid, seq, code, change, at in store._q(
            'SELECT customer_id, seq, segment_code, change, "at" FROM membership_history '  # noqa: S608
            f'WHERE customer_id IN ({marks}) AND "at" < $b',
            params,
        ):
            changes.setdefault(str(cid), []).append((at, int(seq), str(code), str(change)))
    return {cid: CustomerTimeline.of(p, changes.get(cid, [])) for cid, p in profiles.items()}


class HistoricalEvaluator(Evaluator):
    """The segment evaluator answering for a customer from the state it is given (their
    state at the order's instant) instead of the store's current one; the catalog is read
    once and kept for the run."""

    def __init__(self) -> None:
        super().__init__(catalog_ttl=float("inf"))
        self.state: CustomerState | None = None

    def customer(
        self, store: Store, customer_id: str, catalog: Catalog, full_profile: bool = False
    ) -> CustomerState:
        return self.cached_customer(customer_id)

    def cached_customer(self, customer_id: str) -> CustomerState:
        if self.state is None:
            return CustomerState(False, {}, [], None, 0.0)
        return self.state


# ---- the limits within the run --------------------------------------------------------------


@dataclass
class SimulatedReads:
    """:class:`~segmint.services.cart_pricing.PricingReads` over one variant's simulated
    redemptions (the run starts with none); products from the period's stock."""

    stock: ProductStock
    promotions: dict[str, int] = field(default_factory=dict)
    customers: dict[tuple[str, str], int] = field(default_factory=dict)
    campaigns: dict[str, tuple[Decimal, int]] = field(default_factory=dict)

    def products(self, skus: Sequence[str]) -> Mapping[str, Product]:
        return {s: self.stock.rows[s] for s in skus if s in self.stock.rows}

    def generated_code(self, code: str) -> PromoCode | None:
        return None  # no code is entered

    def promotion_uses(self, promotion: str) -> int:
        return self.promotions.get(promotion, 0)

    def code_uses(self, code: str) -> int:
        return 0

    def customer_uses(self, customer_id: str, promotion: str) -> int:
        return self.customers.get((customer_id, promotion), 0)

    def campaign_totals(self, campaigns: Sequence[str]) -> Mapping[str, tuple[Decimal, int]]:
        return {c: self.campaigns[c] for c in campaigns if c in self.campaigns}

    def redeem(self, priced: PricedCart, customer_id: str, catalog: PricingCatalog) -> None:
        """Record the order's redemptions as a checkout would (one per promotion applied;
        a campaign counts the order once)."""
        touched: dict[str, Decimal] = {}
        for applied in priced.promotions:
            self.promotions[applied.code] = self.promotions.get(applied.code, 0) + 1
            key = (customer_id, applied.code)
            self.customers[key] = self.customers.get(key, 0) + 1
            p = catalog.promotions.by_code.get(applied.code)
            if p is not None and p.campaign is not None:
                amount = applied.amount + applied.shipping
                touched[p.campaign] = touched.get(p.campaign, Decimal(0)) + amount
        for campaign, amount in touched.items():
            spent, orders = self.campaigns.get(campaign, (Decimal(0), 0))
            self.campaigns[campaign] = (spent + amount, orders + 1)


# ---- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderOutcome:
    """One order priced under every variant (in the variants' order)."""

    order: PastOrder
    evaluation: Evaluation
    priced: tuple[PricedCart | None, ...]  # None: not priced, it could not matter
    budget_refused: tuple[bool, ...]  # the variant's budget first kept it from an order


def context_of(order: PastOrder) -> RequestContext:
    """The request an order stands for: a logged-in visitor in the order's store."""
    return cart_context(RequestContext(logged_in=True, store=order.store), order.cart)


def price_order(
    variant: Variant,
    order: PastOrder,
    evaluation: Evaluation,
    context: RequestContext,
    reads: SimulatedReads,
    segments: Catalog,
) -> PricedRequest:
    return price_request(
        variant.catalog,
        order.cart,
        (),
        audience_profile(evaluation),
        customer_id=evaluation.customer_id,
        known=evaluation.known,
        context=context,
        at=order.placed_at,
        reads=reads,
        anonymous_segments=segments.anonymous_segments,
        explain=False,
    )


@dataclass
class RunCounts:
    """What a run saw besides its outcomes."""

    orders: int = 0  # the period's successful orders
    without_cart: int = 0  # no line with a sku, a positive quantity and a price


def run(
    source: Store | Lender,
    variants: Sequence[Variant],
    start: dt.datetime,
    end: dt.datetime,
    progress: Progress | None = None,
    *,
    chunk: int = ORDER_CHUNK,
    skip: bool = True,
    counts: RunCounts | None = None,
) -> Iterator[OrderOutcome]:
    """Every order of the period priced under every variant, in ``(placed_at, id)`` order.
    With ``skip``, an order that cannot matter to a variant (:meth:`Variant.needs_pricing`)
    is not priced for it: its ``priced`` entry is None (nothing applied, nothing near).
    ``counts``, when given, is filled as the run goes."""
    if not start < end:
        raise ConfigError("error: the period is empty (--from must be before --to)")
    lend = lender(source)
    evaluator = HistoricalEvaluator()
    with lend() as store:
        store.require_schema()
        segments = evaluator.catalog(store)
        currency = default_currency(store)
        total = count_orders(store, start, end)
    counts = counts if counts is not None else RunCounts()
    counts.orders = total
    collections, fields = profile_reads([v.catalog for v in variants], segments)
    stock = ProductStock()
    reads = [SimulatedReads(stock) for _ in variants]
    timelines: dict[str, CustomerTimeline] = {}
    ran_out = [False] * len(variants)
    skipping = skip and any(v.may_skip for v in variants)
    pending: list[PastOrder | None] = []
    done = 0

    def flush() -> Iterator[OrderOutcome]:
        nonlocal done
        wanted = sorted({o.customer_id for o in pending if o is not None} - timelines.keys())
        if wanted:
            with lend() as store:
                timelines.update(load_timelines(store, wanted, end, collections, fields))
        for order in pending:
            done += 1
            if order is not None:
                yield _one(order)
            else:
                counts.without_cart += 1
            if progress is not None and (done % 500 == 0 or done == total):
                progress(done, total)
        pending.clear()

    def _one(order: PastOrder) -> OrderOutcome:
        timeline = timelines.get(order.customer_id)
        evaluator.state = timeline.state_at(order.placed_at) if timeline else None
        context = context_of(order)
        # from the evaluator's caches: the catalog read at the start, the state set above
        evaluation = evaluator.evaluate_cached(
            order.customer_id, context, order.placed_at, full_profile=True
        )
        assert evaluation is not None
        priced: list[PricedCart | None] = []
        refused: list[bool] = []
        profile = audience_profile(evaluation) if skipping else None
        for i, (variant, r) in enumerate(zip(variants, reads, strict=True)):
            if (
                profile is not None
                and variant.may_skip
                and not variant.needs_pricing(profile, order.placed_at, context)
            ):
                priced.append(None)
                refused.append(False)
                continue
            answer = price_order(variant, order, evaluation, context, r, segments).priced
            # looked for until found: the day the budget runs out is its first refusal
            missed = not ran_out[i] and _budget_refused(
                variant, order, evaluation, context, r, segments, answer
            )
            ran_out[i] = ran_out[i] or missed
            refused.append(missed)
            r.redeem(answer, order.customer_id, variant.catalog)
            priced.append(answer)
        return OrderOutcome(order, evaluation, tuple(priced), tuple(refused))

    for order in stream_orders(lend, start, end, currency, stock, chunk):
        pending.append(order)
        if len(pending) >= chunk:
            yield from flush()
    yield from flush()
    if progress is not None and done != total:
        progress(done, done)


def _budget_refused(
    variant: Variant,
    order: PastOrder,
    evaluation: Evaluation,
    context: RequestContext,
    reads: SimulatedReads,
    segments: Catalog,
    answer: PricedCart,
) -> bool:
    """Whether the variant missed this order only for its campaign's budget: it did not
    apply while something of the budget was used, and applies with the budget untouched."""
    campaign = variant.campaign
    if campaign is None or campaign.budget is None or campaign.code not in reads.campaigns:
        return False
    if any(a.code == variant.code for a in answer.promotions):
        return False
    fresh = replace(
        reads, campaigns={k: v for k, v in reads.campaigns.items() if k != campaign.code}
    )
    again = price_order(variant, order, evaluation, context, fresh, segments).priced
    return any(a.code == variant.code for a in again.promotions)


__all__ = [
    "ORDER_CHUNK",
    "CustomerTimeline",
    "HistoricalEvaluator",
    "Lender",
    "OrderOutcome",
    "PastOrder",
    "RunCounts",
    "SimulatedReads",
    "Variant",
    "build_variants",
    "context_of",
    "lender",
    "load_timelines",
    "order_cart",
    "period",
    "price_order",
    "read_drafts",
    "run",
    "stream_orders",
]
