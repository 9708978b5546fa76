"""Incremental re-evaluation on both stores: an import re-evaluates the customers it
touched, only for the segments that read what changed (and their IN SEGMENT dependents);
the Python path (few customers) and the SQL path (many) agree with a full refresh."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pyarrow as pa
import pytest
from test_membership_refresh import add_segment, customers, history, members, orders

from segmint.engine import incremental
from segmint.importing.api import import_arrow
from segmint.services.ingest import import_and_update
from segmint.services.membership import reevaluate_customers, refresh_segments
from segmint.store import memberships
from segmint.store.base import Store

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=2)


def order_table(rows: list[tuple[str, str, str, str, int]]) -> pa.Table:
    return pa.table(
        {
            "order_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "placed_at": [r[2] for r in rows],
            "status": [r[3] for r in rows],
            "total": [str(r[4]) for r in rows],
            "sku": ["S1"] * len(rows),
            "brand": ["Acme"] * len(rows),
            "amount": [str(r[4]) for r in rows],
        }
    )


def define(store: Store) -> None:
    add_segment(store, "buyers", "rule", "orders_count >= 1")
    add_segment(
        store, "acme", "rule", "EXISTS(lines WHERE brand = 'Acme' AND placed_at WITHIN 30d)"
    )
    add_segment(store, "vip", "rule", "tags CONTAINS 'vip'")
    add_segment(store, "vip_buyers", "rule", "IN SEGMENT 'buyers' AND IN SEGMENT 'vip'")
    add_segment(store, "hand", "manual", None)


@pytest.fixture()
def shop(store: Store) -> Store:
    customers(store, ["c1", "c2", "c3"], {"c2": "vip"})
    orders(store, [("o1", "c1", "2024-04-25T10:00:00Z", "paid", 120)])
    define(store)
    refresh_segments(store, None, NOW)
    return store


def test_a_completed_checkout_qualifies_at_once(shop: Store) -> None:
    assert "c2" not in members(shop, "buyers")
    report, update = import_and_update(
        shop, "orders", order_table([("o2", "c2", "2024-05-01T01:00:00Z", "completed", 40)]), LATER
    )
    assert report.customer_ids == ["c2"]
    assert members(shop, "buyers")["c2"] == (LATER, "rule")
    assert members(shop, "acme")["c2"] == (LATER, "rule")
    # the dependent segment follows in the same update
    assert members(shop, "vip_buyers")["c2"] == (LATER, "rule")
    assert update.per_segment["buyers"] == (1, 0)
    assert update.segments == ["acme", "buyers", "vip_buyers"]  # not vip, not hand
    new = [h for h in history(shop) if h[3] == LATER]
    assert {(h[0], h[1], h[2], h[5]) for h in new} == {
        ("buyers", "c2", "enter", "incremental"),
        ("acme", "c2", "enter", "incremental"),
        ("vip_buyers", "c2", "enter", "incremental"),
    }
    # the windowed segment got its next due instant from the new order
    due = dict(
        ((c, i), d) for c, i, d in memberships.due(shop, dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    )
    assert due[("orders", "c2")] == dt.datetime(2024, 5, 31, 1, tzinfo=dt.UTC)


def test_only_segments_reading_what_changed_are_touched(shop: Store) -> None:
    # c3 becomes vip behind the engine's back: a stale 'vip' that only a customer change
    # (or a refresh) may fix. An order for c3 must not touch 'vip'.
    shop._x("UPDATE customers SET tags = ARRAY['vip'] WHERE id = 'c3'")
    import_and_update(
        shop, "orders", order_table([("o3", "c3", "2024-05-01T01:00:00Z", "paid", 10)]), LATER
    )
    assert "c3" in members(shop, "buyers")
    assert "c3" not in members(shop, "vip")
    assert "c3" not in members(shop, "vip_buyers")
    update = reevaluate_customers(shop, ["c3"], LATER, changed=frozenset({"tags"}))
    assert update.segments == ["vip", "vip_buyers"]
    assert "c3" in members(shop, "vip") and "c3" in members(shop, "vip_buyers")
    # a customers import re-evaluates customer-field segments
    _, update = import_and_update(
        shop, "customers", pa.table({"id": ["c2"], "tags": [""]}), LATER + dt.timedelta(hours=1)
    )
    assert "vip" in update.segments and "buyers" not in update.segments
    assert "c2" not in members(shop, "vip")


@pytest.mark.parametrize("engine", ["python", "sql"])
def test_many_customers_agree_with_a_full_refresh(
    store: Store, make_store: Callable[..., Store], engine: str
) -> None:
    ids = [f"k{i:03}" for i in range(250)]
    customers(store, ids, {i: "vip" for i in ids[::3]})
    define(store)
    refresh_segments(store, None, NOW)
    rows = [
        (f"n{i:03}", cid, f"2024-04-{1 + i % 28:02}T0{i % 9}:00:00Z", "paid", 5 + i)
        for i, cid in enumerate(ids[::2])
    ]
    report = import_arrow(store, "orders", order_table(rows), source="t")
    update = incremental.reevaluate(
        store, report.customer_ids, LATER, changed=frozenset({"orders", "lines"}), engine=engine
    )
    assert update.customers == 125 and update.per_segment["buyers"] == (125, 0)
    assert len(members(store, "buyers")) == 125
    after_increment = members(store, "buyers"), members(store, "acme"), members(store, "vip_buyers")
    due = memberships.due(store, dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    check = refresh_segments(store, None, LATER)
    assert (check.entered, check.exited) == (0, 0)
    assert (members(store, "buyers"), members(store, "acme"), members(store, "vip_buyers")) == (
        after_increment
    )
    # due instants: the SQL bound equals the exact one for day windows
    assert memberships.due(store, dt.datetime(2100, 1, 1, tzinfo=dt.UTC)) == due


def test_sql_path_is_used_for_large_batches(shop: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(incremental, "PYTHON_LIMIT", 0)
    import_and_update(
        shop, "orders", order_table([("o2", "c2", "2024-05-01T01:00:00Z", "paid", 40)]), LATER
    )
    assert members(shop, "buyers")["c2"] == (LATER, "rule")
    assert members(shop, "vip_buyers")["c2"] == (LATER, "rule")


def test_profiles_of_many_customers_read_in_chunks_equal_those_read_one_by_one(
    store: Store,
) -> None:
    ids = [f"p{i:03}" for i in range(130)]
    customers(store, ids, {i: "vip" for i in ids[::4]})
    orders(
        store,
        [
            (f"q{i:03}", cid, f"2024-04-{1 + i % 28:02}T10:00:00Z", "paid", 10 + i)
            for i, cid in enumerate(ids + ids[::3])
        ],
    )
    chunks = store.id_chunks(ids)
    assert sorted(i for chunk in chunks for i in chunk) == ids  # each id in one chunk
    together = store.load_profiles([*ids, "nobody"])
    assert set(together) == set(ids)
    assert together == {i: store.load_profiles([i])[i] for i in ids}
    assert sum(len(p.orders) for p in together.values()) == 130 + 44


def test_duckdb_reads_up_to_eight_chunks_of_fifty_ids(make_store: Callable[..., Store]) -> None:
    duck = make_store("duckdb")
    ids = [f"c{i:03}" for i in range(401)]
    assert [len(c) for c in duck.id_chunks(ids[:50])] == [50]
    assert [len(c) for c in duck.id_chunks(ids[:51])] == [50, 1]
    assert [len(c) for c in duck.id_chunks(ids[:400])] == [50] * 8
    assert [len(c) for c in duck.id_chunks(ids)] == [401]  # more: one scan
