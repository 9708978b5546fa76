"""The storefront request: ``POST /v1/evaluate`` with segments, prices, promotions and
placements, beside the trivial ``GET /v1/health`` on the same server, interleaved.

    .venv/bin/python bench/bench_storefront.py [--levers 1000] [--rounds 3] [--seconds 5]
    .venv/bin/python bench/bench_storefront.py --levers 20000
    .venv/bin/python bench/bench_storefront.py --profile 2000   # per stage, in process

One DuckDB store: bench_evaluate.py's (``--customers`` customers, about 10 orders each,
100 segments, 10 of them real-time), bench_levers.py's business accounts and tier
attribute, bench_evaluate_cart.py's 400 products; then a targeting document of
``--levers`` levers applied by ``levers.apply_document``: half of them placement items
(bench_levers.py's placements and audiences: segments, user groups, accounts,
attributes, context), the rest promotions of every benefit type and price lists
(bench_evaluate_cart.py's generator; at most 100 price lists). With 1,000 levers: 450
promotions, 50 price lists, 10 placements of 50 items; with 20,000: 9,900 promotions,
100 price lists, 100 placements of 100 items.

The store is served by uvicorn with ONE worker in its own process (bench_evaluate.py's
``--serve``) and driven from this process by bench_evaluate.py's load generator
(HTTP/1.1 keep-alive, ``--connections`` connections). The request is a storefront's:
the known customer in business view, bench_evaluate_cart.py's 12-line cart and
shipping, and a page's 5 placements. Each round drives ``GET /v1/health`` then
``POST /v1/evaluate`` for ``--seconds`` each (after a warm-up), ``--rounds`` times; it
prints requests/s, p50 and p99 of each over all rounds, and evaluate's throughput as a
share of health's.

``--profile N`` answers the same request N times in process through the ASGI app
(middleware, routing, auth, validation: everything but the socket and HTTP parsing),
with a small timer wrapped around the functions of each stage (wrapped from here: no
timing code in the product), and prints the exclusive time per stage per request.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bench_evaluate_cart as cart_bench
import bench_levers
from bench_evaluate import NOW, build_store, drive, request_bytes

PAGE = [f"slot-{p}" for p in range(5)]


def split(levers: int) -> tuple[int, int, int, int]:
    """(promotions, price lists, placements, items per placement) for ``levers``."""
    items = levers // 2
    per = 50 if levers <= 2000 else 100
    placements = max(len(PAGE), items // per)
    price_lists = min(100, levers // 20)
    return levers - placements * per - price_lists, price_lists, placements, per


def document(levers: int) -> dict[str, Any]:
    promotions, price_lists, placements, per = split(levers)
    pricing = cart_bench.document(promotions, price_lists)
    slots = bench_levers.document(0, placements, per)
    return {**pricing, "placements": slots["placements"]}


def build(db: Path, customers: int, levers: int) -> str:
    from segmint.importing import import_arrow
    from segmint.services.levers import apply_document
    from segmint.store.duckdb import DuckDBStore

    token = build_store(db, customers)
    bench_levers.add_accounts_and_tiers(db, customers)
    store = DuckDBStore(db)
    try:
        import_arrow(store, "products", cart_bench.products(), source="bench")
        started = time.perf_counter()
        report = apply_document(store, document(levers), NOW, who="bench")
        print(f"levers apply: {time.perf_counter() - started:.1f} s {report.counts()}",
              file=sys.stderr)  # fmt: skip
    finally:
        store.close()
    return token


def request_body() -> dict[str, Any]:
    return {**cart_bench.request_body(), "placements": PAGE}


# ---- load --------------------------------------------------------------------------------


def load(db: Path, token: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    body = request_body()
    server, port = cart_bench.start_server(db)
    payloads = {
        "GET /v1/health": request_bytes("GET", "/v1/health", token),
        "POST /v1/evaluate": request_bytes(
            "POST", "/v1/evaluate", token, json.dumps(body).encode()
        ),
    }
    runs: dict[str, tuple[list[float], int, float]] = {name: ([], 0, 0.0) for name in payloads}
    try:
        answer, first = cart_bench.probe(port, token, body)
        shown = sum(len(v) for v in answer["placements"].values())
        print(f"first request {first * 1000:.0f} ms: {len(answer['segments'])} segments, "
              f"{len(answer['cart']['lines'])} lines, {len(answer['promotions'])} promotions "
              f"applied, {len(answer['near'])} near, {shown} items in "
              f"{len(answer['placements'])} placements", file=sys.stderr)  # fmt: skip
        for n in range(args.rounds):
            for name, payload in payloads.items():
                asyncio.run(drive(port, payload, min(1.0, args.seconds / 3), args.connections))
                started = time.perf_counter()
                latencies, errors = asyncio.run(
                    drive(port, payload, args.seconds, args.connections)
                )
                elapsed = time.perf_counter() - started
                kept, errs, total = runs[name]
                runs[name] = (kept + latencies, errs + errors, total + elapsed)
                print(f"round {n + 1}: {name} {len(latencies) / elapsed:.0f} req/s",
                      file=sys.stderr)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
    out: dict[str, dict[str, float]] = {}
    for name, (latencies, errors, elapsed) in runs.items():
        latencies.sort()
        out[name] = {
            "requests": len(latencies),
            "rps": len(latencies) / elapsed,
            "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "errors": errors,
        }
    return out


# ---- per-stage profile -------------------------------------------------------------------


class StageTimer:
    """Exclusive time per stage: a wrapped call's time minus that of the wrapped calls
    inside it, so nested stages are not counted twice."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self._stack: list[float] = []  # time spent in wrapped children, per open call

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._stack.append(0.0)
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            inner = self._stack.pop()
            self.totals[name] = self.totals.get(name, 0.0) + spent - inner
            if self._stack:
                self._stack[-1] += spent

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        if asyncio.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                with self.stage(name):
                    return await fn(*args, **kwargs)

            return timed_async

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return fn(*args, **kwargs)

        return timed

    def patch(self, name: str, owner: Any, attribute: str) -> None:
        setattr(owner, attribute, self.wrap(name, getattr(owner, attribute)))


def instrument(timer: StageTimer, app: Any) -> None:
    """Wrap each stage's functions where the request path looks them up."""
    import fastapi.dependencies.utils as fastapi_deps

    from segmint.api import deps, routes
    from segmint.compile.audience_index import AudienceIndex
    from segmint.services import evaluate, targeting
    from segmint.services.evaluate import Evaluator

    app.dependency_overrides[deps.authorize] = timer.wrap("auth", deps.authorize)
    timer.patch("parse and validation", fastapi_deps, "request_body_to_args")
    timer.patch("parse and validation", routes, "to_request")
    timer.patch("catalog and customer cache", targeting.Targeting, "answer_cached")
    timer.patch("catalog and customer cache", targeting.Targeting, "cached_catalog")
    timer.patch("catalog and customer cache", Evaluator, "evaluate_cached")
    timer.patch("catalog and customer cache", Evaluator, "cached_catalog")
    timer.patch("catalog and customer cache", Evaluator, "cached_customer")
    timer.patch("catalog and customer cache", targeting, "request_cart")
    timer.patch("catalog and customer cache", targeting, "cart_context")
    timer.patch("real-time rules", evaluate, "_evaluate")
    timer.patch("audience index", AudienceIndex, "match")
    timer.patch("pricing", targeting, "audience_profile")
    timer.patch("pricing", targeting, "price_request")
    timer.patch("pricing", targeting, "_pricing_rejected")
    timer.patch("pricing", targeting, "priced_context")
    # _answer's own time is grouping the matched items by placement and asking each
    timer.patch("placements", targeting, "_answer")
    timer.patch("placements", targeting, "choose")
    timer.patch("placements", targeting, "_placement_answer")
    timer.patch("serialization", targeting.TargetingAnswer, "to_json")


def profile(db: Path, token: str, runs: int) -> None:
    from segmint.api.app import create_app

    app = create_app(str(db), clock=lambda: NOW, freeze_heap=True)
    body = json.dumps(request_body()).encode()
    headers = [
        (b"host", b"127.0.0.1"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/evaluate",
        "raw_path": b"/v1/evaluate",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }

    async def one(path: str = "/v1/evaluate") -> int:
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        if path == "/v1/evaluate":
            await app(dict(scope), receive, send)
        else:
            await app({**scope, "method": "GET", "path": path, "raw_path": path.encode()},
                      receive, send)  # fmt: skip
        return status

    async def run() -> None:
        # the lifespan is not run: the first requests fill the caches as a server's do
        for _ in range(200):
            assert await one() == 200
        for _ in range(200):
            assert await one("/v1/health") == 200
        started = time.perf_counter()
        for _ in range(runs):
            await one("/v1/health")
        health = (time.perf_counter() - started) / runs
        started = time.perf_counter()
        for _ in range(runs):
            await one()
        plain = (time.perf_counter() - started) / runs
        timer = StageTimer()
        instrument(timer, app)
        for _ in range(50):
            await one()
        timer.totals.clear()
        started = time.perf_counter()
        for _ in range(runs):
            with timer.stage("framework (middleware, routing, response)"):
                await one()
        timed = (time.perf_counter() - started) / runs
        print(f"\nin process, {runs} requests: {plain * 1000:.3f} ms per request "
              f"unwrapped, {timed * 1000:.3f} ms with the stage timers; GET /v1/health "
              f"{health * 1000:.3f} ms\n")  # fmt: skip
        print("| stage | ms per request | share |")
        print("|---|---:|---:|")
        total = sum(timer.totals.values())
        for name, spent in sorted(timer.totals.items(), key=lambda kv: -kv[1]):
            print(f"| {name} | {spent / runs * 1000:.3f} | {spent / total:.0%} |")

    asyncio.run(run())


def machine() -> str:
    return cart_bench.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--db", type=Path, help="reuse a store this bench built")
    parser.add_argument("--token", help="the storefront key of --db")
    args = parser.parse_args()
    if args.db is not None and args.token:
        db, token = args.db, args.token
    else:
        db = Path(tempfile.mkdtemp(prefix="segmint_bench_storefront_")) / "bench.duckdb"
        started = time.perf_counter()
        token = build(db, args.customers, args.levers)
        print(f"store built in {time.perf_counter() - started:.1f} s: {db} (key {token})",
              file=sys.stderr)  # fmt: skip
    promotions, price_lists, placements, per = split(args.levers)
    print(f"\n{dt.date.today()} · {machine()} · {os.cpu_count()} cores · load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} · Python "
          f"{platform.python_version()} · {args.levers:,} levers ({promotions:,} promotions, "
          f"{price_lists} price lists, {placements} placements of {per} items)")  # fmt: skip
    if args.profile:
        profile(db, token, args.profile)
        return
    results = load(db, token, args)
    print(f"uvicorn 1 worker · {args.connections} connections · {args.rounds} rounds x "
          f"{args.seconds:.0f} s per endpoint, interleaved · load average after "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")  # fmt: skip
    print("| endpoint | requests | req/s | p50 ms | p99 ms | non-200 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        cells = [f"{r['requests']:.0f}", f"{r['rps']:.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}"]
        print(f"| {name} | {' | '.join(cells)} | {r['errors']:.0f} |")
    share = results["POST /v1/evaluate"]["rps"] / results["GET /v1/health"]["rps"]
    print(f"\nevaluate: {share:.0%} of health's throughput (target >= 70%), p99 "
          f"{results['POST /v1/evaluate']['p99']:.2f} ms (target <= 10 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
