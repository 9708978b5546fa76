"""Browser test of "Simulate on past orders" on a promotion's page: Playwright drives
Debian's Chromium (the launch, page and login helpers of test_browser.py) against a real
uvicorn server on a fresh DuckDB store with two months of orders and two promotions.

Log in -> a promotion's page -> the period form (prefilled with the last 30 days of
orders) -> compare with another promotion -> simulate -> the job's page polls its
progress -> the report side by side (orders reached, discount) equals the service's, and
the chart has a bar per promotion and week.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from test_browser import PASSWORD, USER, _log_in, _require_chromium, browser, page, serve

__all__ = ["browser", "page"]  # fixtures used by name

pytestmark = pytest.mark.slow

DOCUMENT = {
    "promotions": [
        {
            "code": "tea10",
            "name": "Tea 10%",
            "benefit": {
                "type": "items",
                "target": "category = 'tea'",
                "allocation": "across",
                "percentage": "10",
            },
        },
        {
            "code": "big5",
            "condition": "cart.subtotal >= 30",
            "benefit": {"type": "order", "amount": "5.00"},
        },
    ]
}
START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _rows() -> list[dict[str, str]]:
    rows = []
    for n in range(60):
        at = START + dt.timedelta(hours=23 * n)
        for sku, category, price, quantity in (
            ("T-1", "tea", "6.00", 1 + n % 3),
            ("K-2", "kitchen", "20.00", n % 2),
        ):
            if quantity:
                rows.append(
                    {
                        "order_id": f"o{n}",
                        "customer_id": f"c{n % 5}",
                        "placed_at": at.isoformat().replace("+00:00", "Z"),
                        "status": "paid",
                        "sku": sku,
                        "category": category,
                        "quantity": str(quantity),
                        "amount": str(Decimal(price) * quantity),
                    }
                )
    return rows


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _require_chromium()

    from segmint.services import auth, levers
    from segmint.services.customers import ingest
    from segmint.store.duckdb import DuckDBStore

    now = dt.datetime.now(dt.UTC)
    path = tmp_path_factory.mktemp("browser-backtest") / "shop.duckdb"
    store = DuckDBStore(path)
    try:
        store.init()
        ingest(store, "customers", [{"id": f"c{i}"} for i in range(5)], now)
        ingest(store, "orders", _rows(), now)
        levers.apply_document(store, DOCUMENT, now, who="test")
        auth.create_user(store, USER, PASSWORD, now)
    finally:
        store.close()
    expected.update(_expected(path))
    yield from serve(path)


expected: dict[str, dict[str, object]] = {}


def _expected(path: Path) -> dict[str, dict[str, object]]:
    from segmint.services.backtest import period
    from segmint.services.backtest_report import simulate
    from segmint.store.duckdb import DuckDBStore

    store = DuckDBStore(path)
    try:
        last = START + dt.timedelta(hours=23 * 59)
        first = (last.date() - dt.timedelta(days=29)).isoformat()
        a, b = period(first, last.date().isoformat())
        report = simulate(store, ["tea10", "big5"], a, b).to_dict()
    finally:
        store.close()
    return {v["promotion"]: v for v in report["promotions"]}


def test_simulate_a_promotion_on_past_orders(page: object, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    _log_in(page)
    page.goto("/promotions/tea10")
    expect(page.get_by_role("heading", name="Simulate on past orders")).to_be_visible()
    last = (START + dt.timedelta(hours=23 * 59)).date()
    expect(page.get_by_label("From")).to_have_value((last - dt.timedelta(days=29)).isoformat())
    expect(page.get_by_label("To")).to_have_value(last.isoformat())
    page.get_by_label("Compare with").fill("big5")
    page.get_by_role("button", name="Simulate").click()
    expect(page.get_by_role("heading", name="Simulated on past orders")).to_be_visible()
    report = page.locator(".simulation.done table.report")
    expect(report).to_be_visible(timeout=30_000)
    for code in ("tea10", "big5"):
        column = ["tea10", "big5"].index(code) + 2
        reached = report.locator(f"tr[data-measure=orders_reached] td:nth-child({column})")
        expect(reached).to_have_text(str(expected[code]["orders_reached"]))
        discount = report.locator(f"tr[data-measure=discount] td:nth-child({column})")
        expect(discount).to_have_text(str(expected[code]["discount"]))
    assert all(int(str(v["orders_reached"])) > 0 for v in expected.values())
    weeks = len({w["week"] for v in expected.values() for w in v["weeks"]})  # type: ignore[attr-defined]
    expect(page.locator(".week-chart rect")).to_have_count(2 * weeks)
    expect(page.locator(".week-chart rect.series-1").first).to_be_attached()
    page.screenshot(path=str(tmp_path / "simulation.png"), full_page=True)
