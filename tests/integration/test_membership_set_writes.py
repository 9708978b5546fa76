"""Set-based membership writes (``memberships.apply_target``, ``apply_due_target``) on
both stores. DuckDB writes exits, reason changes and moved or gone due instants by the
``rowid`` the diff read (``Store.row_address``); these cases hold that to the key-joined
form PostgreSQL uses, including rows that the same transaction wrote a moment before
(a refresh layer's or an incremental batch's later step)."""

from __future__ import annotations

import datetime as dt

from segmint.store import memberships
from segmint.store.base import Store

T1 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
T2 = dt.datetime(2024, 5, 2, tzinfo=dt.UTC)
T3 = dt.datetime(2024, 5, 3, tzinfo=dt.UTC)
ALL = memberships.Scope()


def temp_rows(store: Store, name: str, columns: str, rows: list[tuple[object, ...]]) -> str:
    """Temp table ``name`` (``columns``: its DDL) holding ``rows``; returns its name."""
    store.execute(f"DROP TABLE IF EXISTS {name}")
    store.execute(f"CREATE TEMP TABLE {name} ({columns})")
    for row in rows:
        values = ", ".join(f"$v{i}" for i in range(len(row)))
        store._x(f"INSERT INTO {name} VALUES ({values})", {f"v{i}": v for i, v in enumerate(row)})
    return name


def target(store: Store, rows: list[tuple[str, str, str]]) -> str:
    return temp_rows(store, "tgt", "segment_code TEXT, customer_id TEXT, reason TEXT", rows)


def due_target(store: Store, rows: list[tuple[str, str, dt.datetime]]) -> str:
    return temp_rows(store, "due_tgt", "source TEXT, customer_id TEXT, due_at TIMESTAMP", rows)


def state(store: Store) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    rows = store._q("SELECT segment_code, customer_id, reason FROM memberships ORDER BY 1, 2")
    changes = store._q(
        'SELECT segment_code, customer_id, change, "at", reason FROM membership_history '
        "ORDER BY seq"
    )
    return rows, changes


def test_exits_and_reasons_of_rows_written_in_the_same_transaction(store: Store) -> None:
    with store.transaction():
        rows = [("a", "c1", "rule"), ("a", "c2", "rule"), ("a", "c3", "rule"), ("b", "c2", "rule")]
        memberships.apply_target(store, target(store, rows), ["a", "b"], ALL, T1, "refresh")
        # the same transaction: c2 and c3 leave a, c1 stays for another reason, b untouched
        rows = [("a", "c1", "manual")]
        memberships.apply_target(store, target(store, rows), ["a"], ALL, T2, "refresh")
    members, changes = state(store)
    assert members == [("a", "c1", "manual"), ("b", "c2", "rule")]
    assert [c[:3] for c in changes] == [
        ("a", "c1", "enter"),
        ("a", "c2", "enter"),
        ("a", "c3", "enter"),
        ("b", "c2", "enter"),
        ("a", "c2", "exit"),
        ("a", "c3", "exit"),
    ]
    assert [c[3] for c in changes[4:]] == [T2, T2]

    # committed rows, a later transaction: one exit, one entry; then the same target again
    # writes nothing (nothing doubled)
    for _ in range(2):
        with store.transaction():
            rows = [("a", "c4", "rule")]
            memberships.apply_target(store, target(store, rows), ["a"], ALL, T3, "refresh")
    members, changes = state(store)
    assert members == [("a", "c4", "rule"), ("b", "c2", "rule")]
    assert [c[:4] for c in changes[6:]] == [("a", "c1", "exit", T3), ("a", "c4", "enter", T3)]
    assert changes[6][4] == "manual"  # an exit records the reason the member had


def test_due_rows_moved_and_gone_in_the_same_transaction(store: Store) -> None:
    sources = ["orders", "events"]
    with store.transaction():
        rows = [("orders", "c1", T1), ("orders", "c2", T1), ("events", "c1", T2)]
        memberships.apply_due_target(store, due_target(store, rows), sources, ALL)
        rows = [("orders", "c1", T3), ("events", "c1", T2)]  # c1's orders moved, c2's gone
        memberships.apply_due_target(store, due_target(store, rows), sources, ALL)
    got = store._q("SELECT source, customer_id, due_at FROM customer_due ORDER BY 1, 2")
    assert got == [("events", "c1", T2), ("orders", "c1", T3)]
    with store.transaction():
        rows = [("orders", "c1", T2)]  # committed rows: one moved back, one gone
        memberships.apply_due_target(store, due_target(store, rows), sources, ALL)
    got = store._q("SELECT source, customer_id, due_at FROM customer_due ORDER BY 1, 2")
    assert got == [("orders", "c1", T2)]
