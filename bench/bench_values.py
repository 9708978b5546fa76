"""Benchmark: value discovery (``GET /v1/values``, ``segmint values``) at 1 M customers.

    .venv/bin/python bench/bench_values.py [--requests 2000] [--baseline 40] [--customers …]

On the cached synthetic store of ``bench_match.py`` (1 M customers, 5 M orders, ~20 M
lines, 2 M events by default; generated once into ``bench/.data/``), for the fields an
autocomplete asks about (brands, categories, SKUs with product names, countries, cities,
tags, accounts, attribute values, event types, wishlist SKUs):

- **cold**: the first answer of each field, which reads its distinct values with one
  ``GROUP BY`` and fills the cache (what the first ask after an import of its table pays);
- **warm**: ``--requests`` answers from the cache, each a random field and a random prefix
  of 0–3 characters taken from one of its real values, limit 20 — p50/p95/p99;
- **baseline**, measured in the same run and interleaved with the warm answers: the same
  question asked of the store with no cache (``WHERE lower(col) LIKE 'p%' GROUP BY … ORDER
  BY count DESC LIMIT 20``), ``--baseline`` times.

Every cached answer of the baseline's questions is checked equal to the store's.
Target (issue 18): p95 ≤ 100 ms at 1 M customers.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from typing import Any

from bench_match import open_db, synthetic_args
from segmint.services import discovery
from segmint.store.base import ATTR_PREFIX

#: field -> (table, column, customer key) for the uncached baseline question
BASELINE: dict[str, tuple[str, str, str]] = {
    "lines.brand": ("order_lines", "brand", "customer_id"),
    "lines.category": ("order_lines", "category", "customer_id"),
    "lines.sku": ("order_lines", "sku", "customer_id"),
    "country": ("customers", "country", "id"),
    "city": ("customers", "city", "id"),
    "events.type": ("events", "type", "customer_id"),
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def baseline_answer(store: Any, field: str, prefix: str) -> list[tuple[str, int]]:
    table, column, key = BASELINE[field]
    sql = (
        f"SELECT {column}, COUNT(DISTINCT {key}) AS n FROM {table} "
        f"WHERE {column} IS NOT NULL AND lower({column}) LIKE $p "
        f"GROUP BY {column} ORDER BY n DESC, {column} LIMIT 20"
    )
    return [(str(v), int(n)) for v, n in store.query(sql, {"p": prefix.lower() + "%"})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    synthetic_args(parser)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--baseline", type=int, default=40)
    args = parser.parse_args()
    store = open_db(args)
    rng = random.Random(7)
    schema = store.rule_schema()
    fields = [
        "lines.brand",
        "lines.category",
        "lines.sku",
        "lines.product_name",
        "country",
        "city",
        "tags",
        "business_account",
        "events.type",
        "wishlist.sku",
    ]
    fields += [f"attributes.{a}" for a, t in schema.attributes.items() if t.value == "string"]
    print(f"store: {store.stats()}")
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, python {platform.python_version()}")

    cold: dict[str, float] = {}
    samples: dict[str, list[str]] = {}
    for field in fields:
        discovery.invalidate(store)
        start = time.perf_counter()
        page = discovery.values(store, field, limit=discovery.MAX_LIMIT)
        cold[field] = time.perf_counter() - start
        samples[field] = [str(v.value) for v in page.values]
        print(f"cold {field:30s} {cold[field] * 1000:9.1f} ms  {page.distinct:>8,} distinct")
    for field in fields:  # fill the cache for the warm answers
        discovery.values(store, field)

    warm: list[float] = []
    base: list[float] = []
    every = max(1, args.requests // max(1, args.baseline))
    for n in range(args.requests):
        field = rng.choice(fields)
        value = rng.choice(samples[field]) if samples[field] else ""
        prefix = value[: rng.randint(0, 3)]
        start = time.perf_counter()
        page = discovery.values(store, field, prefix=prefix)
        warm.append(time.perf_counter() - start)
        if n % every == 0 and len(base) < args.baseline:
            bfield = rng.choice(list(BASELINE))
            bvalue = rng.choice(samples[bfield]) if samples[bfield] else ""
            bprefix = bvalue[: rng.randint(0, 3)]
            start = time.perf_counter()
            expected = baseline_answer(store, bfield, bprefix)
            base.append(time.perf_counter() - start)
            got = discovery.values(store, bfield, prefix=bprefix)
            # the same counts in the same order (the cache also matches product names,
            # so compare only where the store's answer is the value-prefix one)
            if bfield != "lines.sku":
                assert [(str(v.value), v.count) for v in got.values] == expected, (bfield, bprefix)
    del page
    ms = [t * 1000 for t in warm]
    bms = [t * 1000 for t in base]
    print(
        f"warm  n={len(ms)}  p50 {statistics.median(ms):.3f} ms  p95 {pct(ms, 0.95):.3f} ms  "
        f"p99 {pct(ms, 0.99):.3f} ms  max {max(ms):.3f} ms"
    )
    print(
        f"baseline (no cache) n={len(bms)}  p50 {statistics.median(bms):.1f} ms  "
        f"p95 {pct(bms, 0.95):.1f} ms  p99 {pct(bms, 0.99):.1f} ms"
    )
    print(f"cold total {sum(cold.values()):.2f} s; attribute prefix {ATTR_PREFIX!r}")


if __name__ == "__main__":
    main()
