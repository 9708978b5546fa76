"""Benchmark: the compiled Python predicate vs a hand-written Python function.

One customer with 200 orders (and 2 lines each); each rule is compiled once and evaluated
many times. Times are per evaluation, measured in batches (timer overhead amortised);
the table reports the median and the 99th percentile over the batches.

    .venv/bin/python bench/bench_python_engine.py [--batches 400] [--batch 50]

Target (issue): median ≤ 20 µs for ``SUM(orders.total WHERE placed_at WITHIN 365d) > 300``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
from collections.abc import Callable
from decimal import Decimal

from segmint.compile.python import compile_predicate
from segmint.model.profile import LineItem, OrderItem, Profile
from segmint.rules.ast import (
    Aggregate,
    And,
    Between,
    BoolTest,
    Compare,
    Duration,
    Literal,
    Path,
    Rule,
    Within,
)
from segmint.rules.schema import Schema

UTC = dt.UTC
NOW = dt.datetime(2024, 5, 1, 12, tzinfo=UTC)
BAD = ("cancelled", "refunded", "failed")


def build_customer(n_orders: int = 200, seed: int = 7) -> Profile:
    rng = random.Random(seed)
    profile = Profile("bench", fields={"email": "bench@example.com", "tags": ["vip"]})
    for i in range(n_orders):
        placed = NOW - dt.timedelta(minutes=rng.randrange(0, 3 * 365 * 24 * 60))
        status = rng.choice(["paid"] * 8 + ["cancelled", "refunded"])
        total = Decimal(rng.randrange(100, 20000)) / 100
        order_id = f"o{i}"
        profile.orders.append(OrderItem(order_id, placed, status, total, "EUR", "eu", 2))
        for brand in ("Acme", rng.choice(["Globex", "Initech", "acme"])):
            amount = total / 2
            profile.lines.append(
                LineItem(order_id, f"SKU-{rng.randrange(50)}", "Thing", brand, "misc", 1,
                         amount, amount, placed, status, "eu")
            )  # fmt: skip
    return profile


def p(*parts: str) -> Path:
    return Path(parts)


def d(text: str) -> Decimal:
    return Decimal(text)


# --- the rules and their hand-written equivalents --------------------------------------

SUM_365 = Compare(
    ">",
    Aggregate("SUM", ("orders",), "total", Within(p("placed_at"), Duration(365, "d"))),
    Literal(d("300")),
)


def hand_sum_365(c: Profile, now: dt.datetime) -> bool:
    start = now - dt.timedelta(days=365)
    total = sum(
        (o.total for o in c.orders if o.placed_at and start < o.placed_at <= now and o.total),
        Decimal(0),
    )
    return total > 300


DERIVED = And(
    (
        Compare(">=", p("orders_count"), Literal(d("5"))),
        Compare(">", p("average_order_value"), Literal(d("40"))),
    )
)


def hand_derived(c: Profile, now: dt.datetime) -> bool:
    ok = [o for o in c.orders if o.status is None or o.status.lower() not in BAD]
    if len(ok) < 5:
        return False
    totals = [o.total for o in ok if o.total is not None]
    return bool(totals) and sum(totals, Decimal(0)) > 40 * len(totals)


LINES_90D = BoolTest(
    Aggregate(
        "EXISTS",
        ("lines",),
        None,
        And(
            (
                Compare("=", p("brand"), Literal("Initech")),
                Within(p("placed_at"), Duration(90, "d")),
            )
        ),
    )
)


def hand_lines_90d(c: Profile, now: dt.datetime) -> bool:
    start = now - dt.timedelta(days=90)
    return any(
        li.brand is not None
        and li.brand.lower() == "initech"
        and li.placed_at is not None
        and start < li.placed_at <= now
        for li in c.lines
    )


PAID_MID = Compare(
    ">=",
    Aggregate(
        "COUNT",
        ("orders",),
        None,
        And(
            (
                Compare("=", p("status"), Literal("PAID")),
                Between(p("total"), Literal(d("10")), Literal(d("100"))),
                Compare(">", p("placed_at"), Literal(dt.date(2023, 1, 1))),
            )
        ),
    ),
    Literal(d("3")),
)


def hand_paid_mid(c: Profile, now: dt.datetime) -> bool:
    start = dt.datetime(2023, 1, 2, tzinfo=UTC)
    n = 0
    for o in c.orders:
        if (
            o.status is not None
            and o.status.lower() == "paid"
            and o.total is not None
            and 10 <= o.total <= 100
            and o.placed_at is not None
            and o.placed_at >= start
        ):
            n += 1
    return n >= 3


CASES: list[tuple[str, Rule, Callable[[Profile, dt.datetime], bool]]] = [
    ("SUM(orders.total WHERE placed_at WITHIN 365d) > 300", SUM_365, hand_sum_365),
    ("orders_count >= 5 AND average_order_value > 40", DERIVED, hand_derived),
    ("EXISTS(lines WHERE brand = 'Initech' AND placed_at WITHIN 90d)", LINES_90D, hand_lines_90d),
    (
        "COUNT(orders WHERE status = 'PAID' AND total BETWEEN 10 AND 100"
        " AND placed_at > 2023-01-01) >= 3",
        PAID_MID,
        hand_paid_mid,
    ),
]


def measure(fn: Callable[[], object], batches: int, batch: int) -> tuple[float, float]:
    """(median, p99) µs per call over ``batches`` batches of ``batch`` calls."""
    per_call: list[float] = []
    for _ in range(batches):
        start = time.perf_counter_ns()
        for _ in range(batch):
            fn()
        per_call.append((time.perf_counter_ns() - start) / batch / 1000)
    per_call.sort()
    return statistics.median(per_call), per_call[min(len(per_call) - 1, int(len(per_call) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=400)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()

    customer = build_customer()
    schema = Schema()
    print(f"customer: {len(customer.orders)} orders, {len(customer.lines)} lines; now={NOW}")
    print()
    print("| rule | result | compiled median µs | compiled p99 µs | hand-written median µs "
          "| hand-written p99 µs | compile ms |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for text, rule, hand in CASES:
        t0 = time.perf_counter()
        predicate = compile_predicate(rule, schema)
        compile_ms = (time.perf_counter() - t0) * 1000
        result = predicate(customer, NOW)
        assert result == hand(customer, NOW), text
        med, p99 = measure(lambda: predicate(customer, NOW), args.batches, args.batch)  # noqa: B023
        hmed, hp99 = measure(lambda: hand(customer, NOW), args.batches, args.batch)  # noqa: B023
        print(f"| `{text}` | {result} | {med:.1f} | {p99:.1f} | {hmed:.1f} | {hp99:.1f} "
              f"| {compile_ms:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
