"""Cancelling an order (both stores): its status changes and its customer's memberships
follow at once; its redemptions are released unless the promotion keeps them; an order
imported as cancelled releases them too; twice changes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from segmint.engine.match import match_python
from segmint.errors import NotFoundError
from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.rules import check, parse
from segmint.services import orders, segments
from segmint.services.customers import ingest
from segmint.store.base import Store
from segmint.store.redemptions import Redemption, RedemptionRepository

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
RULE = "total_spent > 100"


def order(oid: str, cid: str, total: str, status: str = "completed") -> dict[str, str]:
    return {
        "order_id": oid,
        "customer_id": cid,
        "placed_at": "2026-11-20T10:00:00Z",
        "total": total,
        "status": status,
    }


def redeem(store: Store, oid: str, cid: str, promotion: str, release: bool = True) -> None:
    repo = RedemptionRepository(store)
    with store.transaction():
        repo.record(
            oid,
            cid,
            "{}",
            [Redemption(oid, promotion, None, cid, None, Decimal("5.00"), "USD", release)],
            NOW,
        )


def test_cancel_updates_memberships_and_releases(store: Store) -> None:
    ingest(store, "orders", [order("o1", "c1", "150"), order("o2", "c2", "150")], NOW)
    definition = SegmentDefinition(code="big", name="big", kind=SegmentKind.RULE, rule_text=RULE)
    segments.create_segment(store, definition, NOW)
    assert segments.members(store, "big") == ["c1", "c2"]
    redeem(store, "o1", "c1", "p1")
    redeem(store, "o2", "c2", "keep", release=False)
    repo = RedemptionRepository(store)
    assert repo.promotion_uses(["p1", "keep"]) == {"p1": 1, "keep": 1}

    result = orders.cancel_order(store, "o1", NOW)
    assert (result.order_stored, result.customer_id, result.released) == (True, "c1", 1)
    assert segments.members(store, "big") == ["c2"]
    assert segments.members(store, "big") == sorted(
        match_python(store, check(parse(RULE), store.rule_schema()), NOW)
    )
    assert repo.promotion_uses(["p1"]) == {}
    again = orders.cancel_order(store, "o1", NOW)
    assert (again.customer_id, again.released) == (None, 0)

    assert orders.cancel_order(store, "o2", NOW).released == 0  # release_on_cancel: false
    assert repo.promotion_uses(["keep"]) == {"keep": 1}
    with pytest.raises(NotFoundError):
        orders.cancel_order(store, "nosuch", NOW)


def test_an_order_imported_as_cancelled_releases_its_redemptions(store: Store) -> None:
    ingest(store, "orders", [order("o1", "c1", "50")], NOW)
    redeem(store, "o1", "c1", "p1")
    ingest(store, "orders", [order("o1", "c1", "50", status="Cancelled")], NOW)
    repo = RedemptionRepository(store)
    assert repo.promotion_uses(["p1"]) == {}
    checkout = repo.checkout("o1")
    assert checkout is not None and checkout.cancelled_at is not None
