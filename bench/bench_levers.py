"""``POST /v1/evaluate`` with 20,000 levers beside the same server with none, and the time
``segmint levers apply`` takes to write the 20,000-lever document.

    .venv/bin/python bench/bench_levers.py [--seconds 10] [--connections 8]

Two DuckDB stores are built alike (``--customers`` customers with about 10 orders each,
some in business accounts, a tier attribute; the 100 segments of bench_evaluate.py). One
gets the targeting document applied by the CLI, timed: 10,000 promotions and 100
placements of 100 items each (20,000 levers in all), whose audiences read attributes,
accounts, user groups, segments, context values, and a few cart thresholds and purchase
aggregates. Each store is then served by uvicorn with ONE worker in its own process, one
after the other, and driven from this process by bench_evaluate.py's load generator with
the same request: a known customer in business view with a cart, every placement asked
for. Requests/s and latency percentiles are printed as a markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_evaluate import (
    CUSTOMER,
    NOW,
    build_store,
    free_port,
    measure,
    request_bytes,
    rule_segments,
)

ACCOUNTS = 1000


def add_accounts_and_tiers(db: Path, customers: int) -> None:
    """Give every 10th customer a business account and everyone a tier attribute."""
    import pyarrow as pa

    from segmint.importing import import_arrow
    from segmint.store.duckdb import DuckDBStore

    rng = random.Random(11)
    ids = [f"c{i:06d}" for i in range(customers)]
    store = DuckDBStore(db)
    accounts = [f"acct-{i}" for i in range(ACCOUNTS)]
    import_arrow(store, "accounts", pa.table({"id": accounts, "name": accounts}), source="bench")
    import_arrow(
        store,
        "customers",
        pa.table(
            {
                "id": ids,
                "business_account": [
                    f"acct-{rng.randrange(ACCOUNTS)}" if i % 10 == 2 else None
                    for i in range(customers)
                ],
                "attributes.tier": [rng.choice(["gold", "silver", "bronze"]) for _ in ids],
            }
        ),
        source="bench",
    )
    store.close()


def audience(rng: random.Random) -> str | None:
    segment = rng.choice(rule_segments())[0]
    group = rng.choice(rule_segments())[0]
    a, b = rng.randrange(ACCOUNTS), rng.randrange(ACCOUNTS)
    view = rng.choice(["business", "consumer"])
    choices = [
        f"IN SEGMENT '{segment}'",
        f"IN SEGMENT '{segment}' AND context.view = '{view}'",
        f"user_groups CONTAINS '{group}'",
        f"business_account IN ('acct-{a}', 'acct-{b}')",
        f"business_account = 'acct-{a}' AND context.view = 'business'",
        f"attributes.tier = '{rng.choice(['gold', 'silver', 'bronze'])}' AND "
        f"context.store = '{rng.choice(['eu', 'us'])}'",
        f"city = 'city-{rng.randrange(12)}' AND "
        f"context.channel = '{rng.choice(['web', 'mobile'])}'",
        f"context.view = '{view}' AND orders_count = 0",
        f"context.store = 'eu' AND (context.channel = 'mobile' OR IN SEGMENT '{segment}')",
        f"context.query.campaign = 'c{rng.randrange(200)}'",
    ]
    roll = rng.random()
    if roll < 0.05:
        return f"cart.subtotal >= {rng.randrange(50, 500)} AND context.view = '{view}'"
    if roll < 0.07:
        return f"IN SEGMENT '{segment}' AND SUM(orders.total WHERE placed_at WITHIN 90d) > 300"
    if roll < 0.08:
        return None
    return rng.choice(choices)


def document(
    promotions: int = 10_000, placements: int = 100, per_placement: int = 100
) -> dict[str, Any]:
    """``promotions`` order promotions and ``placements`` placements of ``per_placement`` items
    each (the last one a GLOBAL fallback)."""
    rng = random.Random(5)
    promos = [
        {
            "code": f"promo-{i}",
            "audience": audience(rng),
            "priority": rng.randrange(10),
            "benefit": {"type": "order", "percentage": str(rng.randrange(1, 30))},
        }
        for i in range(promotions)
    ]
    types = ["news_feed", "banner", "hero", "cart_message", "navigation", "interstitial"]
    slots = []
    for p in range(placements):
        kind = types[p % len(types)]
        items = [
            {
                "code": f"item-{i}",
                "audience": audience(rng),
                "priority": rng.randrange(20),
                "content": {"title": f"Item {i} of placement {p}", "link": f"/p/{p}/{i}"},
            }
            for i in range(per_placement - 1)
        ]
        items.append({"code": "fallback", "audience": None, "content": {"title": "Everyone"}})
        placement: dict[str, Any] = {"code": f"slot-{p}", "type": kind, "items": items}
        if kind not in ("banner", "hero"):
            placement["max_items"] = 5
        slots.append(placement)
    return {"promotions": promos, "placements": slots}


def apply_with_cli(db: Path, workdir: Path) -> float:
    path = workdir / "levers.json"
    path.write_text(json.dumps(document()))
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "segmint", "--db", f"duckdb:///{db}", "levers", "apply", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def serve_and_measure(db: Path, token: str, payload: bytes, args: argparse.Namespace) -> Any:
    port = free_port()
    bench = Path(__file__).parent / "bench_evaluate.py"
    server = subprocess.Popen([sys.executable, str(bench), "--serve", str(db), str(port)])
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        probe = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/evaluate",
            data=payload,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(probe, timeout=120) as response:
            answer = json.loads(response.read())
        shown = sum(len(v) for v in answer["placements"].values())
        result = measure(
            port,
            request_bytes("POST", "/v1/evaluate", token, payload),
            args.seconds,
            args.connections,
        )
        return result, len(answer["placements"]), shown
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--customers", type=int, default=2000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="segmint_bench_levers_"))
    stores = {}
    for name in ("none", "levers"):
        db = workdir / f"{name}.duckdb"
        token = build_store(db, args.customers)
        add_accounts_and_tiers(db, args.customers)
        stores[name] = (db, token)
    apply_seconds = apply_with_cli(stores["levers"][0], workdir)
    print(f"segmint levers apply (20,000 levers): {apply_seconds:.1f} s", file=sys.stderr)
    request: dict[str, Any] = {
        "customer_id": CUSTOMER,
        "context": {"view": "business", "store": "eu", "channel": "web", "path": "/"},
        "cart": {
            "lines": [
                {"sku": "sku-1", "brand": "brand-3", "quantity": 2, "unit_price": "60.00"},
                {"sku": "sku-2", "brand": "brand-9", "quantity": 1, "unit_price": "99.50"},
            ]
        },
    }
    payload = json.dumps(request).encode()
    # a storefront page asks for its own slots: five placements
    page = json.dumps({**request, "placements": [f"slot-{p}" for p in range(5)]}).encode()
    results = {}
    for name, (db, token) in stores.items():
        results[name] = serve_and_measure(db, token, payload, args)
    results["page"] = serve_and_measure(stores["levers"][0], stores["levers"][1], page, args)
    print(
        f"\n{dt.date.today()} · {platform.processor() or platform.machine()} · "
        f"{os.cpu_count()} cores · Python {platform.python_version()} · uvicorn 1 worker · "
        f"{args.connections} connections · {args.seconds:.0f} s per server · "
        f"as of {NOW.date()}\n"
    )
    print(f"`segmint levers apply` of the 20,000-lever document: {apply_seconds:.1f} s\n")
    print("| server | placements answered | items shown | requests | req/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    labels = {
        "none": "no levers",
        "levers": "20,000 levers, every placement",
        "page": "20,000 levers, a page's 5 placements",
    }
    for name, (r, placements, shown) in results.items():
        cells = [str(placements), str(shown), f"{r['requests']:.0f}", f"{r['rps']:.0f}"]
        cells += [f"{r['p50']:.2f}", f"{r['p99']:.2f}"]
        print(f"| {labels[name]} | {' | '.join(cells)} |")
    for name in ("levers", "page"):
        ratio = results[name][0]["rps"] / results["none"][0]["rps"]
        print(f"\nthroughput, {labels[name]}: {ratio:.0%} of the server with none")


if __name__ == "__main__":
    main()
