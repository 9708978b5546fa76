"""Random rules over the conformance data's pools (see data.py), built as ASTs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from segmint.rules import ast as A

from .data import (
    BRANDS,
    CATEGORIES,
    DURATIONS,
    GROUPS,
    MONEY,
    SEGMENT_CODES,
    SKUS,
    STATUSES,
    STRINGS,
    TAGS,
    dates,
    instants,
)

CMP_OPS = ("=", "!=", "<", "<=", ">", ">=")
TEXT_OPS = ("CONTAINS", "STARTS WITH", "ENDS WITH")
FRAGMENTS = ("lo", "É", "é", "'", "\\", "%", "_", "ss", "ß", "ACM", "--", "x_")

# field name -> kind, per scope
CUSTOMER = {
    "id": "s",
    "email": "s",
    "first_name": "s",
    "city": "s",
    "business_account": "s",
    "store": "s",
    "attributes.tier": "s",
    "tags": "l",
    "user_groups": "g",  # a list of strings: explicit and inherited groups
    "newsletter_subscribed": "b",
    "attributes.married": "b",
    "birth_date": "d",
    "created_at": "t",
    "first_order_at": "t",
    "last_order_at": "t",
    "attributes.score": "n",
    "total_spent": "n",
    "average_order_value": "n",
    "orders_count": "n",
}
ITEMS = {
    "orders": {
        "id": "s",
        "status": "s",
        "store": "s",
        "placed_at": "t",
        "total": "n",
        "item_count": "n",
    },
    "lines": {
        "sku": "s",
        "brand": "s",
        "category": "s",
        "product_name": "s",
        "status": "s",
        "store": "s",
        "placed_at": "t",
        "quantity": "n",
        "unit_price": "n",
        "amount": "n",
    },
    "events": {"type": "s", "sku": "s", "properties.color": "s", "at": "t"},
    "wishlist": {"sku": "s", "added_at": "t"},
}
STRING_POOL = (*STRINGS, *SKUS, *BRANDS, *CATEGORIES, *STATUSES, "Red", "gold", "product_view")


def path(name: str) -> A.Path:
    return A.Path(tuple(name.split(".")))


class RuleMaker:
    """Draws typed atoms and combines them; ``now`` fixes the literal instant pools."""

    def __init__(self, now: dt.datetime) -> None:
        self.instants = instants(now)
        self.dates = dates(now)

    def literal(self, draw: st.DrawFn, kind: str) -> A.Literal:
        pools: dict[str, Any] = {
            "s": st.sampled_from(STRING_POOL),
            "n": st.sampled_from(MONEY),
            "b": st.booleans(),
            "d": st.sampled_from(self.dates),
            "t": st.one_of(st.sampled_from(self.instants), st.sampled_from(self.dates)),
        }
        return A.Literal(draw(pools[kind]))

    def temporal_operand(self, draw: st.DrawFn, kind: str) -> A.Value:
        choice = draw(st.integers(0, 2))
        if choice == 0:
            return A.RelativeTime(draw(st.one_of(st.none(), st.sampled_from(DURATIONS))))
        return self.literal(draw, kind)

    def atom(self, draw: st.DrawFn, value: A.Value, kind: str, nullable: bool = True) -> A.Rule:
        neg = draw(st.booleans())
        if nullable and draw(st.integers(0, 9)) == 0:
            return A.IsNull(value, neg)
        if kind == "b":
            if draw(st.booleans()):
                return A.BoolTest(value)
            return A.Compare(
                draw(st.sampled_from(("=", "!="))), value, A.Literal(draw(st.booleans()))
            )
        if kind == "l":
            return A.TextMatch("CONTAINS", value, A.Literal(draw(st.sampled_from(TAGS))), neg)
        if kind == "g":
            pattern: A.Value = A.Literal(draw(st.sampled_from(GROUPS)))
            if draw(st.integers(0, 4)) == 0:  # a field pattern: every group observed
                pattern = path("attributes.tier")
            return A.TextMatch("CONTAINS", value, pattern, neg)
        if kind == "s":
            form = draw(st.integers(0, 3))
            if form == 0:
                op = draw(st.sampled_from(CMP_OPS))
                return A.Compare(op, value, self.literal(draw, "s"))
            if form == 1:
                items = draw(st.lists(st.sampled_from(STRING_POOL), min_size=1, max_size=3))
                return A.InList(value, tuple(A.Literal(i) for i in items), neg)
            pattern = draw(st.one_of(st.sampled_from(FRAGMENTS), st.sampled_from(STRING_POOL)))
            return A.TextMatch(draw(st.sampled_from(TEXT_OPS)), value, A.Literal(pattern), neg)
        if kind == "n":
            form = draw(st.integers(0, 2))
            if form == 0:
                return A.Compare(draw(st.sampled_from(CMP_OPS)), value, self.literal(draw, "n"))
            if form == 1:
                low, high = sorted(draw(st.lists(st.sampled_from(MONEY), min_size=2, max_size=2)))
                return A.Between(value, A.Literal(low), A.Literal(high), neg)
            items = draw(st.lists(st.sampled_from(MONEY), min_size=1, max_size=3))
            return A.InList(value, tuple(A.Literal(i) for i in items), neg)
        # dates and timestamps
        form = draw(st.integers(0, 2))
        if form == 0 and kind == "t":
            return A.Within(value, draw(st.sampled_from(DURATIONS)), neg)
        if form == 1:
            low = self.temporal_operand(draw, kind)
            high = self.temporal_operand(draw, kind)
            return A.Between(value, low, high, neg)
        return A.Compare(draw(st.sampled_from(CMP_OPS)), value, self.temporal_operand(draw, kind))

    def aggregate_value(self, draw: st.DrawFn) -> tuple[A.Aggregate, str]:
        collection = draw(st.sampled_from(sorted(ITEMS)))
        fields = ITEMS[collection]
        where = draw(st.one_of(st.none(), self.rule(draw, 1, collection)))
        numeric = [f for f, k in fields.items() if k == "n"]
        temporal = [f for f, k in fields.items() if k == "t"]
        funcs = ["COUNT", "MIN", "MAX"] + (["SUM", "AVG"] if numeric else [])
        func = draw(st.sampled_from(funcs))
        if func == "COUNT":
            return A.Aggregate("COUNT", (collection,), None, where), "n"
        if func in ("SUM", "AVG"):
            return A.Aggregate(func, (collection,), draw(st.sampled_from(numeric)), where), "n"
        target = draw(st.sampled_from(numeric + temporal))
        return A.Aggregate(func, (collection,), target, where), fields[target]

    def leaf(self, draw: st.DrawFn, scope: str | None) -> A.Rule:
        if scope is None and draw(st.integers(0, 9)) == 0:
            return A.InSegment(draw(st.sampled_from(SEGMENT_CODES)))
        if scope is None and draw(st.integers(0, 5)) == 0:  # often: it has two sources
            return self.atom(draw, path("user_groups"), "g")
        if scope is None and draw(st.integers(0, 2)) == 0:
            if draw(st.booleans()):
                collection = draw(st.sampled_from(sorted(ITEMS)))
                where = draw(st.one_of(st.none(), self.rule(draw, 1, collection)))
                return A.BoolTest(A.Aggregate("EXISTS", (collection,), None, where))
            aggregate, kind = self.aggregate_value(draw)
            return self.atom(draw, aggregate, kind, nullable=False)
        fields = CUSTOMER if scope is None else ITEMS[scope]
        name = draw(st.sampled_from(sorted(fields)))
        return self.atom(draw, path(name), fields[name])

    def rule(
        self, draw: st.DrawFn, depth: int, scope: str | None = None
    ) -> st.SearchStrategy[A.Rule]:
        @st.composite
        def build(draw: st.DrawFn) -> A.Rule:
            if depth <= 0 or draw(st.integers(0, 2)) == 0:
                return self.leaf(draw, scope)
            form = draw(st.integers(0, 2))
            if form == 0:
                return A.Not(draw(self.rule(draw, depth - 1, scope)))
            items = draw(st.lists(self.rule(draw, depth - 1, scope), min_size=2, max_size=3))
            return A.and_(*items) if form == 1 else A.or_(*items)

        return build()


@st.composite
def rules_for(draw: st.DrawFn, now: dt.datetime, depth: int = 2) -> A.Rule:
    return draw(RuleMaker(now).rule(draw, depth))
