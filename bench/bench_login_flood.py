"""``POST /v1/evaluate`` latency with and without a web-login flood, side by side.

    .venv/bin/python bench/bench_login_flood.py [--seconds 8] [--flooders 16]

The store of bench_evaluate.py (``--customers`` customers, 100 segments) gets a web user
``admin``; the app runs under uvicorn, one worker, in a separate process (DuckDB: ONE
store connection for the whole service). Each phase drives evaluate from this process
over ``--connections`` keep-alive connections for ``--seconds``, two ways: a known
customer (answered from the caches once warm) and customers not asked for before (a
store read each: what contends with logins for the connection). Meanwhile another
process floods ``POST /login`` with wrong passwords from ``--flooders`` threads:

- **no flood**: the baseline;
- **one username, one address**: every guess for ``admin`` from one address (the
  throttle answers 429 after 5 failures, from memory once it has seen the block);
- **a new username and address each guess**: the throttle's worst case (it never
  blocks: every guess costs an argon2 check, one at a time), as from a botnet through
  a trusted proxy (``X-Forwarded-For``).

Printed: a markdown table of evaluate's p50/p99 per phase and what the flood got.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.client
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_evaluate import NOW, build_store, free_port, read_response, request_bytes

PASSWORD = "bench password 1"


def serve(path: str, port: int) -> None:
    import uvicorn

    from segmint.api.app import create_app

    app = create_app(path, clock=lambda: NOW)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


# ---- the flood (its own process, so its threads do not slow this one's client) ------------


def flood(port: int, kind: str, seconds: float, threads: int) -> None:
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    counter = iter(range(10**9))
    deadline = time.monotonic() + seconds

    def guesser() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("GET", "/login")
        page = conn.getresponse()
        body = page.read().decode()
        found = re.search(r'name="login_csrf" value="([^"]+)"', body)
        cookie = (page.getheader("set-cookie") or "").split(";")[0]
        assert found and cookie
        while time.monotonic() < deadline:
            with lock:
                n = next(counter)
            username, address = ("admin", "10.0.0.1")
            if kind == "spread":
                username, address = f"user{n}", f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
            form = f"login_csrf={found.group(1)}&username={username}&password=guess-{n}"
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": cookie,
                "X-Forwarded-For": address,
            }
            conn.request("POST", "/login", body=form, headers=headers)
            answer = conn.getresponse()
            answer.read()
            with lock:
                statuses[answer.status] += 1

    workers = [threading.Thread(target=guesser) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(json.dumps({str(k): v for k, v in sorted(statuses.items())}))


# ---- evaluate's load -----------------------------------------------------------------------


async def drive(
    port: int, token: str, bodies: list[bytes], seconds: float, connections: int
) -> list[float]:
    """Closed loop: each connection sends the next body when its answer is complete."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    queue = iter(bodies)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                body = next(queue, None)
                if body is None:
                    return
                started = time.perf_counter()
                writer.write(request_bytes("POST", "/v1/evaluate", token, body))
                status, _ = await read_response(reader)
                latencies.append(time.perf_counter() - started)
                assert status == 200, status
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000
    return f"{len(ordered)} | {p50:.1f} | {p99:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--flooders", type=int, default=16)
    parser.add_argument("--customers", type=int, default=6000)
    parser.add_argument("--serve", nargs=2, metavar=("DB", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--flood", nargs=3, metavar=("PORT", "KIND", "S"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    if args.flood:
        flood(int(args.flood[0]), args.flood[1], float(args.flood[2]), args.flooders)
        return

    from segmint.services import auth
    from segmint.store.duckdb import DuckDBStore

    workdir = Path(tempfile.mkdtemp(prefix="segmint_bench_login_"))
    db = workdir / "bench.duckdb"
    token = build_store(db, args.customers)
    store = DuckDBStore(db)
    auth.create_user(store, "admin", PASSWORD, NOW)
    store.close()
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(db), str(port)])
    ids = iter(f"c{i:06d}" for i in range(args.customers))
    known = json.dumps({"customer_id": "c000042", "context": {"view": "business"}}).encode()
    rows = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        asyncio.run(drive(port, token, [known] * 200, 5, args.connections))  # warm up
        for label, kind in (
            ("no flood", None),
            ("one username, one address", "one"),
            ("a new username and address each guess", "spread"),
        ):
            flooder = None
            if kind is not None:
                command = [sys.executable, __file__, "--flood", str(port), kind]
                command += [str(2 * args.seconds + 2), "--flooders", str(args.flooders)]
                flooder = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
                time.sleep(1)  # let it get going
            cached = asyncio.run(
                drive(port, token, [known] * 10**6, args.seconds, args.connections)
            )
            fresh = [
                json.dumps({"customer_id": next(ids), "context": {"view": "web"}}).encode()
                for _ in range(args.customers // 3)
            ]
            uncached = asyncio.run(drive(port, token, fresh, args.seconds, args.connections))
            got = "—"
            if flooder is not None:
                out, _ = flooder.communicate(timeout=600)
                counts = json.loads(out.strip().splitlines()[-1])
                got = ", ".join(f"{n} × {status}" for status, n in counts.items())
            rows.append((label, summary(cached), summary(uncached), got))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(
        f"\n{dt.date.today()} · {platform.processor() or platform.machine()} · "
        f"{os.cpu_count()} cores · Python {platform.python_version()} · uvicorn 1 worker · "
        f"DuckDB · {args.connections} evaluate connections · {args.flooders} flood threads · "
        f"{args.seconds:.0f} s per measure · load average {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| flood | known customer: requests | p50 ms | p99 ms "
        "| new customers: requests | p50 ms | p99 ms | logins answered |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for label, cached_cells, uncached_cells, got in rows:
        print(f"| {label} | {cached_cells} | {uncached_cells} | {got} |")


if __name__ == "__main__":
    main()
