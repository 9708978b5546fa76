"""Hypothesis strategies for small, nasty data sets and the rules that probe them.

Values come from shared pools so that generated rules actually hit generated data:
the same non-ASCII strings in different cases, money that sums to 0.3, timestamps at
the exact boundary instants of every window relative to ``now`` (± 1 µs), and days
straddling midnight for date-literal comparisons.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

from segmint.rules import ast as A
from segmint.rules.timeutil import shift

UTC = dt.UTC
US = dt.timedelta(microseconds=1)

#: Evaluation instants: month ends (31 January − 1m, leap February) and a last microsecond.
NOWS = (
    dt.datetime(2024, 1, 31, 10, 0, tzinfo=UTC),
    dt.datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=UTC),
    dt.datetime(2023, 3, 31, 0, 0, tzinfo=UTC),
)
DURATIONS = (
    A.Duration(1, "h"),
    A.Duration(1, "d"),
    A.Duration(7, "d"),
    A.Duration(30, "d"),
    A.Duration(2, "w"),
    A.Duration(1, "m"),
    A.Duration(6, "m"),
    A.Duration(1, "y"),
)
STRINGS = (
    "Élodie",
    "ÉLODIE",
    "élodie",
    "Jürgen",
    "JÜRGEN",
    "Straße",
    "STRASSE",
    "ẞ",
    "O'Brien",
    "back\\slash",
    "'); DROP TABLE customers; --",
    "acme",
    "ACME",
    "globex",
    "",
    "100% _x_",
)
TAGS = ("vip", "VIP", "Wholesale", "ß-club", "Ünïcode")
#: Explicit user groups (any spelling) and segment groups (code form, lower-case), sharing
#: names so that explicit and inherited groups meet; the group tests draw from both.
EXPLICIT_GROUPS = ("Gold", "gold", "VIP", "staff", "ß-club")
SEGMENT_GROUPS = ("gold", "vip", "staff", "x-1")
GROUPS = (*EXPLICIT_GROUPS, *SEGMENT_GROUPS, "none")
SEGMENT_CODES = ("s0", "s1", "s2", "s3")
MONEY = tuple(
    Decimal(x) for x in ("0", "0.1", "0.2", "0.3", "99.99", "100", "100.01", "300", "12.3456")
)
STATUSES = ("completed", "COMPLETED", "cancelled", "refunded", "failed", "pending")
SKUS = ("SKU-1", "sku-1", "SKU-42", "SKU-9")
BRANDS = ("Acme", "ACME", "Globex", "Ünïcode")
CATEGORIES = ("wine", "Wine", "beer", "coffee")
EVENT_TYPES = ("product_view", "page_view", "cart_add", "search")


def instants(now: dt.datetime) -> list[dt.datetime]:
    """Every window boundary relative to ``now``, ± 1 µs, plus now and the near future."""
    points = {now, now - US, now + US, now + dt.timedelta(days=1)}
    for duration in DURATIONS:
        edge = shift(now, duration)
        points |= {edge, edge - US, edge + US}
    # the two sides of midnight, for date-literal comparisons
    for day in (now.date(), (now - dt.timedelta(days=1)).date(), dt.date(2024, 1, 31)):
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
        points |= {midnight, midnight - US}
    return sorted(points)


def dates(now: dt.datetime) -> list[dt.date]:
    days = {i.date() for i in instants(now)}
    return sorted(days | {dt.date(2024, 2, 29), dt.date(2023, 12, 31), dt.date(1990, 5, 17)})


@dataclass
class Dataset:
    now: dt.datetime
    customers: list[dict[str, Any]] = field(default_factory=list)
    order_lines: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    #: segments (code, user_group, active, starts_at, ends_at) and memberships (code, id)
    segments: list[tuple[str, str, bool, dt.datetime | None, dt.datetime | None]] = field(
        default_factory=list
    )
    memberships: list[tuple[str, str]] = field(default_factory=list)

    def tables(self) -> dict[str, pa.Table]:
        """The data in the import formats of docs/architecture.md, typed."""
        ts = pa.timestamp("us", tz="UTC")
        money = pa.decimal128(18, 4)
        customers = pa.table(
            {
                "id": pa.array([c["id"] for c in self.customers], pa.string()),
                "email": pa.array([c["email"] for c in self.customers], pa.string()),
                "first_name": pa.array([c["first_name"] for c in self.customers], pa.string()),
                "city": pa.array([c["city"] for c in self.customers], pa.string()),
                "business_account": pa.array(
                    [c["business_account"] for c in self.customers], pa.string()
                ),
                "store": pa.array([c["store"] for c in self.customers], pa.string()),
                "newsletter_subscribed": pa.array(
                    [c["newsletter_subscribed"] for c in self.customers], pa.bool_()
                ),
                "birth_date": pa.array([c["birth_date"] for c in self.customers], pa.date32()),
                "created_at": pa.array([c["created_at"] for c in self.customers], ts),
                "tags": pa.array([c["tags"] for c in self.customers], pa.list_(pa.string())),
                "user_groups": pa.array(
                    [c["user_groups"] for c in self.customers], pa.list_(pa.string())
                ),
                "attributes.tier": pa.array([c["tier"] for c in self.customers], pa.string()),
                "attributes.score": pa.array(
                    [c["score"] for c in self.customers], pa.decimal128(38, 10)
                ),
                "attributes.married": pa.array([c["married"] for c in self.customers], pa.bool_()),
            }
        )
        lines = self.order_lines
        orders = pa.table(
            {
                "order_id": pa.array([r["order_id"] for r in lines], pa.string()),
                "customer_id": pa.array([r["customer_id"] for r in lines], pa.string()),
                "placed_at": pa.array([r["placed_at"] for r in lines], ts),
                "status": pa.array([r["status"] for r in lines], pa.string()),
                "total": pa.array([r["total"] for r in lines], money),
                "store": pa.array([r["store"] for r in lines], pa.string()),
                "sku": pa.array([r["sku"] for r in lines], pa.string()),
                "brand": pa.array([r["brand"] for r in lines], pa.string()),
                "category": pa.array([r["category"] for r in lines], pa.string()),
                "product_name": pa.array([r["product_name"] for r in lines], pa.string()),
                "quantity": pa.array([r["quantity"] for r in lines], pa.int64()),
                "unit_price": pa.array([r["unit_price"] for r in lines], money),
                "amount": pa.array([r["amount"] for r in lines], money),
            }
        )
        events = pa.table(
            {
                "id": pa.array([e["id"] for e in self.events], pa.string()),
                "customer_id": pa.array([e["customer_id"] for e in self.events], pa.string()),
                "type": pa.array([e["type"] for e in self.events], pa.string()),
                "at": pa.array([e["at"] for e in self.events], ts),
                "sku": pa.array([e["sku"] for e in self.events], pa.string()),
                "properties.color": pa.array([e["color"] for e in self.events], pa.string()),
            }
        )
        return {"customers": customers, "orders": orders, "events": events}


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def datasets(draw: st.DrawFn, max_customers: int = 6) -> Dataset:
    now = draw(st.sampled_from(NOWS))
    moments = instants(now)
    days = dates(now)
    data = Dataset(now=now)
    count = draw(st.integers(1, max_customers))
    for index in range(count):
        cid = f"c{index}"
        data.customers.append(
            {
                "id": cid,
                "email": draw(_maybe(st.sampled_from(STRINGS))),
                "first_name": draw(_maybe(st.sampled_from(STRINGS))),
                "city": draw(_maybe(st.sampled_from(STRINGS))),
                "business_account": draw(_maybe(st.sampled_from(("acme", "ACME", "globex")))),
                "store": draw(_maybe(st.sampled_from(("eu", "us")))),
                "newsletter_subscribed": draw(_maybe(st.booleans())),
                "birth_date": draw(_maybe(st.sampled_from(days))),
                "created_at": draw(_maybe(st.sampled_from(moments))),
                "tags": draw(_maybe(st.lists(st.sampled_from(TAGS), max_size=3))),
                "user_groups": draw(_maybe(st.lists(st.sampled_from(EXPLICIT_GROUPS), max_size=2))),
                "tier": draw(_maybe(st.sampled_from(("Gold", "gold", "Silver", "Ünïcode")))),
                "score": draw(_maybe(st.sampled_from(MONEY))),
                "married": draw(_maybe(st.booleans())),
            }
        )
        for order_no in range(draw(st.integers(0, 3))):
            order_id = f"{cid}-o{order_no}"
            placed_at = draw(st.sampled_from(moments))
            status = draw(st.sampled_from(STATUSES))
            total = draw(st.sampled_from(MONEY))
            store = draw(_maybe(st.sampled_from(("eu", "us"))))
            for _ in range(draw(st.integers(1, 2))):
                quantity = draw(_maybe(st.integers(0, 3)))
                unit_price = draw(_maybe(st.sampled_from(MONEY)))
                data.order_lines.append(
                    {
                        "order_id": order_id,
                        "customer_id": cid,
                        "placed_at": placed_at,
                        "status": status,
                        "total": total,
                        "store": store,
                        "sku": draw(_maybe(st.sampled_from(SKUS))),
                        "brand": draw(_maybe(st.sampled_from(BRANDS))),
                        "category": draw(_maybe(st.sampled_from(CATEGORIES))),
                        "product_name": draw(_maybe(st.sampled_from(STRINGS))),
                        "quantity": quantity,
                        "unit_price": unit_price,
                        "amount": draw(st.sampled_from(MONEY)),
                    }
                )
        for event_no in range(draw(st.integers(0, 3))):
            data.events.append(
                {
                    "id": f"{cid}-e{event_no}",
                    "customer_id": cid,
                    "type": draw(st.sampled_from((*EVENT_TYPES, "wishlist_add"))),
                    "at": draw(st.sampled_from(moments)),
                    "sku": draw(_maybe(st.sampled_from(SKUS))),
                    "color": draw(_maybe(st.sampled_from(("Red", "RED", "blue")))),
                }
            )
    # Segments giving groups, targetable or not at `now` (inactive; starting or ending at,
    # just before or just after it), and who is a member of them.
    for code in draw(st.lists(st.sampled_from(SEGMENT_CODES), unique=True, min_size=1)):
        edges = (None, now - US, now, now + US)
        starts, ends = draw(st.sampled_from(edges)), draw(st.sampled_from(edges))
        if starts is not None and ends is not None and starts >= ends:
            starts = None  # a definition needs starts < ends
        group = draw(st.sampled_from(SEGMENT_GROUPS))
        data.segments.append((code, group, draw(st.booleans()), starts, ends))
        ids = [c["id"] for c in data.customers]
        for cid in draw(st.lists(st.sampled_from(ids), unique=True, min_size=1)):
            data.memberships.append((code, cid))
    return data
