"""Benchmark: matching 100,000 lever audiences per request, through the audience index vs
testing every audience with its compiled predicate.

    .venv/bin/python bench/bench_audience_index.py \
        [--audiences 100000] [--requests 1000] [--block 50]

Audiences are drawn as a lever catalog would hold them: over 200 segments (popularity
skewed), 50 user groups, 1,000 business accounts, attribute values, countries and
context values (view, store, channel, logged in, query parameters), a share with cart
thresholds, cart-line aggregates, order aggregates (``orders_count = 0``, the B2B seeds)
and negations, and a few GLOBAL ones. Requests are known customers (3-13 segments,
groups explicit and inherited, an account for some) with a random context and cart.

Both ways run in the same process on the same requests, interleaved in blocks of
``--block`` requests (which goes first alternates), and every answer of the index is
checked equal to the full test.
Reported: p50/p99/mean per request, build times and the index's memory (tracemalloc).

Targets (issue 16): p99 <= 1 ms per request and >= 50x faster than testing every audience.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import platform
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from segmint.compile.audience_index import AudienceIndex
from segmint.compile.python import Predicate, compile_predicate
from segmint.model.profile import CartLine, OrderItem, Profile, RequestContext
from segmint.rules import check, parse
from segmint.rules.checker import CheckedRule
from segmint.rules.schema import FieldType, Schema

NOW = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
SCHEMA = Schema(
    attributes={
        "tier": FieldType.STRING,
        "industry": FieldType.STRING,
        "b2b_buyer": FieldType.BOOLEAN,
        "interests": FieldType.STRING_LIST,
    }
)
SEGMENTS = [f"seg-{i:03d}" for i in range(200)]
GROUPS = [f"group-{i:02d}" for i in range(50)]
ACCOUNTS = [f"acct-{i:04d}" for i in range(1000)]
TIERS = ["bronze", "silver", "gold", "platinum"]
INDUSTRIES = [f"industry-{i:02d}" for i in range(20)]
COUNTRIES = ["US", "DE", "FR", "AT", "CH", "GB", "NL", "IT", "ES", "PL", "SE", "DK"]
VIEWS = ["business", "consumer"]
STORES = ["web-us", "web-eu", "app", "b2b-portal", "outlet", "pos"]
CHANNELS = ["web", "mobile", "app", "pos"]
INTERESTS = ["wine", "coffee", "garden", "tools", "kids", "pets"]
CATEGORIES = ["wine", "coffee", "garden", "tools"]


def pick(rng: random.Random, items: list[str]) -> str:
    """Skewed towards the first items (a few segments and groups are very popular)."""
    return items[min(len(items) - 1, int(rng.paretovariate(1.2)) - 1 + rng.randrange(3))]


def uniform(rng: random.Random, items: list[str]) -> str:
    return rng.choice(items)


def q(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def audience_text(rng: random.Random) -> str | None:
    r = rng.random()
    seg = lambda: uniform(rng, SEGMENTS) if rng.random() < 0.9 else pick(rng, SEGMENTS)  # noqa: E731
    grp = lambda: uniform(rng, GROUPS)  # noqa: E731
    if r < 0.18:
        return f"IN SEGMENT '{seg()}'"
    if r < 0.25:
        return f"IN SEGMENT '{seg()}' OR IN SEGMENT '{seg()}'"
    if r < 0.32:
        return f"user_groups CONTAINS '{grp()}'"
    if r < 0.40:
        accounts = rng.sample(ACCOUNTS, rng.randint(1, 5))
        return f"business_account IN ({q(accounts)})"
    if r < 0.46:
        return f"attributes.tier = '{uniform(rng, TIERS)}' AND context.view = 'business'"
    if r < 0.51:
        return f"context.store = '{uniform(rng, STORES)}' AND IN SEGMENT '{seg()}'"
    if r < 0.56:
        return (
            f"context.view = 'business' AND user_groups CONTAINS '{grp()}'"
            f" AND context.channel = '{uniform(rng, CHANNELS)}'"
        )
    if r < 0.62:
        return f"IN SEGMENT '{seg()}' AND cart.subtotal >= {rng.choice([25, 50, 100, 200])}"
    if r < 0.65:
        return f"context.view = 'business' AND orders_count {rng.choice(['= 0', '>= 1'])}"
    if r < 0.69:
        accounts = rng.sample(ACCOUNTS, rng.randint(1, 3))
        return f"business_account IN ({q(accounts)}) AND cart.quantity >= {rng.randint(2, 10)}"
    if r < 0.73:
        countries = rng.sample(COUNTRIES, rng.randint(1, 3))
        return f"country IN ({q(countries)}) AND attributes.industry = '{uniform(rng, INDUSTRIES)}'"
    if r < 0.75:
        return "context.query.showBusinessView IS NOT NULL AND orders_count = 0"
    if r < 0.79:
        return (
            f"(IN SEGMENT '{seg()}' OR user_groups CONTAINS '{grp()}') AND NOT IN SEGMENT '{seg()}'"
        )
    if r < 0.82:
        return f"context.logged_in AND context.channel = '{uniform(rng, CHANNELS)}'"
    if r < 0.84:
        return f"cart.subtotal >= {rng.choice([50, 75, 100, 150, 250])}"
    if r < 0.86:
        category = uniform(rng, CATEGORIES)
        return (
            f"SUM(cart.lines.quantity WHERE category = '{category}') >= {rng.randint(2, 12)}"
            f" AND IN SEGMENT '{seg()}'"
        )
    if r < 0.88:
        return f"total_spent > {rng.choice([100, 500, 1000])} AND IN SEGMENT '{seg()}'"
    if r < 0.91:
        return (
            f"attributes.interests CONTAINS '{uniform(rng, INTERESTS)}'"
            f" AND context.store IN ({q(rng.sample(STORES, 2))})"
        )
    if r < 0.94:
        return (
            f"attributes.b2b_buyer AND business_account IS NOT NULL"
            f" AND context.view = 'business' AND IN SEGMENT '{seg()}'"
        )
    if r < 0.97:
        return (
            f"(context.channel = 'mobile' OR context.query.utm_campaign = 'c{rng.randrange(40)}')"
            f" AND user_groups CONTAINS '{grp()}'"
        )
    if r < 0.99:
        return f"IN SEGMENT '{seg()}' AND NOT (country = 'US') AND cart.subtotal > 0"
    return None  # GLOBAL


def customer(rng: random.Random, i: int) -> Profile:
    segments = {pick(rng, SEGMENTS) for _ in range(rng.randint(2, 5))}
    segments |= set(rng.sample(SEGMENTS, rng.randint(1, 8)))
    # One segment in four gives one of the named groups; the others their own code.
    group_of = {s: GROUPS[int(s[4:]) // 4] if int(s[4:]) % 4 == 0 else s for s in segments}
    orders = [
        OrderItem(f"o{i}-{n}", NOW - dt.timedelta(days=rng.randrange(700)), "paid",
                  Decimal(rng.randrange(500, 30000)) / 100)
        for n in range(rng.choice([0, 0, 1, 3, 8, 20]))
    ]  # fmt: skip
    profile = Profile(
        f"c{i}",
        fields={
            "country": uniform(rng, COUNTRIES),
            "business_account": uniform(rng, ACCOUNTS) if rng.random() < 0.4 else None,
            "user_groups": rng.sample(GROUPS, rng.randint(0, 2)) if rng.random() < 0.7 else None,
        },
        attributes={
            "tier": uniform(rng, TIERS),
            "industry": uniform(rng, INDUSTRIES),
            "b2b_buyer": rng.random() < 0.4,
            "interests": rng.sample(INTERESTS, rng.randint(0, 3)),
        },
        orders=orders,
    )
    profile.set_segments(segments, group_of)
    return profile


def request_context(rng: random.Random) -> RequestContext:
    lines = [
        CartLine(sku=f"sku-{rng.randrange(500)}", category=uniform(rng, CATEGORIES),
                 quantity=rng.randint(1, 6), unit_price=Decimal(rng.randrange(100, 5000)) / 100)
        for _ in range(rng.randint(0, 5))
    ]  # fmt: skip
    for line in lines:
        assert line.quantity is not None and line.unit_price is not None
        line.amount = line.unit_price * line.quantity
    query = {}
    if rng.random() < 0.2:
        query["showBusinessView"] = "1"
    if rng.random() < 0.3:
        query["utm_campaign"] = f"c{rng.randrange(40)}"
    return RequestContext(
        logged_in=rng.random() < 0.8,
        view=uniform(rng, VIEWS),
        store=uniform(rng, STORES),
        channel=uniform(rng, CHANNELS),
        path=rng.choice(["/", "/b2b", "/sale", "/cart"]),
        query=query,
        cart_subtotal=sum((x.amount for x in lines if x.amount is not None), Decimal(0)),
        cart_quantity=sum(x.quantity or 0 for x in lines),
        cart_lines=lines,
    )


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audiences", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=1_000)
    parser.add_argument("--block", type=int, default=50, help="requests per block")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    texts = [audience_text(rng) for _ in range(args.audiences)]
    audiences: list[tuple[int, CheckedRule | None]]
    audiences, parse_s = timed(
        lambda: [
            (i, None if t is None else check(parse(t), SCHEMA, allow_realtime=True))
            for i, t in enumerate(texts)
        ]
    )
    index: AudienceIndex[int]
    index, build_s = timed(lambda: AudienceIndex.build(audiences, SCHEMA))
    cache: dict[str, Predicate] = {}  # equal texts share a predicate, as the index's tests do

    def compile_all() -> list[tuple[int, Predicate | None]]:
        out: list[tuple[int, Predicate | None]] = []
        for (key, rule), text in zip(audiences, texts, strict=True):
            if rule is None or text is None:
                out.append((key, None))
                continue
            if text not in cache:
                cache[text] = compile_predicate(rule.rule, SCHEMA)
            out.append((key, cache[text]))
        return out

    predicates, compile_s = timed(compile_all)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held = AudienceIndex.build(audiences, SCHEMA)
    index_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del held

    changed = rng.sample(range(args.audiences), 100)
    replacements = [(k, check(parse(f"IN SEGMENT '{uniform(rng, SEGMENTS)}'"), SCHEMA))
                    for k in changed[:50]]  # fmt: skip
    new = [(args.audiences + n, check(parse(f"user_groups CONTAINS 'group-{n % 50:02d}'"), SCHEMA))
           for n in range(25)]  # fmt: skip
    patched, patch_s = timed(
        lambda: index.with_changes(added=replacements + new, removed=changed[50:75])
    )
    assert len(patched) == args.audiences

    def scan(profile: Profile, context: RequestContext) -> list[int]:
        return [k for k, p in predicates if p is None or p(profile, NOW, context)]

    requests = [(customer(rng, i), request_context(rng)) for i in range(args.requests)]
    for profile, context in requests[:50]:  # warm up both
        index.match(profile, NOW, context)
        scan(profile, context)
    index_ms: list[float] = []
    scan_ms: list[float] = []
    matched: list[int] = []
    candidates: list[int] = []
    gc.disable()
    # Blocks of requests, each way in turn (which goes first alternates): per request
    # the scan of every predicate would evict the index from the CPU caches, which a
    # server answering request after request keeps warm.
    for b, first in enumerate(range(0, len(requests), args.block)):
        block = requests[first : first + args.block]
        answers: dict[int, list[list[int]]] = {0: [], 1: []}
        for which in (0, 1) if b % 2 else (1, 0):
            for profile, context in block:
                if which == 0:
                    start = time.perf_counter_ns()
                    answers[0].append(index.match(profile, NOW, context))
                    index_ms.append((time.perf_counter_ns() - start) / 1e6)
                else:
                    start = time.perf_counter_ns()
                    answers[1].append(scan(profile, context))
                    scan_ms.append((time.perf_counter_ns() - start) / 1e6)
            gc.collect()
        for n, (got, expected) in enumerate(zip(answers[0], answers[1], strict=True)):
            assert got == expected, f"request {first + n}: the index disagrees with the scan"
            matched.append(len(got))
        profile, context = block[0]
        candidates.append(len(index.candidates(profile, context)))
    gc.enable()

    stats = index.stats()
    print(f"python {platform.python_version()}, {args.audiences:,} audiences, "
          f"{args.requests:,} requests, seed {args.seed}")  # fmt: skip
    print(f"index: {stats}")
    print(f"matched per request: median {statistics.median(matched):.0f}, "
          f"max {max(matched)}; candidates (first request of each block) median "
          f"{statistics.median(candidates):.0f}")  # fmt: skip
    print()
    print("| way | p50 ms | p99 ms | mean ms |")
    print("|---|---:|---:|---:|")
    for name, values in (("audience index (`match`)", index_ms),
                         ("every audience's compiled predicate", scan_ms)):  # fmt: skip
        print(f"| {name} | {percentile(values, 0.5):.3f} | {percentile(values, 0.99):.3f} "
              f"| {statistics.fmean(values):.3f} |")  # fmt: skip
    p50 = percentile(scan_ms, 0.5) / percentile(index_ms, 0.5)
    mean = statistics.fmean(scan_ms) / statistics.fmean(index_ms)
    print(f"\nspeed-up: {p50:.0f}x at p50, {mean:.0f}x on the mean")
    print()
    print("| step | seconds |")
    print("|---|---:|")
    print(f"| parse + check {args.audiences:,} audiences | {parse_s:.2f} |")
    print(f"| build the index | {build_s:.2f} |")
    print(f"| compile every audience's predicate (the baseline) | {compile_s:.2f} |")
    print(f"| patch: 50 replaced, 25 removed, 25 added | {patch_s:.4f} |")
    print(f"\nindex memory (tracemalloc, retained after build): {index_bytes / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
