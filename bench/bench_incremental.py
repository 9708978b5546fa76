"""Incremental membership updates with 100 segments defined, side by side with baselines.

    .venv/bin/python bench/bench_incremental.py --customers 1000000 --orders 5000000

On the cached synthetic DuckDB store (bench/.data/, as bench/bench_match.py builds it),
100 rule segments are defined (the 20 of bench/rulesets.py and 80 variations of them) and
refreshed once. Then:

- **one new order**: a completed order is written for a random customer, and the time to
  bring that customer's memberships up to date (``reevaluate_customers``: every segment
  reading orders or lines, in dependency order, diff and history written, due instants
  kept) is measured ``--samples`` times: p50/p99. Also end to end (``import_and_update``
  of a one-order file: import + update). Baseline: a full refresh of the 100 segments,
  what a system without incremental updates runs to get the same freshness. The first
  ``--warmup`` orders are not counted (a long-running process has its store's blocks in
  memory; their times are reported apart).
- **sustained ingest**: batches of ``--batch`` orders (about 4 lines each; the option may
  be repeated for several sizes) imported with incremental evaluation on
  (``import_and_update``), against the same batches imported with it off
  (``import_arrow`` only): orders per second, and the seconds one batch takes (how long
  its customers wait for their memberships).
- **stream**: orders arriving at ``--rate`` per second (default 5,000; the option may be
  repeated to find where the ingest stops keeping up) for ``--stream-seconds``, ingested
  as they come: each pass takes every order that has
  arrived since the last (group commit), so under load a batch grows until one pass
  absorbs what arrives during it. Reported: orders/s absorbed (over the whole run, the
  last pass included) and while busy (orders over the passes' total time: what the
  ingest can sustain when it never waits), how far behind the
  stream the ingest ends, the batch sizes it settled on, and each order's time from
  arrival to its customer's memberships updated (p50 of the first and second half: a
  latency that grows means the ingest does not keep up), and the longest pass (one that
  met a checkpoint). "Absorbed" is always a little under the rate: the last pass ends
  after the last arrival. Whether the ingest keeps up shows in the lag at the end (about
  one pass when it does, growing with the duration when it does not) and in the latency
  of the second half against the first. Baseline: the stream at the highest rate imported
  with incremental evaluation off.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_match import machine, synthetic_args
from bench_refresh import define_segments, open_db
from rulesets import REFERENCE_NOW, RULES
from segmint.importing import import_arrow
from segmint.services.ingest import import_and_update
from segmint.services.membership import reevaluate_customers, refresh_segments
from segmint.store.base import Store

CHANGED = frozenset({"orders", "lines"})


def hundred_rules() -> dict[str, str]:
    rules = dict(RULES)
    for name, text in RULES.items():
        for k in range(1, 5):
            rules[f"{name}_v{k}"] = f"({text}) AND orders_count >= {k}"
    assert len(rules) == 100
    return rules


def order_table(orders: list[tuple[str, str, dt.datetime]], rng: random.Random) -> pa.Table:
    """One row per line, 1-6 lines per order (mean ~3.5), like the synthetic data."""
    cols: dict[str, list[str]] = {
        k: []
        for k in (
            "order_id",
            "customer_id",
            "placed_at",
            "status",
            "total",
            "sku",
            "brand",
            "category",
            "quantity",
            "unit_price",
            "amount",
        )
    }
    for oid, cid, placed in orders:
        n = rng.randint(1, 6)
        amounts = [rng.randint(100, 9000) for _ in range(n)]
        total = sum(amounts)
        for i in range(n):
            cols["order_id"].append(oid)
            cols["customer_id"].append(cid)
            cols["placed_at"].append(placed.isoformat())
            cols["status"].append("completed")
            cols["total"].append(f"{total / 100:.2f}")
            cols["sku"].append(f"B{rng.randint(1, 500):05}")
            cols["brand"].append(rng.choice(["Acme", "Globex", "Private Label"]))
            cols["category"].append(rng.choice(["wine", "beer", "coffee", "tea"]))
            cols["quantity"].append("1")
            cols["unit_price"].append(f"{amounts[i] / 100:.2f}")
            cols["amount"].append(f"{amounts[i] / 100:.2f}")
    return pa.table(cols)


def stream(
    store: Store,
    ids: list[str],
    rng: random.Random,
    seconds: float,
    rate: int,
    *,
    incremental: bool,
    start_at: dt.datetime,
) -> dict[str, float]:
    """Orders arriving at ``rate`` per second for ``seconds``, ingested as they come:
    each pass takes every order that has arrived since the previous one (group commit;
    under load a batch grows until a pass absorbs what arrives during it) and imports it
    with incremental evaluation on (``import_and_update``) or off (``import_arrow``, the
    baseline). The business clock runs with the wall clock from ``start_at``; an order
    is placed at its arrival. Each order's latency is from its arrival to the end of the
    pass that brought its customer's memberships up to date."""
    n = int(seconds * rate)
    tag = f"{'on' if incremental else 'off'}-{rate}"
    orders = [
        (f"stream-{tag}-{i}", rng.choice(ids), start_at + dt.timedelta(seconds=i / rate))
        for i in range(n)
    ]
    table = order_table(orders, rng)
    offsets = [0]  # the lines of order i are rows offsets[i] .. offsets[i + 1] - 1
    previous = None
    for row, oid in enumerate(table.column("order_id").to_pylist()):
        if oid != previous and row:
            offsets.append(row)
        previous = oid
    offsets.append(table.num_rows)
    latencies: list[float] = []
    sizes: list[int] = []
    passes: list[float] = []
    done = 0
    busy = 0.0
    t0 = time.perf_counter()
    while done < n:
        elapsed = time.perf_counter() - t0
        arrived = min(n, int(elapsed * rate))
        if arrived <= done:
            time.sleep(max(0.0, (done + 1) / rate - elapsed))
            continue
        batch = table.slice(offsets[done], offsets[arrived] - offsets[done])
        began = time.perf_counter()
        now = start_at + dt.timedelta(seconds=began - t0)
        if incremental:
            import_and_update(store, "orders", batch, now, progress=lambda *a: None)
        else:
            import_arrow(store, "orders", batch, source="bench", progress=lambda *a: None)
        finished = time.perf_counter() - t0
        passes.append(time.perf_counter() - began)
        busy += passes[-1]
        latencies += [finished - i / rate for i in range(done, arrived)]
        sizes.append(arrived - done)
        print(
            f"stream {tag}: {arrived - done:,} orders in {time.perf_counter() - began:.2f} s",
            file=sys.stderr,
        )
        done = arrived
    total = time.perf_counter() - t0
    half = n // 2
    return {
        "orders": n,
        "absorbed": n / total,
        "capacity": n / busy,
        "drain": total - seconds,
        "batches": len(sizes),
        "median_batch": statistics.median(sizes),
        "max_batch": max(sizes),
        "longest_pass": max(passes),
        "median_pass": statistics.median(passes),
        "p50": statistics.median(latencies),
        "p99": pct(latencies, 99),
        "max": max(latencies),
        "p50_first_half": statistics.median(latencies[:half]),
        "p50_second_half": statistics.median(latencies[half:]),
    }


def open_pg(args: argparse.Namespace) -> Store:
    """The same synthetic data in PostgreSQL schema ``bench_inc_<sizes>`` (loaded through
    the importer once, then reused: a 1 M load takes minutes)."""
    import psycopg

    from segmint.demo.synthetic import load_synthetic
    from segmint.store.postgres import PostgresStore

    schema = f"bench_inc_{args.customers}_{args.orders}_{args.events}_{args.seed}"
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        fresh = not conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)
        ).fetchone()
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    sep = "&" if "?" in args.postgres else "?"
    store = PostgresStore(f"{args.postgres}{sep}options=-csearch_path%3D{schema}")
    store.init()
    if fresh or not store.stats()["customers"]:
        start = time.perf_counter()
        load_synthetic(store, args.customers, args.orders, args.events, args.seed)
        store.execute("ANALYZE")
        print(f"PostgreSQL: loaded in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return store


def kept_up(r: dict[str, float]) -> bool:
    """An ingest that keeps up ends at most one pass (the longest: one that met a
    checkpoint) after the last arrival, and its latency does not grow from the first half
    of the stream to the second beyond what the growing data explains (a quarter) or one
    ordinary (median) pass, which an order may wait for whatever the load; one that does
    not falls further behind the longer the stream runs. (Without the pass, the rule read
    the import-only baseline's p50 going from 0.23 to 0.32 s as falling behind.)"""
    slack = max(0.25 * r["p50_first_half"], r["median_pass"])
    return r["drain"] <= r["longest_pass"] and r["p50_second_half"] <= r["p50_first_half"] + slack


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    synthetic_args(parser)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument(
        "--batch",
        type=int,
        action="append",
        help="orders per ingest batch (repeatable; default 5,000 and 20,000)",
    )
    parser.add_argument("--warmup", type=int, default=20, help="single orders not counted")
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument(
        "--stream-seconds",
        type=float,
        default=30.0,
        help="orders arriving at --rate for this long, ingested as they come (0: skip)",
    )
    parser.add_argument(
        "--rate",
        type=int,
        action="append",
        help="orders/s of the stream (repeatable: one stream per rate; default 5,000)",
    )
    parser.add_argument(
        "--postgres",
        default=None,
        help="run on PostgreSQL instead: the same data in a schema kept for reruns",
    )
    args = parser.parse_args()

    store = open_pg(args) if args.postgres else open_db(args)
    stats = store.stats()
    define_segments(store, hundred_rules())
    now = REFERENCE_NOW
    start = time.perf_counter()
    first = refresh_segments(store, None, now)
    initial = time.perf_counter() - start
    start = time.perf_counter()
    refresh_segments(store, None, now)
    full_refresh = time.perf_counter() - start

    rng = random.Random(args.seed)
    ids = store.customer_ids()
    update_ms, e2e_ms, warm_ms = [], [], []
    changed_members = 0
    for i in range(args.warmup + args.samples):
        now = REFERENCE_NOW + dt.timedelta(seconds=i + 1)
        cid = rng.choice(ids)
        table = order_table([(f"bench-{i}", cid, now - dt.timedelta(minutes=1))], rng)
        import_arrow(store, "orders", table, source="bench", progress=lambda *a: None)
        t = time.perf_counter()
        report = reevaluate_customers(store, [cid], now, changed=CHANGED)
        elapsed = (time.perf_counter() - t) * 1000
        (warm_ms if i < args.warmup else update_ms).append(elapsed)
        changed_members += report.entered + report.exited
        cid = rng.choice(ids)
        table = order_table([(f"bench-e2e-{i}", cid, now - dt.timedelta(minutes=1))], rng)
        t = time.perf_counter()
        import_and_update(store, "orders", table, now, progress=lambda *a: None)
        if i >= args.warmup:
            e2e_ms.append((time.perf_counter() - t) * 1000)

    sizes = args.batch or [5_000, 20_000]
    ingest: dict[int, tuple[float, float, int]] = {}  # size -> (on s, off s, orders)
    for size in sizes:
        on_s = off_s = 0.0
        sent = 0
        for b in range(args.batches):
            now = REFERENCE_NOW + dt.timedelta(hours=1 + size % 97, minutes=b)
            for mode in ("off", "on"):
                batch = [
                    (
                        f"ingest-{size}-{mode}-{b}-{j}",
                        rng.choice(ids),
                        now - dt.timedelta(minutes=1),
                    )
                    for j in range(size)
                ]
                table = order_table(batch, rng)
                t = time.perf_counter()
                if mode == "on":
                    import_and_update(store, "orders", table, now, progress=lambda *a: None)
                    on_s += time.perf_counter() - t
                else:
                    import_arrow(store, "orders", table, source="bench", progress=lambda *a: None)
                    off_s += time.perf_counter() - t
            sent += size
        ingest[size] = (on_s, off_s, sent)
    rates = sorted(set(args.rate or [5_000]))
    streams: list[tuple[str, int, dict[str, float]]] = []
    if args.stream_seconds > 0:
        # The business clock moves on from one stream to the next (past its drain).
        start_at = REFERENCE_NOW + dt.timedelta(hours=2)
        for mode, rate in [("off", rates[-1]), *(("on", r) for r in rates)]:
            result = stream(
                store,
                ids,
                rng,
                args.stream_seconds,
                rate,
                incremental=mode == "on",
                start_at=start_at,
            )
            streams.append((mode, rate, result))
            start_at += dt.timedelta(seconds=args.stream_seconds * 2 + 60)
            now = start_at
    # the incremental state is exact: a refresh at the last instant changes nothing
    # beyond the orders imported with incremental off
    check = refresh_segments(store, None, now)

    print(
        f"\nData: {stats['customers']:,} customers, {stats['orders']:,} orders, "
        f"{stats['lines']:,} lines, {stats['events']:,} events ({store.dialect})"
    )
    print(f"Machine: {machine()}")
    print(
        f"100 segments; initial refresh {initial:.2f} s ({first.entered:,} entries); "
        f"{changed_members} membership changes from {args.samples} single orders "
        f"(+{args.warmup} warm-up: p50 {statistics.median(warm_ms or [0]):.1f} ms, "
        f"max {max(warm_ms or [0]):.1f} ms); "
        f"reconciling refresh after ingest: {check.entered} entered, {check.exited} exited "
        "(customers of the incremental-off batches)\n"
    )
    print("| one new order (100 segments) | p50 ms | p99 ms | target |")
    print("|---|---|---|---|")
    print(
        f"| membership update (`reevaluate_customers`) | {statistics.median(update_ms):.1f} | "
        f"{pct(update_ms, 99):.1f} | p99 ≤ 50 ms |"
    )
    print(
        f"| import + update (`import_and_update`, 1 order) | {statistics.median(e2e_ms):.1f} | "
        f"{pct(e2e_ms, 99):.1f} | |"
    )
    print(f"| baseline: full refresh of the 100 segments | {full_refresh * 1000:.0f} | | |")
    print(f"\n| sustained ingest, {args.batches} batches each | orders/s | s per batch | target |")
    print("|---|---|---|---|")
    for size, (on_s, off_s, sent) in ingest.items():
        print(
            f"| {size:,}-order batches, incremental evaluation on | {sent / on_s:,.0f} | "
            f"{on_s / args.batches:.2f} | ≥ 5,000 |"
        )
        print(
            f"| {size:,}-order batches, baseline: import only | {sent / off_s:,.0f} | "
            f"{off_s / args.batches:.2f} | |"
        )
    if streams:
        print(
            f"\n| stream: orders arriving for {args.stream_seconds:.0f} s, ingested as they "
            "come | orders/s absorbed | orders/s while busy | s behind at the end | "
            "passes (median, max orders) | longest pass s | s from arrival to updated "
            "p50 / p99 / max (p50 1st half, 2nd half) | kept up |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for mode, rate, r in sorted(streams, key=lambda s: (s[0] == "off", s[1])):
            label = "incremental evaluation on" if mode == "on" else "baseline: import only"
            print(
                f"| {rate:,}/s, {label} | {r['absorbed']:,.0f} | {r['capacity']:,.0f} "
                f"| {r['drain']:.2f} | {r['batches']:.0f} "
                f"({r['median_batch']:,.0f}, {r['max_batch']:,.0f}) | {r['longest_pass']:.2f} "
                f"| {r['p50']:.2f} / {r['p99']:.2f} / {r['max']:.2f} "
                f"({r['p50_first_half']:.2f}, {r['p50_second_half']:.2f}) "
                f"| {'yes' if kept_up(r) else 'no'} |"
            )
    store.close()


if __name__ == "__main__":
    main()
