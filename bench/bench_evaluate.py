"""``POST /v1/evaluate`` under load, beside a trivial endpoint of the same app.

    .venv/bin/python bench/bench_evaluate.py [--seconds 10] [--connections 16]

A fresh DuckDB store gets ``--customers`` customers with about 10 orders each and 100
segments: 90 materialized rule segments (over orders, lines and derived fields) and 10
real-time ones (request context and cart; three also read the customer's stored data).
The app runs under uvicorn with ONE worker in a separate process; the load comes from
this process over loopback: an asyncio load generator on raw sockets (HTTP/1.1
keep-alive, ``--connections`` (default 8) concurrent connections, each sending its next request when
the previous answer is complete). Each endpoint is warmed up, then driven for
``--seconds``; requests/s and latency percentiles are printed as a markdown table.

The evaluated customer is a known one with memberships (it is in several segments and
matches real-time ones): the answer exercises the whole path — auth, body validation,
memberships, ten compiled real-time predicates over its profile, user groups.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

NOW = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
CUSTOMER = "c000042"


def rule_segments() -> list[tuple[str, str]]:
    rules: list[tuple[str, str]] = []
    for i in range(30):
        rules.append((f"spent-{i}", f"total_spent > {100 + 50 * i}"))
    for i in range(20):
        rules.append((f"freq-{i}", f"orders_count >= {1 + i}"))
    for i in range(20):
        rules.append(
            (f"brand-{i}", f"EXISTS(lines WHERE brand = 'brand-{i}' AND placed_at WITHIN 365d)")
        )
    for i in range(10):
        rules.append(
            (
                f"recent-{i}",
                f"SUM(orders.total WHERE placed_at WITHIN {30 * (i + 1)}d) > {200 + 20 * i}",
            )
        )
    for i in range(10):
        rules.append((f"city-{i}", f"city = 'city-{i}' AND orders_count >= 2"))
    return rules


def realtime_segments() -> list[tuple[str, str]]:
    return [
        ("rt-b2b", "context.view = 'business'"),
        ("rt-big-cart", "cart.subtotal >= 100"),
        ("rt-b2b-big", "context.view = 'business' AND cart.subtotal >= 200"),
        ("rt-brand-cart", "EXISTS(cart.lines WHERE brand = 'brand-3')"),
        ("rt-mobile", "context.channel = 'mobile'"),
        ("rt-eu", "context.store = 'eu' AND cart.quantity >= 3"),
        ("rt-landing", "context.path STARTS WITH '/sale'"),
        ("rt-loyal-cart", "total_spent > 500 AND cart.subtotal >= 50"),
        ("rt-new-big", "orders_count <= 2 AND cart.subtotal >= 300"),
        ("rt-vip-b2b", "IN SEGMENT 'spent-3' AND context.view = 'business'"),
    ]


def build_store(path: Path, customers: int) -> str:
    from segmint.importing import import_arrow
    from segmint.model.segment import SegmentDefinition, SegmentKind
    from segmint.services import auth
    from segmint.services.segments import create_segment
    from segmint.store.duckdb import DuckDBStore

    rng = random.Random(7)
    store = DuckDBStore(path)
    store.init()
    ids = [f"c{i:06d}" for i in range(customers)]
    import_arrow(
        store,
        "customers",
        pa.table({"id": ids, "city": [f"city-{rng.randrange(12)}" for _ in ids]}),
        source="bench",
    )
    rows: dict[str, list[object]] = {
        k: []
        for k in (
            "order_id",
            "customer_id",
            "placed_at",
            "status",
            "total",
            "sku",
            "brand",
            "amount",
        )
    }
    n = 0
    for cid in ids:
        for _ in range(rng.randint(1, 19)):
            n += 1
            total = Decimal(rng.randint(5, 200))
            placed = NOW - dt.timedelta(days=rng.randint(1, 700))
            for line in range(2):
                rows["order_id"].append(f"o{n}")
                rows["customer_id"].append(cid)
                rows["placed_at"].append(placed.isoformat())
                rows["status"].append("completed")
                rows["total"].append(str(total))
                rows["sku"].append(f"sku-{line}")
                rows["brand"].append(f"brand-{rng.randrange(25)}")
                rows["amount"].append(str(total / 2))
    import_arrow(store, "orders", pa.table(rows), source="bench")
    for code, rule in rule_segments():
        create_segment(
            store,
            SegmentDefinition(code=code, name=code, kind=SegmentKind.RULE, rule_text=rule),
            NOW,
        )
    for code, rule in realtime_segments():
        create_segment(
            store,
            SegmentDefinition(code=code, name=code, kind=SegmentKind.REALTIME, rule_text=rule),
            NOW,
        )
    _, token = auth.create_api_key(store, "storefront", NOW, name="bench")
    store.close()
    return token


def serve(path: str, port: int) -> None:
    import uvicorn

    from segmint.api.app import create_app

    app = create_app(path, clock=lambda: NOW, freeze_heap=True)  # as `segmint serve` does
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


# ---- load generator ----------------------------------------------------------------------------


def request_bytes(method: str, path: str, token: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def drive(
    port: int, payload: bytes, seconds: float, connections: int
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(payload)
                status, _ = await read_response(reader)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, errors


def measure(port: int, payload: bytes, seconds: float, connections: int) -> dict[str, float]:
    asyncio.run(drive(port, payload, min(2.0, seconds / 3), connections))  # warm-up
    started = time.perf_counter()
    latencies, errors = asyncio.run(drive(port, payload, seconds, connections))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--serve", nargs=2, metavar=("DB", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    workdir = Path(tempfile.mkdtemp(prefix="segmint_bench_evaluate_"))
    db = workdir / "bench.duckdb"
    started = time.perf_counter()
    token = build_store(db, args.customers)
    print(
        f"store built in {time.perf_counter() - started:.1f} s "
        f"({args.customers} customers, 100 segments)",
        file=sys.stderr,
    )
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(db), str(port)])
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        evaluate = json.dumps(
            {
                "customer_id": CUSTOMER,
                "context": {"view": "business", "store": "eu", "channel": "web", "path": "/sale/x"},
                "cart": {
                    "lines": [
                        {"sku": "sku-1", "brand": "brand-3", "quantity": 2, "unit_price": "60.00"},
                        {"sku": "sku-2", "brand": "brand-9", "quantity": 1, "unit_price": "99.50"},
                    ]
                },
            }
        ).encode()
        probe = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/evaluate",
            data=evaluate,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(probe, timeout=30) as response:
            answer = json.loads(response.read())
        print(f"evaluate answers {len(answer['segments'])} segments, "
              f"{sum(1 for s in answer['segments'] if s['kind'] == 'realtime')} real-time",
              file=sys.stderr)  # fmt: skip
        results = {
            "GET /v1/health (trivial)": measure(
                port, request_bytes("GET", "/v1/health", token), args.seconds, args.connections
            ),
            "POST /v1/evaluate (known customer)": measure(
                port,
                request_bytes("POST", "/v1/evaluate", token, evaluate),
                args.seconds,
                args.connections,
            ),
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(
        f"\n{dt.date.today()} · {platform.processor() or platform.machine()} · "
        f"{os.cpu_count()} cores · Python {platform.python_version()} · uvicorn 1 worker · "
        f"{args.connections} connections · {args.seconds:.0f} s per endpoint\n"
    )
    print("| endpoint | requests | req/s | p50 ms | p99 ms | non-200 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        cells = [f"{r['requests']:.0f}", f"{r['rps']:.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}"]
        print(f"| {name} | {' | '.join(cells)} | {r['errors']:.0f} |")


if __name__ == "__main__":
    main()
