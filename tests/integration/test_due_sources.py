"""Due instants per customer and source: the SQL passes (the fused one for h/d/w
windows, the separate one when a calendar window is read) store exactly what the Python
engine computes for the same data, on both stores; the worker wakes a customer at its
earliest row and rewrites its rows; a full refresh drops rows of sources no segment
reads any more."""

from __future__ import annotations

import datetime as dt

import pytest
from test_membership_refresh import add_segment, history

from segmint.demo.synthetic import REFERENCE_INSTANT, load_synthetic
from segmint.engine import incremental, windows
from segmint.engine.plans import load_plans
from segmint.services.membership import refresh_segments, run_worker
from segmint.store import memberships
from segmint.store.base import Store

EXACT = {
    "recent": "EXISTS(orders WHERE placed_at WITHIN 30d)",
    "viewer": "COUNT(events WHERE type = 'view' AND at WITHIN 7d) >= 1",
    "wine": "SUM(lines.amount WHERE category = 'wine' AND placed_at WITHIN 365d) > 20",
    "new": "created_at > -400d",
    "lapsing": "last_order_at >= -90d AND last_order_at < -60d",
    "since_june": "EXISTS(orders WHERE placed_at > 2024-06-01T00:00:00Z AND placed_at WITHIN 1w)",
    "adult": "birth_date <= -40y",
    "plain": "orders_count >= 3",
}
CALENDAR = {**EXACT, "two_months": "EXISTS(orders WHERE placed_at > -2m)"}
FAR = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def python_dues(store: Store, now: dt.datetime) -> dict[tuple[str, str], dt.datetime]:
    schema = store.rule_schema()
    plans = load_plans(store, schema)
    specs = {c: p.window for c, p in plans.items() if p.window is not None}
    ids = [str(r[0]) for r in store._q("SELECT id FROM customers ORDER BY id")]
    expected: dict[tuple[str, str], dt.datetime] = {}
    for cid, profile in store.load_profiles(ids).items():
        for source, at in windows.customer_dues(specs, profile, now, schema.timezone).items():
            if at is not None:
                expected[(source, cid)] = at
    return expected


def plans(store: Store) -> list[str]:
    return sorted(load_plans(store, store.rule_schema()))


def stored_dues(store: Store) -> dict[tuple[str, str], dt.datetime]:
    return {(s, c): at for s, c, at in memberships.due(store, FAR)}


@pytest.mark.parametrize("rules", [EXACT, CALENDAR], ids=["fused", "calendar"])
def test_sql_due_rows_equal_the_python_engine(
    store: Store, rules: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    load_synthetic(store, 300, 1500, 900, 7)
    for code, rule in rules.items():
        add_segment(store, code.replace("_", "-"), "rule", rule)
    now = REFERENCE_INSTANT
    refresh_segments(store, None, now)
    stored = stored_dues(store)
    assert {s for s, _ in stored} == {"orders", "events", "profile"}
    assert stored == python_dues(store, now)
    # every stored instant is after now, and a refresh at the same instant writes nothing
    assert min(stored.values()) > now
    again = refresh_segments(store, None, now)
    assert (again.entered, again.exited) == (0, 0)
    assert stored_dues(store) == stored
    # the restricted pass of the incremental SQL path (a staged batch of customers) too
    later = now + dt.timedelta(days=3)
    ids = [str(r[0]) for r in store._q("SELECT id FROM customers ORDER BY id")]
    incremental.reevaluate(
        store, ids[::2], later, changed=None, codes=list(plans(store)), engine="sql"
    )
    half = set(ids[::2])
    expected = python_dues(store, later)
    assert {k: v for k, v in stored_dues(store).items() if k[1] in half} == {
        k: v for k, v in expected.items() if k[1] in half
    }
    refresh_segments(store, None, later)  # the other half
    assert stored_dues(store) == python_dues(store, later)
    # the other form of the restriction too (PostgreSQL scans rather than probes above
    # Store.probe_ids staged ids)
    monkeypatch.setattr(store, "probe_ids", 0)
    check = incremental.reevaluate(
        store, ids[1::2], later, changed=None, codes=list(plans(store)), engine="sql"
    )
    assert (check.entered, check.exited) == (0, 0)
    assert stored_dues(store) == python_dues(store, later)


def test_worker_wakes_each_customer_at_its_earliest_row(store: Store) -> None:
    load_synthetic(store, 200, 1000, 600, 11)
    for code, rule in EXACT.items():
        add_segment(store, code.replace("_", "-"), "rule", rule)
    now = REFERENCE_INSTANT
    refresh_segments(store, None, now)
    later = now + dt.timedelta(days=20)
    report = run_worker(store, later)
    woken = {c for _, c, at in memberships.due(store, FAR) if at <= later}
    assert not woken  # every woken customer's rows moved past the as_of
    assert report.processed > 0
    # the worker's rows are what the Python engine computes at the as_of, and a refresh
    # at the as_of agrees with the replayed memberships
    assert stored_dues(store) == python_dues(store, later)
    check = refresh_segments(store, None, later)
    assert (check.entered, check.exited) == (0, 0)
    # the exits carry their own instants, not the as_of
    instants = {h[3] for h in history(store) if h[5] == "window"}
    assert instants and max(instants) <= later and later not in instants


def test_full_refresh_drops_rows_of_sources_no_longer_read(store: Store) -> None:
    load_synthetic(store, 100, 500, 300, 3)
    add_segment(store, "viewer", "rule", EXACT["viewer"])
    add_segment(store, "recent", "rule", EXACT["recent"])
    refresh_segments(store, None, REFERENCE_INSTANT)
    assert {s for s, _ in stored_dues(store)} == {"events", "orders"}
    store._x("DELETE FROM segments WHERE code = 'viewer'")
    refresh_segments(store, None, REFERENCE_INSTANT)
    assert {s for s, _ in stored_dues(store)} == {"orders"}
