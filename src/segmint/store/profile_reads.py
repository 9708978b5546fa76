"""How :meth:`segmint.store.base.Store.load_profiles` reads a customer's collections:
per collection its table, columns, order and row builder, and the pruned form that reads
only the item columns a caller's rules use (:func:`segmint.rules.items.item_fields`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection, Sequence
from typing import Any

from segmint.model.profile import EventItem, LineItem, OrderItem, WishlistItem

#: The collections :meth:`Store.load_profiles` can read, by their rule names.
COLLECTIONS = frozenset({"orders", "lines", "events", "wishlist"})


def _event(row: Sequence[Any]) -> EventItem:
    props = row[4]
    if isinstance(props, str):
        props = json.loads(props)
    properties = {
        str(k): (None if v is None else v if isinstance(v, str) else json.dumps(v))
        for k, v in (props or {}).items()
    }
    return EventItem(row[0], row[1], row[2], row[3], properties)


#: Per collection: (table, columns after customer_id, order within a customer, row -> item).
PROFILE_READS: dict[str, tuple[str, str, str, Callable[[Sequence[Any]], Any]]] = {
    "orders": (
        "orders",
        "id, placed_at, status, total, currency, store, item_count",
        "placed_at, id",
        lambda r: OrderItem(*r),
    ),
    "lines": (
        "order_lines",
        "order_id, sku, product_name, brand, category, quantity, unit_price, amount, "
        "placed_at, status, store",
        "placed_at, order_id, line_no",
        lambda r: LineItem(*r),
    ),
    # JSON as text: DuckDB returns it so, psycopg would parse PostgreSQL's JSONB.
    "events": ("events", 'id, type, "at", sku, CAST(properties AS TEXT)', '"at", id', _event),
    "wishlist": ("wishlist_items", "sku, added_at", "added_at, sku", lambda r: WishlistItem(*r)),
}

#: Item classes whose columns a reader may prune (the collections with many rows).
PRUNABLE: dict[str, type[Any]] = {"orders": OrderItem, "lines": LineItem}


def pruned(
    collection: str, wanted: Collection[str]
) -> tuple[list[str], Callable[[Sequence[Any]], Any]]:
    """The columns to read for ``wanted`` item fields (none for a rule that only counts
    items) and the builder filling the others with None."""
    item = PRUNABLE[collection]
    names = [f.name for f in dataclasses.fields(item)]
    keep = [n for n in names if n in wanted]
    absent = dict.fromkeys(n for n in names if n not in keep)

    def build(row: Sequence[Any]) -> Any:
        return item(**dict(zip(keep, row, strict=True)), **absent)

    return keep, build
