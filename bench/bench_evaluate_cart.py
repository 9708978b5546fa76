"""``POST /v1/evaluate`` pricing a 12-line cart against 10,000 promotions and 100 price
lists, beside the same request to a server with no levers, in one run.

    .venv/bin/python bench/bench_evaluate_cart.py [--seconds 10] [--rounds 2] [--connections 8]
    .venv/bin/python bench/bench_evaluate_cart.py --profile 2000   # in process, cProfile

One DuckDB store is built (``--customers`` customers with about 10 orders each, the 100
segments of bench_evaluate.py, 50 manual "club" segments whose user groups lever
audiences read, and a catalog of 400 products with prices, some with a ``min_price``),
then copied; the copy gets the lever document applied by ``levers.apply_document`` (what
``segmint levers apply`` runs), timed. The document holds 10,000 promotions of every
benefit type (``order``; ``items`` with ``each``, ``across`` and ``once``; ``tiered`` by
subtotal and by quantity; ``buy_get``; ``shipping``), 20 of them GLOBAL and the rest with
audiences over segments, user groups, customer fields and context values chosen so that
one or two in a hundred are true for the visitor; conditions over ``cart.subtotal`` and
``cart.quantity``; some ``best_of`` groups; 100 code promotions (no code is entered); and
100 price lists (5 GLOBAL) of 60 skus each, some with quantity tiers.

Each store is served by uvicorn with ONE worker in its own process (bench_evaluate.py's
``--serve``), both running at once, and driven from this process by bench_evaluate.py's
load generator (HTTP/1.1 keep-alive, ``--connections`` connections) with the same
request: a known customer in business view with a 12-line cart, 9 lines giving only
``sku`` and ``quantity`` (prices from the catalog) and 3 with a ``unit_price``, and a
shipping amount. The servers are driven in turn, ``--rounds`` times each (interleaved,
so the machine's noise hits both); requests/s, latency percentiles and the server's CPU
per request over all rounds are printed as a markdown table, with the throughput with
levers as a share of the baseline's. ``--profile RUNS`` instead answers the request in
process on each store and prints cProfile's top functions per request.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))

from bench_evaluate import (
    CUSTOMER,
    NOW,
    drive,
    free_port,
    realtime_segments,
    request_bytes,
    rule_segments,
)
from profiling import profile_table
from segmint.store.base import Store

PRODUCTS = 400
CATEGORIES = [f"cat-{i}" for i in range(20)]
BRANDS = [f"brand-{i}" for i in range(25)]
CLUBS = 50
STORES = 50
#: what the visitor's request says; audiences are drawn so that few are true for it
VISITOR_CONTEXT = {
    "view": "business",
    "store": "s7",
    "channel": "web",
    "path": "/cart",
    "query": {"campaign": "c17"},
}
VISITOR_CLUBS = (3, 17)


def sku(i: int) -> str:
    return f"P{i:04d}"


def products() -> pa.Table:
    rng = random.Random(3)
    rows: dict[str, list[Any]] = {
        k: [] for k in ("sku", "product_name", "brand", "category", "unit_price", "min_price")
    }
    for i in range(PRODUCTS):
        price = Decimal(rng.randint(200, 15_000)) / 100
        rows["sku"].append(sku(i))
        rows["product_name"].append(f"Product {i}")
        rows["brand"].append(BRANDS[i % len(BRANDS)])
        rows["category"].append(CATEGORIES[i % len(CATEGORIES)])
        rows["unit_price"].append(str(price))
        floor = (price * Decimal("0.7")).quantize(Decimal("0.01")) if i % 5 == 0 else None
        rows["min_price"].append(str(floor) if floor is not None else None)
    return pa.table(rows)


def populate(store: Store, customers: int) -> str:
    """Customers, orders, products and 150 segments in ``store`` (initialized here);
    returns a storefront API key."""
    from segmint.importing import import_arrow
    from segmint.model.segment import SegmentDefinition, SegmentKind
    from segmint.services import auth
    from segmint.services.segments import add_members, create_segment

    rng = random.Random(7)
    store.init()
    ids = [f"c{i:06d}" for i in range(customers)]
    import_arrow(
        store,
        "customers",
        pa.table({"id": ids, "city": [f"city-{rng.randrange(12)}" for _ in ids]}),
        source="bench",
    )
    columns = ("order_id", "customer_id", "placed_at", "status", "total", "sku", "brand", "amount")
    rows: dict[str, list[object]] = {k: [] for k in columns}
    n = 0
    for cid in ids:
        for _ in range(rng.randint(1, 19)):
            n += 1
            total = Decimal(rng.randint(5, 200))
            placed = NOW - dt.timedelta(days=rng.randint(1, 700))
            for _ in range(2):
                rows["order_id"].append(f"o{n}")
                rows["customer_id"].append(cid)
                rows["placed_at"].append(placed.isoformat())
                rows["status"].append("completed")
                rows["total"].append(str(total))
                rows["sku"].append(sku(rng.randrange(PRODUCTS)))
                rows["brand"].append(f"brand-{rng.randrange(25)}")
                rows["amount"].append(str(total / 2))
    import_arrow(store, "orders", pa.table(rows), source="bench")
    import_arrow(store, "products", products(), source="bench")
    for code, rule in rule_segments():
        definition = SegmentDefinition(code=code, name=code, kind=SegmentKind.RULE, rule_text=rule)
        create_segment(store, definition, NOW)
    for code, rule in realtime_segments():
        definition = SegmentDefinition(
            code=code, name=code, kind=SegmentKind.REALTIME, rule_text=rule
        )
        create_segment(store, definition, NOW)
    for k in range(CLUBS):
        code = f"club-{k}"
        create_segment(store, SegmentDefinition(code=code, name=code, kind=SegmentKind.MANUAL), NOW)
        members = [c for c in rng.sample(ids, max(1, customers // 20)) if c != CUSTOMER]
        if k in VISITOR_CLUBS:
            members.append(CUSTOMER)
        add_members(store, code, members, NOW)
    _, token = auth.create_api_key(store, "storefront", NOW, name="bench")
    return token


# ---- the lever document -------------------------------------------------------------------


def audience(rng: random.Random) -> str:
    """An audience true for about one visitor in a hundred (for this bench's visitor too)."""
    segment = rng.choice(rule_segments())[0]
    view = rng.choice(["business", "consumer"])
    s = rng.randrange(STORES)
    choices = [
        f"IN SEGMENT '{segment}' AND context.store = 's{s}'",
        f"user_groups CONTAINS 'club-{rng.randrange(CLUBS)}' AND context.view = '{view}'",
        f"context.query.campaign = 'c{rng.randrange(200)}'",
        f"context.view = '{view}' AND context.store = 's{s}'",
        f"city = 'city-{rng.randrange(12)}' AND context.store = 's{s}'",
        f"IN SEGMENT '{segment}' AND context.channel = 'app-{rng.randrange(5)}'",
        f"user_groups CONTAINS 'club-{rng.randrange(CLUBS)}' "
        f"AND orders_count >= {rng.randrange(15)}",
        f"context.store = 's{s}' AND cart.subtotal >= {rng.randrange(20, 300)}",
    ]
    return rng.choice(choices)


def _value(rng: random.Random) -> dict[str, str]:
    if rng.random() < 0.6:
        return {"percentage": str(rng.choice([5, 10, 15, 20, 25, 50]))}
    return {"amount": f"{rng.randint(100, 2_000) / 100:.2f}"}


def _target(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.45:
        return f"category = '{rng.choice(CATEGORIES)}'"
    if r < 0.7:
        return f"brand = '{rng.choice(BRANDS)}'"
    if r < 0.9:
        return "sku IN (" + ", ".join(f"'{sku(rng.randrange(PRODUCTS))}'" for _ in range(6)) + ")"
    return "amount >= 20"


def benefit(rng: random.Random, i: int) -> dict[str, Any]:
    kind = i % 8
    if kind in (0, 1):
        return {"type": "order", **_value(rng)}
    if kind in (2, 3, 4):
        allocation = ("each", "across", "once")[kind - 2]
        out: dict[str, Any] = {
            "type": "items",
            "allocation": allocation,
            "target": _target(rng),
            **_value(rng),
        }
        if allocation != "across" and rng.random() < 0.5:
            out["max_quantity"] = rng.randint(1, 3)
        return out
    if kind == 5:
        if rng.random() < 0.5:
            tiers = [
                {"min": str(m), "percentage": str(5 * (n + 1))}
                for n, m in enumerate((50, 150, 400))
            ]
            return {"type": "tiered", "basis": "subtotal", "tiers": tiers}
        tiers = [{"min": str(m), "percentage": str(5 * (n + 1))} for n, m in enumerate((2, 5, 10))]
        return {"type": "tiered", "basis": "quantity", "target": _target(rng), "tiers": tiers}
    if kind == 6:
        return {
            "type": "buy_get",
            "buy": _target(rng),
            "buy_quantity": rng.randint(1, 2),
            "get": _target(rng),
            "get_quantity": 1,
            "selection": rng.choice(["cheapest", "most_expensive"]),
            "max_applications": rng.choice([1, 2, 3]),
        }
    return {"type": "shipping", **_value(rng)}


def condition(rng: random.Random) -> str | None:
    r = rng.random()
    if r < 0.3:
        return None
    if r < 0.7:
        return f"cart.subtotal >= {rng.randint(0, 600)}"
    return f"cart.quantity >= {rng.randint(1, 40)}"


def document(promotions: int = 10_000, price_lists: int = 100, seed: int = 5) -> dict[str, Any]:
    rng = random.Random(seed)
    promos: list[dict[str, Any]] = []
    for i in range(promotions):
        p: dict[str, Any] = {
            "code": f"promo-{i:05d}",
            "priority": rng.randrange(100),
            "benefit": benefit(rng, i),
        }
        if i >= 20:  # the first 20 are GLOBAL
            p["audience"] = audience(rng)
        if (c := condition(rng)) is not None:
            p["condition"] = c
        if rng.random() < 0.05:
            p["best_of"] = f"group-{rng.randrange(20)}"
        if i % 100 == 50:  # 100 code promotions, with limits
            p["trigger"] = "code"
            p["codes"] = [f"CODE{i:05d}"]
            p["usage_limit"] = 1_000
        if i % 3 == 0:
            p["message"] = f"Offer {i}"
        promos.append(p)
    lists: list[dict[str, Any]] = []
    for i in range(price_lists):
        prices: list[dict[str, Any]] = []
        for n in rng.sample(range(PRODUCTS), 60):
            base = rng.randint(150, 14_000)
            prices.append({"sku": sku(n), "price": f"{base / 100:.2f}"})
            if rng.random() < 0.3:
                prices.append(
                    {"sku": sku(n), "price": f"{base * 9 // 10 / 100:.2f}", "min_quantity": 3}
                )
        entry: dict[str, Any] = {
            "code": f"list-{i:03d}",
            "currency": "USD",
            "priority": rng.randrange(6),
            "prices": prices,
        }
        if i >= 5:  # the first 5 are GLOBAL
            entry["audience"] = audience(rng)
        lists.append(entry)
    return {"promotions": promos, "price_lists": lists}


def request_body() -> dict[str, Any]:
    """The known customer in business view with a 12-line cart: 9 lines priced from the
    catalog, 3 with a unit price of their own."""
    rng = random.Random(9)
    chosen = rng.sample(range(PRODUCTS), 12)
    chosen[0] = 3  # a brand-3 product: the real-time segment rt-brand-cart reads it
    lines: list[dict[str, Any]] = []
    for n, i in enumerate(chosen):
        line: dict[str, Any] = {"sku": sku(i), "quantity": rng.randint(1, 4)}
        if n >= 9:
            line["unit_price"] = f"{rng.randint(300, 9_000) / 100:.2f}"
        lines.append(line)
    return {
        "customer_id": CUSTOMER,
        "context": VISITOR_CONTEXT,
        "cart": {"lines": lines, "shipping": {"method": "standard", "amount": "9.90"}},
    }


# ---- serving and measuring ---------------------------------------------------------------------


def start_server(db: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    bench = Path(__file__).parent / "bench_evaluate.py"
    server = subprocess.Popen([sys.executable, str(bench), "--serve", str(db), str(port)])
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return server, port


def probe(port: int, token: str, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/evaluate",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer, time.perf_counter() - started


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(latencies: list[float], errors: int, elapsed: float, cpu: float) -> dict[str, float]:
    latencies = sorted(latencies)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
        "cpu": cpu / len(latencies) * 1000,
    }


def describe(answer: dict[str, Any], explained: dict[str, Any]) -> str:
    promotions = [r for r in explained["rejected"] if r.get("promotion")]
    by_reason: dict[str, int] = {}
    for r in promotions:
        by_reason[r["reason"]] = by_reason.get(r["reason"], 0) + 1
    audience_true = 10_000 - by_reason.get("audience", 0) - by_reason.get("login_required", 0)
    audience_true -= by_reason.get("code_required", 0)
    priced = [ln for ln in answer["cart"]["lines"] if ln["price_list"]]
    return (
        f"{len(answer['cart']['lines'])} lines ({len(priced)} priced by a list), "
        f"subtotal {answer['cart']['subtotal']}, total {answer['cart']['total']}; "
        f"{len(answer['promotions'])} promotions applied, {len(answer['near'])} near; "
        f"automatic promotions whose audience is true: ~{audience_true} "
        f"(rejections by reason under explain: {dict(sorted(by_reason.items()))})"
    )


def profile(db: Path, runs: int) -> None:
    """cProfile of ``runs`` in-process answers (the route's path: validation, the cached
    answer, JSON), the top functions by cumulative time per request."""
    from segmint.services.evaluate import Evaluator
    from segmint.services.evaluate_request import EvaluateIn, to_request
    from segmint.services.targeting import Targeting
    from segmint.store.duckdb import DuckDBStore

    store = DuckDBStore(db)
    targeting = Targeting(Evaluator())
    raw = json.dumps(request_body()).encode()
    first = targeting.answer(store, to_request(EvaluateIn.model_validate_json(raw)), NOW)
    assert first.to_json()

    def one() -> None:
        ask = to_request(EvaluateIn.model_validate_json(raw))
        result = targeting.answer_cached(ask, NOW)
        if result is None:
            result = targeting.answer(store, ask, NOW)
        result.to_json()

    profile_table(one, runs)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--promotions", type=int, default=10_000)
    parser.add_argument("--profile", type=int, default=0, metavar="RUNS")
    args = parser.parse_args()
    from segmint.services.levers import apply_document
    from segmint.store.duckdb import DuckDBStore

    workdir = Path(tempfile.mkdtemp(prefix="segmint_bench_cart_"))
    base, levers = workdir / "none.duckdb", workdir / "levers.duckdb"
    started = time.perf_counter()
    store = DuckDBStore(base)
    token = populate(store, args.customers)
    store.close()
    shutil.copyfile(base, levers)
    print(
        f"store built in {time.perf_counter() - started:.1f} s ({args.customers} customers, "
        f"150 segments, {PRODUCTS} products), copied",
        file=sys.stderr,
    )
    doc = document(args.promotions)
    store = DuckDBStore(levers)
    started = time.perf_counter()
    report = apply_document(store, doc, NOW, who="bench")
    apply_seconds = time.perf_counter() - started
    store.close()
    print(f"levers apply ({args.promotions:,} promotions, 100 price lists): "
          f"{apply_seconds:.1f} s {report.counts()}", file=sys.stderr)  # fmt: skip
    if args.profile:
        for db in (base, levers):
            print(f"\n{db.stem}:")
            profile(db, args.profile)
        return
    body = request_body()
    payload = request_bytes("POST", "/v1/evaluate", token, json.dumps(body).encode())
    servers = {name: start_server(db) for name, db in (("none", base), ("levers", levers))}
    try:
        first: dict[str, float] = {}
        for name, (_, port) in servers.items():
            answer, first[name] = probe(port, token, body)
            explained, _ = probe(port, token, {**body, "explain": True})
            print(f"{name}: first request {first[name] * 1000:.0f} ms; "
                  f"{describe(answer, explained)}", file=sys.stderr)  # fmt: skip
        runs: dict[str, tuple[list[float], int, float, float]] = {
            n: ([], 0, 0.0, 0.0) for n in servers
        }
        for _ in range(args.rounds):
            for name, (server, port) in servers.items():
                asyncio.run(drive(port, payload, min(2.0, args.seconds / 3), args.connections))
                started, cpu = time.perf_counter(), process_cpu(server.pid)
                latencies, errors = asyncio.run(
                    drive(port, payload, args.seconds, args.connections)
                )
                elapsed = time.perf_counter() - started
                cpu = process_cpu(server.pid) - cpu
                kept, errs, total, cpus = runs[name]
                runs[name] = (kept + latencies, errs + errors, total + elapsed, cpus + cpu)
                print(f"{name}: {len(latencies) / elapsed:.0f} req/s", file=sys.stderr)
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=10)
    results = {name: summary(*run) for name, run in runs.items()}
    print(
        f"\n{dt.date.today()} · {machine()} · {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · uvicorn 1 worker · {args.connections} "
        f"connections · {args.rounds} x {args.seconds:.0f} s per server, interleaved\n"
    )
    print(f"`levers apply` of {args.promotions:,} promotions and 100 price lists: "
          f"{apply_seconds:.1f} s; first request (catalog compiled): "
          f"{first['levers'] * 1000:.0f} ms\n")  # fmt: skip
    print("| server | requests | req/s | p50 ms | p99 ms | non-200 | server CPU ms/request |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    labels = {
        "none": "no levers (baseline)",
        "levers": f"{args.promotions:,} promotions + 100 price lists",
    }
    for name, r in results.items():
        cells = [f"{r['requests']:.0f}", f"{r['rps']:.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}"]
        cells += [f"{r['errors']:.0f}", f"{r['cpu']:.2f}"]
        print(f"| {labels[name]} | {' | '.join(cells)} |")
    ratio = results["levers"]["rps"] / results["none"]["rps"]
    print(f"\nthroughput with levers: {ratio:.0%} of the baseline's (target >= 50%); "
          f"p99 {results['levers']['p99']:.2f} ms (target <= 10 ms)")  # fmt: skip


def machine() -> str:
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
