"""Checkout: evaluate, then redeem what applied, in one transaction (TARGETING.md §4).

    result = checkout(store, targeting, request, "order-1", now)
    result.answer        # the answer document, as evaluate's plus "order_id"
    result.repeated      # True: this order was checked out before; its recorded answer

Limits cannot be overspent by concurrent checkouts. The cart is priced once to learn
which promotions and campaigns have limits or budgets at stake; those are locked (on
PostgreSQL transaction-scoped advisory locks, taken in sorted order; DuckDB has one
writing connection, lent to one request at a time). Under the locks the counts and codes
that answer read are read again, now final: when they are the same the answer stands
(pricing is a function of the request, the catalog and those reads), else the cart is
priced again. The redemptions are recorded before the commit releases the locks. Counts are read
from the redemption rows, so a checkout that fails leaves nothing counted.

Checkouts are idempotent by order id: a repeat answers the recorded answer and counts
nothing; two checkouts of one order at once record one (the second's insert collides with
the first's and it answers the first's).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from segmint.errors import ConfigError, StoreError
from segmint.services.cart_pricing import Limits, RecordingReads, StoreReads, needs_limits
from segmint.services.evaluate_request import TargetingRequest
from segmint.services.targeting import Targeting, TargetingAnswer
from segmint.store.base import Store
from segmint.store.redemptions import Redemption, RedemptionRepository, normalize_code
from segmint.targeting.model import Trigger
from segmint.targeting.promotion_set import ACCOUNT_PREFIX

#: Lock keys of campaigns are prefixed so they never meet a promotion's code.
CAMPAIGN_KEY = "campaign:"
_ATTEMPTS = 4


@dataclass(frozen=True)
class CheckoutResult:
    order_id: str
    answer: str  # JSON: the evaluate answer with "order_id"
    repeated: bool
    redemptions: int  # recorded by this call (0 for a repeat)

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.answer)
        return data


def checkout(
    store: Store,
    targeting: Targeting,
    request: TargetingRequest,
    order_id: str,
    now: dt.datetime,
) -> CheckoutResult:
    """Price ``request`` and record its redemptions under ``order_id`` (see the module)."""
    if not order_id or len(order_id) > 200:
        raise ConfigError("order_id: 1 to 200 characters")
    store.require_schema()
    repo = RedemptionRepository(store)
    for attempt in range(_ATTEMPTS):
        try:
            with store.transaction():
                return _checkout_once(store, repo, targeting, request, order_id, now)
        except StoreError:
            # a concurrent checkout of the same order committed first (its key collided),
            # or two checkouts locked in opposite orders (a deadlock the server broke)
            recorded = repo.checkout(order_id)
            if recorded is not None:
                return CheckoutResult(order_id, recorded.answer, repeated=True, redemptions=0)
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _checkout_once(
    store: Store,
    repo: RedemptionRepository,
    targeting: Targeting,
    request: TargetingRequest,
    order_id: str,
    now: dt.datetime,
) -> CheckoutResult:
    recorded = repo.checkout(order_id)
    if recorded is not None:
        return CheckoutResult(order_id, recorded.answer, repeated=True, redemptions=0)
    locked: set[str] = set()
    reads = RecordingReads(StoreReads(store, targeting.products))
    answer = targeting.answer(store, request, now, reads)
    for _ in range(3):
        wanted = lock_keys(answer)
        if wanted <= locked:
            break
        repo.lock(wanted - locked)
        locked |= wanted
        # Under the locks every count is final until this transaction ends: when the
        # counts the answer read are still the same, it stands; else price again.
        if reads.unchanged():
            break
        reads = RecordingReads(StoreReads(store, targeting.products))
        answer = targeting.answer(store, request, now, reads)
    else:
        raise StoreError("error: the promotions at stake kept changing; retry the checkout")
    document = answer.to_dict()
    document["order_id"] = order_id
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    redemptions = _redemptions(answer, order_id)
    customer = answer.evaluation.customer_id if answer.evaluation.known else None
    repo.record(order_id, customer, text, redemptions, now)
    return CheckoutResult(order_id, text, repeated=False, redemptions=len(redemptions))


def lock_keys(answer: TargetingAnswer) -> set[str]:
    """The promotions whose limits this answer depended on, and their campaigns with a
    budget: what two checkouts must not count at once."""
    pricing = answer.pricing.catalog
    limits: Limits = answer.pricing.limits
    promotions = pricing.promotions.by_code
    keys: set[str] = set()
    budgeted = set(pricing.budgeted)
    for code in limits.checked:
        p = promotions.get(code)
        if p is None:
            continue
        if needs_limits(p) or p.trigger is Trigger.CODE:  # a code's own uses count too
            keys.add(code)
        if p.campaign is not None and p.campaign in budgeted:
            keys.add(CAMPAIGN_KEY + p.campaign)
    return keys


def _redemptions(answer: TargetingAnswer, order_id: str) -> list[Redemption]:
    promotions = answer.pricing.catalog.promotions.by_code
    priced = answer.priced
    customer = answer.evaluation.customer_id if answer.evaluation.known else None
    out: list[Redemption] = []
    for applied in priced.promotions:
        p = promotions.get(applied.code)
        release = p.release_on_cancel if p is not None else True
        campaign = p.campaign if p is not None else None
        if p is None and not applied.code.startswith(ACCOUNT_PREFIX):
            continue
        out.append(
            Redemption(
                order_id=order_id,
                promotion=applied.code,
                code=normalize_code(applied.via_code) if applied.via_code else None,
                customer_id=customer,
                campaign=campaign,
                amount=applied.amount + applied.shipping,
                currency=priced.currency,
                release_on_cancel=release,
            )
        )
    return out
