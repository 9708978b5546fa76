"""Browser test of the promotion pages: Playwright drives Debian's Chromium against a real
uvicorn server on a fresh DuckDB store (the server, browser and login of test_browser.py).

Log in -> Promotions -> New promotion -> choose "Off items" (its fields show, the others
hide, by CSS alone) -> a typo in the target is flagged live with its caret -> fixed ->
an impossible percentage is refused beside the value with its lever path -> fixed ->
saved -> the promotion is in the list with its benefit in words.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_browser import _log_in, base_url, browser, page

__all__ = ["base_url", "browser", "page"]  # the fixtures, used by name

pytestmark = pytest.mark.slow


def test_create_a_promotion_through_the_form(page: object, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    _log_in(page)
    page.get_by_role("link", name="Promotions").first.click()
    expect(page.get_by_role("heading", name="Promotions")).to_be_visible()
    page.get_by_role("link", name="New promotion").click()
    expect(page.get_by_role("heading", name="New promotion")).to_be_visible()
    page.locator("input[name=code]").fill("acme-15")
    page.locator("input[name=name]").fill("Acme 15%")

    # the fields of the chosen benefit type only
    expect(page.locator("select[name=allocation]")).to_be_hidden()
    page.get_by_label("Off items").check()
    expect(page.locator("select[name=allocation]")).to_be_visible()
    expect(page.locator("textarea[name=target]")).to_be_visible()
    expect(page.locator("textarea[name=tiers]")).to_be_hidden()
    expect(page.locator("textarea[name=buy]")).to_be_hidden()
    expect(page.locator("textarea[name=codes]")).to_be_hidden()

    target = page.locator("textarea[name=target]")
    target.fill("brnd = 'Acme'")
    error = page.locator("#check-target .rule-error")
    expect(error).to_contain_text("unknown field 'brnd' of a cart line")
    expect(error).to_contain_text("benefit.target")
    expect(error.locator("pre.excerpt")).to_contain_text("^^^^")
    target.fill("brand = 'Acme'")
    expect(page.locator("#check-target .ok")).to_contain_text("valid")
    page.locator("textarea[name=condition]").fill("cart.subtotal >= 20")
    expect(page.locator("#check-condition .ok")).to_contain_text("valid")

    page.locator("input[name=value]").fill("150")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field-error[data-field=value]")).to_have_text(
        "benefit.percentage: must be between 0 and 100"
    )
    page.screenshot(path=str(tmp_path / "promotion-error.png"), full_page=True)
    expect(page.get_by_label("Off items")).to_be_checked()  # the draft is kept
    page.locator("input[name=value]").fill("15")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_have_text("Promotion created: acme-15 (version 1)")
    expect(page.locator(".benefit-words")).to_have_text("15% off lines where brand = 'Acme'")

    page.get_by_role("link", name="Promotions").first.click()
    row = page.locator("table.promotions tr[data-promotion=acme-15]")
    expect(row).to_contain_text("Acme 15%")
    expect(row.locator(".benefit")).to_have_text("15% off lines where brand = 'Acme'")
    expect(row.locator(".status")).to_have_text("live")
    page.screenshot(path=str(tmp_path / "promotion-list.png"), full_page=True)
