"""Segment refresh (20 rule segments) versus its baselines, side by side in one run.

    .venv/bin/python bench/bench_refresh.py --customers 1000000 --orders 5000000
    .venv/bin/python bench/bench_refresh.py --customers 20000 --orders 100000 --events 40000 \
        --postgres postgresql://postgres@127.0.0.1:5432/test

On the cached synthetic DuckDB store of bench/bench_match.py (bench/.data/), the 20 rules
of bench/rulesets.py are defined as rule segments, then, interleaved ``--repeat`` times:

- ``refresh_segments`` from EMPTY memberships (every member is an entry: memberships,
  history and due instants written, checkpointed batches);
- ``refresh_segments`` again at the same instant (nothing changes: the fused pass, the
  diff and the due instants, no writes);
- ``refresh_segments`` after a small data change (``--small`` new orders for random
  customers, imported with incremental evaluation off, so the refresh finds them);
- the hand-written fused DuckDB query of bench/rulesets.py, materialised into a temp
  table (the 20 member sets, no bookkeeping);
- the same query followed by what a refresh from empty persists, written by hand
  (``baseline_writes``: memberships, history rows, due rows, two indexes), the like-for-
  like baseline of the refresh from empty;
- pandas: the tables are loaded with DuckDB into DataFrames (load time reported apart,
  not counted in the target's ratio, which compares in-memory pandas with a refresh that reads
  the store; the ratio with the load counted, end to end, is printed too), then one
  filter + group-by per rule, as a data team would write it.

Member sets are checked equal between the refresh and the hand-written query (and
reported for pandas, which uses floats for money). With ``--postgres URL`` the same data
(generated again, same seed) is loaded into a fresh schema there and the refresh timed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_match import machine, open_db, synthetic_args, timed
from rulesets import FUSED_BASELINE, REFERENCE_NOW, RULES, baseline_params
from segmint.demo.synthetic import load_synthetic
from segmint.services.membership import refresh_segments
from segmint.store.base import Store
from segmint.store.duckdb import DuckDBStore

OK = ("cancelled", "refunded", "failed")


def define_segments(store: Store, rules: dict[str, str]) -> None:
    """The rule segments, written as the segments core stores them; empty memberships."""
    from segmint.model.segment import SegmentDefinition, SegmentKind

    reset(store)
    store._x("DELETE FROM segment_manual")
    store._x("DELETE FROM segments")
    now = dt.datetime.now(dt.UTC)
    for name, text in rules.items():
        code = name.replace("_", "-")
        definition = SegmentDefinition(code=code, name=name, kind=SegmentKind.RULE, rule_text=text)
        store._x(
            "INSERT INTO segments (code, name, kind, user_group, rule_text, definition, version, "
            "created_at, updated_at) VALUES ($c, $n, 'rule', $c, $r, $d, 1, $t, $t)",
            {"c": code, "n": name, "r": text, "d": definition.dumps(), "t": now},
        )


def reset(store: Store) -> None:
    for table in ("memberships", "membership_history", "customer_due", "refresh_runs"):
        store._x(f"DELETE FROM {table}")


def member_sets(store: Store) -> dict[str, set[str]]:
    sets: dict[str, set[str]] = {name.replace("_", "-"): set() for name in RULES}
    for code, cid in store._q("SELECT segment_code, customer_id FROM memberships"):
        sets[code].add(cid)
    return sets


def baseline_sql(store: DuckDBStore) -> None:
    store.con.execute("DROP TABLE IF EXISTS baseline_sets")
    params = baseline_params(REFERENCE_NOW, FUSED_BASELINE)
    store.con.execute(f"CREATE TEMP TABLE baseline_sets AS {FUSED_BASELINE}", params)


SCRATCH = ("bench_members", "bench_history", "bench_due")


def baseline_writes(store: DuckDBStore) -> float:
    """What a refresh from empty persists, written by hand after the hand-written query:
    the 2.1 M (segment, customer) rows into a table shaped like ``memberships``, the same
    rows into one shaped like ``membership_history`` (seq from a sequence), the due rows
    (copied from ``customer_due``: their computation is not counted) into one keyed like
    it, in one transaction, then the two ``customer_id`` indexes. No diff, no batches, no
    run bookkeeping: the least a store of the same state must write. Returns the seconds
    from the query to the last index (the scratch tables are made and dropped untimed)."""
    con = store.con
    drop_scratch(store)
    con.execute("CREATE TABLE bench_members AS SELECT * FROM memberships LIMIT 0")
    con.execute("CREATE TABLE bench_history AS SELECT * FROM membership_history LIMIT 0")
    con.execute(
        "CREATE TABLE bench_due (customer_id TEXT NOT NULL, source TEXT NOT NULL, "
        "due_at TIMESTAMP NOT NULL, PRIMARY KEY (customer_id, source))"
    )
    con.execute("CREATE SEQUENCE bench_seq")
    con.execute("CHECKPOINT")
    names = [name.replace("_", "-") for name in RULES]
    columns = [f"s{i}" for i in range(len(names))]
    pairs = " UNION ALL ".join(
        f"SELECT '{code}' AS segment_code, id AS customer_id FROM bench_sets WHERE {column}"
        for code, column in zip(names, columns, strict=True)
    )
    start = time.perf_counter()
    con.execute(  # the hand-written query, its 20 columns named
        f"CREATE OR REPLACE TEMP TABLE bench_sets AS SELECT * FROM ({FUSED_BASELINE}) "
        f"AS q(id, {', '.join(columns)})",
        baseline_params(REFERENCE_NOW, FUSED_BASELINE),
    )
    now = baseline_params(REFERENCE_NOW)["now"]
    con.execute("BEGIN")
    con.execute(
        f"INSERT INTO bench_members (segment_code, customer_id, since, reason) "
        f"SELECT segment_code, customer_id, $now, 'rule' FROM ({pairs})",
        {"now": now},
    )
    con.execute(
        'INSERT INTO bench_history (seq, segment_code, customer_id, change, "at", reason, '
        "trigger, run_id) SELECT nextval('bench_seq'), segment_code, customer_id, 'enter', "
        "since, reason, 'refresh', 1 FROM bench_members"
    )
    con.execute("INSERT INTO bench_due SELECT customer_id, source, due_at FROM customer_due")
    con.execute("COMMIT")
    con.execute("CREATE INDEX bench_members_customer ON bench_members(customer_id)")
    con.execute("CREATE INDEX bench_due_customer ON bench_due(customer_id)")
    elapsed = time.perf_counter() - start
    written = store._q("SELECT (SELECT COUNT(*) FROM bench_members), COUNT(*) FROM memberships")
    assert written[0][0] == written[0][1], "the hand-written writes stored other memberships"
    drop_scratch(store)
    return elapsed


def drop_scratch(store: DuckDBStore) -> None:
    store.con.execute("DROP TABLE IF EXISTS bench_sets")
    for table in SCRATCH:
        store.con.execute(f"DROP TABLE IF EXISTS {table}")
    store.con.execute("DROP SEQUENCE IF EXISTS bench_seq")


def baseline_sets(store: DuckDBStore) -> dict[str, set[str]]:
    rows = store.con.execute("SELECT * FROM baseline_sets").fetchall()
    return {
        name.replace("_", "-"): {r[0] for r in rows if r[i]}
        for i, name in enumerate(RULES, start=1)
    }


def load_frames(store: DuckDBStore) -> dict[str, Any]:
    """What a data team loads: money as DOUBLE (pandas has no exact decimal column)."""
    con = store.con
    return {
        "customers": con.execute(
            "SELECT id, tags, business_account, store, newsletter_subscribed, "
            "attr_loyalty_tier FROM customers"
        ).df(),
        "orders": con.execute(
            "SELECT customer_id, placed_at, status, CAST(total AS DOUBLE) AS total FROM orders"
        ).df(),
        "lines": con.execute(
            "SELECT customer_id, brand, category, CAST(amount AS DOUBLE) AS amount, placed_at "
            "FROM order_lines"
        ).df(),
        "events": con.execute('SELECT customer_id, type, "at" FROM events').df(),
        "wishlist": con.execute("SELECT customer_id FROM wishlist_items").df(),
    }


def pandas_sets(f: dict[str, Any]) -> dict[str, set[str]]:
    """The 20 rules, each its own filter + group-by (no fusion), as a data team would."""
    p = {k: v for k, v in baseline_params(REFERENCE_NOW).items()}
    now, d30, d90, d180, d365 = p["now"], p["d30"], p["d90"], p["d180"], p["d365"]
    c, o, ln, e, w = f["customers"], f["orders"], f["lines"], f["events"], f["wishlist"]

    def ids(series: Any) -> set[str]:
        return set(series.index[series]) if series.dtype == bool else set(series)

    ok = o[~o.status.isin(OK)]
    ok_count = ok.groupby("customer_id").size()
    ok_sum = ok.groupby("customer_id").total.sum()
    within = lambda df, col, lo: df[(df[col] > lo) & (df[col] <= now)]  # noqa: E731
    custs = c.set_index("id")
    out: dict[str, set[str]] = {}
    out["big-spenders-year"] = ids(
        within(o, "placed_at", d365).groupby("customer_id").total.sum() > 300
    )
    out["acme-90d"] = set(within(ln[ln.brand == "Acme"], "placed_at", d90).customer_id)
    ev = within(e[e.type == "product_view"], "at", d30)
    out["viewers-30d"] = ids(ev.groupby("customer_id").size() > 2)
    out["lifetime-1000"] = ids(ok.groupby("customer_id").total.sum() >= 1000)
    out["frequent"] = ids(ok.groupby("customer_id").size() >= 10)
    recent = set(within(o, "placed_at", d180).customer_id)
    out["lapsed"] = ids(ok.groupby("customer_id").size() >= 3) - recent
    out["wine-year"] = set(within(ln[ln.category == "wine"], "placed_at", d365).customer_id)
    out["coffee-100"] = ids(ln[ln.category == "coffee"].groupby("customer_id").amount.sum() > 100)
    out["vip"] = set(c.id[c.tags.apply(lambda t: t is not None and "vip" in list(t))])
    accounts = c[c.business_account.notna() & (c.business_account != "acme")]
    out["accounts-but-acme"] = set(accounts.id)
    eu = set(c.id[c.store == "eu"])
    out["eu-500"] = ids(ok.groupby("customer_id").total.sum() > 500) & eu
    out["private-label-20"] = ids(
        ln[ln.brand == "Private Label"].groupby("customer_id").size() >= 20
    )
    out["wishlisters"] = set(w.customer_id)
    out["aov-80"] = ids(ok_sum / ok_count > 80)
    last = ok.groupby("customer_id").placed_at.max()
    out["active-30d"] = ids((last > d30) & (last <= now))
    out["new-90d"] = ids(ok.groupby("customer_id").placed_at.min() > d90)
    out["one-big-order"] = ids(o.groupby("customer_id").total.max() > 250)
    out["refunders"] = ids(o[o.status == "refunded"].groupby("customer_id").size() >= 2)
    gold = set(custs.index[custs.attr_loyalty_tier.isin(["gold", "platinum"])])
    out["gold-regulars"] = ids(ok.groupby("customer_id").size() >= 5) & gold
    beer = set(within(ln[ln.category == "beer"], "placed_at", d30).customer_id)
    out["beer-newsletter"] = beer & set(custs.index[custs.newsletter_subscribed.fillna(False)])
    return out


def small_change(store: Store, count: int, tag: str, seed: int) -> None:
    """``count`` new completed orders (about 3.5 lines each) for random customers, a day
    before the reference instant; plain import, memberships untouched."""
    import random

    from bench_incremental import order_table
    from segmint.importing import import_arrow

    rng = random.Random(seed)
    ids = rng.sample(store.customer_ids(), count)
    placed = REFERENCE_NOW - dt.timedelta(days=1)
    orders = [(f"small-{tag}-{j}", cid, placed) for j, cid in enumerate(ids)]
    import_arrow(
        store, "orders", order_table(orders, rng), source="bench", progress=lambda *a: None
    )


def bench_postgres(args: argparse.Namespace) -> list[tuple[str, list[float]]]:
    import psycopg

    from segmint.store.postgres import PostgresStore

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in args.postgres else "?"
    store = PostgresStore(f"{args.postgres}{sep}options=-csearch_path%3D{schema}")
    try:
        store.init()
        start = time.perf_counter()
        load_synthetic(store, args.customers, args.orders, args.events, args.seed)
        print(f"PostgreSQL: loaded in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        store.execute("ANALYZE")
        define_segments(store, RULES)
        full, again, small = [], [], []
        for r in range(args.repeat):
            reset(store)
            t, _ = timed(lambda: refresh_segments(store, None, REFERENCE_NOW), 1)
            full += t
            t, _ = timed(lambda: refresh_segments(store, None, REFERENCE_NOW), 1)
            again += t
            small_change(store, args.small, f"pg{r}", args.seed + r)
            t, _ = timed(lambda: refresh_segments(store, None, REFERENCE_NOW), 1)
            small += t
        return [
            ("PostgreSQL refresh, from empty", full),
            ("PostgreSQL refresh, no change", again),
            (f"PostgreSQL refresh after {args.small:,} new orders", small),
        ]
    finally:
        store.close()
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    synthetic_args(parser)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default=None, help="also time the refresh on PostgreSQL")
    parser.add_argument("--small", type=int, default=1_000, help="orders of the small change")
    parser.add_argument(
        "--no-pandas", action="store_true", help="skip pandas (e.g. for a PostgreSQL-only run)"
    )
    args = parser.parse_args()

    store = open_db(args)
    stats = store.stats()
    define_segments(store, RULES)
    full_t, again_t, small_t, base_t, pandas_t, writes_t = [], [], [], [], [], []
    frames: dict[str, Any] = {}
    load_s = 0.0
    if not args.no_pandas:
        t, frames = timed(lambda: load_frames(store), 1)
        load_s = t[0]
    report = None
    pandas_result: dict[str, set[str]] = {}
    small_changes = 0
    original: dict[str, set[str]] = {}
    for r in range(args.repeat):  # interleaved so noise hits all alike
        t, _ = timed(lambda: baseline_sql(store), 1)
        base_t += t
        if r == 0:
            original = baseline_sets(store)  # the data pandas loaded
        reset(store)
        t, report = timed(lambda: refresh_segments(store, None, REFERENCE_NOW), 1)
        full_t += t
        t, again = timed(lambda: refresh_segments(store, None, REFERENCE_NOW), 1)
        again_t += t
        assert again.entered == 0 and again.exited == 0, "second refresh changed something"
        small_change(store, args.small, f"{r}-{uuid.uuid4().hex[:6]}", args.seed + r)
        t, after = timed(lambda: refresh_segments(store, None, REFERENCE_NOW), 1)
        small_t += t
        small_changes = after.entered + after.exited
        writes_t.append(baseline_writes(store))
        if not args.no_pandas:
            t, pandas_result = timed(lambda: pandas_sets(frames), 1)
            pandas_t += t
    baseline_sql(store)  # the data changed since the last timed baseline
    got, expected = member_sets(store), baseline_sets(store)
    for code in expected:
        assert got[code] == expected[code], (
            f"{code}: refresh {len(got[code])} vs {len(expected[code])}"
        )
    differ = {
        c: len(pandas_result[c] ^ original[c])
        for c in pandas_result
        if pandas_result[c] != original[c]
    }
    assert report is not None
    members = sum(len(s) for s in got.values())
    due_rows = store._q("SELECT COUNT(*) FROM customer_due")[0][0]

    print(
        f"\nData: {stats['customers']:,} customers, {stats['orders']:,} orders, "
        f"{stats['lines']:,} lines, {stats['events']:,} events (DuckDB)"
    )
    print(f"Machine: {machine()}")
    print(
        f"20 segments, {members:,} memberships, {due_rows:,} due instants; "
        f"pandas load (not counted): {load_s:.2f} s; "
        f"pandas agrees: "
        f"{'yes' if not differ else json.dumps(differ)}; "
        f"small change: {args.small:,} new orders, {small_changes:,} membership changes\n"
    )
    base = statistics.median(base_t)
    print("| what | median s | vs hand-written fused query | target |")
    print("|---|---|---|---|")
    rows = [
        ("hand-written fused DuckDB query (20 sets)", base_t, ""),
        ("refresh_segments, from empty (writes all)", full_t, "≤ 1.5x"),
        ("hand-written query + the same rows written (no diff, no batches)", writes_t, ""),
        ("refresh_segments, no change", again_t, "≤ 1.5x"),
        (f"refresh_segments, after {args.small:,} new orders", small_t, "≤ 1.5x"),
        ("pandas group-bys (20 rules)", pandas_t, "refresh ≥ 10x faster"),
    ]
    for name, times, target in rows:
        if not times:
            continue
        m = statistics.median(times)
        print(f"| {name} | {m:.3f} | {m / base:.2f}x | {target} |")
    print(
        f"\nrefresh from empty / hand-written query with the same rows written: "
        f"{statistics.median(full_t) / statistics.median(writes_t):.2f}x"
    )
    if pandas_t:
        pandas_m = statistics.median(pandas_t)
        print(
            f"\npandas / refresh from empty: {pandas_m / statistics.median(full_t):.1f}x; "
            f"pandas / refresh no change: {pandas_m / statistics.median(again_t):.1f}x; "
            f"pandas / refresh after a small change: {pandas_m / statistics.median(small_t):.1f}x"
        )
        # A data team's job reads the tables first; the refresh's own time includes its
        # reads of the same store, so this is the end-to-end comparison.
        print(
            f"pandas with its load from the store ({load_s:.2f} s) / refresh no change: "
            f"{(pandas_m + load_s) / statistics.median(again_t):.1f}x; "
            f"after a small change: {(pandas_m + load_s) / statistics.median(small_t):.1f}x"
        )
    print(
        "all times:",
        json.dumps(
            {
                "base": base_t,
                "empty": full_t,
                "again": again_t,
                "small": small_t,
                "writes": writes_t,
                "pandas": pandas_t,
            }
        ),
    )
    store.close()
    if args.postgres:
        print("\n| PostgreSQL | median s |\n|---|---|")
        for name, times in bench_postgres(args):
            print(f"| {name} | {statistics.median(times):.3f} |")


if __name__ == "__main__":
    main()
