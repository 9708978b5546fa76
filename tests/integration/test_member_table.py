"""Members you can read, on both stores: the member table's figures (hand-computed),
natural id order, sorting, search, and the one CSV the admin page downloads, the CLI
prints and the API exports; the segment list's search, filters, share, "used by" and
duplicate; warnings in the builder; the customer page's money, orders, events and why;
and the small things: preview before a code, an inline code error, favicon, offline /docs."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cli_run import run_cli as run
from segmint.services import auth, levers, member_table
from segmint.services import segments as svc
from segmint.services.ingest import import_and_update
from segmint.store.base import Store
from web_session import PASSWORD, flash, log_in

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
CUSTOMERS = (
    "id,email,first_name,last_name,city\n"
    "c10,ten@x.io,Zoë,Ten,Lyon\n"
    "c2,two@x.io,Al,Two,Lyon\n"
    "c1,one@x.io,Bo,One,Lyon\n"
    "c3,,,,Paris\n"
)
# c1: 100 paid + 50 cancelled (not counted); c2: 30.5; c10: 12 + 7.25; c3: none
ORDERS = (
    "order_id,customer_id,placed_at,status,total,currency,sku,brand,category,quantity,unit_price\n"
    "o1,c1,2024-04-01T10:00:00Z,paid,100,USD,A-1,Acme,WINE,1,100\n"
    "o2,c1,2024-04-20T10:00:00Z,CANCELLED,50,USD,A-1,Acme,WINE,1,50\n"
    "o3,c2,2024-04-10T10:00:00Z,paid,30.5,USD,B-1,Private,BEERS/ALES,1,30.5\n"
    "o4,c10,2024-03-01T10:00:00Z,paid,12,USD,B-1,Private,BEERS/ALES,1,12\n"
    "o5,c10,2024-04-15T10:00:00Z,,7.25,USD,B-1,Private,BEERS/ALES,1,7.25\n"
)
EVENTS = "customer_id,type,at,sku\nc1,product_view,2024-04-02T09:00:00Z,A-1\n"


@pytest.fixture()
def shop(store: Store, tmp_path: Path) -> Store:
    for kind, text in (("customers", CUSTOMERS), ("orders", ORDERS), ("events", EVENTS)):
        path = tmp_path / f"{kind}.csv"
        path.write_text(text, encoding="utf-8")
        import_and_update(store, kind, path, NOW)
    rule = svc.SegmentDefinition(
        code="lyon", name="Lyon", kind=svc.SegmentKind.RULE, rule_text="city = 'Lyon'"
    )
    svc.create_segment(store, rule, NOW)
    auth.create_user(store, "ada", PASSWORD, NOW)
    return store


def test_rows_carry_hand_computed_figures_in_natural_order(shop: Store) -> None:
    rows = member_table.member_rows(shop, "lyon")
    assert [r.customer_id for r in rows] == ["c1", "c2", "c10"]  # not c1, c10, c2
    c1, c2, c10 = rows
    assert (c1.name, c1.email, c1.orders, c1.total_spent) == ("Bo One", "one@x.io", 1, 100)
    assert c1.last_order_at == dt.datetime(2024, 4, 1, 10, tzinfo=dt.UTC)  # cancelled: not
    assert (c2.orders, c2.total_spent, c2.currency) == (1, Decimal("30.5"), "USD")
    assert (c10.orders, c10.total_spent) == (2, Decimal("19.25"))  # no status counts
    assert c10.why == "matches the rule" and c10.member_since == NOW
    by_total = member_table.member_rows(shop, "lyon", sort="-total_spent")
    assert [r.customer_id for r in by_total] == ["c1", "c2", "c10"]
    by_name = member_table.member_rows(shop, "lyon", sort="name")
    assert [r.name for r in by_name] == ["Al Two", "Bo One", "Zoë Ten"]
    assert [r.customer_id for r in member_table.member_rows(shop, "lyon", q="TEN@")] == ["c10"]
    assert [r.customer_id for r in member_table.member_rows(shop, "lyon", sort="-customer_id")] == [
        "c10",
        "c2",
        "c1",
    ]


def test_csv_is_exact(shop: Store) -> None:
    text = member_table.to_csv(member_table.member_rows(shop, "lyon"))
    since = "2024-05-01T00:00:00Z,matches the rule"
    assert text.splitlines() == [
        "customer_id,name,email,orders,total_spent,currency,last_order_at,member_since,why",
        f"c1,Bo One,one@x.io,1,100.00,USD,2024-04-01T10:00:00Z,{since}",
        f"c2,Al Two,two@x.io,1,30.50,USD,2024-04-10T10:00:00Z,{since}",
        f"c10,Zoë Ten,ten@x.io,2,19.25,USD,2024-04-15T10:00:00Z,{since}",
    ]


@pytest.fixture()
def client(shop: Store, store_url: str) -> Iterator[TestClient]:
    from segmint.api.app import create_app

    with TestClient(create_app(store_url, clock=lambda: NOW), follow_redirects=False) as c:
        yield c


def test_one_csv_from_page_cli_and_api(
    shop: Store, store_url: str, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = member_table.to_csv(member_table.member_rows(shop, "lyon"))
    code, out, err = run(
        capsys, "--db", store_url, "segments", "members", "lyon", "--format", "csv"
    )
    assert code == 0, err
    assert out == expected
    token = auth.create_api_key(shop, "marketer", NOW, name="m")[1]
    headers = {"Authorization": f"Bearer {token}"}
    api = client.get("/v1/segments/lyon/members/export", headers=headers)
    assert api.status_code == 200 and api.headers["content-type"].startswith("text/csv")
    assert api.text == expected
    data = client.get(
        "/v1/segments/lyon/members/export",
        params={"format": "json", "sort": "-orders"},
        headers=headers,
    ).json()
    assert data["count"] == 3 and data["rows"][0]["customer_id"] == "c10"
    assert data["rows"][0]["total_spent"] == "19.25"
    log_in(client, page="/segments")
    page = client.get("/segments/lyon/members.csv")
    assert page.status_code == 200 and page.text == expected
    assert 'filename="lyon-members.csv"' in page.headers["content-disposition"]


def test_members_table_on_the_segment_page(client: TestClient) -> None:
    log_in(client, page="/segments")
    page = client.get("/segments/lyon").text
    body = re.search(r'<table class="list members">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body
    ids = re.findall(r'<a href="/customers/[^"]+">([^<]+)</a>', body.group(1))
    assert ids == ["c1", "c2", "c10"]
    assert "$100.00" in body.group(1) and "$19.25" in body.group(1)
    assert "city is &#39;Lyon&#39;" in body.group(1)  # why: the rule's held condition
    assert "Used by levers</dt><dd>none" in page
    by_total = client.get("/segments/lyon", params={"sort": "-total_spent"}).text
    assert by_total.index(">c2</a>") < by_total.index(">c10</a>")
    assert 'aria-sort="descending"' in by_total


def test_segment_list_search_filters_share_used_by_and_duplicate(
    shop: Store, client: TestClient
) -> None:
    manual = svc.SegmentDefinition(code="hand", name="Hand", kind=svc.SegmentKind.MANUAL)
    svc.create_segment(shop, manual, NOW)
    promotion = {
        "code": "lyon-10",
        "audience": "IN SEGMENT 'lyon'",
        "benefit": {"type": "order", "percentage": "10"},
    }
    levers.apply_document(shop, {"promotions": [promotion]}, NOW, who="test")
    log_in(client, page="/segments")
    listing = client.get("/segments").text
    row = re.search(r'<tr>\s*<td><a href="/segments/lyon">.*?</tr>', listing, re.S)
    assert row and "75.0%" in row.group(0)  # 3 of 4 customers
    assert '<span class="chip">promotion &#39;lyon-10&#39;</span>' in row.group(0)
    only_manual = client.get("/segments", params={"kind": "manual"}).text
    assert 'href="/segments/hand"' in only_manual and 'href="/segments/lyon"' not in only_manual
    found = client.get("/segments", params={"q": "LYO"}).text
    assert 'href="/segments/lyon"' in found and 'href="/segments/hand"' not in found
    by_members = client.get("/segments", params={"sort": "-members"}).text
    assert by_members.index('href="/segments/lyon"') < by_members.index('href="/segments/hand"')
    copy = client.get("/segments/new", params={"copy": "lyon"}).text
    assert 'value="lyon-copy"' in copy and "Copy of Lyon" in copy
    assert "city = &#39;Lyon&#39;" in copy


def test_builder_warns_of_values_the_data_lacks(client: TestClient) -> None:
    csrf = log_in(client, page="/segments")
    rule = "EXISTS(lines WHERE category = 'BEER/ALE')"
    fragment = client.post(
        "/segments/validate", data={"csrf_token": csrf, "rule_text": rule, "kind": "rule"}
    ).text
    expected = "no line has category 'BEER/ALE' — did you mean 'BEERS/ALES'?"
    assert "The rule is valid" in fragment
    assert expected in fragment.replace("&#39;", "'")
    form = {
        "csrf_token": csrf,
        "code": "beer",
        "name": "Beer",
        "kind": "rule",
        "rule_text": rule,
        "active_shown": "1",
        "active": "on",
    }
    saved = client.post("/segments/new", data=form, follow_redirects=True)
    assert flash(saved.text) == f"Segment created: beer; 0 members. Warning: {expected}"


def test_customer_page_money_orders_events_and_why(client: TestClient) -> None:
    log_in(client, page="/segments")
    page = client.get("/customers/c10").text
    assert "<dt>Total spent</dt><dd>$19.25</dd>" in page
    assert "<dt>First name</dt><dd>Zoë</dd>" in page
    orders = re.search(r"<h2>Recent orders</h2>(.*?)</table>", page, re.S)
    assert orders
    assert orders.group(1).index("<code>o5</code>") < orders.group(1).index("<code>o4</code>")
    assert "$7.25" in orders.group(1)
    why = re.search(r'<td class="why">(.*?)</td>', page, re.S)
    assert why and "<code>city = &#39;Lyon&#39;</code>" in why.group(1) and "✓" in why.group(1)
    events = client.get("/customers/c1").text
    found = re.search(r"<h2>Recent events</h2>(.*?)</table>", events, re.S)
    assert found and "product_view" in found.group(1) and "A-1" in found.group(1)


# ---- small things users hit (point 6) -------------------------------------------------------


def test_preview_without_a_code_and_inline_error_for_a_bad_one(client: TestClient) -> None:
    csrf = log_in(client, page="/segments")
    form = {"csrf_token": csrf, "kind": "rule", "rule_text": "city = 'Lyon'"}
    preview = client.post("/segments/preview", data=form)
    assert preview.status_code == 200
    assert "<strong>3</strong> customers would be members" in preview.text
    builder = client.get("/segments/new").text
    assert '<form class="builder" novalidate' in builder  # no browser tooltip
    bad = client.post("/segments/new", data={**form, "code": "Bad Code!", "name": "Bad"})
    assert bad.status_code == 400
    found = re.search(r'<span class="field-error">([^<]*)</span>', bad.text)
    assert found and "is not a valid code" in found.group(1).replace("&#39;", "'")


def test_favicon_and_offline_docs(client: TestClient) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/login").text
    docs = client.get("/docs").text
    assert "/docs/assets/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text
    assert client.get("/docs/assets/index.html").status_code == 404
    # No page of the service needs a CDN: FastAPI's ReDoc page (which would) is not served.
    assert client.get("/redoc").status_code == 404
