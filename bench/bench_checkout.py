"""``POST /v1/checkout`` with a promo code on PostgreSQL, 16 concurrent clients, beside the
same requests to ``POST /v1/evaluate``, in one run; the redemptions are counted after.

    .venv/bin/python bench/bench_checkout.py [--db URL] [--seconds 10] [--rounds 2]
        [--clients 16] [--pool 16] [--visitors 100] [--promotions 0] [--lock-times]
    .venv/bin/python bench/bench_checkout.py --profile 300   # in process, cProfile

A scratch database (unique name) is created on ``--db``'s server (default
``SEGMINT_TEST_POSTGRES_URL``) and dropped afterwards (``--keep`` keeps it). It gets the
store of bench_evaluate_cart.py (``--customers`` customers with orders, 150 segments, 400
products) and a lever document: the code promotion ``bench-code`` (code ``BENCH10``, 10 %
off the order) whose ``usage_limit`` is far above the run's count, so every checkout
counts it and takes its lock; free shipping over 100; a GLOBAL category discount; a GLOBAL
price list; and, with ``--promotions N``, the first N promotions and the 100 price lists
of bench_evaluate_cart.py's document.

The app runs under uvicorn with ONE worker in its own process, with a pool of ``--pool``
PostgreSQL connections. ``--clients`` threads of this process, each with its own httpx
client (keep-alive), send their next request when the previous answer is complete: the
12-line cart of bench_evaluate_cart.py with the code entered in lower case, for each of
``--visitors`` customers in turn (their memberships stay cached after the warm-up), each
checkout with a unique ``order_id``. The
baseline is the same requests (without ``order_id``) to ``/v1/evaluate``. The two are
driven in turn, ``--rounds`` times each after a warm-up. Afterwards the redemption rows of
``bench-code`` are counted and compared with the number of checkout answers that applied
it (warm-ups included); the run fails if they differ. CPU per request is read from
``/proc`` for the server, every ``postgres`` process and this process. ``--lock-times``
makes the server time how long checkouts wait for and hold their redemption locks;
``--spy FILE`` runs it under ``py-spy record --gil``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).parent))

from bench_evaluate import NOW, free_port
from bench_evaluate_cart import document, machine, populate, process_cpu, request_body
from profiling import profile_table

DEFAULT_PG = os.environ.get(
    "SEGMINT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
PROMOTION = "bench-code"
CODE = "BENCH10"
LIMIT = 10_000_000


def lever_document(extra: int) -> dict[str, Any]:
    promotions: list[dict[str, Any]] = [
        {
            "code": PROMOTION,
            "trigger": "code",
            "codes": [CODE],
            "usage_limit": LIMIT,
            "priority": 50,
            "benefit": {"type": "order", "percentage": "10"},
            "message": "10% with BENCH10",
        },
        {
            "code": "free-ship",
            "condition": "cart.subtotal >= 100",
            "benefit": {"type": "shipping", "percentage": "100"},
        },
        {
            "code": "cat-3-deal",
            "priority": 20,
            "benefit": {
                "type": "items",
                "target": "category = 'cat-3'",
                "allocation": "each",
                "percentage": "15",
            },
        },
    ]
    price_lists: list[dict[str, Any]] = [
        {
            "code": "everyday",
            "currency": "USD",
            "prices": [{"sku": f"P{i:04d}", "price": "9.99"} for i in range(0, 400, 7)],
        }
    ]
    if extra:
        more = document(extra)
        promotions += more["promotions"]
        price_lists += more["price_lists"]
    return {"promotions": promotions, "price_lists": price_lists}


def serve(url: str, port: int, pool: int, lock_times: bool) -> None:
    import uvicorn

    from segmint.api.app import create_app

    times = watch_locks() if lock_times else None
    app = create_app(url, clock=lambda: NOW, pool_size=pool, freeze_heap=True)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)
    if times:
        for what, values in times.items():
            values.sort()
            print(
                f"server: redemption locks, {what} ({len(values)}): "
                f"p50 {statistics.median(values) * 1000:.2f} ms, "
                f"p99 {values[int(len(values) * 0.99) - 1] * 1000:.2f} ms, "
                f"sum {sum(values):.1f} s",
                file=sys.stderr,
            )


def watch_locks() -> dict[str, list[float]]:
    """Time each checkout's wait for its redemption locks and how long it holds them
    (granted -> the commit that releases them done), by wrapping two store methods in
    this server process only."""
    from segmint.store.postgres import PostgresStore
    from segmint.store.redemptions import RedemptionRepository

    times: dict[str, list[float]] = {"waited": [], "held": []}
    granted = threading.local()
    lock, commit = RedemptionRepository.lock, PostgresStore._commit

    def timed_lock(self: RedemptionRepository, keys: Any) -> None:
        asked = time.perf_counter()
        lock(self, keys)
        now = time.perf_counter()
        times["waited"].append(now - asked)
        if getattr(granted, "at", None) is None:
            granted.at = now

    def timed_commit(self: PostgresStore) -> None:
        commit(self)
        if (at := getattr(granted, "at", None)) is not None:
            times["held"].append(time.perf_counter() - at)
            granted.at = None

    RedemptionRepository.lock = timed_lock  # type: ignore[method-assign]
    PostgresStore._commit = timed_commit  # type: ignore[method-assign]
    return times


class Load:
    """``clients`` threads posting to one endpoint until a deadline."""

    def __init__(self, port: int, token: str, clients: int, customers: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.clients = clients
        self.customers = customers
        self.template = request_body()
        self.template["codes"] = [CODE.lower()]
        self.sent = 0
        self.lock = threading.Lock()
        self.checkouts = 0  # answered 200 by /v1/checkout
        self.applied = 0  # of which applied PROMOTION

    def body(self, n: int, checkout: bool) -> dict[str, Any]:
        body = {**self.template, "customer_id": f"c{n % self.customers:06d}"}
        if checkout:
            body["order_id"] = f"bench-{uuid.uuid4().hex}"
        return body

    def run(self, path: str, seconds: float) -> dict[str, Any]:
        checkout = path == "/v1/checkout"
        latencies: list[float] = []
        errors = [0]
        deadline = time.perf_counter() + seconds

        def client(k: int) -> None:
            mine: list[float] = []
            with httpx.Client(base_url=self.base, headers=self.headers, timeout=60) as http:
                n = k * 7919
                while time.perf_counter() < deadline:
                    n += 1
                    body = self.body(n, checkout)
                    started = time.perf_counter()
                    response = http.post(path, json=body)
                    mine.append(time.perf_counter() - started)
                    if response.status_code != 200:
                        with self.lock:
                            errors[0] += 1
                        continue
                    if checkout:
                        promos = response.json()["promotions"]
                        hit = any(p["code"] == PROMOTION for p in promos)
                        with self.lock:
                            self.checkouts += 1
                            self.applied += hit
            with self.lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(self.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        latencies.sort()
        return {
            "requests": len(latencies),
            "elapsed": elapsed,
            "latencies": latencies,
            "errors": errors[0],
        }


def postgres_cpu() -> float:
    """CPU seconds of every process named ``postgres`` on this machine (the local server's
    backends; other users' queries count too)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            total += process_cpu(int(stat.parent.name))
    return total


class Cpu:
    """CPU seconds spent by the server, PostgreSQL and this process during a phase."""

    def __init__(self, server: int | None) -> None:
        self.server = server

    def sample(self) -> tuple[float, float, float]:
        mine = time.process_time()
        return (process_cpu(self.server) if self.server else 0.0, postgres_cpu(), mine)


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    latencies = sorted(x for r in runs for x in r["latencies"])
    elapsed = sum(r["elapsed"] for r in runs)
    cpu = [sum(r["cpu"][i] for r in runs) / len(latencies) * 1000 for i in range(3)]
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": sum(r["errors"] for r in runs),
        "cpu_server": cpu[0],
        "cpu_postgres": cpu[1],
        "cpu_client": cpu[2],
    }


def profile(url: str, runs: int, visitors: int) -> None:
    """In process, one connection, one request at a time: the route's path of evaluate and
    checkout (validation, pricing, the transaction, JSON) timed, then under cProfile; the
    top functions by cumulative time per request."""
    from segmint.services.checkout import checkout
    from segmint.services.evaluate import Evaluator
    from segmint.services.evaluate_request import CheckoutIn, EvaluateIn, to_request
    from segmint.services.targeting import Targeting
    from segmint.store.postgres import PostgresStore

    store = PostgresStore(url)
    targeting = Targeting(Evaluator())
    template = request_body()
    template["codes"] = [CODE.lower()]
    counter = [0]

    def body(checkout_: bool) -> bytes:
        counter[0] += 1
        data = {**template, "customer_id": f"c{counter[0] % visitors:06d}"}
        if checkout_:
            data["order_id"] = f"profile-{uuid.uuid4().hex}"
        return json.dumps(data).encode()

    def evaluate_once() -> None:
        ask = to_request(EvaluateIn.model_validate_json(body(False)))
        result = targeting.answer_cached(ask, NOW)
        if result is None:
            result = targeting.answer(store, ask, NOW)
        result.to_json()

    def checkout_once() -> None:
        raw = CheckoutIn.model_validate_json(body(True))
        checkout(store, targeting, to_request(raw), raw.order_id, NOW)

    for name, one in (("evaluate", evaluate_once), ("checkout", checkout_once)):
        print(f"\n{name}, in process, one connection:")
        profile_table(one, runs, warmup=max(visitors, 50), top=45)
    store.close()


def scratch_url(admin: str, name: str) -> str:
    return admin.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_PG, help="PostgreSQL server (a database on it)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--pool", type=int, default=16)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--visitors", type=int, default=100)
    parser.add_argument("--promotions", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--spy", metavar="FILE", help="run the server under py-spy record")
    parser.add_argument("--profile", type=int, default=0, metavar="RUNS", help="in process")
    parser.add_argument(
        "--lock-times", action="store_true", help="the server times its redemption locks"
    )
    parser.add_argument("--serve", nargs=3, metavar=("URL", "PORT", "POOL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), int(args.serve[2]), args.lock_times)
        return
    from segmint.services.levers import apply_document
    from segmint.store.postgres import PostgresStore
    from segmint.store.redemptions import RedemptionRepository

    name = f"segmint_bench_checkout_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.db, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = scratch_url(args.db, name)
    server: subprocess.Popen[bytes] | None = None
    try:
        started = time.perf_counter()
        store = PostgresStore(url)
        token = populate(store, args.customers)
        started_apply = time.perf_counter()
        apply_document(store, lever_document(args.promotions), NOW, who="bench")
        print(
            f"store built in {started_apply - started:.1f} s; levers applied in "
            f"{time.perf_counter() - started_apply:.1f} s",
            file=sys.stderr,
        )
        if args.profile:
            store.close()
            profile(url, args.profile, min(args.visitors, args.customers))
            return
        port = free_port()
        command = [sys.executable, __file__, "--serve", url, str(port), str(args.pool)]
        if args.lock_times:
            command.append("--lock-times")
        if args.spy:
            command = [
                "py-spy",
                "record",
                "--gil",
                "-o",
                args.spy,
                "-f",
                "raw",
                "-r",
                "200",
                "--",
                *command,
            ]
        server = subprocess.Popen(command)
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        load = Load(port, token, args.clients, min(args.visitors, args.customers))
        with httpx.Client(base_url=load.base, headers=load.headers, timeout=120) as http:
            first = http.post("/v1/checkout", json=load.body(0, True))
            assert first.status_code == 200, first.text
            answer = first.json()
            size = len(first.content)
            load.checkouts += 1
            load.applied += any(p["code"] == PROMOTION for p in answer["promotions"])
        print(
            f"a checkout applies {[p['code'] for p in answer['promotions']]}, "
            f"total {answer['cart']['total']}; {size:,} bytes",
            file=sys.stderr,
        )
        runs: dict[str, list[dict[str, Any]]] = {"/v1/evaluate": [], "/v1/checkout": []}
        cpu = Cpu(None if args.spy else server.pid)
        for _ in range(args.rounds):
            for path in runs:
                load.run(path, min(2.0, args.seconds / 3))  # warm-up
                before = cpu.sample()
                result = load.run(path, args.seconds)
                result["cpu"] = [b - a for a, b in zip(before, cpu.sample(), strict=True)]
                runs[path].append(result)
                rate = result["requests"] / result["elapsed"]
                print(f"{path}: {rate:.0f}/s", file=sys.stderr)
        repo = RedemptionRepository(store)
        uses = repo.promotion_uses([PROMOTION]).get(PROMOTION, 0)
        code_uses = repo.code_uses([CODE]).get(CODE, 0)
        rows = store._q("SELECT COUNT(*) FROM checkouts", {})
        recorded = int(rows[0][0])
        store.close()
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
            server.wait(timeout=60)
        if not args.keep:
            with psycopg.connect(args.db, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept {url}", file=sys.stderr)
    results = {path: summary(r) for path, r in runs.items()}
    print(
        f"\n{dt.date.today()} · {machine()} · {os.cpu_count()} cores · Python "
        f"{platform.python_version()} · PostgreSQL · uvicorn 1 worker, pool of {args.pool} · "
        f"{args.clients} client threads (httpx, same machine) · {args.rounds} x "
        f"{args.seconds:.0f} s per endpoint, interleaved · "
        f"{3 + args.promotions:,} promotions\n"
    )
    print(
        "| endpoint | requests | req/s | p50 ms | p99 ms | non-200 "
        "| CPU ms/request: server | PostgreSQL | clients |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    labels = {
        "/v1/evaluate": "`POST /v1/evaluate` (baseline)",
        "/v1/checkout": "`POST /v1/checkout` with a code",
    }
    for path, r in results.items():
        cells = [f"{r['requests']:.0f}", f"{r['rps']:.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}"]
        cells += [f"{r['errors']:.0f}", f"{r['cpu_server']:.2f}", f"{r['cpu_postgres']:.2f}"]
        cells.append(f"{r['cpu_client']:.2f}")
        print(f"| {labels[path]} | {' | '.join(cells)} |")
    ratio = results["/v1/checkout"]["rps"] / results["/v1/evaluate"]["rps"]
    print(f"\ncheckouts: {results['/v1/checkout']['rps']:.0f}/s (target >= 500/s), "
          f"{ratio:.0%} of evaluate's rate")  # fmt: skip
    exact = uses == load.applied == code_uses and recorded == load.checkouts
    print(
        f"checkouts answered 200: {load.checkouts:,} (rows in checkouts: {recorded:,}); "
        f"applied {PROMOTION}: {load.applied:,}; its redemption rows: {uses:,} "
        f"(code {CODE}: {code_uses:,}; usage_limit {LIMIT:,}): "
        f"{'exact' if exact else 'MISMATCH'}"
    )
    if not exact:
        sys.exit(1)


if __name__ == "__main__":
    main()
