"""Cancelling an order: its status (so memberships follow) and its redemptions.

``POST /v1/orders/{id}/cancel`` (and ``segmint orders cancel``) marks a stored order and its
lines ``cancelled``, queues its customer in the membership outbox in the same transaction
and re-evaluates them, and releases the order's redemptions (uses and spend) unless a
promotion says ``release_on_cancel: false``. An order imported with status ``cancelled``
releases its redemptions the same way (:func:`release_cancelled`, run after every orders
import). Cancelling twice changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from segmint.errors import NotFoundError
from segmint.services.ingest import CHANGES
from segmint.services.membership import UpdateReport, reevaluate_customers
from segmint.store import outbox
from segmint.store.base import Store
from segmint.store.outbox import Work
from segmint.store.redemptions import RedemptionRepository

CANCELLED = "cancelled"


@dataclass(frozen=True)
class CancelResult:
    order_id: str
    order_stored: bool
    customer_id: str | None  # whose memberships were re-evaluated (None: no status change)
    released: int  # redemptions released by this call
    memberships: UpdateReport | None


def cancel_order(store: Store, order_id: str, now: dt.datetime) -> CancelResult:
    """Cancel ``order_id``: a stored order, a checked-out one, or both."""
    store.require_schema()
    repo = RedemptionRepository(store)
    batch: int | None = None
    customer: str | None = None
    with store.writer_lock(), store.transaction():
        rows = store._q("SELECT customer_id, status FROM orders WHERE id = $o", {"o": order_id})
        checked_out = repo.checkout(order_id) is not None
        if not rows and not checked_out:
            raise NotFoundError(f"error: order {order_id!r} does not exist")
        if rows and str(rows[0][1] or "").lower() != CANCELLED:
            customer = str(rows[0][0])
            params = {"o": order_id, "s": CANCELLED}
            store._x("UPDATE orders SET status = $s WHERE id = $o", params)
            store._x("UPDATE order_lines SET status = $s WHERE order_id = $o", params)
            batch = outbox.queue_ids(store, [customer], Work(changed=CHANGES["orders"]))
        released = repo.cancel(order_id, now)
    update = None
    if customer is not None:
        update = reevaluate_customers(
            store,
            [customer],
            now,
            changed=CHANGES["orders"],
            outbox_batches=[batch] if batch is not None else [],
        )
    return CancelResult(order_id, bool(rows), customer, released, update)


def release_cancelled(store: Store, now: dt.datetime) -> int:
    """Release the redemptions of every checked-out order now stored as cancelled (after
    an orders import); how many redemptions were released."""
    store.require_schema()
    repo = RedemptionRepository(store)
    released = 0
    with store.transaction():
        rows = store._q(
            "SELECT c.order_id FROM checkouts c JOIN orders o ON o.id = c.order_id "
            "WHERE c.cancelled_at IS NULL AND lower(o.status) = $s",
            {"s": CANCELLED},
        )
        for (order_id,) in rows:
            released += repo.cancel(str(order_id), now)
    return released
