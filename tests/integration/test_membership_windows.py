"""Exact time windows on both stores: a member leaves (or enters) at the very instant a
rolling window stops (starts) holding, recorded by the worker run with a later --as-of."""

from __future__ import annotations

import datetime as dt

import pytest
from test_membership_refresh import add_segment, customers, history, members, orders

from segmint.cli.main import main
from segmint.engine.windows import first_instant, next_due, window_spec
from segmint.model.profile import OrderItem, Profile
from segmint.rules import check, parse
from segmint.rules.ast import Duration
from segmint.rules.schema import Schema
from segmint.services.membership import refresh_segments, run_worker
from segmint.store import memberships
from segmint.store.base import Store

UTC = dt.UTC
PLACED = dt.datetime(2024, 4, 25, 10, 0, 0, 123456, tzinfo=UTC)


def exits(store: Store, code: str) -> list[tuple[str, dt.datetime, str]]:
    return [(h[1], h[3], h[5]) for h in history(store) if h[0] == code and h[2] == "exit"]


def enters(store: Store, code: str) -> list[tuple[str, dt.datetime, str]]:
    return [(h[1], h[3], h[5]) for h in history(store) if h[0] == code and h[2] == "enter"]


@pytest.fixture()
def shop(store: Store) -> Store:
    customers(store, ["c1", "c2", "c3"])
    orders(
        store,
        [
            ("o1", "c1", PLACED.isoformat(), "paid", 120),
            ("o2", "c2", "2024-04-29T00:00:00Z", "paid", 80),
            ("o3", "c3", "2024-01-31T12:00:00Z", "paid", 50),
        ],
    )
    add_segment(store, "d30", "rule", "EXISTS(orders WHERE placed_at WITHIN 30d)")
    add_segment(store, "gt90", "rule", "last_order_at > -90d")
    add_segment(store, "month", "rule", "EXISTS(orders WHERE placed_at > -1m)")
    add_segment(
        store,
        "lapsed",
        "rule",
        "NOT EXISTS(orders WHERE placed_at WITHIN 30d) AND orders_count >= 1",
    )
    add_segment(store, "tagged", "rule", "tags CONTAINS 'x'")  # no window: no due rows
    return store


def test_exit_at_the_exact_instant_the_window_closes(shop: Store) -> None:
    start = dt.datetime(2024, 5, 1, tzinfo=UTC)
    refresh_segments(shop, None, start)
    assert set(members(shop, "d30")) == {"c1", "c2"}
    due = {(s, i): d for s, i, d in memberships.due(shop, dt.datetime(2100, 1, 1, tzinfo=UTC))}
    # one row per customer and source: every windowed rule here reads orders only
    assert {s for s, _ in due} == {"orders"}
    # the earliest instant over d30 (30d), gt90 (90d), month (1m) and lapsed (30d),
    # exact in SQL (and never later than the exact instant)
    assert due[("orders", "c1")] == PLACED + dt.timedelta(days=30)

    report = run_worker(shop, dt.datetime(2024, 9, 1, tzinfo=UTC))
    assert report.exited >= 4
    assert exits(shop, "d30") == [
        ("c1", PLACED + dt.timedelta(days=30), "window"),
        ("c2", dt.datetime(2024, 5, 29, tzinfo=UTC), "window"),
    ]
    assert exits(shop, "gt90") == [
        ("c1", PLACED + dt.timedelta(days=90), "window"),
        ("c2", dt.datetime(2024, 7, 28, tzinfo=UTC), "window"),
    ]
    # the mirror image: 'lapsed' is entered the instant the last order turns 30 days old
    assert ("c1", PLACED + dt.timedelta(days=30), "window") in enters(shop, "lapsed")
    assert set(members(shop, "lapsed")) == {"c1", "c2", "c3"}
    # nothing is due any more before the as_of; a second pass changes nothing
    assert memberships.due(shop, dt.datetime(2024, 9, 1, tzinfo=UTC)) == []
    again = run_worker(shop, dt.datetime(2024, 9, 1, tzinfo=UTC))
    assert again.processed == 0 and again.entered == again.exited == 0


def test_month_window_exit_on_31_january(shop: Store) -> None:
    # c3 ordered on 31 Jan 12:00; 'placed_at > -1m' holds until shift(now, -1m) reaches
    # it: 29 Feb 12:00 - 1m = 29 Jan (still inside), the first instant outside is 1 Mar
    # (a naive 31 Jan + 1m would say 29 Feb 12:00).
    refresh_segments(shop, ["month"], dt.datetime(2024, 2, 15, tzinfo=UTC))
    assert "c3" in members(shop, "month")
    run_worker(shop, dt.datetime(2024, 3, 10, tzinfo=UTC))
    assert exits(shop, "month") == [("c3", dt.datetime(2024, 3, 1, tzinfo=UTC), "window")]


def test_month_window_refreshed_inside_the_clamped_stretch(shop: Store) -> None:
    # Refreshed on 29 Feb 18:00 — after 31 Jan + 1m (29 Feb 12:00, clamped) but before the
    # exit: the due instant must still be 1 Mar 00:00, computed exactly in SQL too.
    refresh_segments(shop, ["month"], dt.datetime(2024, 2, 29, 18, tzinfo=UTC))
    assert "c3" in members(shop, "month")
    due = {(s, i): d for s, i, d in memberships.due(shop, dt.datetime(2100, 1, 1, tzinfo=UTC))}
    # 1m gives 1 Mar 00:00, earlier than 30d's 1 Mar 12:00
    assert due[("orders", "c3")] == dt.datetime(2024, 3, 1, tzinfo=UTC)
    run_worker(shop, dt.datetime(2024, 3, 10, tzinfo=UTC))
    assert exits(shop, "month") == [("c3", dt.datetime(2024, 3, 1, tzinfo=UTC), "window")]


def test_worker_cli_with_a_later_as_of(
    shop: Store, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    refresh_segments(shop, ["d30"], dt.datetime(2024, 5, 1, tzinfo=UTC))
    main(["--db", store_url, "--as-of", "2024-05-26T00:00:00Z", "worker", "--once"])
    assert "1 exited" in capsys.readouterr().out
    assert exits(shop, "d30") == [("c1", PLACED + dt.timedelta(days=30), "window")]


def test_reconcile_every_runs_a_refresh(shop: Store) -> None:
    start = dt.datetime(2024, 5, 1, tzinfo=UTC)
    first = run_worker(shop, start, reconcile_every=dt.timedelta(hours=1))
    assert first.refresh is not None and first.refresh.entered > 0
    soon = run_worker(shop, start + dt.timedelta(minutes=30), reconcile_every=dt.timedelta(hours=1))
    assert soon.refresh is None
    later = run_worker(shop, start + dt.timedelta(hours=2), reconcile_every=dt.timedelta(hours=1))
    assert later.refresh is not None and later.refresh.entered == 0


@pytest.mark.parametrize(
    ("value", "duration", "expected"),
    [
        ("2024-01-31T12:00:00", Duration(1, "m"), "2024-03-01T00:00:00"),
        ("2023-01-31T12:00:00", Duration(1, "m"), "2023-03-01T00:00:00"),
        ("2024-01-15T12:00:00", Duration(1, "m"), "2024-02-15T12:00:00"),
        ("2024-02-29T12:00:00", Duration(1, "y"), "2025-03-01T00:00:00"),
        ("2024-03-31T00:00:00", Duration(6, "m"), "2024-10-01T00:00:00"),
        ("2024-04-25T10:00:00.123456", Duration(30, "d"), "2024-05-25T10:00:00.123456"),
    ],
)
def test_first_instant_is_exact(value: str, duration: Duration, expected: str) -> None:
    from segmint.rules.timeutil import shift

    v = dt.datetime.fromisoformat(value).replace(tzinfo=UTC)
    n = first_instant(v, duration)
    assert n == dt.datetime.fromisoformat(expected).replace(tzinfo=UTC)
    assert shift(n, duration) >= v
    assert shift(n - dt.timedelta(microseconds=1), duration) < v


def test_next_due_python_strictness_and_future_items() -> None:
    schema = Schema()
    spec = window_spec(check(parse("last_order_at >= -10d"), schema), schema)
    assert spec is not None
    now = dt.datetime(2024, 5, 1, tzinfo=UTC)
    placed = dt.datetime(2024, 4, 25, tzinfo=UTC)
    profile = Profile(id="c", orders=[OrderItem("o", placed, "paid", None)])
    # >= holds while placed >= now - 10d: the first instant it fails is placed + 10d + 1µs
    assert next_due(spec, profile, now, "UTC") == placed + dt.timedelta(days=10)
    assert next_due(spec, profile, placed + dt.timedelta(days=10), "UTC") == placed + dt.timedelta(
        days=10, microseconds=1
    )
    future = Profile(id="f", orders=[OrderItem("o", now + dt.timedelta(days=2), "paid", None)])
    spec_w = window_spec(check(parse("last_order_at WITHIN 30d"), schema), schema)
    assert spec_w is not None
    assert next_due(spec_w, future, now, "UTC") == now + dt.timedelta(days=2)


def test_catch_up_replays_several_instants_of_one_customer_in_order(store: Store) -> None:
    """A worker far behind replays each customer's timeline: an order dated in the future
    becomes current (entry), then turns 30 days old (exit), both at their exact instants
    and in that order in the change feed; a dependent segment follows at each instant."""
    customers(store, ["c1"])
    orders(
        store,
        [
            ("o1", "c1", "2024-04-01T00:00:00Z", "paid", 10),
            ("o2", "c1", "2024-05-20T08:30:00.000001Z", "paid", 10),
        ],
    )
    add_segment(store, "d30", "rule", "EXISTS(orders WHERE placed_at WITHIN 30d)")
    add_segment(store, "follows", "rule", "IN SEGMENT 'd30'")
    refresh_segments(store, None, dt.datetime(2024, 5, 1, tzinfo=UTC))
    assert members(store, "d30") == {}  # o1 is exactly 30 days old, o2 not placed yet

    report = run_worker(store, dt.datetime(2024, 9, 1, tzinfo=UTC))
    became_current = dt.datetime(2024, 5, 20, 8, 30, 0, 1, tzinfo=UTC)
    turned_old = became_current + dt.timedelta(days=30)
    assert enters(store, "d30") == [("c1", became_current, "window")]
    assert exits(store, "d30") == [("c1", turned_old, "window")]
    assert enters(store, "follows") == [("c1", became_current, "window")]
    assert exits(store, "follows") == [("c1", turned_old, "window")]
    assert report.entered == 2 and report.exited == 2
    feed = store._q('SELECT segment_code, change, "at" FROM membership_history ORDER BY seq')
    assert [(str(c), str(h)) for c, h, _ in feed] == [
        ("d30", "enter"),
        ("follows", "enter"),
        ("d30", "exit"),
        ("follows", "exit"),
    ]
    assert [a for _, _, a in feed] == sorted(a for _, _, a in feed)
    # nothing left due before the as_of: a second pass changes nothing
    again = run_worker(store, dt.datetime(2024, 9, 1, tzinfo=UTC))
    assert again.entered == again.exited == 0
