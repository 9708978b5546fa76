"""Browser test of the cart simulator: Playwright drives Debian's Chromium (the launch, page
and login helpers of test_browser.py) against a real uvicorn server on a fresh DuckDB store
with products and a targeting document.

Log in -> open the cart simulator from the nav -> add two lines with the button (the
page's script adds the rows) -> enter a code -> price the cart -> see each line's
discount, the totals and the promotion the code applied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_browser import (  # the shared fixtures (browser, page) and helpers
    PASSWORD,
    USER,
    _log_in,
    _require_chromium,
    browser,
    page,
    serve,
)

__all__ = ["browser", "page"]  # fixtures used by name

pytestmark = pytest.mark.slow

DOCUMENT = {
    "promotions": [
        {
            "code": "tea15",
            "priority": 10,
            "benefit": {
                "type": "items",
                "target": "category = 'tea'",
                "allocation": "across",
                "percentage": "15",
            },
            "message": "15% off tea",
        },
        {
            "code": "kitchen5",
            "trigger": "code",
            "codes": ["WELCOME5"],
            "priority": 5,
            "benefit": {
                "type": "items",
                "target": "category = 'kitchen'",
                "allocation": "across",
                "amount": "5.00",
            },
            "message": "5.00 off your kettle",
        },
    ]
}
PRODUCTS = [
    {"sku": "T-1", "product_name": "Tea", "category": "tea", "unit_price": "12.00"},
    {"sku": "K-2", "product_name": "Kettle", "category": "kitchen", "unit_price": "40.00"},
]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A uvicorn server (in a thread) on a fresh DuckDB store with products, levers and a
    web user."""
    _require_chromium()

    from segmint.services import auth, levers
    from segmint.services.customers import ingest
    from segmint.store.duckdb import DuckDBStore

    now = dt.datetime.now(dt.UTC)
    path = tmp_path_factory.mktemp("browser-simulator") / "shop.duckdb"
    store = DuckDBStore(path)
    try:
        store.init()
        ingest(store, "products", PRODUCTS, now)
        ingest(store, "customers", [{"id": "c1"}], now)
        levers.apply_document(store, DOCUMENT, now, who="test")
        auth.create_user(store, USER, PASSWORD, now)
    finally:
        store.close()

    yield from serve(path)


def test_two_lines_added_with_the_button_and_a_code(page: object, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    _log_in(page)
    page.get_by_role("link", name="Cart simulator").click()
    expect(page.get_by_role("heading", name="Cart simulator")).to_be_visible()
    page.get_by_label("Customer id").fill("c1")
    lines = page.locator("#cart-lines tbody tr.cart-line")
    expect(lines).to_have_count(1)
    # the button adds rows in the page (no round trip): the URL stays the same
    before = page.url
    page.get_by_role("button", name="Add a line").click()
    expect(lines).to_have_count(2)
    assert page.url == before
    page.get_by_label("SKU, line 1", exact=True).fill("T-1")
    page.get_by_label("Quantity, line 1", exact=True).fill("3")
    page.get_by_label("SKU, line 2", exact=True).fill("K-2")
    expect(page.get_by_label("Quantity, line 2", exact=True)).to_have_value("1")
    page.get_by_label("Codes").fill("welcome5")
    page.get_by_label("Shipping amount").fill("4.50")
    page.get_by_role("button", name="Price the cart", exact=True).last.click()

    answer = page.locator("#answer")
    expect(answer).to_be_visible()
    # T-1: 3 x 12.00 = 36.00, tea15 15% = 5.40 -> 30.60; K-2: 40.00, the code 5.00 -> 35.00
    tea = answer.locator('tr[data-line="1"]')
    expect(tea.locator(".discounts")).to_have_text("tea15 −5.40")
    expect(tea.locator(".total")).to_have_text("30.60")
    kettle = answer.locator('tr[data-line="2"]')
    expect(kettle.locator(".discounts")).to_have_text("kitchen5 −5.00")
    expect(kettle.locator(".total")).to_have_text("35.00")
    # 76.00 - 10.40 = 65.60, plus shipping 4.50
    expect(answer.locator('tr[data-total="discount"] td')).to_have_text("10.40")
    expect(answer.locator('tr[data-total="total"] td')).to_have_text("70.10")
    applied = answer.locator('.promotions-applied tr[data-promotion="kitchen5"]')
    expect(applied).to_contain_text("welcome5")
    expect(applied).to_contain_text("5.00 off your kettle")
    # the form keeps what was typed
    expect(page.get_by_label("SKU, line 2", exact=True)).to_have_value("K-2")
    page.screenshot(path=str(tmp_path / "simulator.png"), full_page=True)
