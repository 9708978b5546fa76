"""Simulating promotions on past orders (issue 21), on both stores, against the real
evaluate and checkout paths as an oracle.

The shop: customers with orders over three months, a manual segment whose members enter
and leave at known instants (its history), a real-time segment over the cart and one
over the customer's orders, and promotions that stack, exclude, stop, compete in a
``best_of`` group, are limited per customer and in total, live only part of the period,
only in one store, and spend a campaign budget.

- **Sampled re-pricing**: orders drawn at random from the simulation are priced again by
  :meth:`Targeting.answer` (the evaluate path) at the order's instant, with the customer's
  state at that instant built independently (memberships by ``segments_at`` in SQL, the
  stored profile cut by hand) and the limits counted from the orders simulated before.
- **Sequence**: every order is checked out in turn (the checkout path, redemption rows in
  the store) with the same historical state; each order's discounts must be the
  simulation's, budgets and limits included.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from segmint.api.app import create_app
from segmint.cli.main import _register, cli
from segmint.model.profile import Profile
from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.services import auth, backtest, levers, segments
from segmint.services.backtest_report import ReportBuilder, simulate
from segmint.services.cart_pricing import Product
from segmint.services.checkout import checkout
from segmint.services.customers import ingest
from segmint.services.evaluate import Catalog, CustomerState, Evaluator
from segmint.services.evaluate_request import TargetingRequest, read_request
from segmint.services.targeting import Targeting
from segmint.store.base import Store
from segmint.store.redemptions import PromoCode
from segmint.store.segments import SegmentRepository

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
START = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
SKUS = {
    "COF-1": ("Coffee", "coffee", "12.50", "10.00"),
    "COF-2": ("Espresso", "coffee", "7.99", None),
    "MUG-1": ("Mug", "kitchen", "9.00", None),
    "TEA-1": ("Tea", "tea", "4.25", None),
    "CAK-1": ("Cake", "bakery", "21.00", None),
}

DOCUMENT: dict[str, Any] = {
    "campaigns": [{"code": "regulars", "budget": {"spend": "40.00"}}],
    "promotions": [
        {
            "code": "vip10",
            "audience": "IN SEGMENT 'vip'",
            "priority": 10,
            "benefit": {"type": "order", "percentage": "10"},
        },
        {
            "code": "regular-coffee",
            "audience": "SUM(orders.total WHERE placed_at WITHIN 30d) > 60",
            "condition": "cart.subtotal >= 25",
            "campaign": "regulars",
            "priority": 8,
            "benefit": {
                "type": "items",
                "target": "category = 'coffee'",
                "allocation": "across",
                "percentage": "20",
            },
        },
        {
            "code": "big-cart-3",
            "audience": "IN SEGMENT 'big-cart'",
            "priority": 6,
            "best_of": "cart",
            "benefit": {"type": "order", "amount": "3.00"},
        },
        {
            "code": "big-cart-5pc",
            "audience": "IN SEGMENT 'big-cart'",
            "priority": 5,
            "best_of": "cart",
            "benefit": {"type": "order", "percentage": "5"},
        },
        {
            "code": "app-only",
            "stores": ["app"],
            "priority": 4,
            "per_customer_limit": 2,
            "benefit": {
                "type": "items",
                "target": "category = 'tea'",
                "allocation": "each",
                "amount": "1.00",
            },
        },
        {
            "code": "february",
            "ends_at": "2026-03-01T00:00:00Z",
            "priority": 3,
            "usage_limit": 6,
            "condition": "cart.quantity >= 4",
            "benefit": {"type": "order", "amount": "2.00"},
        },
        {
            "code": "loyal-exclusive",
            "audience": "IN SEGMENT 'loyal'",
            "exclusive": True,
            "priority": 1,
            "condition": "cart.subtotal >= 80",
            "benefit": {"type": "order", "percentage": "15"},
        },
    ],
}


def _orders(rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    day = dt.datetime(2025, 12, 1, 9, tzinfo=dt.UTC)
    for n in range(130):
        day += dt.timedelta(hours=rng.randint(10, 34), minutes=rng.randint(0, 59))
        lines = []
        for sku in rng.sample(sorted(SKUS), rng.randint(1, 4)):
            quantity = rng.randint(1, 4)
            price = Decimal(SKUS[sku][2])
            lines.append(
                {
                    "sku": sku,
                    "quantity": quantity,
                    "amount": str(price * quantity),
                    "category": SKUS[sku][1],
                }
            )
        total = sum(Decimal(ln["amount"]) for ln in lines)
        out.append(
            {
                "id": f"o{n:03d}",
                "customer_id": f"c{rng.randint(1, 7)}",
                "placed_at": day.isoformat().replace("+00:00", "Z"),
                "status": "cancelled" if n % 17 == 5 else "completed",
                "total": str(total),
                "store": rng.choice(["web", "app"]),
                "lines": lines,
            }
        )
    return out


@pytest.fixture()
def shop(store: Store) -> Store:
    return stocked(store)


def stocked(store: Store) -> Store:
    """The shop of this module in ``store``."""
    products = [
        {"sku": s, "product_name": n, "category": c, "unit_price": p, "min_price": m}
        for s, (n, c, p, m) in SKUS.items()
    ]
    ingest(store, "products", products, NOW)
    ingest(store, "customers", [{"id": f"c{i}"} for i in range(1, 8)], NOW)
    rows = [
        {**{k: v for k, v in o.items() if k not in ("id", "lines")}, "order_id": o["id"], **ln}
        for o in _orders(random.Random(21))
        for ln in o["lines"]
    ]
    ingest(store, "orders", rows, NOW)
    vip = SegmentDefinition(code="vip", name="VIP", kind=SegmentKind.MANUAL)
    segments.create_segment(store, vip, NOW)
    at = dt.datetime(2026, 2, 10, tzinfo=dt.UTC)
    segments.add_members(store, "vip", ["c1", "c2"], at)
    segments.add_members(store, "vip", ["c3"], at + dt.timedelta(days=14))
    segments.remove_members(store, "vip", ["c1"], at + dt.timedelta(days=30))
    segments.create_segment(
        store,
        SegmentDefinition(
            code="big-cart",
            name="Big cart",
            kind=SegmentKind.REALTIME,
            rule_text="cart.subtotal >= 45",
        ),
        NOW,
    )
    segments.create_segment(
        store,
        SegmentDefinition(
            code="loyal",
            name="Loyal",
            kind=SegmentKind.REALTIME,
            rule_text="orders_count >= 12 AND cart.quantity >= 1",
        ),
        NOW,
    )
    levers.apply_document(store, DOCUMENT, NOW, who="test")
    return store


# ---- the oracle: the real paths with the customer's state at the order's instant ----------


class StateAt(Evaluator):
    """The evaluator answering from a state built by hand for one instant."""

    def __init__(self) -> None:
        super().__init__(catalog_ttl=3600.0)
        self.state: CustomerState | None = None

    def customer(
        self, store: Store, customer_id: str, catalog: Catalog, full_profile: bool = False
    ) -> CustomerState:
        assert self.state is not None
        return self.state


def state_at(store: Store, customer_id: str, at: dt.datetime) -> CustomerState:
    """Memberships from history (SQL), the stored profile with only what came before."""
    full = store.load_profiles([customer_id])[customer_id]
    profile = Profile(
        id=full.id,
        fields=full.fields,
        attributes=full.attributes,
        orders=[o for o in full.orders if o.placed_at is not None and o.placed_at < at],
        lines=[ln for ln in full.lines if ln.placed_at is not None and ln.placed_at < at],
        events=[e for e in full.events if e.at is not None and e.at < at],
        wishlist=[w for w in full.wishlist if w.added_at is not None and w.added_at < at],
    )
    codes = SegmentRepository(store).segments_at(customer_id, at)
    return CustomerState(True, dict.fromkeys(codes, at), [], profile, 0.0)


def request_of(store: Store, order_id: str) -> tuple[TargetingRequest, str, dt.datetime]:
    ((cid, placed_at, shop),) = store._q(
        "SELECT customer_id, placed_at, store FROM orders WHERE id = $o", {"o": order_id}
    )
    rows = store._q(
        "SELECT sku, quantity, amount FROM order_lines WHERE order_id = $o ORDER BY line_no",
        {"o": order_id},
    )
    lines = [
        {
            "sku": s,
            "quantity": q,
            "unit_price": str((Decimal(str(a)) / q).quantize(Decimal("0.01"))),
        }
        for s, q, a in rows
    ]
    request = read_request(
        {
            "customer_id": cid,
            "as_of": placed_at.isoformat(),
            "context": {"logged_in": True, "store": shop},
            "cart": {"currency": "USD", "lines": lines},
        }
    )
    return request, str(cid), placed_at


class CountsBefore:
    """Pricing reads whose limits are the redemptions of the orders simulated before."""

    def __init__(self, store: Store, earlier: Sequence[backtest.OrderOutcome]) -> None:
        self.store = store
        self.uses: dict[str, int] = {}
        self.by_customer: dict[tuple[str, str], int] = {}
        self.spend = Decimal(0)
        self.spend_orders = 0
        for outcome in earlier:
            if outcome.priced[0] is None:
                continue  # not priced: nothing that applied has a count anyone reads
            applied = outcome.priced[0].promotions
            for a in applied:
                self.uses[a.code] = self.uses.get(a.code, 0) + 1
                key = (outcome.order.customer_id, a.code)
                self.by_customer[key] = self.by_customer.get(key, 0) + 1
            regular = [a for a in applied if a.code == "regular-coffee"]
            if regular:
                self.spend += sum(a.amount + a.shipping for a in regular)
                self.spend_orders += 1

    def products(self, skus: Sequence[str]) -> Mapping[str, Product]:
        found = {}
        for sku in skus:
            name, category, price, floor = SKUS[sku]
            found[sku] = Product(
                sku, name, None, category, Decimal(price), Decimal(floor) if floor else None
            )
        return found

    def generated_code(self, code: str) -> PromoCode | None:
        return None

    def promotion_uses(self, promotion: str) -> int:
        return self.uses.get(promotion, 0)

    def code_uses(self, code: str) -> int:
        return 0

    def customer_uses(self, customer_id: str, promotion: str) -> int:
        return self.by_customer.get((customer_id, promotion), 0)

    def campaign_totals(self, campaigns: Sequence[str]) -> Mapping[str, tuple[Decimal, int]]:
        return {"regulars": (self.spend, self.spend_orders)} if self.spend_orders else {}


def discounts(answer: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return [(p["code"], p["amount"], p["shipping"]) for p in answer["promotions"]]


def simulated(priced: Any) -> list[tuple[str, str, str]]:
    return [(p["code"], p["amount"], p["shipping"]) for p in priced.to_dict()["promotions"]]


def agrees(answer: Mapping[str, Any], outcome: backtest.OrderOutcome, v: backtest.Variant) -> None:
    """The simulation's answer for an order is evaluate's; an order it did not price is one
    where evaluate applies neither the variant nor a promotion with a limit or budget, and
    the variant is not near."""
    priced = outcome.priced[0]
    if priced is not None:
        assert discounts(answer) == simulated(priced), outcome.order.id
        assert answer["cart"]["discount"] == str(priced.discount)
        return
    applied = {p["code"] for p in answer["promotions"]}
    assert v.code not in applied and not applied & v.stateful, outcome.order.id
    assert v.code not in {n["promotion"] for n in answer.get("near", [])}, outcome.order.id


def test_sampled_orders_priced_again_by_evaluate_agree(shop: Store) -> None:
    variants = backtest.build_variants(shop, ["vip10"])
    outcomes = list(backtest.run(shop, variants, START, END, chunk=7))
    assert len(outcomes) > 40
    # the period's successful orders, in order
    assert [o.order.placed_at for o in outcomes] == sorted(o.order.placed_at for o in outcomes)
    cancelled = {o.order.id for o in outcomes} & {f"o{n:03d}" for n in range(5, 130, 17)}
    assert not cancelled
    applied = {a.code for o in outcomes if o.priced[0] for a in o.priced[0].promotions}
    assert applied >= {"vip10", "regular-coffee", "app-only", "february"}
    assert applied & {"big-cart-3", "big-cart-5pc"}
    evaluator = StateAt()
    targeting = Targeting(evaluator=evaluator)
    sample = random.Random(7).sample(range(len(outcomes)), 25)
    for i in sorted(sample):
        outcome = outcomes[i]
        request, cid, at = request_of(shop, outcome.order.id)
        evaluator.state = state_at(shop, cid, at)
        answer = targeting.answer(
            shop, request, NOW, reads=CountsBefore(shop, outcomes[:i])
        ).to_dict()
        agrees(answer, outcome, variants[0])
        assert [s["code"] for s in answer["segments"]] == [
            s.code for s in outcome.evaluation.segments
        ]


def test_every_order_checked_out_in_turn_agrees(shop: Store) -> None:
    """Budgets and limits as checkout counts them from its redemption rows."""
    variants = backtest.build_variants(shop, ["regular-coffee"])
    outcomes = list(backtest.run(shop, variants, START, END))
    evaluator = StateAt()
    targeting = Targeting(evaluator=evaluator)
    for outcome in outcomes:
        request, cid, at = request_of(shop, outcome.order.id)
        evaluator.state = state_at(shop, cid, at)
        result = checkout(shop, targeting, request, outcome.order.id, at)
        agrees(json.loads(result.answer), outcome, variants[0])
    applied = [a.code for o in outcomes if o.priced[0] for a in o.priced[0].promotions]
    spent = sum(
        a.amount
        for o in outcomes
        if o.priced[0]
        for a in o.priced[0].promotions
        if a.code == "regular-coffee"
    )
    assert Decimal(0) < spent <= Decimal("40.00")
    assert applied.count("february") == 6


def test_report_side_by_side_and_alone(shop: Store) -> None:
    drafts = backtest.read_drafts(
        shop,
        {
            "promotions": [
                {
                    "code": "vip10-draft",
                    "audience": "IN SEGMENT 'vip'",
                    "priority": 10,
                    "benefit": {"type": "order", "percentage": "20"},
                }
            ]
        },
    )
    report = simulate(shop, ["vip10", "vip10-draft", "regular-coffee"], START, END, drafts=drafts)
    data = report.to_dict()
    by_code = {v["promotion"]: v for v in data["promotions"]}
    outcomes = list(backtest.run(shop, backtest.build_variants(shop, ["vip10"]), START, END))
    vip = [
        o
        for o in outcomes
        if o.priced[0] and any(a.code == "vip10" for a in o.priced[0].promotions)
    ]
    assert by_code["vip10"]["orders_reached"] == len(vip)
    assert by_code["vip10"]["customers_reached"] == len({o.order.customer_id for o in vip})
    total = sum(a.amount for o in vip for a in o.priced[0].promotions if a.code == "vip10")
    assert by_code["vip10"]["discount"] == str(total)
    # 20% reaches the same orders as 10% (same audience, no condition): never "only" one
    assert by_code["vip10-draft"]["orders_reached"] == len(vip)
    assert by_code["vip10"]["only_this_one"] == 0
    assert by_code["regular-coffee"]["budget_ran_out"] is not None
    weeks = by_code["vip10"]["weeks"]
    assert sum(w["orders"] for w in weeks) == len(vip)
    assert {w["week"] for w in weeks} <= set(report.weeks())
    assert all(dt.date.fromisoformat(w["week"]).weekday() == 0 for w in weeks)
    assert by_code["vip10"]["top_segments"][0]["segment"] == "vip"
    # alone: the exclusive promotion and the best_of group no longer take orders from it
    alone = simulate(shop, ["vip10"], START, END, alone=True).to_dict()["promotions"][0]
    assert alone["orders_reached"] >= by_code["vip10"]["orders_reached"]


def test_cli_simulate_json_and_csv(shop: Store, store_url: str) -> None:
    _register()
    runner = CliRunner()
    args = [
        "--db",
        store_url,
        "promotions",
        "simulate",
        "vip10",
        "app-only",
        "--from",
        "2026-02-01",
        "--to",
        "2026-03-31",
    ]
    out = runner.invoke(cli, [*args, "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    report = simulate(shop, ["vip10", "app-only"], START, END).to_dict()
    assert data == json.loads(json.dumps(report))
    csv_out = runner.invoke(cli, [*args, "--format", "csv"])
    assert csv_out.exit_code == 0, csv_out.output
    header = csv_out.output.splitlines()[0]
    assert header == "measure,vip10,app-only"
    assert f"orders reached,{report['promotions'][0]['orders_reached']}," in csv_out.output
    missing = runner.invoke(cli, [*args[:4], "nope", "--from", "2026-02-01", "--to", "2026-03-31"])
    assert missing.exit_code != 0 and "no promotion 'nope'" in str(missing.exception)


def test_orders_that_cannot_matter_are_skipped_exactly(shop: Store) -> None:
    """Alone, vip10 and regular-coffee are no GLOBAL promotions: orders whose customer is
    in neither audience are not priced, and the report is the one of pricing every order."""
    variants = backtest.build_variants(shop, ["vip10", "regular-coffee"], alone=True)
    assert all(v.may_skip for v in variants)
    assert variants[1].stateful == {"regular-coffee"}
    full = list(backtest.run(shop, variants, START, END, skip=False))
    fast = list(backtest.run(shop, variants, START, END))
    skipped = sum(1 for o in fast for p in o.priced if p is None)
    assert 0 < skipped < 2 * len(fast)
    for a, b in zip(full, fast, strict=True):
        for whole, maybe in zip(a.priced, b.priced, strict=True):
            if maybe is None:
                assert whole is not None
                assert not whole.promotions and not whole.near
            else:
                assert maybe == whole
    builders = []
    for outcomes in (full, fast):
        builder = ReportBuilder(["vip10", "regular-coffee"], START, END, "USD", alone=True)
        for outcome in outcomes:
            builder.add(outcome)
        builders.append(builder.report().to_dict())
    assert builders[0] == builders[1]


def test_orders_are_skipped_once_the_global_limits_are_used_up(shop: Store) -> None:
    """With the live promotions, vip10 has GLOBAL stateful ones beside it (february's usage
    limit, app-only's per-customer one): orders are priced while those can still apply,
    and skipped once they are used up — the answers are those of pricing every order."""
    variants = backtest.build_variants(shop, ["vip10"])
    assert variants[0].stateful & variants[0].everyone == {"february", "app-only"}
    full = list(backtest.run(shop, variants, START, END, skip=False))
    fast = list(backtest.run(shop, variants, START, END))
    skipped = [b.priced[0] is None for b in fast]
    assert any(skipped) and not skipped[0]
    for a, b in zip(full, fast, strict=True):
        whole, maybe = a.priced[0], b.priced[0]
        assert whole is not None
        if maybe is None:
            assert not any(x.code == "vip10" for x in whole.promotions)
            assert not any(n.promotion == "vip10" for n in whole.near)
            # nothing that applied has a count a later order reads
            assert not {x.code for x in whole.promotions} & variants[0].stateful
        else:
            assert maybe == whole
    reports = []
    for outcomes in (full, fast):
        builder = ReportBuilder(["vip10"], START, END, "USD")
        for outcome in outcomes:
            builder.add(outcome)
        reports.append(builder.report().to_dict())
    assert reports[0] == reports[1]


def test_api_runs_a_simulation_as_a_job(shop: Store, store_url: str) -> None:
    _, token = auth.create_api_key(shop, "marketer", NOW)
    client = TestClient(create_app(store_url, clock=lambda: NOW))
    client.headers["Authorization"] = f"Bearer {token}"
    body = {"promotions": ["vip10", "app-only"], "from": "2026-02-01", "to": "2026-03-31"}
    with client:
        started = client.post("/v1/promotions/simulate", json=body)
        assert started.status_code == 202, started.text
        job = started.json()
        assert started.headers["Location"] == f"/v1/promotions/simulate/{job['id']}"
        assert job["promotions"] == ["vip10", "app-only"]
        deadline = time.monotonic() + 60
        while job["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
            job = client.get(f"/v1/promotions/simulate/{job['id']}").json()
        assert job["status"] == "done", job
        assert job["progress"]["done"] == job["progress"]["total"] > 40
        expected = simulate(shop, ["vip10", "app-only"], START, END).to_dict()
        assert job["report"] == json.loads(json.dumps(expected))
        bad = client.post("/v1/promotions/simulate", json={**body, "to": "2026-01-01"})
        assert bad.status_code == 422 and "empty" in bad.text
        draft = {"promotions": [{"code": "d", "benefit": {"type": "order", "amount": "x"}}]}
        refused = client.post("/v1/promotions/simulate", json={**body, "document": draft})
        assert refused.status_code == 422 and "promotions[0].benefit" in refused.text


def test_an_order_line_becomes_a_cart_line_at_what_was_paid() -> None:
    floor = Product("B", None, None, None, None, Decimal("2.004"))
    cart = backtest.order_cart(
        "USD",
        [
            ("A", 3, None, "1.00", "Pens", None, "office"),  # 0.333… a unit: one unit of 1.00
            ("B", 2, None, "5.00", None, None, None),  # 2.50 a unit, min_price from the catalog
            ("C", 0, None, "4.00", None, None, None),  # no unit: left out
            ("D", 1, "7.5", None, None, None, None),  # no amount: its unit price
        ],
        {"B": floor},
    )
    assert cart is not None
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.min_price) for ln in cart.lines] == [
        ("A", 1, Decimal("1.00"), None),
        ("B", 2, Decimal("2.50"), Decimal("2.00")),
        ("D", 1, Decimal("7.50"), None),
    ]
    assert cart.lines[0].category == "office"
    assert backtest.order_cart("ZZZ", [("A", 1, None, "1.00", None, None, None)], {}) is None
    assert backtest.order_cart("USD", [("A", 0, None, "1.00", None, None, None)], {}) is None


def test_carts_sharing_the_unit_price_memo_are_priced_at_what_was_paid() -> None:
    # one memo over many carts, as a stream keeps it: every line still costs what was paid
    rng = random.Random(5)
    memo: dict[Any, tuple[Decimal, int]] = {}
    digits = {"USD": 2, "JPY": 0, "KWD": 3}
    for _ in range(300):
        currency = rng.choice(list(digits))
        raw = [
            (
                f"S{i}",
                rng.randint(1, 6),
                None,
                Decimal(rng.randint(0, 900)).scaleb(-rng.randint(0, 3)),
            )
            for i in range(rng.randint(1, 5))
        ]
        cart = backtest.order_cart(
            currency, [(s, q, u, a, None, None, None) for s, q, u, a in raw], {}, memo
        )
        assert cart is not None
        for line, (_, quantity, _, amount) in zip(cart.lines, raw, strict=True):
            paid = amount.quantize(Decimal(1).scaleb(-digits[currency]), rounding="ROUND_HALF_UP")
            assert line.unit_price * line.quantity == paid
            assert line.unit_price.as_tuple().exponent == -digits[currency]
            assert line.quantity in (quantity, 1)
            whole = (paid * 10 ** digits[currency]) % quantity == 0
            assert (line.quantity == quantity) == (whole or quantity == 1)


def test_cli_goes_through_a_running_server(tmp_path: Path) -> None:
    from test_serve_forward import cli_run, start, stop

    from segmint.store.duckdb import DuckDBStore

    path = tmp_path / "shop.duckdb"
    store = DuckDBStore(path)
    try:
        store.init()
        expected = simulate(stocked(store), ["vip10"], START, END).to_dict()
    finally:
        store.close()
    server, held = start(path)
    assert held.pid == server.pid
    try:
        code, out, err = cli_run(
            path,
            "promotions",
            "simulate",
            "vip10",
            "--from",
            "2026-02-01",
            "--to",
            "2026-03-31",
            "--format",
            "json",
        )
    finally:
        stop(server)
    assert code == 0, err
    assert "through its API" in err
    assert json.loads(out) == json.loads(json.dumps(expected))
    assert expected["promotions"][0]["orders_reached"] > 0
