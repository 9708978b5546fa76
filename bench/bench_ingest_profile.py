"""Where an ingest batch's time goes: ``import_and_update`` of N-order batches, per SQL
statement (PostgreSQL).

    .venv/bin/python bench/bench_ingest_profile.py --postgres postgresql://postgres@127.0.0.1:5432/test

Uses the schema ``bench/bench_incremental.py --postgres`` loads (same sizes and seed; loaded
here when missing), defines and refreshes its 100 segments (``--skip-define`` when they
already are), then imports ``--batches`` batches of ``--batch`` orders for random customers
with incremental evaluation on and prints each batch's time with its most expensive
statements. To compare two versions of the code, run it alternately with and without a
``git worktree`` of the other version first on ``PYTHONPATH`` (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_incremental import hundred_rules, open_pg, order_table
from bench_match import synthetic_args
from bench_refresh import define_segments
from rulesets import REFERENCE_NOW
from segmint.services.ingest import import_and_update
from segmint.services.membership import refresh_segments
from segmint.store.postgres import PostgresStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    synthetic_args(parser)
    parser.add_argument("--postgres", required=True, help="PostgreSQL URL")
    parser.add_argument("--batch", type=int, default=5_000, help="orders per batch")
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--top", type=int, default=8, help="statements shown per batch")
    parser.add_argument("--skip-define", action="store_true", help="segments already refreshed")
    args = parser.parse_args()
    store = open_pg(args)
    if not args.skip_define:
        define_segments(store, hundred_rules())
        start = time.perf_counter()
        refresh_segments(store, None, REFERENCE_NOW)
        print(f"initial refresh {time.perf_counter() - start:.1f} s")
    times: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0])
    run = PostgresStore._run

    def timed_run(self: PostgresStore, sql: str, params: dict[str, Any]) -> Any:
        start = time.perf_counter()
        try:
            return run(self, sql, params)
        finally:
            key = " ".join(sql.split())[:120]
            times[key][0] += time.perf_counter() - start
            times[key][1] += 1

    PostgresStore._run = timed_run  # type: ignore[method-assign]
    rng = random.Random(time.time_ns())  # other customers on every run: no warm rerun
    ids = store.customer_ids()
    for b in range(args.batches):
        now = REFERENCE_NOW + dt.timedelta(hours=3, minutes=b)
        batch = [
            (f"profile-{time.time_ns()}-{b}-{j}", rng.choice(ids), now - dt.timedelta(minutes=1))
            for j in range(args.batch)
        ]
        table = order_table(batch, rng)
        times.clear()
        start = time.perf_counter()
        import_and_update(store, "orders", table, now, progress=lambda *a: None)
        total = time.perf_counter() - start
        in_sql = sum(t for t, _ in times.values())
        rate = args.batch / total
        print(f"batch {b}: {total:.2f} s, {rate:,.0f} orders/s; in SQL {in_sql:.2f} s")
        for key, (seconds, count) in sorted(times.items(), key=lambda kv: -kv[1][0])[: args.top]:
            print(f"  {seconds:7.3f} s {int(count):4d}x  {key}")
    store.close()


if __name__ == "__main__":
    main()
