"""The past a simulation replays (issue 21): the period's orders as carts, streamed, and each
customer's state at any instant, from a timeline read once.

- :func:`stream_orders`: the period's successful orders in ``(placed_at, id)`` order, a
  chunk at a time, each as a :class:`PastOrder` with its cart;
- :class:`CustomerTimeline`: a customer's history sorted once; :meth:`~CustomerTimeline.
  state_at` is their memberships (from ``membership_history``, changes at or before the
  instant) and the items dated strictly before it (prefixes found by bisection);
- :class:`HistoricalEvaluator`: the segment evaluator answering from such a state.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from segmint.model.profile import Profile
from segmint.rules import ast
from segmint.rules.items import item_fields
from segmint.rules.schema import UNSUCCESSFUL_STATUSES
from segmint.services.cart_pricing import PricingCatalog, Product, StoreReads
from segmint.services.evaluate import Catalog, CustomerState, Evaluator
from segmint.store.base import Store
from segmint.store.profile_reads import COLLECTIONS
from segmint.store.segments import ENTER
from segmint.targeting import money
from segmint.targeting.cart import Cart, CartError, Line

ORDER_CHUNK = 2_000
#: (amount, quantity) pairs whose unit price a stream keeps (emptied past it: memory stays
#: bounded however many orders)
_UNITS_KEPT = 100_000

#: Lends a store for a moment (a connection pool's ``acquire``/``release``).
Lender = Callable[[], AbstractContextManager[Store]]


def lender(source: Store | Lender) -> Lender:
    """A store as a lender of itself."""
    if isinstance(source, Store):
        store = source
        return lambda: nullcontext(store)
    return source


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
    units: dict[tuple[Any, int, str], tuple[Decimal, int]] | None = None,
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
    units = {} if units is None else units
    out: list[Line] = []
    for sku, quantity, unit_price, amount, name, brand, category in lines:
        if not sku or quantity is None or quantity < 1:
            continue
        if amount is not None:
            # the same (amount, quantity) comes on order after order: worked out once
            key = (amount, quantity, currency)
            known = units.get(key)
            if known is None:
                if len(units) >= _UNITS_KEPT:
                    units.clear()
                known = units[key] = _unit_of(amount, quantity, currency)
            unit, quantity = known
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


def _unit_of(amount: Any, quantity: int, currency: str) -> tuple[Decimal, int]:
    """The unit price and quantity of a line that paid ``amount`` for ``quantity``."""
    paid = money.round_half_up(max(Decimal(str(amount)), Decimal(0)), currency)
    unit = money.round_half_up(paid / quantity, currency)
    if unit * quantity != paid:
        # not a whole number of minor units per unit (3 for 1.00, 16,738 ml of fuel for
        # 41.33): one unit of what was paid, so the revenue stays exact
        return paid, 1
    return unit, quantity


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
    units: dict[tuple[Any, int, str], tuple[Decimal, int]] = {}
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
            cart = order_cart(
                str(cur or currency).upper(), lines.get(str(oid), []), products.rows, units
            )
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
