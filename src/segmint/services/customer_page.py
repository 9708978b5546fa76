"""What the admin customer page shows: the overview (profile, derived fields, segments,
user groups; services/user_groups.py), the customer's recent orders and events, the one
currency their orders are in, and for each segment they are in by its rule the *why*:
the explain tree of that rule for them (engine/explain.py), as ``segmint explain`` prints it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from segmint.engine import explain as explain_engine
from segmint.engine import groups
from segmint.errors import RuleError
from segmint.model.profile import EventItem, OrderItem
from segmint.rules import check, parse
from segmint.services import segments as segments_service
from segmint.services import user_groups as groups_service
from segmint.store.base import Store

#: How many of the latest orders and events the page lists.
RECENT = 10
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class RecentOrder:
    order: OrderItem
    lines: int


@dataclass(frozen=True)
class CustomerPage:
    overview: groups_service.CustomerOverview
    currency: str | None  # of their orders, when they are all in one
    orders: list[RecentOrder]  # latest first
    events: list[EventItem]  # latest first
    why: dict[str, list[explain_engine.ExplainStep]]  # segment code -> explain tree


def customer_page(store: Store, customer_id: str, now: dt.datetime) -> CustomerPage:
    """Everything the customer page shows; NotFoundError for an unknown id."""
    overview = groups_service.customer_overview(store, customer_id, now)
    schema = store.rule_schema()
    profiles = store.load_profiles([customer_id])
    groups.attach_segments(store, profiles, now)
    profile = profiles[customer_id]
    currencies = {o.currency for o in profile.orders if o.currency}
    lines = Counter(line.order_id for line in profile.lines)
    orders = sorted(profile.orders, key=lambda o: (o.placed_at or _EPOCH, o.id), reverse=True)
    events = sorted(profile.events, key=lambda e: (e.at or _EPOCH, e.id), reverse=True)
    why: dict[str, list[explain_engine.ExplainStep]] = {}
    for membership in overview.segments:
        if membership.reason != "rule":
            continue
        text = segments_service.get_segment(store, membership.code).definition.effective_rule
        if text is None:
            continue
        try:
            rule = check(parse(text), schema, text=text, allow_realtime=False).rule
        except RuleError:  # a stored rule that no longer checks (an attribute dropped)
            continue
        why[membership.code] = explain_engine.explain(rule, profile, now, schema).steps
    return CustomerPage(
        overview=overview,
        currency=currencies.pop() if len(currencies) == 1 else None,
        orders=[RecentOrder(o, lines[o.id]) for o in orders[:RECENT]],
        events=events[:RECENT],
        why=why,
    )
