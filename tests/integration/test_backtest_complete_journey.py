"""A promotion simulated on a month of the real Complete Journey orders (issue 21):
"10% for customers who spent over $300 in the last 90 days", priced alone over March 2017.

The oracle is SQL written apart: for sampled orders, the customer's successful orders
placed in the 90 days before the order (the order itself and later ones excluded) sum to
more than $300 exactly when the simulation reached the order, and then the discount is
10% of the order's cart, half-up to the cent; the cart's revenue is what the order's lines were
paid (checked against the order totals' sum). Loading the data set takes most of the
test's time (about a minute on the 2-core machine); the simulation is bounded to one month.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import ROUND_HALF_UP, Decimal

import pytest

from segmint.services import backtest
from segmint.services.backtest_report import ReportBuilder
from segmint.store.duckdb import DuckDBStore

pytestmark = pytest.mark.slow

START = dt.datetime(2017, 3, 1, tzinfo=dt.UTC)
END = dt.datetime(2017, 4, 1, tzinfo=dt.UTC)
DRAFT = {
    "promotions": [
        {
            "code": "spend300",
            "audience": "SUM(orders.total WHERE placed_at WITHIN 90d) > 300",
            "benefit": {"type": "order", "percentage": "10"},
        }
    ]
}


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory):
    from segmint.demo.complete_journey import load_complete_journey

    store = DuckDBStore(str(tmp_path_factory.mktemp("cj") / "cj.duckdb"))
    store.init()
    load_complete_journey(store)
    yield store
    store.close()


def spent_before(store: DuckDBStore, customer_id: str, at: dt.datetime) -> Decimal:
    ((total,),) = store._q(
        "SELECT COALESCE(SUM(total), 0) FROM orders WHERE customer_id = $c "
        "AND placed_at > $since AND placed_at < $at "
        "AND (status IS NULL OR lower(status) NOT IN ('cancelled', 'refunded', 'failed'))",
        {"c": customer_id, "since": at - dt.timedelta(days=90), "at": at},
    )
    return Decimal(str(total))


def test_spend_over_300_in_90_days_on_a_month_of_orders(journey: DuckDBStore) -> None:
    drafts = backtest.read_drafts(journey, DRAFT)
    variants = backtest.build_variants(journey, ["spend300"], drafts, alone=True)
    builder = ReportBuilder(["spend300"], START, END, "USD", alone=True)
    rng = random.Random(21)
    sample = []
    for outcome in backtest.run(journey, variants, START, END, counts=builder.counts):
        builder.add(outcome)
        if rng.random() < 0.015:
            sample.append(outcome)
    report = builder.report().to_dict()
    found = report["promotions"][0]
    period = backtest.count_orders(journey, START, END)
    assert report["orders"] + report["skipped_without_cart"] == period > 10_000
    assert report["skipped_without_cart"] < 100  # lines of quantity 0 only
    assert 0 < found["orders_reached"] < report["orders"]
    assert len(sample) > 100
    reached = 0
    for outcome in sample:
        order = outcome.order
        priced = outcome.priced[0]
        discount = (
            sum((a.amount for a in priced.promotions if a.code == "spend300"), Decimal(0))
            if priced is not None
            else Decimal(0)
        )
        over = spent_before(journey, order.customer_id, order.placed_at) > 300
        # 10% of the cart, half-up: a cart of 0.00 (a fuel line's cents) gets nothing
        tenth = (order.revenue / 10).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert discount == (tenth if over else 0), (order.id, order.customer_id, order.placed_at)
        reached += discount > 0
    assert reached > 10
    (paid,) = journey._q(
        "SELECT SUM(amount) FROM order_lines l JOIN orders o ON o.id = l.order_id "
        "WHERE o.placed_at >= $a AND o.placed_at < $b AND l.quantity >= 1",
        {"a": START, "b": END},
    )[0]
    assert Decimal(report["revenue"]) == Decimal(str(paid)).quantize(Decimal("0.01"))
    share = Decimal(found["discount_share_percent"])
    assert Decimal("9.9") <= share <= Decimal("10.1")
    assert sum(w["orders"] for w in found["weeks"]) == found["orders_reached"]
