"""Browser tests: Playwright (sync API) drives Debian's Chromium against a real uvicorn
server on a fresh DuckDB store.

Path 1: log in -> create a rule segment with a typo -> see the inline error -> fix it ->
preview -> save -> see the members -> delete with confirmation.
Path 2: a manual segment: create, bulk add (textarea and file), see members, bulk remove.

Playwright cannot download browsers here, so it launches /usr/bin/chromium (``./dev test``
installs it with apt when missing). Without it the tests skip, except with CI=true, where
they fail.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
USER, PASSWORD = "ada", "correct horse battery"
CUSTOMERS = "id,email,city\n" + "".join(f"c{i:02d},c{i}@x.io,Lyon\n" for i in range(1, 9))
ORDERS = "order_id,customer_id,placed_at,status,total\n" + "".join(
    f"o{i},c{i:02d},2024-04-0{i}T10:00:00Z,paid,{i * 50}\n" for i in range(1, 9)
)

pytestmark = pytest.mark.slow


def _require_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    reason = f"{CHROMIUM} is not installed (apt-get install chromium; ./dev test does it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests are required in CI: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A uvicorn server (in a thread) on a fresh DuckDB store with a little data and a
    web user."""
    _require_chromium()

    from segmint.importing.api import import_file
    from segmint.services import auth
    from segmint.store.duckdb import DuckDBStore

    root = tmp_path_factory.mktemp("browser")
    path = root / "shop.duckdb"
    store = DuckDBStore(path)
    try:
        store.init()
        (root / "customers.csv").write_text(CUSTOMERS)
        (root / "orders.csv").write_text(ORDERS)
        import_file(store, "customers", root / "customers.csv")
        import_file(store, "orders", root / "orders.csv")
        auth.create_user(store, USER, PASSWORD, dt.datetime.now(dt.UTC))
    finally:
        store.close()

    yield from serve(path)


def serve(path: Path) -> Iterator[str]:
    """Serve the app on the DuckDB file ``path`` (uvicorn in a thread); yields its URL."""
    import uvicorn

    from segmint.api.app import create_app

    port = _free_port()
    app = create_app(str(path))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the uvicorn server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(base_url: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def page(browser: object, base_url: str) -> Iterator[object]:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context(base_url=base_url, viewport={"width": 1200, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def _log_in(page: object) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto("/")
    assert "/login" in page.url
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Segments")).to_be_visible()
    assert page.url.endswith("/segments")


def test_rule_segment_from_typo_to_delete(page: object, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    _log_in(page)
    page.get_by_role("link", name="New segment").first.click()
    expect(page.get_by_role("heading", name="New segment")).to_be_visible()
    page.get_by_label("Code", exact=True).fill("big-spenders")
    page.get_by_label("Name", exact=True).fill("Big spenders")

    rule = page.locator("textarea[name=rule_text]")
    rule.fill("city = 'Lyon' AND totl_spent >= 200")
    error = page.locator("#rule-errors .rule-error")
    expect(error).to_contain_text("unknown field 'totl_spent'")
    expect(error).to_contain_text("line 1, column 19")
    expect(error.locator("pre.excerpt")).to_contain_text("^^^^^^^^^^")
    page.screenshot(path=str(tmp_path / "path1-inline-error.png"), full_page=True)

    rule.fill("city = 'Lyon' AND total_spent >= 200")
    expect(page.locator("#rule-errors .ok")).to_contain_text("valid")
    expect(error).to_have_count(0)

    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview .preview-result")
    expect(preview).to_contain_text("5 customers would be members")
    expect(preview.locator("a.chip")).to_have_count(5)

    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_have_text("Segment created: big-spenders; 5 members")
    members = page.locator("table.members tbody tr td:first-child")
    expect(members).to_have_count(5)
    expect(members.first).to_have_text("c04")
    expect(page.locator("figure.chart svg polyline")).to_have_count(1)

    page.get_by_role("link", name="Delete").click()
    expect(page.locator(".warning")).to_contain_text("What will stop being targeted")
    expect(page.locator(".warning .member-count")).to_have_text("5")
    page.get_by_role("button", name="Delete big-spenders").click()
    expect(page.locator(".flash")).to_have_text("Segment deleted: big-spenders; 5 members left it")
    expect(page.get_by_role("link", name="big-spenders")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "path1.png"), full_page=True)


def test_manual_segment_bulk_add_and_remove(page: object, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    _log_in(page)
    page.goto("/segments/new")
    page.get_by_label("Code", exact=True).fill("hand-picked")
    page.get_by_label("Name", exact=True).fill("Hand picked")
    page.get_by_label("Manual list").check()
    expect(page.locator("textarea[name=rule_text]")).to_be_hidden()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_have_text("Segment created: hand-picked; 0 members")

    add = page.locator("form[action$='/members/add']")
    add.locator("textarea[name=ids]").fill("c01\nc02\nc03")
    ids_file = tmp_path / "more.csv"
    ids_file.write_text("id\nc07\nc08\n")
    add.locator("input[type=file]").set_input_files(str(ids_file))
    add.get_by_role("button", name="Add").click()
    expect(page.locator(".flash")).to_have_text("5 customers added; memberships: +5 / −0")
    members = page.locator("table.members tbody tr td:first-child")
    expect(members).to_have_text(["c01", "c02", "c03", "c07", "c08"])

    page.get_by_placeholder("id, name or e-mail contains…").fill("c0")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("p.hint").last).to_contain_text("5 members matching")

    remove = page.locator("form[action$='/members/remove']")
    remove.locator("textarea[name=ids]").fill("c02, c07")
    remove.get_by_role("button", name="Remove").click()
    expect(page.locator(".flash")).to_have_text("2 customers removed; memberships: +0 / −2")
    expect(members).to_have_text(["c01", "c03", "c08"])
    page.screenshot(path=str(tmp_path / "path2.png"), full_page=True)


def test_placement_seen_as_a_member_and_as_anonymous(page: object, tmp_path: Path) -> None:
    """Log in -> a segment with members -> a placement with a GLOBAL item and an item for
    the segment (its audience validated live) -> its reach -> see it as a member (both
    items) and as an anonymous visitor (the GLOBAL one only, and why not the other)."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    _log_in(page)
    page.goto("/segments/new")
    page.get_by_label("Code", exact=True).fill("vip")
    page.get_by_label("Name", exact=True).fill("VIP")
    page.locator("textarea[name=rule_text]").fill("total_spent >= 200")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_have_text("Segment created: vip; 5 members")

    page.get_by_role("link", name="Placements").first.click()
    expect(page.get_by_role("heading", name="Placements")).to_be_visible()
    page.get_by_role("link", name="New placement").click()
    page.locator("input[name=code]").fill("home-feed")  # "Code" also labels each item's
    page.locator("input[name=name]").fill("Home news feed")
    page.locator("select[name=type]").select_option("news_feed")
    page.locator("input[name=item-0-code]").fill("all-news")
    expect(page.locator("#audience-errors-0")).to_contain_text("GLOBAL")
    page.locator("textarea[name=item-0-content]").fill('{"title": "News for everyone"}')
    page.get_by_role("button", name="Add an item").click()

    page.locator("input[name=item-1-code]").fill("vip-news")
    page.locator("input[name=item-1-priority]").fill("5")
    audience = page.locator("textarea[name=item-1-audience]")
    audience.fill("IN SEGMENT 'vpi'")
    errors = page.locator("#audience-errors-1 .rule-error")
    expect(errors).to_contain_text("unknown segment 'vpi'")
    expect(errors.locator("pre.excerpt")).to_contain_text("^")
    audience.fill("IN SEGMENT 'vip'")
    expect(page.locator("#audience-errors-1 .ok")).to_contain_text("valid")
    page.locator("textarea[name=item-1-content]").fill('{"title": "<b>VIP</b> news"}')
    page.screenshot(path=str(tmp_path / "placement-form.png"), full_page=True)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_have_text("Placement created: home-feed (version 1)")

    vip_row = page.locator("table.items tr[data-item=vip-news]")
    expect(vip_row.locator(".reach-count")).to_have_text("5")
    expect(page.locator("table.items tr[data-item=all-news] .reach-count")).to_have_text("8")
    expect(page.locator("table.items tr[data-item=all-news]")).to_contain_text("GLOBAL")

    panel = page.locator("#see-as")
    panel.get_by_label("Customer id").fill("c05")
    panel.get_by_role("button", name="See it").click()
    answer = page.locator(".placement-answer[data-placement=home-feed]")
    expect(answer.locator("ol.shown > li")).to_have_count(2)
    expect(answer.locator("ol.shown > li").first).to_have_attribute("data-item", "vip-news")
    # content is shown as JSON text: the markup in it is characters, not an element
    expect(answer.locator("ol.shown pre.content").first).to_contain_text('"<b>VIP</b> news"')
    expect(answer.locator("ol.shown b")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "see-as-member.png"), full_page=True)

    page.get_by_role("link", name="See it as").first.click()
    page.get_by_label("Anonymous visitor").check()
    page.get_by_label("View").fill("business")
    page.get_by_role("button", name="See it").click()
    answer = page.locator(".placement-answer[data-placement=home-feed]")
    expect(answer.locator("ol.shown > li")).to_have_count(1)
    expect(answer.locator("ol.shown > li")).to_have_attribute("data-item", "all-news")
    rejected = answer.locator("table.rejected tr[data-item=vip-news]")
    expect(rejected.locator(".reason")).to_have_text("login_required")
    page.screenshot(path=str(tmp_path / "see-as-anonymous.png"), full_page=True)


def test_small_things_at_phone_width(browser: object, base_url: str) -> None:
    """Issue 18, point 6: at 390 px no page is wider than the screen; Preview works
    before a code is typed; a bad code on Save is an inline message (no browser
    tooltip: the form is not validated by the browser); the favicon; /docs offline."""
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    context = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844})
    context.set_default_timeout(10_000)
    # nothing leaves this machine: a request to any other host fails the test
    outside: list[str] = []
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(base_url)
            else (outside.append(route.request.url), route.abort())
        ),
    )
    page = context.new_page()
    try:
        _log_in(page)
        page.goto("/segments/new")
        page.locator("textarea[name=rule_text]").fill("city = 'Lyon' AND total_spent >= 300")
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#preview .preview-result")).to_contain_text(
            "3 customers would be members"
        )
        page.locator("input[name=code]").fill("Bad Code!")
        page.locator("input[name=name]").fill("Bad")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".field-error").first).to_contain_text("is not a valid code")
        for path in ("/segments", "/segments/new", "/customers/c05", "/admin"):
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
        icon = page.request.get("/favicon.ico")
        assert icon.ok and icon.headers["content-type"] == "image/svg+xml"
        page.goto("/docs")
        # the OpenAPI document is built on first ask (seconds on a loaded machine)
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("segmint", timeout=90_000)
        assert outside == []
    finally:
        context.close()
