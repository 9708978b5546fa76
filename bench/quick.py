"""The regression guard: the hot paths at a small scale, each beside its baseline, their
ratios compared with those recorded in bench/baseline.json.

    ./dev bench --quick                      # a few minutes; warns, never fails
    .venv/bin/python bench/quick.py --record # also write this run's figures as the baseline

Each benchmark reuses the code of its full-size script, with small sizes:

- ``evaluate``: ``POST /v1/evaluate`` (100 segments, bench/bench_evaluate.py's store with
  ``--customers`` customers) against the trivial ``GET /v1/health`` of the same uvicorn
  server (one worker, a separate process), interleaved rounds: evaluate's req/s over
  health's.
- ``match``: one compiled aggregate rule, and the 20 rules of bench/rulesets.py fused into
  one pass, against the hand-written DuckDB queries for the same questions
  (bench/bench_match.py), on the cached synthetic store (bench/.data/): hand-written
  seconds over compiled seconds.
- ``refresh``: ``refresh_segments`` of the 20 rule segments from empty memberships against
  the hand-written fused query materialised (bench/bench_refresh.py): query seconds over
  refresh seconds.
- ``ingest``: batches of orders imported with incremental membership updates (100
  segments, ``import_and_update``) against the same batches imported alone
  (``import_arrow``), bench/bench_incremental.py: import-only seconds over incremental
  seconds.

Every ratio is a relative speed (higher is better: 1.0 means as fast as the baseline),
measured beside its baseline in the same run so the machine's speed mostly cancels out.
Timed runs are interleaved with their baseline's and the fastest of each is kept (noise on
a shared machine only ever adds time); evaluate's ratio is the median of its rounds'.
A ratio more than ``TOLERANCE`` (15 %) below the recorded one prints a warning naming the
benchmark, if it is behind again when measured a second time (the better of the two
ratios is kept: one noisy run is not a regression). The machine this runs on is usually
small and shared: one run's ratio moves by several percent, and by more than 15 % when
other jobs load it; a warning is a reason to look, not a verdict.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BENCH = Path(__file__).resolve().parent
BASELINE_FILE = BENCH / "baseline.json"
#: A ratio this much below the recorded one is a regression.
TOLERANCE = 0.15


# ---- the comparison (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    name: str
    recorded: float | None
    current: float | None

    @property
    def change(self) -> float | None:
        """The current ratio relative to the recorded one (-0.2: 20 % behind)."""
        if self.recorded is None or self.current is None or self.recorded <= 0:
            return None
        return self.current / self.recorded - 1

    def behind(self, tolerance: float = TOLERANCE) -> bool:
        if self.change is None:
            return False
        assert self.recorded is not None and self.current is not None
        return self.current < self.recorded * (1 - tolerance)


def compare(
    recorded: dict[str, float], current: dict[str, float], tolerance: float = TOLERANCE
) -> tuple[list[Verdict], list[str]]:
    """Each benchmark's verdict (recorded and current ratio, higher is better), and the
    warnings: one per benchmark whose ratio fell more than ``tolerance`` behind, one per
    benchmark measured but never recorded or recorded but not measured."""
    verdicts = [
        Verdict(name, recorded.get(name), current.get(name))
        for name in sorted(set(recorded) | set(current))
    ]
    warnings: list[str] = []
    for v in verdicts:
        if v.behind(tolerance):
            assert v.change is not None
            warnings.append(
                f"WARNING: {v.name} regressed: ratio {v.current:.3f} against {v.recorded:.3f} "
                f"recorded ({-v.change:.0%} behind, more than {tolerance:.0%})"
            )
        elif v.current is None:
            warnings.append(f"WARNING: {v.name}: recorded but not measured in this run")
        elif v.recorded is None:
            warnings.append(f"WARNING: {v.name}: no recorded ratio (run with --record)")
    return verdicts, warnings


# ---- the benchmarks ------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    name: str
    what: str
    subject: float
    baseline: float
    unit: str
    ratio: float  # relative speed, higher is better


def evaluate(customers: int, seconds: float, rounds: int) -> list[Measured]:
    import bench_evaluate as be

    workdir = Path(tempfile.mkdtemp(prefix="segmint_quick_evaluate_"))
    try:
        db = workdir / "bench.duckdb"
        token = be.build_store(db, customers)
        port = be.free_port()
        server = subprocess.Popen(
            [sys.executable, be.__file__, "--serve", str(db), str(port)], cwd=BENCH
        )
        try:
            for _ in range(400):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            body = json.dumps(
                {
                    "customer_id": be.CUSTOMER,
                    "context": {"view": "business", "store": "eu", "path": "/sale/x"},
                    "cart": {
                        "lines": [
                            {"sku": "sku-1", "brand": "brand-3", "quantity": 2, "unit_price": "60"},
                            {"sku": "sku-2", "brand": "brand-9", "quantity": 1, "unit_price": "99"},
                        ]
                    },
                }
            ).encode()
            probe = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/evaluate",
                data=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(probe, timeout=60) as response:
                assert len(json.loads(response.read())["segments"]) > 0
            health = be.request_bytes("GET", "/v1/health", token)
            request = be.request_bytes("POST", "/v1/evaluate", token, body)
            trivial, served = [], []
            for _ in range(rounds):  # interleaved so noise hits both alike
                for payload, into in ((health, trivial), (request, served)):
                    result = be.measure(port, payload, seconds, 8)
                    assert result["errors"] == 0, result
                    into.append(result["rps"])
            # a round's ratio compares two neighbouring measurements: the median of the
            # rounds' ratios is steadier than the ratio of the medians on a shared machine
            ratio = statistics.median(s / t for s, t in zip(served, trivial, strict=True))
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rps, base = statistics.median(served), statistics.median(trivial)
    what = f"POST /v1/evaluate vs GET /v1/health, req/s ({customers:,} customers, 100 segments)"
    return [Measured("evaluate", what, rps, base, "req/s", ratio)]


def synthetic(customers: int, orders: int, events: int, workdir: Path) -> Path:
    """A private copy of the cached synthetic store of these sizes (generated once into
    bench/.data/), so runs do not see each other's memberships and orders."""
    from bench_match import open_db

    args = argparse.Namespace(customers=customers, orders=orders, events=events, seed=42, db=None)
    store = open_db(args)
    cached = Path(store.path)
    store.close()
    copy = workdir / "synthetic.duckdb"
    shutil.copyfile(cached, copy)
    return copy


def match(db: Path, repeat: int) -> list[Measured]:
    from bench_match import timed
    from rulesets import (
        FUSED_BASELINE,
        REFERENCE_NOW,
        RULES,
        SINGLE_BASELINE,
        SINGLE_RULE,
        baseline_params,
    )
    from segmint.compile.sql import SqlCompiler
    from segmint.services.rules import check_rule
    from segmint.store.duckdb import DuckDBStore

    store = DuckDBStore(str(db))
    try:
        schema = store.rule_schema()
        compiler = SqlCompiler("duckdb", schema)
        single = compiler.compile_match(check_rule(SINGLE_RULE, schema).rule, REFERENCE_NOW)
        rules = {name: check_rule(text, schema).rule for name, text in RULES.items()}
        fused = compiler.compile_many(rules, REFERENCE_NOW)
        cases = (
            ("match", "1 aggregate rule", single, SINGLE_BASELINE),
            ("match-20-fused", "20 rules in one pass", fused, FUSED_BASELINE),
        )
        out = []
        for name, what, compiled, baseline in cases:
            params = baseline_params(REFERENCE_NOW, baseline)
            comp_t: list[float] = []
            base_t: list[float] = []
            for _ in range(repeat):
                t, base_rows = timed(lambda b=baseline, p=params: store.query(b, p), 1)
                base_t += t
                t, comp_rows = timed(lambda c=compiled: store.query(c.sql, c.params), 1)
                comp_t += t
            if compiled is single:
                assert sorted(r[0] for r in base_rows) == sorted(r[0] for r in comp_rows), name
            else:
                for index, rule in enumerate(RULES, start=1):
                    expected = {r[0] for r in base_rows if r[index]}
                    assert expected == {r[0] for r in comp_rows if r[index]}, (name, rule)
            c, b = min(comp_t), min(base_t)
            out.append(Measured(name, f"{what}: compiled vs hand-written, s", c, b, "s", b / c))
        return out
    finally:
        store.close()


def refresh(db: Path, repeat: int) -> list[Measured]:
    from bench_match import timed
    from bench_refresh import baseline_sets, baseline_sql, define_segments, member_sets, reset
    from rulesets import REFERENCE_NOW, RULES
    from segmint.services.membership import refresh_segments
    from segmint.store.duckdb import DuckDBStore

    store = DuckDBStore(str(db))
    try:
        define_segments(store, RULES)
        full_t: list[float] = []
        base_t: list[float] = []
        for _ in range(repeat):
            t, _ = timed(lambda: baseline_sql(store), 1)
            base_t += t
            reset(store)
            t, _ = timed(lambda: refresh_segments(store, None, REFERENCE_NOW), 1)
            full_t += t
        got, expected = member_sets(store), baseline_sets(store)
        assert all(got[code] == expected[code] for code in expected), "refresh: sets differ"
    finally:
        store.close()
    r, b = min(full_t), min(base_t)
    what = "refresh of 20 rule segments from empty vs the hand-written fused query, s"
    return [Measured("refresh", what, r, b, "s", b / r)]


def ingest(db: Path, batch: int, batches: int) -> list[Measured]:
    from bench_incremental import hundred_rules, order_table
    from bench_refresh import define_segments
    from rulesets import REFERENCE_NOW
    from segmint.importing import import_arrow
    from segmint.services.ingest import import_and_update
    from segmint.services.membership import refresh_segments
    from segmint.store.duckdb import DuckDBStore

    store = DuckDBStore(str(db))
    try:
        define_segments(store, hundred_rules())
        refresh_segments(store, None, REFERENCE_NOW)
        rng = random.Random(42)
        ids = store.customer_ids()
        on_s = off_s = 0.0
        for b in range(batches):
            now = REFERENCE_NOW + dt.timedelta(hours=1, minutes=b)
            for mode in ("off", "on"):
                orders = [
                    (f"quick-{mode}-{b}-{j}", rng.choice(ids), now - dt.timedelta(minutes=1))
                    for j in range(batch)
                ]
                table = order_table(orders, rng)
                started = time.perf_counter()
                if mode == "on":
                    import_and_update(store, "orders", table, now, progress=lambda *a: None)
                    on_s += time.perf_counter() - started
                else:
                    import_arrow(store, "orders", table, source="bench", progress=lambda *a: None)
                    off_s += time.perf_counter() - started
    finally:
        store.close()
    sent = batch * batches
    on, off = sent / on_s, sent / off_s
    what = f"orders/s, {batch:,}-order batches, 100 segments: incremental vs import only"
    return [Measured("ingest", what, on, off, "orders/s", on / off)]


# ---- the run -------------------------------------------------------------------------------


def step_of(name: str) -> str:
    """The step that measures a benchmark (``match-20-fused`` is measured by ``match``)."""
    return name.split("-")[0]


def best(first: list[Measured], second: list[Measured]) -> list[Measured]:
    """Per benchmark, the measurement with the higher ratio (the first's order kept)."""
    again = {m.name: m for m in second}
    return [max(m, again.get(m.name, m), key=lambda x: x.ratio) for m in first]


def run(args: argparse.Namespace, only: set[str] | None) -> list[Measured]:
    measured: list[Measured] = []
    workdir = Path(tempfile.mkdtemp(prefix="segmint_quick_"))
    try:
        steps = [
            ("evaluate", lambda: evaluate(args.customers, args.seconds, args.rounds)),
            ("match", lambda: match(synth(), args.repeat)),
            ("refresh", lambda: refresh(synth(), args.repeat)),
            ("ingest", lambda: ingest(synth(), args.batch, args.batches)),
        ]

        def synth() -> Path:
            return synthetic(args.synthetic_customers, args.orders, args.events, workdir)

        for name, step in steps:
            if only and name not in only:
                continue
            started = time.perf_counter()
            results = step()
            measured += results
            for m in results:
                print(
                    f"{m.name}: {m.subject:,.3f} vs {m.baseline:,.3f} {m.unit} "
                    f"-> ratio {m.ratio:.3f} ({time.perf_counter() - started:.0f} s)",
                    file=sys.stderr,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000, help="evaluate's store")
    parser.add_argument("--seconds", type=float, default=2.5, help="per endpoint and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--synthetic-customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=500_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=9, help="timed runs of match, refresh")
    parser.add_argument("--batch", type=int, default=1_000, help="orders per ingest batch")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="evaluate match refresh ingest")
    parser.add_argument("--baseline", type=Path, default=BASELINE_FILE)
    parser.add_argument("--record", action="store_true", help="write this run as the baseline")
    args = parser.parse_args()

    from bench_match import machine

    load = os.getloadavg()[0]
    measured = run(args, set(args.only) if args.only else None)
    load = max(load, os.getloadavg()[0])
    recorded_file = json.loads(args.baseline.read_text()) if args.baseline.exists() else {}
    recorded = {
        name: float(entry["ratio"]) for name, entry in recorded_file.get("benchmarks", {}).items()
    }
    verdicts, _ = compare(recorded, {m.name: m.ratio for m in measured})
    behind = {step_of(v.name) for v in verdicts if v.behind()}
    if behind and not args.record:
        # One noisy run is not a regression: what fell behind is measured once more and
        # its better ratio kept; a warning means behind twice.
        print(f"behind the recorded ratio: measuring {sorted(behind)} again", file=sys.stderr)
        measured = best(measured, run(args, behind))
    verdicts, warnings = compare(recorded, {m.name: m.ratio for m in measured})
    if args.only:  # a partial run warns only about what it measured
        warnings = [w for w in warnings if "not measured" not in w]
    if args.record:  # what is recorded now has nothing to be compared with
        warnings = [w for w in warnings if "no recorded ratio" not in w]
    print(f"\n{dt.date.today()} · {machine()} · load average up to {load:.1f}")
    if recorded_file:
        print(f"baseline: {recorded_file.get('date')} · {recorded_file.get('machine')}\n")
    print("| benchmark | subject | baseline | ratio | recorded | change |")
    print("|---|---:|---:|---:|---:|---:|")
    by_name = {m.name: m for m in measured}
    for v in verdicts:
        m = by_name.get(v.name)
        cells = [
            f"{m.subject:,.3f} {m.unit}" if m else "",
            f"{m.baseline:,.3f} {m.unit}" if m else "",
            f"{v.current:.3f}" if v.current is not None else "",
            f"{v.recorded:.3f}" if v.recorded is not None else "",
            f"{v.change:+.0%}" if v.change is not None else "",
        ]
        print(f"| {v.name} | {' | '.join(cells)} |")
    print()
    for warning in warnings:
        print(warning)
    if not warnings:
        print(f"no benchmark is more than {TOLERANCE:.0%} behind its recorded ratio")
    cores = os.cpu_count() or 1
    if load > cores:
        print(
            f"note: the load average ({load:.1f}) exceeds the {cores} cores: other jobs share "
            "the machine and the ratios scatter more than usual; rerun when it is quiet"
        )
    if args.record:
        data = {
            "date": dt.date.today().isoformat(),
            "machine": machine(),
            "load_average": round(load, 1),
            "note": (
                "bench/quick.py's figures (./dev bench --quick) at its default scale; "
                "ratios are relative speeds against the baseline measured beside each "
                "benchmark in the same run (higher is better). A shared 2-core machine, "
                "loaded by other jobs: a run's ratios move by several percent, more under load."
            ),
            "tolerance": TOLERANCE,
            "scale": {
                "evaluate_customers": args.customers,
                "synthetic": [args.synthetic_customers, args.orders, args.events],
                "ingest_batches": [args.batch, args.batches],
                "repeat": args.repeat,
                "evaluate_rounds": [args.rounds, args.seconds],
            },
            "benchmarks": {
                m.name: {
                    "what": m.what,
                    "subject": round(m.subject, 4),
                    "baseline": round(m.baseline, 4),
                    "unit": m.unit,
                    "ratio": round(m.ratio, 4),
                }
                for m in measured
            },
        }
        args.baseline.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        print(f"recorded in {args.baseline}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
