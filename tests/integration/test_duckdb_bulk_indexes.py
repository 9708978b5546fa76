"""DuckDB only: a large import suspends the customer_id indexes around its transaction and
builds them again — also after a failure, and after a kill (on the next open)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from segmint.importing import import_file
from segmint.store import duckdb as duckdb_store
from segmint.store.base import Store
from segmint.store.duckdb import DuckDBStore

ORDERS = "order_id,customer_id,placed_at,sku,quantity,unit_price\n" + "".join(
    f"o{i},c{i % 7},2024-01-0{1 + i % 9}T10:00:00,S{i % 3},1,{i}.50\n" for i in range(40)
)
CUSTOMER_INDEXES = {"orders_customer_idx", "order_lines_customer_idx"}


def indexes(store: Store) -> set[str]:
    return {
        str(n)
        for (n,) in store.query("SELECT index_name FROM duckdb_indexes() WHERE sql IS NOT NULL")
    }


@pytest.fixture()
def duck(make_store: Callable[..., Store], monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setattr(duckdb_store, "BULK_MIN", 1)  # every import here is "large"
    return make_store("duckdb")


def test_a_large_import_rebuilds_the_indexes_it_suspended(duck: Store, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS)
    import_file(duck, "orders", path)
    import_file(duck, "orders", path)  # re-import: deletes and re-inserts every line
    assert indexes(duck) >= CUSTOMER_INDEXES
    assert duck.query("SELECT value FROM segmint_meta WHERE key = 'suspended_indexes'") == []
    assert duck.stats()["lines"] == 40
    rows = duck.query(
        "SELECT COUNT(*) FROM order_lines WHERE customer_id = ANY($ids)", {"ids": ["c3"]}
    )
    assert rows == [(6,)]


def test_a_failed_import_rolls_back_and_rebuilds_the_indexes(
    duck: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS)
    import_file(duck, "orders", path)

    during: list[set[str]] = []

    def broken(*args: object, **kwargs: object) -> tuple[int, int]:
        during.append(indexes(duck))
        raise RuntimeError("disk full")

    monkeypatch.setattr(DuckDBStore, "replace_lines", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        import_file(duck, "orders", path)
    assert during and not (during[0] & CUSTOMER_INDEXES)  # suspended while it wrote
    assert indexes(duck) >= CUSTOMER_INDEXES
    assert duck.stats()["lines"] == 40


def test_indexes_suspended_by_a_killed_import_are_rebuilt_on_open(
    duck: Store, tmp_path: Path
) -> None:
    assert isinstance(duck, DuckDBStore)
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS)
    import_file(duck, "orders", path)
    # what a kill between suspending and rebuilding leaves behind
    definitions = [
        str(sql)
        for (sql,) in duck.query(
            "SELECT sql FROM duckdb_indexes() WHERE index_name = 'order_lines_customer_idx'"
        )
    ]
    duck.execute("DROP INDEX order_lines_customer_idx")
    duck.execute(
        "INSERT INTO segmint_meta (key, value) VALUES ('suspended_indexes', $v)",
        {"v": json.dumps(definitions)},
    )
    duck.close()
    reopened = DuckDBStore(duck.path)
    try:
        assert indexes(reopened) >= CUSTOMER_INDEXES
        assert (
            reopened.query("SELECT value FROM segmint_meta WHERE key = 'suspended_indexes'") == []
        )
    finally:
        reopened.close()
