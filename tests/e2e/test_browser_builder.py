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
from collections.abc import Callable, Iterator
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

SHOP: list[Path] = []  # the DuckDB file the module's server serves
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
    SHOP.append(path)
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


def test_a_segment_built_with_the_pickers(
    page: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
    expect(page.locator("table.members tbody tr td:first-child")).to_have_text(["b1"])
    expect(page.get_by_text(RULE)).to_be_visible()
    page.screenshot(path=str(tmp_path / "builder-saved.png"), full_page=True)

    # the members as CSV from the page are what `segmint segments members --format csv` prints
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    downloaded = Path(download.value.path()).read_text(encoding="utf-8")
    from segmint.cli.main import main

    capsys.readouterr()
    main(["--db", str(SHOP[0]), "segments", "members", "national-spenders", "--format", "csv"])
    printed = capsys.readouterr().out
    assert downloaded == printed and "b1" in printed and "b2" not in printed


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


@pytest.fixture(scope="module")
def seeds_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Customers for the seeds' examples, worked out by hand: s1 is married, a boat
    builder, spent 350 in the year, viewed P-1 once; s2 is married, a baker, in business
    account acme, spent 100, viewed P-1 three times; s3 is single, in business account
    globex, bought National 10 days ago, has P-2 in the wishlist."""
    _require_chromium()

    from segmint.services import auth
    from segmint.services.customers import ingest
    from segmint.store.duckdb import DuckDBStore

    now = dt.datetime.now(dt.UTC)

    def ago(days: int) -> str:
        return (now - dt.timedelta(days=days)).isoformat()

    customers = [
        {"id": "s1", "attributes": {"marital_status": "Married", "occupation": "Boat builder"}},
        {"id": "s2", "attributes": {"marital_status": "Married", "occupation": "Baker"},
         "business_account": "acme"},
        {"id": "s3", "attributes": {"marital_status": "Single", "occupation": "Baker"},
         "business_account": "globex"},
    ]  # fmt: skip
    orders = [
        {"order_id": "o1", "customer_id": "s1", "placed_at": ago(40), "sku": "X-1",
         "brand": "Other", "quantity": 1, "unit_price": "350.00"},
        {"order_id": "o2", "customer_id": "s2", "placed_at": ago(40), "sku": "X-1",
         "brand": "Other", "quantity": 1, "unit_price": "100.00"},
        {"order_id": "o3", "customer_id": "s3", "placed_at": ago(10), "sku": "N-1",
         "brand": "National", "quantity": 1, "unit_price": "20.00"},
    ]  # fmt: skip
    views = [("s1", 1), ("s2", 3)]
    events = [
        {"id": f"e-{who}-{n}", "customer_id": who, "type": "product_view", "at": ago(n + 1),
         "sku": "P-1"}
        for who, times in views for n in range(times)
    ]  # fmt: skip
    events.append(
        {"id": "w1", "customer_id": "s3", "type": "wishlist_add", "at": ago(3), "sku": "P-2"}
    )
    path = tmp_path_factory.mktemp("browser-seeds") / "shop.duckdb"
    store = DuckDBStore(path)
    try:
        store.init()
        ingest(store, "customers", customers, now)
        ingest(store, "orders", orders, now)
        ingest(store, "events", events, now)
        auth.create_user(store, USER, PASSWORD, now)
    finally:
        store.close()
    yield from serve(path)


def test_the_seeds_examples_are_built_without_typing_the_language(
    browser: object, seeds_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import Browser, Locator, Page, expect

    assert isinstance(browser, Browser)
    context = browser.new_context(base_url=seeds_url, viewport={"width": 1200, "height": 900})
    context.set_default_timeout(10_000)
    page: Page = context.new_page()

    def add(kind: str) -> Locator:
        page.get_by_label("Add a condition").last.select_option(kind)
        return page.locator(f'.builder-condition[data-kind="{kind}"]').last

    def pick(row: Locator, label: str, value: str) -> None:
        row.get_by_label(label).fill(value)

    def field(name: str, op: str, value: str | None = None) -> None:
        row = add("field")
        row.get_by_label("field").select_option(name)
        row = page.locator('.builder-condition[data-kind="field"]').last
        row.get_by_label("operator").select_option(op)
        if value is not None:
            page.locator('.builder-condition[data-kind="field"]').last.get_by_label(
                "value", exact=False
            ).first.fill(value)

    def build_and_preview(
        code: str, steps: Callable[[], None], rule: str, members: list[str]
    ) -> None:
        page.goto("/segments/new")
        page.get_by_label("Code", exact=True).fill(code)
        page.get_by_label("Name", exact=True).fill(code)
        page.get_by_role("button", name="Builder").click()
        steps()
        expect(page.locator("textarea[name=rule_text]")).to_have_value(to_text(parse(rule)))
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#preview .preview-result a.chip")).to_have_text(members)

    try:
        page.goto("/login")
        page.get_by_label("Username").fill(USER)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Segments")).to_be_visible()

        def married_boat_builders() -> None:
            field("attributes.marital_status", "=", "Married")
            field("attributes.occupation", "=", "Boat builder")

        build_and_preview(
            "married-builders",
            married_boat_builders,
            "attributes.marital_status = 'Married' AND attributes.occupation = 'Boat builder'",
            ["s1"],
        )

        def spent_in_a_year() -> None:
            row = add("spent")
            pick(row, "amount", "300")
            pick(row, "days", "365")

        build_and_preview(
            "year-300",
            spent_in_a_year,
            "SUM(orders.total WHERE placed_at WITHIN 365d) > 300",
            ["s1"],
        )

        def bought_national() -> None:
            row = add("bought")
            row.get_by_label("value").press_sequentially("Nat")
            row.locator('button.suggestion[data-value="National"]').click()

        build_and_preview(
            "national-90",
            bought_national,
            "EXISTS(lines WHERE brand = 'National' AND placed_at WITHIN 90d)",
            ["s3"],
        )

        def viewed_twice() -> None:
            row = add("viewed")
            row.get_by_label("product").press_sequentially("P-")
            row.locator('button.suggestion[data-value="P-1"]').click()

        build_and_preview(
            "viewed-p1",
            viewed_twice,
            "COUNT(events WHERE type = 'product_view' AND sku = 'P-1' AND at WITHIN 30d) > 2",
            ["s2"],
        )

        def wishlist() -> None:
            row = add("wishlist")
            row.get_by_label("product").press_sequentially("P")
            row.locator('button.suggestion[data-value="P-2"]').click()

        build_and_preview("wish-p2", wishlist, "EXISTS(wishlist WHERE sku = 'P-2')", ["s3"])

        def b2b_except_acme() -> None:
            field("business_account", "is not empty")
            field("business_account", "not in", "acme")

        build_and_preview(
            "b2b-not-acme",
            b2b_except_acme,
            "business_account IS NOT NULL AND business_account NOT IN ('acme')",
            ["s3"],
        )
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".flash")).to_contain_text("Segment created: b2b-not-acme")
        page.screenshot(path=str(tmp_path / "seeds-saved.png"), full_page=True)
    finally:
        context.close()
