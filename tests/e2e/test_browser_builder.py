"""Browser test of the visual condition builder (static/builder.js): Playwright drives
Debian's Chromium (the helpers of test_browser.py) against a real uvicorn server on a
fresh DuckDB store whose orders are known.

Log in -> new segment -> Builder -> "spent more than $200 in the last 30 days" and
"bought from brand National in the last 30 days" with the pickers (the brand chosen from
the store's values as typed) -> the text is that rule -> Text and back to the builder, the
rule unchanged -> preview -> save; the saved rule is the one built, and its members are
the customers worked out by hand below.
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

from segmint.rules import parse, to_text

__all__ = ["browser", "page"]  # fixtures used by name

pytestmark = pytest.mark.slow

RULE = to_text(
    parse(
        "SUM(orders.total WHERE placed_at WITHIN 30d) > 200 AND "
        "EXISTS(lines WHERE brand = 'National' AND placed_at WITHIN 30d)"
    )
)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """b1 spent 250 in the last 30 days, on National: a member. b2 spent 250 on another
    brand; b3 spent 120 on National; b4 spent 300 on National 40 days ago: not members."""
    _require_chromium()

    from segmint.services import auth
    from segmint.services.customers import ingest
    from segmint.store.duckdb import DuckDBStore

    now = dt.datetime.now(dt.UTC)

    def line(order: str, customer: str, days: int, brand: str, price: str) -> dict[str, object]:
        placed = (now - dt.timedelta(days=days)).isoformat()
        row = {"order_id": order, "customer_id": customer, "placed_at": placed}
        return {**row, "sku": "S-" + brand, "brand": brand, "quantity": 1, "unit_price": price}

    path = tmp_path_factory.mktemp("browser-builder") / "shop.duckdb"
    store = DuckDBStore(path)
    try:
        store.init()
        lines = [
            line("o1", "b1", 5, "National", "250.00"),
            line("o2", "b2", 5, "Natural Farms", "250.00"),
            line("o3", "b3", 5, "National", "120.00"),
            line("o4", "b4", 40, "National", "300.00"),
        ]
        ingest(store, "orders", lines, now)
        auth.create_user(store, USER, PASSWORD, now)
    finally:
        store.close()
    yield from serve(path)


def test_a_segment_built_with_the_pickers(page: object, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    _log_in(page)
    page.get_by_role("link", name="New segment").first.click()
    page.get_by_label("Code", exact=True).fill("national-spenders")
    page.get_by_label("Name", exact=True).fill("National spenders")
    rule = page.locator("textarea[name=rule_text]")
    page.get_by_role("button", name="Builder").click()
    expect(page.locator(".builder-panel")).to_be_visible()
    expect(rule).to_be_hidden()

    page.get_by_label("Add a condition").select_option("spent")
    spent = page.locator('.builder-condition[data-kind="spent"]')
    spent.get_by_label("comparison").select_option(">")
    spent.get_by_label("amount").fill("200")
    spent.get_by_label("days").fill("30")

    page.get_by_label("Add a condition").select_option("bought")
    bought = page.locator('.builder-condition[data-kind="bought"]')
    bought.get_by_label("days").fill("30")
    bought.get_by_label("value").press_sequentially("Nat")
    # the store's brands starting with "Nat", most customers first: choose National
    choice = bought.locator('button.suggestion[data-value="National"]')
    expect(bought.locator("button.suggestion")).to_have_count(2)
    choice.click()
    expect(bought.get_by_label("value")).to_have_value("National")

    expect(rule).to_have_value(RULE)
    expect(page.locator("#rule-errors .ok")).to_contain_text("valid")
    page.screenshot(path=str(tmp_path / "builder.png"), full_page=True)

    # to text and back: the same rule, and the builder shows it again
    page.get_by_role("button", name="Text").click()
    expect(rule).to_be_visible()
    expect(rule).to_have_value(RULE)
    page.get_by_role("button", name="Builder").click()
    expect(
        page.locator('.builder-condition[data-kind="spent"]').get_by_label("amount")
    ).to_have_value("200")
    expect(
        page.locator('.builder-condition[data-kind="bought"]').get_by_label("value")
    ).to_have_value("National")
    expect(rule).to_have_value(RULE)

    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview .preview-result")
    expect(preview).to_contain_text("1 customer")
    expect(preview.locator("a.chip")).to_have_text(["b1"])

    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Segment created: national-spenders")
    expect(page.locator("ul.members li")).to_have_text(["b1"])
    expect(page.get_by_text(RULE)).to_be_visible()
    page.screenshot(path=str(tmp_path / "builder-saved.png"), full_page=True)


def test_text_mode_suggests_fields_and_values(page: object) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    _log_in(page)
    page.get_by_role("link", name="New segment").first.click()
    rule = page.locator("textarea[name=rule_text]")
    suggestions = page.locator(".text-suggestions button.suggestion")
    rule.click()
    rule.press_sequentially("EXISTS(lines WHERE brand = 'Nat")
    expect(suggestions).to_have_count(2)  # National, Natural Farms: the store's brands
    page.locator('.text-suggestions button[data-value="National"]').click()
    expect(rule).to_have_value("EXISTS(lines WHERE brand = 'National'")
    rule.press_sequentially(") AND orders_c")
    page.locator('.text-suggestions button[data-value="orders_count"]').click()
    rule.press_sequentially(" >= 1")
    expect(rule).to_have_value("EXISTS(lines WHERE brand = 'National') AND orders_count >= 1")
    expect(page.locator("#rule-errors .ok")).to_contain_text("valid")
