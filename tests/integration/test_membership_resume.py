"""kill -9 during a refresh, on both stores: the next refresh resumes the unfinished run
with the same as_of and ends with exactly what an uninterrupted run gives on an identical
copy of the data — memberships, history (nothing lost, nothing doubled) and due instants."""

from __future__ import annotations

import datetime as dt
import random
import signal
import subprocess
import sys
from collections.abc import Callable

import duckdb
import pyarrow as pa
import pytest
from test_membership_refresh import add_segment, set_manual

from cli_run import url_of
from segmint.importing.api import import_arrow
from segmint.services.membership import refresh_segments
from segmint.store.base import Store
from segmint.store.duckdb import DuckDBStore
from segmint.store.postgres import PostgresStore

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
#: the secondary indexes a large refresh suspends on DuckDB
SUSPENDABLE = {"memberships_customer_idx", "customer_due_customer_idx"}
CUSTOMERS = 300
BATCH = 20

CHILD = """
import datetime as dt, os, signal, sys, threading
from segmint.bootstrap import open_store
from segmint.services.membership import refresh_segments

url, kill_after, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
if sys.argv[5] == "bulk":  # every write is "large": DuckDB suspends indexes around batches
    import segmint.store.duckdb
    segmint.store.duckdb.BULK_MIN = 1
store = open_store(url)
batches = 0

def progress(step, done, total):
    global batches
    batches += 1
    if batches == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)

if delay > 0:
    threading.Timer(delay, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
refresh_segments(store, None, dt.datetime(2024, 5, 1, tzinfo=dt.UTC), progress=progress,
                 batch_size=int(sys.argv[4]))
store.close()
os._exit(0)
"""


def populate(store: Store) -> None:
    rng = random.Random(7)
    ids = [f"c{i:04}" for i in range(CUSTOMERS)]
    import_arrow(
        store,
        "customers",
        pa.table({"id": ids, "tags": ["vip" if rng.random() < 0.2 else "" for _ in ids]}),
        source="t",
    )
    rows = []
    for n in range(CUSTOMERS * 3):
        cid = ids[rng.randrange(CUSTOMERS)]
        placed = NOW - dt.timedelta(days=rng.randrange(200), seconds=rng.randrange(86400))
        rows.append((f"o{n:05}", cid, placed.isoformat(), rng.choice(["paid", "paid", "refunded"])))
    import_arrow(
        store,
        "orders",
        pa.table(
            {
                "order_id": [r[0] for r in rows],
                "customer_id": [r[1] for r in rows],
                "placed_at": [r[2] for r in rows],
                "status": [r[3] for r in rows],
                "total": [str(10 + i % 90) for i in range(len(rows))],
            }
        ),
        source="t",
    )
    add_segment(store, "recent", "rule", "EXISTS(orders WHERE placed_at WITHIN 30d)")
    add_segment(store, "spenders", "rule", "total_spent >= 100")
    add_segment(store, "vip", "rule", "tags CONTAINS 'vip'")
    add_segment(store, "hot", "rule", "IN SEGMENT 'recent' AND IN SEGMENT 'spenders'")
    add_segment(store, "lapsed", "rule", "NOT IN SEGMENT 'recent' AND orders_count >= 2")
    add_segment(store, "hand", "manual", None)
    for i in range(0, CUSTOMERS, 7):
        set_manual(store, "hand", f"c{i:04}", "include")
        set_manual(store, "spenders", f"c{i + 1:04}", "exclude")
        set_manual(store, "recent", f"c{i + 2:04}", "include")


def snapshot(store: Store) -> tuple[list[object], list[object], list[object]]:
    m = store._q("SELECT segment_code, customer_id, since, reason FROM memberships ORDER BY 1, 2")
    h = store._q(
        'SELECT segment_code, customer_id, change, "at", reason, trigger FROM '
        "membership_history ORDER BY 1, 2, 3"
    )
    d = store._q("SELECT source, customer_id, due_at FROM customer_due ORDER BY 1, 2")
    return [tuple(r) for r in m], [tuple(r) for r in h], [tuple(r) for r in d]


def child(url: str, kill_after: int = 0, delay: float = 0.0, bulk: bool = False) -> int:
    mode = "bulk" if bulk else "plain"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(kill_after), str(delay), str(BATCH), mode],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
    return proc.returncode


def test_kill_9_then_resume_equals_an_uninterrupted_run(
    store: Store, make_store: Callable[..., Store]
) -> None:
    kill_and_resume(store, make_store, bulk=False)


def test_kill_9_while_indexes_are_suspended_then_resume_on_duckdb(
    make_store: Callable[..., Store],
) -> None:
    """DuckDB suspends secondary indexes around a large refresh's batches (store.md):
    killed with them dropped, the next open builds them again and the resumed run ends
    exactly as an uninterrupted one."""
    kill_and_resume(make_store("duckdb"), make_store, bulk=True)


def kill_and_resume(store: Store, make_store: Callable[..., Store], *, bulk: bool) -> None:
    kind = "duckdb" if isinstance(store, DuckDBStore) else "postgres"
    copy = make_store(kind)
    populate(store)
    populate(copy)
    expected_report = refresh_segments(copy, None, NOW, batch_size=BATCH)
    expected = snapshot(copy)
    assert expected_report.entered > 100

    url = url_of(store)
    store.close()  # DuckDB: one process at a time may open the file
    # killed after 3 committed batches of the first layer
    assert child(url, kill_after=3, bulk=bulk) == -signal.SIGKILL
    if bulk:
        # killed while the secondary indexes were suspended (read without DuckDBStore,
        # whose open would build them again)
        raw = duckdb.connect(url)
        try:
            meta = raw.execute(
                "SELECT value FROM segmint_meta WHERE key = 'suspended_indexes'"
            ).fetchall()
            names = {
                r[0] for r in raw.execute("SELECT index_name FROM duckdb_indexes()").fetchall()
            }
        finally:
            raw.close()
        assert meta and "memberships_customer_idx" in meta[0][0]
        assert not names & SUSPENDABLE
    # resumed and killed again, now inside the second (IN SEGMENT) layer
    assert child(url, kill_after=18, bulk=bulk) == -signal.SIGKILL
    # then killed at arbitrary moments (inside transactions too) until a run completes
    for delay in (0.05, 0.2, 0.4, 0.8, 1.5, 3.0, 0.0):
        if child(url, delay=delay, bulk=bulk) == 0:
            break
    reopened = DuckDBStore(url) if kind == "duckdb" else PostgresStore(url)
    try:
        runs = reopened._q("SELECT id, as_of, state FROM refresh_runs ORDER BY id")
        assert runs[0] == (1, NOW, "done")
        assert all(state == "done" for _, _, state in runs)
        got = snapshot(reopened)
        assert got[0] == expected[0]  # memberships, since and reason
        assert got[1] == expected[1]  # history: same changes, none doubled
        assert got[2] == expected[2]  # due instants
        assert len(got[1]) == len(set(got[1]))
        # another refresh at the same instant changes nothing
        again = refresh_segments(reopened, None, NOW, batch_size=BATCH)
        assert (again.entered, again.exited, again.resumed) == (0, 0, False)
        if bulk:
            names = {r[0] for r in reopened._q("SELECT index_name FROM duckdb_indexes()")}
            assert names >= SUSPENDABLE
            assert (
                reopened._q("SELECT value FROM segmint_meta WHERE key = 'suspended_indexes'") == []
            )
    finally:
        reopened.close()


def test_resume_reports_the_unfinished_run(store: Store) -> None:
    populate(store)
    url = url_of(store)
    store.close()
    assert child(url, kill_after=2) == -signal.SIGKILL
    reopened = DuckDBStore(url) if isinstance(store, DuckDBStore) else PostgresStore(url)
    try:
        state = reopened._q("SELECT state, checkpoint FROM refresh_runs")
        assert state[0][0] == "running" and '"layer": 0' in str(state[0][1])
        report = refresh_segments(reopened, None, NOW, batch_size=BATCH)
        assert report.resumed and report.run_id == 1
        assert reopened._q("SELECT COUNT(*) FROM refresh_runs")[0][0] == 1
        later = refresh_segments(reopened, None, NOW + dt.timedelta(days=1), batch_size=BATCH)
        assert later.run_id == 2 and not later.resumed
    finally:
        reopened.close()


pytestmark = pytest.mark.slow
