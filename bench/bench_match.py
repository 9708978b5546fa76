"""SQL `match` and 20 fused rules versus hand-written DuckDB queries, side by side.

    .venv/bin/python bench/bench_match.py --customers 1000000 --orders 5000000

builds (once, cached in bench/.data/) a synthetic DuckDB store, then times, interleaved in
the same run: one compiled aggregate rule vs the hand-written query for the same question,
and the 20 rules of bench/rulesets.py compiled into one pass vs one hand-written fused
query. It also checks that compiled and hand-written answers are the same member sets.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rulesets import (
    FUSED_BASELINE,
    REFERENCE_NOW,
    RULES,
    SINGLE_BASELINE,
    SINGLE_RULE,
    baseline_params,
)
from segmint.compile.sql import SqlCompiler
from segmint.demo.synthetic import load_synthetic
from segmint.services.rules import check_rule
from segmint.store.duckdb import DuckDBStore


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def synthetic_args(parser: argparse.ArgumentParser) -> None:
    """The sizes and seed of the cached synthetic store (and ``--db`` to use a copy)."""
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--db", type=Path, default=None)


def open_db(args: argparse.Namespace) -> DuckDBStore:
    """The cached synthetic store for these sizes (generated once into bench/.data/)."""
    db = args.db or Path(__file__).parent / ".data" / (
        f"synthetic-{args.customers}-{args.orders}-{args.events}-{args.seed}.duckdb"
    )
    db.parent.mkdir(parents=True, exist_ok=True)
    fresh = not db.exists()
    store = DuckDBStore(str(db))
    store.init()
    if fresh:
        start = time.perf_counter()
        load_synthetic(store, args.customers, args.orders, args.events, args.seed)
        print(f"generated and loaded in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    synthetic_args(parser)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    store = open_db(args)
    db = Path(store.path)
    stats = store.stats()
    schema = store.rule_schema()
    compiler = SqlCompiler("duckdb", schema)
    now = REFERENCE_NOW
    single_params = baseline_params(now, SINGLE_BASELINE)
    fused_params = baseline_params(now, FUSED_BASELINE)

    # one aggregate rule
    single = compiler.compile_match(check_rule(SINGLE_RULE, schema).rule, now)
    results: list[tuple[str, list[float], list[float]]] = []
    base_t, comp_t = [], []
    for _ in range(args.repeat):  # interleaved so noise hits both alike
        t, base_rows = timed(lambda: store.query(SINGLE_BASELINE, single_params), 1)
        base_t += t
        t, comp_rows = timed(lambda: store.query(single.sql, single.params), 1)
        comp_t += t
    assert sorted(r[0] for r in base_rows) == sorted(r[0] for r in comp_rows), (
        "single: answers differ"
    )
    results.append(("1 aggregate rule (`match`)", comp_t, base_t))

    # twenty rules in one pass
    rules = {name: check_rule(text, schema).rule for name, text in RULES.items()}
    fused = compiler.compile_many(rules, now)
    base_t, comp_t = [], []
    for _ in range(args.repeat):
        t, base_rows = timed(lambda: store.query(FUSED_BASELINE, fused_params), 1)
        base_t += t
        t, comp_rows = timed(lambda: store.query(fused.sql, fused.params), 1)
        comp_t += t
    for index, name in enumerate(RULES, start=1):
        expected = {r[0] for r in base_rows if r[index]}
        got = {r[0] for r in comp_rows if r[index]}
        assert expected == got, f"rule {name}: compiled {len(got)} vs hand-written {len(expected)}"
    results.append(("20 rules, one pass", comp_t, base_t))

    print(
        f"\nData: {stats['customers']:,} customers, {stats['orders']:,} orders, "
        f"{stats['lines']:,} lines, {stats['events']:,} events (DuckDB, {db.name})"
    )
    print(f"Machine: {machine()}\n")
    print("| benchmark | segmint (median s) | hand-written (median s) | ratio | target |")
    print("|---|---|---|---|---|")
    for name, comp, base in results:
        c, b = statistics.median(comp), statistics.median(base)
        print(f"| {name} | {c:.3f} | {b:.3f} | {c / b:.2f}x | ≤ 1.5x |")
    store.close()


if __name__ == "__main__":
    main()
