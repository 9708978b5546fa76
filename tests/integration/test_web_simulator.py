"""The cart simulator page through the real app on both stores, with a real login: a
priced cart's numbers (worked out by hand from the document and the products below), the
promotions, rejections with their reasons and false parts, near misses and placements; the
positioned errors of a bad cart; the form without script; roles; content shown escaped;
and no redemption written, however often a cart is simulated."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from segmint.api.app import create_app
from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.services import auth, levers, segments
from segmint.services.customers import ingest
from segmint.store.base import Store

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
PASSWORD = "correct horse battery"
HOSTILE = "<script>alert(1)</script>"

DOCUMENT: dict[str, Any] = {
    "price_lists": [
        {
            "code": "gold-prices",
            "audience": "IN SEGMENT 'gold'",
            "currency": "USD",
            "prices": [{"sku": "K-2", "price": "36.00"}],
        }
    ],
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
            "message": "15% off tea " + HOSTILE,
        },
        {
            "code": "kitchen5",
            "trigger": "code",
            "codes": ["WELCOME5"],
            "priority": 5,
            "usage_limit": 1,
            "benefit": {
                "type": "items",
                "target": "category = 'kitchen'",
                "allocation": "across",
                "amount": "5.00",
            },
        },
        {
            "code": "free-ship",
            "condition": "cart.subtotal >= 100",
            "benefit": {"type": "shipping", "percentage": "100"},
        },
    ],
    "placements": [
        {
            "code": "cart-messages",
            "type": "cart_message",
            "items": [
                {
                    "code": "ship-nudge",
                    "audience": None,
                    "when_near": "free-ship",
                    "content": {"text": "Add {{missing}} more for free shipping"},
                }
            ],
        }
    ],
}

PRODUCTS = [
    {"sku": "T-1", "product_name": "Tea", "category": "tea", "unit_price": "12.00"},
    {"sku": "K-2", "product_name": "Kettle", "category": "kitchen", "unit_price": "40.00"},
    {"sku": "X-9", "product_name": "No price", "category": "misc"},
]


@pytest.fixture()
def shop(store: Store) -> Store:
    ingest(store, "products", PRODUCTS, NOW)
    ingest(store, "customers", [{"id": "c1"}, {"id": "c2"}], NOW)
    gold = SegmentDefinition(code="gold", name="Gold", kind=SegmentKind.MANUAL)
    segments.create_segment(store, gold, NOW)
    segments.add_members(store, "gold", ["c1"], NOW)
    levers.apply_document(store, DOCUMENT, NOW, who="test")
    auth.create_user(store, "mark", PASSWORD, NOW, role="marketer")
    return store


@pytest.fixture()
def client(shop: Store, store_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(store_url, clock=lambda: NOW), follow_redirects=False) as c:
        yield c


def log_in(client: TestClient, username: str = "mark") -> None:
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert token
    response = client.post(
        "/login",
        data={"login_csrf": token.group(1), "username": username, "password": PASSWORD},
    )
    assert response.status_code == 303, response.text


@pytest.fixture()
def web(client: TestClient) -> TestClient:
    log_in(client)
    return client


def simulate(client: TestClient, status: int = 200, **fields: Any) -> str:
    params = {"action": "price", "who": "customer", **fields}
    response = client.get("/simulator", params=params)
    assert response.status_code == status, response.text
    text: str = response.text
    return text


def cells(row: str) -> list[str]:
    """A table row's cells as text, tags dropped, whitespace collapsed."""
    found = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in found]


def row_of(page: str, attribute: str, value: str) -> list[str]:
    found = re.search(rf'<tr {attribute}="{re.escape(value)}"[^>]*>(.*?)</tr>', page, re.S)
    assert found, (attribute, value)
    return cells(found.group(1))


def total(page: str, name: str) -> str:
    found = re.search(rf'<tr data-total="{name}">.*?<td class="num">(.*?)</td>', page, re.S)
    assert found, name
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def count(shop: Store, table: str) -> int:
    return int(shop._q(f"SELECT COUNT(*) FROM {table}")[0][0])


def test_a_priced_cart_with_a_code_every_discount_and_the_near_miss(
    web: TestClient, shop: Store
) -> None:
    page = simulate(
        web,
        customer_id="c1",
        sku=["T-1", "K-2"],
        quantity=["3", "1"],
        unit_price=["", ""],
        shipping="8.00",
        codes="WELCOME5, nope",
    )
    assert 'class="error"' not in page
    # T-1: 3 x 12.00 (the catalog's) = 36.00; tea15 takes 15% = 5.40 -> 30.60.
    # K-2: listed 40.00, 36.00 for gold (c1); kitchen5 (code WELCOME5) takes 5.00 -> 31.00.
    assert row_of(page, "data-line", "1") == [
        "1", "T-1", "3", "12.00", "12.00", "—", "36.00", "tea15 −5.40", "30.60",
    ]  # fmt: skip
    assert row_of(page, "data-line", "2") == [
        "2", "K-2", "1", "40.00", "36.00", "gold-prices", "36.00", "kitchen5 −5.00", "31.00",
    ]  # fmt: skip
    # 72.00 - 10.40 = 61.60 < 100: shipping stays 8.00; the total 61.60 + 8.00
    assert total(page, "subtotal") == "72.00"
    assert total(page, "discount") == "10.40"
    assert total(page, "shipping") == "8.00 − 0.00 = 8.00"
    assert total(page, "total") == "69.60"
    assert row_of(page, "data-promotion", "tea15") == [
        "tea15", "5.40", "0.00", "—", "15% off tea " + HOSTILE,
    ]  # fmt: skip
    kitchen = row_of(page, "data-promotion", "kitchen5")
    assert kitchen[:4] == ["kitchen5", "5.00", "0.00", "WELCOME5"]
    # the unknown code, always listed
    unknown = row_of(page, 'data-promotion="" data-code', "nope")
    assert unknown[:3] == ["—", "nope", "unknown_code"]
    # free shipping: 100.00 - 61.60 missing, and the nudge says so
    near = re.search(r'<li data-promotion="free-ship">(.*?)</li>', page, re.S)
    assert near and "cart.subtotal" in near.group(1) and ">38.40<" in near.group(1)
    assert "Add 38.40 more for free shipping" in page.split('data-placement="cart-messages"')[1]
    # the message is data: escaped, never markup
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # customer, segment
    assert "Customer" in page and ">gold<" in page
    # simulating never redeems: the code limited to one order applies every time
    again = simulate(
        web, customer_id="c1", sku="K-2", quantity="1", codes="WELCOME5", unit_price=""
    )
    assert row_of(again, "data-promotion", "kitchen5")[:2] == ["kitchen5", "5.00"]
    assert count(shop, "redemptions") == 0 and count(shop, "checkouts") == 0


def test_explain_shows_reasons_and_false_parts_for_an_anonymous_visitor(web: TestClient) -> None:
    page = simulate(
        web, who="anonymous", sku="K-2", quantity="3", unit_price="", shipping="5", codes="welcome5"
    )
    # anonymous: the catalog's 40.00; 3 x 40.00 = 120.00, kitchen5 5.00 -> 115.00 >= 100
    assert "anonymous visitor" in page
    assert row_of(page, "data-line", "1") == [
        "1", "K-2", "3", "40.00", "40.00", "—", "120.00", "kitchen5 −5.00", "115.00",
    ]  # fmt: skip
    assert total(page, "shipping") == "5.00 − 5.00 = 0.00"
    assert total(page, "total") == "115.00"
    assert row_of(page, "data-promotion", "free-ship")[:3] == ["free-ship", "0.00", "5.00"]
    # tea15 found no tea; the price list reads customer data: not for an anonymous visitor
    assert row_of(page, 'data-promotion="tea15" data-code', "")[2] == "no_items"
    assert row_of(page, "data-price-list", "gold-prices")[1] == "login_required"
    assert '<li data-promotion="free-ship">' not in page  # applied, not near
    assert "Add " not in page.split('data-placement="cart-messages"')[1]
    # a customer outside gold: the price list's audience is false, with its false part
    other = simulate(web, customer_id="c2", sku="K-2", quantity="1", unit_price="")
    price_list = row_of(other, "data-price-list", "gold-prices")
    assert price_list[1] == "audience" and "IN SEGMENT 'gold'" in price_list[2]
    assert re.search(r'<ul class="false-parts"><li><code>IN SEGMENT &#39;gold&#39;</code>', other)
    assert row_of(other, "data-line", "1")[4:6] == ["40.00", "—"]
    # the code promotion was not entered: code_required, its code empty
    assert row_of(other, 'data-promotion="kitchen5" data-code', "")[2] == "code_required"


def test_a_line_without_a_price_is_a_positioned_error_beside_its_row(web: TestClient) -> None:
    page = simulate(
        web,
        400,
        customer_id="c1",
        sku=["T-1", "", "X-9"],
        quantity=["1", "1", "2"],
        unit_price=["", "", ""],
    )
    error = re.search(r'<p class="error" role="alert"[^>]*>(.*?)</p>', page, re.S)
    assert error
    # the empty row is left out: X-9 is cart.lines[1], the page's second row
    assert html.unescape(error.group(1)).startswith("cart.lines[1].unit_price: no price given")
    rows = re.findall(r'<tr class="cart-line( has-error)?">(.*?)</tr>', page, re.S)
    assert [bool(marked) for marked, _ in rows] == [False, True]
    assert 'name="unit_price" value="" placeholder="25.00" data-label="Unit price" ' in rows[1][1]
    assert 'aria-invalid="true"' in rows[1][1] and 'value="X-9"' in rows[1][1]
    assert 'id="answer"' not in page  # nothing priced
    # other bad input, positioned too, never a 500
    zero = simulate(web, 400, customer_id="c1", sku="T-1", quantity="0", unit_price="")
    assert "cart.lines[0].quantity: Input should be greater than or equal to 1" in zero
    digits = simulate(web, 400, customer_id="c1", sku="T-1", quantity="1", unit_price="1.001")
    assert "cart.lines[0].unit_price" in html.unescape(digits)
    money = simulate(web, 400, who="anonymous", sku="T-1", quantity="1", shipping="-1")
    assert "cart.shipping.amount" in money
    nobody = simulate(web, 400, who="customer", customer_id="", sku="T-1", quantity="1")
    assert "give one, or choose an anonymous visitor" in nobody
    when = simulate(web, 400, who="anonymous", sku="T-1", quantity="1", as_of="soon")
    assert "as_of" in when
    currency = simulate(web, 400, who="anonymous", sku="T-1", quantity="1", currency="XQQ")
    assert "cart.currency" in currency
    # an id that is no customer is answered as an unknown visitor, and said so
    unknown = simulate(web, customer_id="zz", sku="T-1", quantity="1")
    assert "no such customer" in unknown and row_of(unknown, "data-line", "1")[-1] == "10.20"


def test_the_form_works_without_script(web: TestClient) -> None:
    first = web.get("/simulator")
    assert first.status_code == 200
    assert len(re.findall(r'<tr class="cart-line">', first.text)) == 1
    assert 'src="/static/simulator.js"' in first.text and 'id="answer"' not in first.text
    # "Add a line" without script: the form again with one more row, as typed
    more = web.get(
        "/simulator",
        params={"action": "add", "customer_id": "c1", "sku": "T-1", "quantity": "2"},
    ).text
    assert len(re.findall(r'<tr class="cart-line">', more)) == 2
    assert 'value="T-1"' in more and 'value="c1"' in more and 'id="answer"' not in more
    script = web.get("/static/simulator.js")
    assert script.status_code == 200 and "add-line" in script.text


def test_roles(client: TestClient, shop: Store) -> None:
    response = client.get("/simulator", params={"action": "price", "sku": "T-1"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    log_in(client)
    assert 'href="/simulator"' in client.get("/segments").text
    shop._x("UPDATE users SET role = 'ingest' WHERE username = 'mark'")
    refused = client.get("/simulator", params={"action": "price", "who": "anonymous"})
    assert refused.status_code == 403 and "Only marketers and admins" in refused.text
    assert count(shop, "redemptions") == 0
