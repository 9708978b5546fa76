"""Simulating a promotion on a year of Complete Journey orders (issue 21), beside the
per-order evaluate loop over the same orders, in one run.

    .venv/bin/python bench/bench_backtest.py --db /tmp/cj.duckdb [--sample 1000] [--months 12]
    .venv/bin/python bench/bench_backtest.py --db /tmp/cj.duckdb --profile 1   # cProfile, 1 month

``--db`` is a DuckDB file with Complete Journey loaded (``segmint demo`` or
``load_complete_journey``); it is copied, and the copy gets 50 live promotions (every
benefit type; GLOBAL ones with cart conditions, audiences over customer attributes,
30/90-day spend windows, categories, brands and stores; ``best_of`` groups, an exclusive
one, ``stop_further``, per-customer and usage limits, two campaigns with budgets). The
simulated promotion is a draft, "10% for customers who spent over $300 in the last 90
days", priced with the 50 live ones at each order's instant.

- **simulation**: ``backtest.run`` over every successful order of the period, streamed;
  resident memory sampled at each quarter of the run.
- **baseline**: the per-order evaluate loop — for each order, the customer's state at
  its instant read from the store (memberships by ``segments_at``, the stored profile cut
  at the instant) and the order priced by ``Targeting.answer``, as a caller without the
  simulation would. It runs over ``--sample`` orders spread evenly over the period and
  is **extrapolated** to all of them (the per-order cost does not depend on the others).

A markdown table is printed with the date and the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from segmint.model.profile import Profile
from segmint.services import backtest, levers
from segmint.services.backtest_report import ReportBuilder
from segmint.services.evaluate import Catalog, CustomerState, Evaluator
from segmint.services.evaluate_request import read_request
from segmint.services.targeting import Targeting
from segmint.store.base import Store
from segmint.store.duckdb import DuckDBStore
from segmint.store.segments import SegmentRepository

NOW = dt.datetime(2018, 1, 1, tzinfo=dt.UTC)
START = dt.datetime(2017, 1, 1, tzinfo=dt.UTC)

CATEGORIES = [
    "SOFT DRINKS",
    "FLUID MILK PRODUCTS",
    "BAKED BREAD/BUNS/ROLLS",
    "CHEESE",
    "BAG SNACKS",
    "FRZN MEAT/MEAT DINNERS",
    "BEEF",
    "SOUP",
    "YOGURT",
    "FROZEN PIZZA",
]
AUDIENCES = [
    None,
    None,
    "attributes.marital_status = 'Married'",
    "attributes.home_ownership = 'Homeowner'",
    "attributes.kids_count >= '1'",
    "SUM(orders.total WHERE placed_at WITHIN 30d) > 150",
    "SUM(orders.total WHERE placed_at WITHIN 90d) > 600",
    "COUNT(orders WHERE placed_at WITHIN 30d) >= 4",
    "context.store IN ('367', '406', '343')",
    "orders_count >= 20",
]


def live_promotions(rng: random.Random) -> dict[str, Any]:
    """The 50 live promotions and their two campaigns."""
    promotions: list[dict[str, Any]] = []
    for i in range(50):
        code = f"live-{i:02d}"
        kind = i % 6
        p: dict[str, Any] = {"code": code, "priority": rng.randint(0, 20)}
        audience = AUDIENCES[i % len(AUDIENCES)]
        if audience is not None:
            p["audience"] = audience
        category = CATEGORIES[i % len(CATEGORIES)]
        if kind == 0:
            p["benefit"] = {"type": "order", "percentage": str(rng.choice([2, 3, 5]))}
            p["condition"] = f"cart.subtotal >= {rng.choice([40, 60, 80, 100])}"
        elif kind == 1:
            p["benefit"] = {
                "type": "items",
                "target": f"category = '{category}'",
                "allocation": "across",
                "percentage": str(rng.choice([5, 10, 15])),
            }
        elif kind == 2:
            p["benefit"] = {
                "type": "items",
                "target": f"category = '{category}'",
                "allocation": "once",
                "amount": "0.50",
            }
            p["condition"] = f"cart.quantity >= {rng.choice([5, 10, 15])}"
        elif kind == 3:
            p["benefit"] = {
                "type": "tiered",
                "basis": "subtotal",
                "tiers": [{"min": "50", "percentage": "2"}, {"min": "100", "percentage": "4"}],
            }
            p["best_of"] = f"tier-{i % 3}"
        elif kind == 4:
            p["benefit"] = {
                "type": "buy_get",
                "buy": f"category = '{category}'",
                "buy_quantity": 2,
                "get": f"category = '{category}'",
                "get_quantity": 1,
                "percentage": "50",
                "max_applications": 2,
            }
        else:
            p["benefit"] = {"type": "order", "amount": "1.00"}
            p["condition"] = "EXISTS(cart.lines WHERE brand = 'Private' AND quantity >= 2)"
        if i % 7 == 0:
            p["per_customer_limit"] = 3
        if i % 11 == 0:
            p["usage_limit"] = 2_000
        if i % 13 == 0:
            p["campaign"] = "spring" if i % 2 else "autumn"
        if i == 5:
            p["exclusive"] = True
        if i == 9:
            p["stop_further"] = True
        if i % 8 == 3:
            p["stores"] = ["367", "406", "343", "361", "381"]
        promotions.append(p)
    return {
        "campaigns": [
            {"code": "spring", "budget": {"spend": "2000.00"}},
            {"code": "autumn", "budget": {"usage": 3000}},
        ],
        "promotions": promotions,
    }


DRAFT = {
    "promotions": [
        {
            "code": "spend300",
            "name": "10% for customers who spent over $300 in 90 days",
            "audience": "SUM(orders.total WHERE placed_at WITHIN 90d) > 300",
            "priority": 10,
            "benefit": {"type": "order", "percentage": "10"},
        }
    ]
}


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class StateAt(Evaluator):
    def __init__(self) -> None:
        super().__init__(catalog_ttl=float("inf"))
        self.state: CustomerState | None = None

    def customer(
        self, store: Store, customer_id: str, catalog: Catalog, full_profile: bool = False
    ) -> CustomerState:
        assert self.state is not None
        return self.state


def per_order_loop(store: Store, orders: list[backtest.PastOrder], reads: Any) -> float:
    """Seconds for the per-order evaluate loop over ``orders``."""
    evaluator = StateAt()
    targeting = Targeting(evaluator=evaluator, catalog_ttl=float("inf"))
    segments = SegmentRepository(store)
    started = time.perf_counter()
    for order in orders:
        at = order.placed_at
        full = store.load_profiles([order.customer_id])[order.customer_id]
        profile = Profile(
            id=full.id,
            fields=full.fields,
            attributes=full.attributes,
            orders=[o for o in full.orders if o.placed_at is not None and o.placed_at < at],
            lines=[ln for ln in full.lines if ln.placed_at is not None and ln.placed_at < at],
            events=[e for e in full.events if e.at is not None and e.at < at],
            wishlist=[w for w in full.wishlist if w.added_at is not None and w.added_at < at],
        )
        codes = segments.segments_at(order.customer_id, at)
        evaluator.state = CustomerState(True, dict.fromkeys(codes, at), [], profile, 0.0)
        lines = [
            {"sku": ln.sku, "quantity": ln.quantity, "unit_price": str(ln.unit_price)}
            for ln in order.cart.lines
        ]
        request = read_request(
            {
                "customer_id": order.customer_id,
                "as_of": at.isoformat(),
                "context": {"logged_in": True, "store": order.store},
                "cart": {"currency": order.cart.currency, "lines": lines},
            }
        )
        targeting.answer(store, request, NOW, reads=reads)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True, help="a DuckDB file with Complete Journey")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--sample", type=int, default=1000, help="orders the loop prices")
    parser.add_argument("--profile", type=int, default=0, help="cProfile N months instead")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_backtest_"))
    copy = work / "cj.duckdb"
    shutil.copy(args.db, copy)
    store = DuckDBStore(copy)
    try:
        levers.apply_document(store, live_promotions(random.Random(args.seed)), NOW, who="bench")
        months = args.profile or args.months
        end = dt.datetime(2017 + months // 12, months % 12 + 1, 1, tzinfo=dt.UTC)
        if months == 12:
            end = dt.datetime(2018, 1, 2, tzinfo=dt.UTC)  # the data set's year ends 04:01 then
        drafts = backtest.read_drafts(store, DRAFT)
        variants = backtest.build_variants(store, ["spend300"], drafts)
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            for _ in backtest.run(store, variants, START, end):
                pass
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
            return
        total = backtest.count_orders(store, START, end)
        memory: list[tuple[int, float]] = [(0, rss_mib())]
        marks = {total * q // 4 for q in (1, 2, 3, 4)}

        def progress(done: int, _: int) -> None:
            if any(done >= m > memory[-1][0] for m in marks):
                memory.append((done, rss_mib()))

        builder = ReportBuilder(["spend300"], START, end, "USD")
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for outcome in backtest.run(store, variants, START, end, progress):
            builder.add(outcome)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        report = builder.report().to_dict()["promotions"][0]
        # the loop's orders: spread evenly over the period, priced with empty limits
        stock = backtest.ProductStock()
        every = list(
            o for o in backtest.stream_orders(store, START, end, "USD", stock) if o is not None
        )
        step = max(1, len(every) // args.sample)
        sample = every[::step][: args.sample]
        del every
        loop = per_order_loop(store, sample, backtest.SimulatedReads(stock))
        per_order = loop / len(sample)
        extrapolated = per_order * total
        when = f"{dt.date.today().isoformat()}, {machine()}, Python {platform.python_version()}"
        print(f"\n{when}; {total:,} orders, 50 live promotions + 1 simulated\n")
        print("| what | orders | seconds | ms per order |")
        print("|---|---:|---:|---:|")
        print(f"| simulation (wall) | {total:,} | {wall:.1f} | {wall / total * 1000:.3f} |")
        print(f"| simulation (CPU) | {total:,} | {cpu:.1f} | {cpu / total * 1000:.3f} |")
        print(
            f"| per-order evaluate loop, measured | {len(sample):,} | {loop:.1f} | "
            f"{per_order * 1000:.3f} |"
        )
        print(
            f"| per-order evaluate loop, extrapolated | {total:,} | {extrapolated:.0f} | "
            f"{per_order * 1000:.3f} |"
        )
        print(f"\nspeed-up: **{extrapolated / wall:.1f}x** (wall against wall)")
        print(
            "resident memory (MiB) after N orders: "
            + ", ".join(f"{n:,}: {m:.0f}" for n, m in memory)
        )
        print(
            f"spend300 reached {report['orders_reached']:,} orders, "
            f"{report['customers_reached']:,} customers, discount {report['discount']} "
            f"({report['discount_share_percent']} % of their revenue {report['revenue_reached']})"
        )
    finally:
        store.close()
        shutil.rmtree(work, ignore_errors=True)


def machine() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
