"""Benchmark: `match --engine python` beside `match --engine sql`, in one run.

Each rule is matched by both engines on the same DuckDB store, interleaved (sql, python,
sql, python, …), ``--rounds`` times; the table reports the fastest round of each and their
ratio, and checks that both engines gave the same members. Two ways of running:

- in process: ``segmint.services.rules.match`` (what the CLI and API call), the store open;
- ``--cli``: the whole command, ``segmint --db DB --as-of NOW match RULE --engine E``, as a
  new process (start-up, schema read and output included, as a user runs it).

    .venv/bin/python bench/bench_match_python.py --db /tmp/cj.duckdb --data complete-journey
    .venv/bin/python bench/bench_match_python.py --db /tmp/syn.duckdb --data synthetic --cli

The store is built beforehand: ``segmint --db DB demo-data complete-journey`` or
``segmint --db DB demo-data synthetic --customers N --orders M --events E --seed 42``.
Target (issue 22): the Python engine within 3x of the SQL engine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

from segmint.services.rules import match
from segmint.store.duckdb import DuckDBStore

#: Per data set: the instant it ends (relative windows mean something there) and rules.
DATA: dict[str, tuple[dt.datetime, list[str]]] = {
    "complete-journey": (
        dt.datetime(2018, 1, 1, tzinfo=dt.UTC),
        [
            "SUM(orders.total WHERE placed_at WITHIN 90d) > 500",
            "EXISTS(lines WHERE brand = 'Private' AND category = 'BEERS/ALES')",
            "SUM(lines.amount WHERE brand = 'National' AND placed_at WITHIN 365d) > 1000"
            " AND orders_count >= 50",
        ],
    ),
    "synthetic": (
        dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        [
            "SUM(orders.total WHERE placed_at WITHIN 365d) > 300",
            "SUM(lines.amount WHERE category = 'wine' AND placed_at WITHIN 365d) > 300",
            "COUNT(events WHERE type = 'product_view' AND at WITHIN 30d) > 2",
        ],
    ),
}


def run_in_process(store: DuckDBStore, rule: str, now: dt.datetime, engine: str) -> list[str]:
    return match(store, rule, now, engine).customers


def run_cli(db: str, rule: str, now: dt.datetime, engine: str) -> list[str]:
    segmint = Path(sys.executable).parent / "segmint"
    command = [str(segmint), "--db", db, "--as-of", now.isoformat()]
    command += ["match", rule, "--engine", engine, "--format", "json"]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    customers: list[str] = json.loads(out)["customers"]
    return customers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--data", choices=sorted(DATA), required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cli", action="store_true", help="time the command as a process")
    args = parser.parse_args()

    now, rules = DATA[args.data]
    store = None if args.cli else DuckDBStore(args.db)
    if store is not None:
        print(f"store: {store.stats()}")
    print(f"{'CLI' if args.cli else 'in process'}, {args.rounds} interleaved rounds, now={now}")
    print()
    print("| rule | members | sql s | python s | python / sql |")
    print("|---|---:|---:|---:|---:|")
    for rule in rules:
        best: dict[str, float] = {"sql": float("inf"), "python": float("inf")}
        found: dict[str, list[str]] = {}
        for _ in range(args.rounds):
            for engine in ("sql", "python"):
                start = time.perf_counter()
                if store is None:
                    found[engine] = run_cli(args.db, rule, now, engine)
                else:
                    found[engine] = run_in_process(store, rule, now, engine)
                best[engine] = min(best[engine], time.perf_counter() - start)
        assert found["sql"] == found["python"], f"the engines disagree on {rule}"
        ratio = best["python"] / best["sql"]
        print(
            f"| `{rule}` | {len(found['sql']):,} | {best['sql']:.2f} | {best['python']:.2f} "
            f"| {ratio:.1f}x |"
        )
    if store is not None:
        store.close()


if __name__ == "__main__":
    main()
