"""Batch refresh on both stores: fused evaluation, the difference only, manual includes
and excludes, dependency order through IN SEGMENT, and the membership writes."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from segmint.importing.api import import_arrow
from segmint.services.membership import refresh_segments
from segmint.store import memberships
from segmint.store.base import Store

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def add_segment(store: Store, code: str, kind: str, rule: str | None) -> None:
    """A segment row as the segments core stores it (only what the engine reads)."""
    store._x(
        "INSERT INTO segments (code, name, kind, user_group, rule_text, definition, version, "
        "created_at, updated_at) VALUES ($c, $c, $k, $c, $r, $d, 1, $t, $t)",
        {"c": code, "k": kind, "r": rule, "d": json.dumps({"code": code}), "t": NOW},
    )


def set_manual(store: Store, code: str, cid: str, mode: str) -> None:
    store._x(
        "INSERT INTO segment_manual (segment_code, customer_id, mode, added_at) "
        "VALUES ($c, $i, $m, $t)",
        {"c": code, "i": cid, "m": mode, "t": NOW},
    )


def orders(store: Store, rows: list[tuple[str, str, str, str, int]]) -> None:
    """(order id, customer, placed_at, status, total), one line each."""
    table = pa.table(
        {
            "order_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "placed_at": [r[2] for r in rows],
            "status": [r[3] for r in rows],
            "total": [str(r[4]) for r in rows],
            "sku": ["S1"] * len(rows),
            "amount": [str(r[4]) for r in rows],
        }
    )
    import_arrow(store, "orders", table, source="test")


def customers(store: Store, ids: list[str], tags: dict[str, str] | None = None) -> None:
    table = pa.table({"id": ids, "tags": [(tags or {}).get(i, "") for i in ids]})
    import_arrow(store, "customers", table, source="test")


def members(store: Store, code: str) -> dict[str, tuple[dt.datetime, str]]:
    rows = store._q(
        "SELECT customer_id, since, reason FROM memberships WHERE segment_code = $c", {"c": code}
    )
    return {str(c): (s, str(r)) for c, s, r in rows}


def history(store: Store) -> list[tuple[object, ...]]:
    rows = store._q(
        'SELECT segment_code, customer_id, change, "at", reason, trigger FROM membership_history '
        "ORDER BY 1, 2, 4, 3"
    )
    return [tuple(r) for r in rows]


@pytest.fixture()
def shop(store: Store) -> Store:
    customers(store, ["c1", "c2", "c3", "c4", "c5"], {"c5": "vip"})
    orders(
        store,
        [
            ("o1", "c1", "2024-04-25T10:00:00Z", "paid", 120),
            ("o2", "c2", "2024-03-01T10:00:00Z", "paid", 250),
            ("o3", "c3", "2024-04-20T10:00:00Z", "paid", 300),
            ("o4", "c4", "2024-04-30T10:00:00Z", "cancelled", 150),
        ],
    )
    add_segment(store, "buyers", "rule", "orders_count >= 1")
    add_segment(store, "recent", "rule", "EXISTS(orders WHERE placed_at WITHIN 30d)")
    add_segment(store, "vip", "rule", "tags CONTAINS 'vip'")
    add_segment(store, "big_recent", "rule", "IN SEGMENT 'recent' AND total_spent >= 200")
    add_segment(store, "hand", "manual", None)
    set_manual(store, "hand", "c4", "include")
    set_manual(store, "buyers", "c5", "include")
    set_manual(store, "buyers", "c2", "exclude")
    return store


def test_refresh_computes_all_kinds_in_dependency_order(shop: Store) -> None:
    report = refresh_segments(shop, None, NOW)
    assert report.segments == ["big_recent", "buyers", "hand", "recent", "vip"]
    assert set(members(shop, "buyers")) == {"c1", "c3", "c5"}
    assert members(shop, "buyers")["c5"][1] == "manual"
    assert members(shop, "buyers")["c1"] == (NOW, "rule")
    assert set(members(shop, "recent")) == {"c1", "c3", "c4"}
    # read after 'recent' was written in the same run: c3 (recent, 300) only
    assert set(members(shop, "big_recent")) == {"c3"}
    assert set(members(shop, "hand")) == {"c4"}
    assert set(members(shop, "vip")) == {"c5"}
    assert report.per_segment["buyers"] == (3, 0)
    assert report.entered == 3 + 3 + 1 + 1 + 1 and report.exited == 0
    assert not report.resumed
    run = shop._q("SELECT state, as_of FROM refresh_runs WHERE id = $i", {"i": report.run_id})
    assert run == [("done", NOW)]
    assert all(h[5] == "refresh" and h[3] == NOW for h in history(shop))


def test_refresh_writes_only_the_difference(shop: Store) -> None:
    refresh_segments(shop, None, NOW)
    before = history(shop)
    later = NOW + dt.timedelta(days=1)
    again = refresh_segments(shop, None, later)
    assert again.entered == 0 and again.exited == 0
    assert history(shop) == before
    assert members(shop, "buyers")["c1"] == (NOW, "rule")  # since kept
    # c1 places a big order: enters big_recent; nobody else changes
    orders(shop, [("o9", "c1", "2024-05-01T12:00:00Z", "paid", 500)])
    report = refresh_segments(shop, None, later)
    assert report.per_segment["big_recent"] == (1, 0)
    assert report.entered == 1 and report.exited == 0
    assert members(shop, "big_recent")["c1"] == (later, "rule")
    assert members(shop, "buyers")["c1"] == (NOW, "rule")


def test_refresh_exits_and_dependents_follow(shop: Store) -> None:
    refresh_segments(shop, None, NOW)
    month_later = NOW + dt.timedelta(days=31)
    report = refresh_segments(shop, ["recent"], month_later)
    # the dependent big_recent is refreshed with it, after it
    assert report.segments == ["big_recent", "recent"]
    assert members(shop, "recent") == {}
    assert members(shop, "big_recent") == {}
    # The window exits were due before the refresh's as_of: they are applied first, at
    # their exact instants (placed_at + 30 days), not at the refresh's as_of.
    exits = {(h[0], h[1]): (h[3], h[5]) for h in history(shop) if h[2] == "exit"}
    at = dt.datetime.fromisoformat
    assert exits == {
        ("recent", "c1"): (at("2024-05-25T10:00:00+00:00"), "window"),
        ("recent", "c3"): (at("2024-05-20T10:00:00+00:00"), "window"),
        ("big_recent", "c3"): (at("2024-05-20T10:00:00+00:00"), "window"),
        ("recent", "c4"): (at("2024-05-30T10:00:00+00:00"), "window"),
    }


def test_manual_include_exclude_reason_changes(shop: Store) -> None:
    refresh_segments(shop, None, NOW)
    shop._x("DELETE FROM segment_manual WHERE segment_code = 'buyers' AND customer_id = 'c2'")
    set_manual(shop, "buyers", "c1", "include")
    report = refresh_segments(shop, ["buyers"], NOW + dt.timedelta(hours=1))
    assert report.per_segment["buyers"] == (1, 0)  # c2 no longer excluded
    assert members(shop, "buyers")["c1"] == (NOW, "manual")  # reason follows, no entry


def test_apply_changes_is_atomic_and_skips_no_ops(shop: Store) -> None:
    at = NOW
    assert memberships.apply_changes(shop, "hand", [("c1", "manual")], [], at, "manual") == (1, 0)
    assert memberships.apply_changes(shop, "hand", [("c1", "manual")], [], at, "manual") == (0, 0)
    assert memberships.apply_changes(shop, "hand", [], ["c1", "c2"], at, "manual") == (0, 1)
    many = [(f"x{i:03}", "manual") for i in range(100)]
    assert memberships.apply_changes(shop, "hand", many, [], at, "manual") == (100, 0)
    assert memberships.apply_changes(shop, "hand", many[:50], [], at, "manual") == (0, 0)
    assert memberships.apply_changes(shop, "hand", [], [c for c, _ in many], at, "manual") == (
        0,
        100,
    )
    rows = history(shop)
    assert len(rows) == 1 + 1 + 100 + 100
    seqs = [r[0] for r in shop._q("SELECT seq FROM membership_history ORDER BY seq")]
    assert len(set(seqs)) == len(seqs)
    with pytest.raises(Exception, match="trigger"):
        memberships.apply_changes(shop, "hand", [("c1", "manual")], [], at, "bogus")
    with shop.transaction():
        memberships.apply_changes(shop, "hand", [("c9", "manual")], [], at, "manual")
    assert "c9" in members(shop, "hand")
    with pytest.raises(RuntimeError), shop.transaction():
        memberships.apply_changes(shop, "hand", [("c8", "manual")], [], at, "manual")
        raise RuntimeError("boom")
    assert "c8" not in members(shop, "hand")


def test_a_deleted_customers_pseudonym_exits_at_the_next_refresh(shop: Store) -> None:
    from segmint.services.customers import delete_customer

    refresh_segments(shop, None, NOW)
    anon = delete_customer(shop, "c1").pseudonym
    assert anon in members(shop, "buyers")  # kept under the pseudonym until the refresh
    report = refresh_segments(shop, None, NOW + dt.timedelta(hours=1))
    assert {(h[0], h[1], h[2]) for h in history(shop) if h[1] == anon and h[2] == "exit"} == {
        ("buyers", anon, "exit"),
        ("recent", anon, "exit"),
    }
    assert report.exited == 2 and report.entered == 0
    assert all(anon not in members(shop, c) for c in ("buyers", "recent"))


def test_more_segments_than_one_mask_holds(store: Store) -> None:
    """A layer of 70 segments spans two 62-bit masks of the no-change proof: a change in
    the second one is found, and nothing else is written."""
    ids = [f"c{i}" for i in range(8)]
    customers(store, ids)
    orders(
        store, [(f"o{i}", cid, "2024-04-25T10:00:00Z", "paid", 10 * i) for i, cid in enumerate(ids)]
    )
    for n in range(70):
        add_segment(store, f"s{n:02}", "rule", f"total_spent >= {n}")
    refresh_segments(store, None, NOW)
    assert set(members(store, "s65")) == {"c7"}
    assert refresh_segments(store, None, NOW).entered == 0
    orders(store, [("o99", "c6", "2024-04-26T10:00:00Z", "paid", 5)])  # c6: 60 -> 65
    report = refresh_segments(store, None, NOW)
    assert set(members(store, "s65")) == {"c6", "c7"}
    assert report.entered == 5 and report.exited == 0  # s61..s65
    assert {c for c, (e, _) in report.per_segment.items() if e} == {f"s{n}" for n in range(61, 66)}
