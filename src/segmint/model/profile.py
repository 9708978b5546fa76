"""One customer's in-memory profile and the request context: what the Python engine reads.

Conventions shared by every layer:
- timestamps are timezone-aware ``datetime`` in UTC; dates are ``datetime.date``;
- money and other numbers are ``Decimal`` (quantities and counts are ``int``);
- a missing value is ``None``; strings keep their original case (rules lower-case them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(slots=True)
class OrderItem:
    id: str
    placed_at: dt.datetime | None
    status: str | None
    total: Decimal | None
    currency: str | None = None
    store: str | None = None
    item_count: int | None = 0


@dataclass(slots=True)
class LineItem:
    order_id: str
    sku: str | None
    product_name: str | None
    brand: str | None
    category: str | None
    quantity: int | None
    unit_price: Decimal | None
    amount: Decimal | None
    placed_at: dt.datetime | None
    status: str | None
    store: str | None = None


@dataclass(slots=True)
class EventItem:
    id: str
    type: str | None
    at: dt.datetime | None
    sku: str | None = None
    properties: dict[str, str | None] = field(default_factory=dict)


@dataclass(slots=True)
class WishlistItem:
    sku: str
    added_at: dt.datetime | None


@dataclass(slots=True)
class CartLine:
    sku: str | None = None
    product_name: str | None = None
    brand: str | None = None
    category: str | None = None
    quantity: int | None = None
    unit_price: Decimal | None = None
    amount: Decimal | None = None


@dataclass(slots=True)
class RequestContext:
    """The live request: only real-time rules read it."""

    logged_in: bool | None = None
    view: str | None = None
    store: str | None = None
    channel: str | None = None
    path: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    cart_subtotal: Decimal | None = None
    cart_quantity: int | None = None
    cart_lines: list[CartLine] = field(default_factory=list)


@dataclass(slots=True)
class Profile:
    """A customer with everything a rule can read about them.

    ``fields`` holds the built-in customer fields by name (RULES.md §1, ``tags`` and
    ``user_groups`` as lists; ``user_groups`` there is the EXPLICIT list, as stored);
    ``attributes`` the custom attributes by name. ``segments`` is the set of segment
    codes the customer is a member of (memberships as materialized, what ``IN SEGMENT``
    reads) and ``inherited_groups`` the groups of those segments that are targetable at
    the evaluation instant (what ``user_groups`` adds to the explicit list). Whoever
    evaluates sets both with :meth:`set_segments`.
    """

    id: str
    fields: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    orders: list[OrderItem] = field(default_factory=list)
    lines: list[LineItem] = field(default_factory=list)
    events: list[EventItem] = field(default_factory=list)
    wishlist: list[WishlistItem] = field(default_factory=list)
    segments: frozenset[str] = frozenset()
    inherited_groups: tuple[str, ...] = ()
    #: values derived from the above, kept by the rule engines for one evaluation
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def with_data(self) -> Profile:
        """A new profile sharing this one's stored data (fields, attributes, collections),
        whose segments a caller sets for one evaluation without touching this one."""
        return Profile(
            id=self.id,
            fields=self.fields,
            attributes=self.attributes,
            orders=self.orders,
            lines=self.lines,
            events=self.events,
            wishlist=self.wishlist,
        )

    def set_segments(self, codes: Iterable[str], group_of: Mapping[str, str]) -> None:
        """Set the memberships and the groups they give: ``group_of`` maps the code of
        every segment targetable at the evaluation instant to its user group (codes
        absent from it give no group). Groups are kept once each (ignoring case; segment
        groups have the form of a code, so plain ``lower`` is exact) and sorted, so the
        value does not depend on the order memberships were read in."""
        self.segments = frozenset(codes)
        groups: dict[str, str] = {}
        for code in self.segments:
            group = group_of.get(code)
            if group is not None:
                groups.setdefault(group.lower(), group)
        self.inherited_groups = tuple(groups[k] for k in sorted(groups))
        self.memo.clear()
