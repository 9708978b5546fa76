"""Import throughput (order lines per second) for both stores.

Generates a synthetic orders file (one row per line, ~3 lines per order, 1/40 as many
customers as orders) in Parquet and CSV, imports each into a fresh store, then
re-imports it (the idempotent update path), and prints a markdown table.

    .venv/bin/python bench/bench_import.py --lines 1500000
    .venv/bin/python bench/bench_import.py --lines 200000 --stores duckdb --formats parquet

PostgreSQL: a scratch database (unique name) on --pg-url's server, dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
import psycopg

from segmint.importing import import_file
from segmint.store.base import Store
from segmint.store.duckdb import DuckDBStore
from segmint.store.postgres import PostgresStore

DEFAULT_PG = os.environ.get(
    "SEGMINT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def generate(directory: Path, lines: int) -> dict[str, Path]:
    """Write orders.parquet and orders.csv with ``lines`` rows (deterministic)."""
    orders = max(1, lines // 3)
    customers = max(1, orders // 40)
    query = f"""
        SELECT 'o' || (i // 3) AS order_id,
               'c' || ((hash(i // 3) % {customers})) AS customer_id,
               TIMESTAMP '2023-01-01' + to_seconds(CAST((i // 3) * 7919 % 31536000 AS BIGINT))
                   AS placed_at,
               CASE WHEN (i // 3) % 50 = 0 THEN 'cancelled' END AS status,
               'EUR' AS currency,
               'SKU-' || (hash(i) % 5000) AS sku,
               CAST(1 + i % 4 AS INTEGER) AS quantity,
               CAST((hash(i) % 100000) / 100 AS DECIMAL(18,4)) AS unit_price
        FROM range({lines}) AS t(i)
    """
    paths = {"parquet": directory / "orders.parquet", "csv": directory / "orders.csv"}
    con = duckdb.connect()
    con.execute(f"COPY ({query}) TO '{paths['parquet']}' (FORMAT parquet)")
    con.execute(f"COPY ({query}) TO '{paths['csv']}' (FORMAT csv, HEADER)")
    con.close()
    return paths


def open_store(kind: str, directory: Path, pg_admin: str, scratch: list[str]) -> Store:
    if kind == "duckdb":
        store: Store = DuckDBStore(directory / f"bench_{uuid.uuid4().hex[:8]}.duckdb")
    else:
        name = f"segmint_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        scratch.append(name)
        store = PostgresStore(pg_admin.rsplit("/", 1)[0] + "/" + name)
    store.init()
    return store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_500_000)
    parser.add_argument("--stores", default="duckdb,postgres")
    parser.add_argument("--formats", default="parquet,csv")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    args = parser.parse_args()

    results: list[tuple[str, str, str, int, float]] = []
    scratch: list[str] = []
    with tempfile.TemporaryDirectory(prefix="segmint_bench_") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        paths = generate(directory, args.lines)
        print(
            f"generated {args.lines} lines in {time.perf_counter() - started:.1f}s", file=sys.stderr
        )
        try:
            for kind in args.stores.split(","):
                for fmt in args.formats.split(","):
                    store = open_store(kind, directory, args.pg_url, scratch)
                    try:
                        for run in ("first import", "re-import"):
                            t0 = time.perf_counter()
                            report = import_file(store, "orders", paths[fmt])
                            seconds = time.perf_counter() - t0
                            assert report.tables["order_lines"].inserted == args.lines
                            results.append((kind, fmt, run, args.lines, seconds))
                            print(f"{kind} {fmt} {run}: {seconds:.1f}s", file=sys.stderr)
                    finally:
                        store.close()
        finally:
            for name in scratch:
                with psycopg.connect(args.pg_url, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print("| store | format | run | lines | seconds | lines/s |")
    print("|---|---|---|---:|---:|---:|")
    for kind, fmt, run, lines, seconds in results:
        print(f"| {kind} | {fmt} | {run} | {lines:,} | {seconds:.1f} | {lines / seconds:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
