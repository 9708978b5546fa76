"""Set-based membership writes (``memberships.apply_target``, ``apply_due_target``) on
both stores. DuckDB writes exits, reason changes and moved or gone due instants by the
``rowid`` the diff read (``Store.row_address``); these cases hold that to the key-joined
form PostgreSQL uses, including rows that the same transaction wrote a moment before
(a refresh layer's or an incremental batch's later step). Also the upgrade that took
DuckDB's primary keys off memberships and history, and the teardown check that keeps
their keys unique."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from segmint.errors import StoreError
from segmint.store import memberships, migrations
from segmint.store.base import Store
from store_checks import repeated_keys

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


def test_membership_keys_enforced_by_postgres_kept_unique_by_writers_on_duckdb(
    store: Store,
) -> None:
    """DuckDB has no primary key on memberships and history since migration 8 (its
    checkpoints rewrote the 9 M-key index whole); the writers keep the keys unique and
    every test checks them at teardown (tests/conftest.py). The check itself catches a
    repeat; PostgreSQL still refuses one."""
    rows = [("a", "c1", "rule"), ("a", "c2", "rule")]
    with store.transaction():
        memberships.apply_target(store, target(store, rows), ["a"], ALL, T1, "refresh")
    assert repeated_keys(store) == {}
    again = (
        "INSERT INTO memberships (segment_code, customer_id, since, reason) "
        "VALUES ('a', 'c1', $t, 'rule')"
    )
    if store.dialect == "postgres":
        with pytest.raises(StoreError, match="duplicate key"):
            store._x(again, {"t": T2})
        return
    store._x(again, {"t": T2})
    store._x(
        "INSERT INTO membership_history SELECT * FROM membership_history WHERE customer_id = 'c2'"
    )
    assert repeated_keys(store) == {"memberships": 1, "membership_history": 1}
    store.execute("DELETE FROM memberships WHERE since = $t", {"t": T2})
    store.execute(
        "DELETE FROM membership_history WHERE rowid = "
        "(SELECT MAX(rowid) FROM membership_history WHERE customer_id = 'c2')"
    )
    assert repeated_keys(store) == {}


def test_upgrade_to_version_8_keeps_memberships_history_and_their_views(
    store: Store, make_store: Callable[..., Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 8 rebuilds DuckDB's memberships and history without primary keys: every
    row, the customer index, NOT NULL and the views reading memberships survive, and
    later writes work as before. PostgreSQL's tables are left as they were."""
    every = list(migrations.MIGRATIONS)
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in every if m.version < 8])
    old = make_store(store.dialect)
    assert old.schema_version() == 7
    rows = [("a", "c1", "rule"), ("a", "c2", "manual"), ("b", "c1", "rule")]
    with old.transaction():
        memberships.apply_target(old, target(old, rows), ["a", "b"], ALL, T1, "refresh")
    with old.transaction():
        memberships.apply_target(old, target(old, rows[1:]), ["a", "b"], ALL, T2, "refresh")
    before = state(old)
    monkeypatch.setattr(migrations, "MIGRATIONS", every)
    assert old.init() == migrations.latest_version()
    assert state(old) == before
    assert old._q("SELECT segment_code, customer_id FROM segment_members ORDER BY 1, 2") == [
        ("a", "c2"),
        ("b", "c1"),
    ]
    keys = old._q(
        "SELECT table_name FROM information_schema.table_constraints WHERE constraint_type = "
        "'PRIMARY KEY' AND table_name IN ('memberships', 'membership_history') "
        "AND table_schema = current_schema() ORDER BY 1"
    )
    if old.dialect == "duckdb":
        assert keys == []
        assert old._q(
            "SELECT index_name FROM duckdb_indexes() WHERE table_name = 'memberships'"
        ) == [("memberships_customer_idx",)]
        with pytest.raises(StoreError, match="NOT NULL"):
            old._x("INSERT INTO memberships VALUES ('a', NULL, $t, 'rule')", {"t": T3})
    else:
        assert keys == [("membership_history",), ("memberships",)]
    with old.transaction():
        memberships.apply_target(old, target(old, rows[:1]), ["a", "b"], ALL, T3, "refresh")
    members, changes = state(old)
    assert members == [("a", "c1", "rule")]
    assert [c[:4] for c in changes[len(before[1]) :]] == [
        ("a", "c1", "enter", T3),
        ("a", "c2", "exit", T3),
        ("b", "c1", "exit", T3),
    ]
