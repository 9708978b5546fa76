"""Store.limit_time on both stores: a statement running past the limit is interrupted
(DuckDB's interrupt, PostgreSQL's cancel and statement_timeout), further statements are
refused, an import bounded by it writes nothing, and the store works again once lifted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from segmint.errors import TimeLimitExceeded
from segmint.importing import import_file
from segmint.store.base import Store

SLOW = {
    "duckdb": "SELECT count(*) FROM range(100000000000) AS a(x) WHERE x % 7 = 3",
    "postgres": "SELECT pg_sleep(30)",
}


def test_a_statement_past_the_limit_is_stopped(store: Store) -> None:
    store.limit_time(0.5)
    started = time.perf_counter()
    with pytest.raises(TimeLimitExceeded, match=r"time limit of 0\.5 s"):
        store.query(SLOW[store.dialect])
    assert time.perf_counter() - started < 10
    with pytest.raises(TimeLimitExceeded):
        store.query("SELECT 1")  # past the limit, nothing more runs
    store.limit_time(None)
    assert store.query("SELECT 1") == [(1,)]


def test_a_transaction_past_the_limit_writes_nothing(store: Store) -> None:
    store.limit_time(0.5)
    with pytest.raises(TimeLimitExceeded), store.transaction():
        store._x("INSERT INTO customers (id) VALUES ('c1')")
        store.query(SLOW[store.dialect])
    store.limit_time(None)
    assert store.customer_ids() == []


def test_an_import_past_the_limit_is_stopped_and_writes_nothing(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("id,email\n" + "".join(f"c{i},c{i}@x\n" for i in range(200_000)))
    store.limit_time(0.05)
    time.sleep(0.1)
    with pytest.raises(TimeLimitExceeded):
        import_file(store, "customers", path)
    store.limit_time(60)
    assert store.stats()["customers"] == 0
    assert import_file(store, "customers", path).inserted == 200_000
