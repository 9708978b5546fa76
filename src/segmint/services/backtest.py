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

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from typing import Any

from segmint.clock import parse_instant
from segmint.errors import ConfigError, NotFoundError
from segmint.model.profile import Profile, RequestContext
from segmint.services.backtest_history import (
    ORDER_CHUNK,
    CustomerTimeline,
    HistoricalEvaluator,
    Lender,
    PastOrder,
    ProductStock,
    count_orders,
    lender,
    load_timelines,
    order_cart,
    profile_reads,
    stream_orders,
)
from segmint.services.cart_pricing import (
    PricedRequest,
    PricingCatalog,
    Product,
    cart_context,
    price_request,
)
from segmint.services.evaluate import Catalog, Evaluation
from segmint.services.levers import current_document, default_currency
from segmint.services.targeting import audience_profile
from segmint.store.base import Store
from segmint.store.levers import LeverRepository
from segmint.store.redemptions import PromoCode
from segmint.store.segments import SegmentRepository
from segmint.targeting import document as doc
from segmint.targeting.cart import PricedCart
from segmint.targeting.model import (
    AccountPortal,
    Campaign,
    LeverKind,
    Promotion,
    TargetingDocument,
    Trigger,
)
from segmint.targeting.schedules import refusal

#: Orders read per query (keyset pagination over ``(placed_at, id)``).
Progress = Callable[[int, int], None]  # (orders done, orders in the period)


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
        """Whether an order may be found not to need pricing: the variant is not GLOBAL
        (else every order is a candidate for it)."""
        return self.code not in self.catalog.everyone

    def needs_pricing(
        self,
        profile: Profile,
        at: dt.datetime,
        context: RequestContext,
        live: frozenset[str],
    ) -> bool:
        """Whether pricing this order can matter to the report: the variant or a stateful
        promotion that can still apply (``live``, see :meth:`SimulatedReads.live`) is a
        candidate (GLOBAL, or its audience true). Otherwise the variant neither applies
        nor is near, and what applies changes no count that a later order reads — the
        answer is exact without pricing."""
        if live & self.everyone:
            return True
        for kind, code in self.catalog.index.match(profile, at, context):
            if kind == "promotion" and (code == self.code or code in live):
                return True
        return False

    @cached_property
    def everyone(self) -> frozenset[str]:
        return frozenset(self.catalog.everyone)


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

    def live(self, variant: Variant, order: PastOrder) -> frozenset[str]:
        """The variant's stateful promotions that can still apply to this order: their
        schedule and their campaign's admit its instant and store, and none of their limits
        is used up (a usage limit, the customer's limit, the campaign's orders or spend).
        A promotion that cannot apply records nothing, so an order with none of these
        changes no count a later order reads."""
        catalog = variant.catalog
        customer_id, at, store = order.customer_id, order.placed_at, order.store
        out: list[str] = []
        for code in variant.stateful:
            p = catalog.promotions.by_code[code]
            if refusal(p.schedule, at, store, code) is not None:
                continue
            if p.usage_limit is not None and self.promotions.get(code, 0) >= p.usage_limit:
                continue
            limit = p.per_customer_limit
            if limit is not None and self.customers.get((customer_id, code), 0) >= limit:
                continue
            campaign = catalog.campaigns.get(p.campaign) if p.campaign is not None else None
            if campaign is not None and refusal(campaign.schedule, at, store, code) is not None:
                continue
            if campaign is not None and campaign.budget is not None:
                spent, orders = self.campaigns.get(campaign.code, (Decimal(0), 0))
                budget = campaign.budget
                if budget.usage is not None and orders >= budget.usage:
                    continue
                if budget.spend is not None and spent >= budget.spend:
                    continue
            out.append(code)
        return frozenset(out)

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
                and not variant.needs_pricing(
                    profile, order.placed_at, context, r.live(variant, order)
                )
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
