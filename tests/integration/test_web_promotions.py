"""The promotion and price-list pages through the real app on both stores, with real
logins: create, edit, delete and history through the forms; every benefit type saved
and reopened unchanged; impossible benefits shown beside their field with the lever path,
writing nothing; live rule checks in their scope; a stale edit refused; roles and CSRF;
codes generated and downloaded as CSV (checked against services.codes.list_codes, and
CSV-injection safe); budget meters against redemption rows written here."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import web_session
from segmint.importing.api import import_file
from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.services import auth
from segmint.services import codes as codes_service
from segmint.services import levers as levers_service
from segmint.services import segments as segments_service
from segmint.store.base import Store
from segmint.store.redemptions import Redemption, RedemptionRepository

CUSTOMERS = "id,email,city\n" + "".join(f"c{i:02d},c{i}@x.io,Lyon\n" for i in range(1, 9))
# c01..c08 ordered once each, for 50 × i: total_spent >= 200 is c04..c08
ORDERS = "order_id,customer_id,placed_at,status,total\n" + "".join(
    f"o{i},c{i:02d},2024-04-0{i}T10:00:00Z,paid,{i * 50}\n" for i in range(1, 9)
)
PASSWORD = web_session.PASSWORD


@pytest.fixture()
def shop(store: Store, tmp_path: Path) -> Store:
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "orders.csv").write_text(ORDERS)
    import_file(store, "customers", tmp_path / "customers.csv")
    import_file(store, "orders", tmp_path / "orders.csv")
    now = dt.datetime.now(dt.UTC)
    auth.create_user(store, "ada", PASSWORD, now)
    auth.create_user(store, "mark", PASSWORD, now, role="marketer")
    big = SegmentDefinition(
        code="big", name="Big", kind=SegmentKind.RULE, rule_text="total_spent >= 200"
    )
    segments_service.create_segment(store, big, now)
    return store


@pytest.fixture()
def client(shop: Store, store_url: str) -> Iterator[TestClient]:
    from segmint.api.app import create_app

    with TestClient(create_app(store_url), follow_redirects=False) as c:
        yield c


def log_in(client: TestClient, username: str = "ada") -> str:
    return web_session.log_in(client, username, page="/promotions")


@pytest.fixture()
def web(client: TestClient) -> tuple[TestClient, str]:
    return client, log_in(client)


flash = web_session.flash


def version_of(page: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', page)
    assert found, page
    return found.group(1)


def field_error(page: str, name: str) -> str:
    found = re.search(rf'data-field="{name}">([^<]*)<', page)
    assert found, f"no error beside {name}"
    return html.unescape(found.group(1))


def stored(shop: Store, kind: str, code: str) -> dict[str, Any] | None:
    rows = {r.code: r for r in levers_service.lever_rows(shop, kind)}
    return rows[code].data if code in rows else None


def promotion_form(csrf: str, code: str = "summer", **extra: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "code": code,
        "name": "Summer",
        "active": "on",
        "trigger": "automatic",
        "benefit_type": "order",
        "value_kind": "percentage",
        "value": "10",
        "release_on_cancel": "on",
    }
    form.update(extra)
    return form


def create(client: TestClient, path: str, form: dict[str, str]) -> None:
    response = client.post(path, data=form)
    assert response.status_code == 303, response.text


class FormFields(HTMLParser):
    """The fields a browser submits from a page's form: text inputs, checked boxes and
    radios, selected options (else the first), textareas."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None
        self._first: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name:
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields[name] = a.get("value", "on")
            else:
                self.fields[name] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""
        elif tag == "select" and name:
            self._select, self._first = name, None
        elif tag == "option" and self._select:
            if self._first is None:
                self._first = a.get("value", "")
            if "selected" in a:
                self.fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select:
            self.fields.setdefault(self._select, self._first or "")
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data


def form_of(page: str) -> dict[str, str]:
    body = page.split("<main>", 1)[1]
    body = body[body.index("<form") :]
    parser = FormFields()
    parser.feed(body[: body.index("</form>")])
    # browsers drop the first newline after <textarea>; html.unescape as a browser does
    return {k: html.unescape(v.removeprefix("\n")) for k, v in parser.fields.items()}


# ---- promotions: create, edit, delete, history ---------------------------------------------


def test_create_edit_delete_and_history(web: tuple[TestClient, str], shop: Store) -> None:
    client, csrf = web
    assert client.get("/promotions/_new").status_code == 200
    form = promotion_form(
        csrf,
        audience="IN SEGMENT 'big'",
        condition="cart.subtotal >= 50",
        priority="5",
        message="Thanks!",
        stores="web, app",
        starts_at="2020-01-01",
    )
    create(client, "/promotions/_new", form)
    page = client.get("/promotions/summer").text
    assert flash(page) == "Promotion created: summer (version 1)"
    data = stored(shop, "promotions", "summer")
    assert data is not None
    expected = {
        "code": "summer",
        "name": "Summer",
        "trigger": "automatic",
        "audience": "IN SEGMENT 'big'",
        "condition": "cart.subtotal >= 50",
        "benefit": {"type": "order", "percentage": "10"},
        "priority": 5,
        "message": "Thanks!",
        "stores": ["web", "app"],
        "starts_at": "2020-01-01T00:00:00Z",
        "exclusive": False,
        "stop_further": False,
        "release_on_cancel": True,
        "usage_limit": None,
        "campaign": None,
    }
    assert {k: data[k] for k in expected} == expected
    listing = client.get("/promotions").text
    row = re.search(r'<tr data-promotion="summer">(.*?)</tr>', listing, re.S)
    assert row
    assert "10% off the order" in row.group(1) and "status-live" in row.group(1)
    assert "IN SEGMENT &#39;big&#39;" in page and "cart.subtotal &gt;= 50" in page

    edit = client.get("/promotions/summer/edit")
    assert edit.status_code == 200 and version_of(edit.text) == "1"
    changed = promotion_form(
        csrf,
        version="1",
        benefit_type="items",
        allocation="each",
        target="brand = 'Acme'",
        max_quantity="2",
        value_kind="amount",
        value="1.50",
        exclusive="on",
        usage_limit="100",
    )
    response = client.post("/promotions/summer/edit", data=changed)
    assert response.status_code == 303, response.text
    data = stored(shop, "promotions", "summer")
    assert data is not None
    assert data["benefit"] == {
        "type": "items",
        "allocation": "each",
        "target": "brand = 'Acme'",
        "max_quantity": 2,
        "amount": "1.50",
        "currency": None,
    }
    assert data["exclusive"] is True and data["usage_limit"] == 100
    assert data["audience"] is None and data["priority"] == 0  # emptied fields are cleared
    listing = client.get("/promotions").text
    assert "1.50 off each unit of lines where brand = &#39;Acme&#39; (at most 2 per line)" in (
        listing
    )
    again = client.post("/promotions/summer/edit", data={**changed, "version": "2"})
    assert "Nothing changed" in flash(client.get(again.headers["location"]).text)

    confirm = client.get("/promotions/summer/delete")
    assert confirm.status_code == 200 and version_of(confirm.text) == "2"
    response = client.post("/promotions/summer/delete", data={"csrf_token": csrf, "version": "2"})
    assert response.status_code == 303 and response.headers["location"] == "/promotions"
    assert "Promotion deleted: summer" in flash(client.get("/promotions").text)
    assert stored(shop, "promotions", "summer") is None
    assert client.get("/promotions/summer").status_code == 404
    history = client.get("/promotions/summer/history").text
    rows = re.findall(r'<td class="num">(\d+)</td>\s*<td>(\w+)</td>', history)
    assert rows == [("3", "delete"), ("2", "update"), ("1", "create")]
    assert history.count("web:ada") == 3


BENEFITS: dict[str, dict[str, str]] = {
    "order-amount": {
        "benefit_type": "order",
        "value_kind": "amount",
        "value": "5",
        "currency": "eur",
    },
    "items-across": {"benefit_type": "items", "allocation": "across", "value": "15"},
    "items-once": {
        "benefit_type": "items",
        "allocation": "once",
        "max_quantity": "3",
        "value": "50",
    },
    "tiered": {
        "benefit_type": "tiered",
        "basis": "subtotal",
        "target": "category = 'wine'",
        "tiers": "100, 5%\n\n200, 10.00 USD\n",
    },
    "tiered-qty": {"benefit_type": "tiered", "basis": "quantity", "tiers": "3, 5%\n6, 10%"},
    "buy-get": {
        "benefit_type": "buy_get",
        "buy": "category = 'wine'",
        "buy_quantity": "2",
        "get": "category = 'cheese'",
        "selection": "most_expensive",
        "max_applications": "1",
        "value": "",
    },
    "free-ship": {"benefit_type": "shipping", "value": "100"},
    "code-promo": {
        "benefit_type": "shipping",
        "value_kind": "amount",
        "value": "4.99",
        "trigger": "code",
        "codes": "Ship5, SHIPNOW",
        "best_of": "ship",
        "stop_further": "on",
        "per_customer_limit": "1",
        "release_on_cancel": "",
        "description": "ends soon",
        "ends_at": "2030-01-01T12:00:00+02:00",
    },
}
WORDS = {
    "order-amount": "5.00 EUR off the order (EUR carts only)",
    "items-across": "15% off every line",
    "items-once": "50% off the 3 cheapest units among every line",
    "tiered": "buy more, save more on the subtotal of lines where category = 'wine': "
    "from 100.00: 5% off; from 200.00: 10.00 USD off",
    "tiered-qty": "buy more, save more on the quantity of every line: from 3: 5% off; "
    "from 6: 10% off",
    "buy-get": "buy 2 of category = 'wine', get 1 of category = 'cheese' at 100% off "
    "(most expensive first, at most 1 times)",
    "free-ship": "free shipping",
    "code-promo": "4.99 off shipping",
}


def test_every_benefit_saves_and_reopens_unchanged(
    web: tuple[TestClient, str], shop: Store
) -> None:
    client, csrf = web
    for code, fields in BENEFITS.items():
        create(client, "/promotions/_new", promotion_form(csrf, code, **fields))
        page = client.get(f"/promotions/{code}/edit").text
        reopened = form_of(page)
        response = client.post(f"/promotions/{code}/edit", data=reopened)
        assert response.status_code == 303, response.text
        shown = client.get(response.headers["location"]).text
        assert "Nothing changed" in flash(shown), code
        assert levers_service.show_lever(shop, "promotions", code).version == 1
        assert WORDS[code] in html.unescape(shown), code
    data = stored(shop, "promotions", "tiered")
    assert data is not None
    assert data["benefit"]["tiers"] == [
        {"min": "100.00", "percentage": "5"},
        {"min": "200.00", "amount": "10.00", "currency": "USD"},
    ]
    buy_get = stored(shop, "promotions", "buy-get")
    assert buy_get is not None and buy_get["benefit"]["percentage"] == "100"  # the default
    coded = stored(shop, "promotions", "code-promo")
    assert coded is not None
    assert coded["codes"] == ["Ship5", "SHIPNOW"] and coded["release_on_cancel"] is False
    assert coded["ends_at"] == "2030-01-01T10:00:00Z"
    # codes typed while the trigger is automatic are not sent (the field is hidden)
    create(client, "/promotions/_new", promotion_form(csrf, "auto", codes="NOPE"))
    auto = stored(shop, "promotions", "auto")
    assert auto is not None and auto["codes"] == []


# ---- bad input ----------------------------------------------------------------------------


def test_impossible_benefits_are_placed_and_write_nothing(
    web: tuple[TestClient, str], shop: Store
) -> None:
    client, csrf = web
    cases = [
        ({"value": "150"}, "value", "benefit.percentage: must be between 0 and 100"),
        (
            {"benefit_type": "buy_get", "buy": "category = 'wine'"},
            "get",
            "benefit.get: is required",
        ),
        (
            {"benefit_type": "tiered", "tiers": "200, 10%\n100, 5%"},
            "tiers",
            "line 2: benefit.tiers[1].min: must be greater than the previous tier's min (200.00)",
        ),
        ({"benefit_type": "tiered", "tiers": "100"}, "tiers", "line 1: benefit.tiers[0]: write"),
        (
            {"value_kind": "amount", "value": "5.001"},
            "value",
            "benefit.amount: 5.001 has more digits than USD allows",
        ),
        ({"value": ""}, "value", 'benefit: needs a value: "percentage" or "amount"'),
        ({"usage_limit": "lots"}, "usage_limit", "usage_limit: must be a positive integer"),
        ({"campaign": "nope"}, "campaign", "campaign: no campaign 'nope'"),
        ({"code": "Bad Code"}, "code", "code: "),
    ]
    for extra, name, message in cases:
        response = client.post("/promotions/_new", data=promotion_form(csrf, **extra))
        assert response.status_code == 400, extra
        assert message in field_error(response.text, name), (extra, response.text)
    # several problems at once, a rule error positioned with its caret and path
    response = client.post(
        "/promotions/_new",
        data=promotion_form(
            csrf,
            benefit_type="items",
            target="brnd = 'Acme'",
            value="0",
            condition="cart.subtotl >= 5",
        ),
    )
    assert response.status_code == 400
    page = html.unescape(response.text)
    target = page.split('id="check-target"')[1].split("</div>\n</div>")[0]
    assert "benefit.target" in target and "unknown field 'brnd' of a cart line" in target
    assert "^^^^" in target and "line 1, column 1" in target
    condition = page.split('id="check-condition"')[1].split("</div>\n</div>")[0]
    assert "condition" in condition and "cart.subtotl" in condition
    assert "benefit.percentage: must be between 0 and 100" in field_error(response.text, "value")
    assert 'value="brnd' not in page and "brnd = 'Acme'</textarea>" in page  # kept as typed
    assert levers_service.lever_rows(shop, "promotions") == []


def test_live_rule_checks_in_their_scope(web: tuple[TestClient, str]) -> None:
    client, csrf = web

    def check(name: str, text: str, **form: str) -> str:
        response = client.post(
            "/promotions/_validate",
            data={name: text, **form},
            headers={"X-CSRF-Token": csrf, "HX-Trigger-Name": name},
        )
        assert response.status_code == 200
        return html.unescape(response.text)

    assert "GLOBAL" in check("audience", "")
    assert "valid" in check("audience", "IN SEGMENT 'big'")
    assert "unknown segment 'bgi'" in check("audience", "IN SEGMENT 'bgi'")
    assert "valid" in check("condition", "cart.subtotal >= 100 AND orders_count >= 1")
    wrong = check("condition", "cart.subtotal >= 'x'")
    assert "line 1" in wrong and "^" in wrong
    # a target is a condition on one cart line: its fields, not the customer's
    assert "valid" in check("target", "brand = 'Acme' AND quantity >= 2")
    line = check("target", "total_spent > 1")
    assert "benefit.target" in line and "of a cart line" in line
    assert "valid" in check("get", "category = 'cheese'")
    assert "every line" in check("target", "")
    # htmx posts the whole form: the field checked is the one that triggered it
    both = check("buy", "nosuch = 1", condition="cart.subtotal >= 1")
    assert "benefit.buy" in both and "nosuch" in both


def test_a_stale_edit_is_refused(web: tuple[TestClient, str], shop: Store) -> None:
    client, csrf = web
    create(client, "/promotions/_new", promotion_form(csrf))
    opened = version_of(client.get("/promotions/summer/edit").text)
    other = {**levers_service.show_lever(shop, "promotions", "summer").data, "name": "Theirs"}
    levers_service.put_lever(
        shop, "promotions", "summer", other, dt.datetime.now(dt.UTC), who="cli:bob"
    )
    response = client.post(
        "/promotions/summer/edit", data=promotion_form(csrf, version=opened, name="Mine")
    )
    assert response.status_code == 409
    text = html.unescape(response.text)
    assert "is at version 2, not version 1" in text and "not saved" in text
    assert 'value="Mine"' in text
    data = stored(shop, "promotions", "summer")
    assert data is not None and data["name"] == "Theirs"
    again = client.post("/promotions/_new", data=promotion_form(csrf))
    assert again.status_code == 409 and "already exists" in html.unescape(again.text)
    stale = client.post("/promotions/summer/delete", data={"csrf_token": csrf, "version": opened})
    assert "at version 2" in flash(client.get(stale.headers["location"]).text)
    assert stored(shop, "promotions", "summer") is not None


# ---- roles and CSRF -----------------------------------------------------------------------


def test_roles_and_csrf(client: TestClient, shop: Store) -> None:
    assert client.get("/promotions").status_code == 303  # no session: the login
    response = client.post("/promotions/_new", data=promotion_form("x"))
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    csrf = log_in(client, "mark")
    no_token = {k: v for k, v in promotion_form(csrf).items() if k != "csrf_token"}
    assert client.post("/promotions/_new", data=no_token).status_code == 403
    assert client.post("/price-lists/_new", data={**no_token, "csrf_token": "x"}).status_code == 403
    assert client.post("/promotions/_validate", data={"audience": "x"}).status_code == 403
    assert levers_service.lever_rows(shop, "promotions") == []
    coded = promotion_form(csrf, trigger="code", codes="SECRET1")
    create(client, "/promotions/_new", coded)
    create(client, "/price-lists/_new", price_list_form(csrf))
    assert levers_service.show_lever(shop, "promotions", "summer").updated_by == "web:mark"

    # a role that may not write levers reads, and every write is refused
    shop._x("UPDATE users SET role = 'ingest' WHERE username = 'mark'")
    for path in ("/promotions", "/promotions/summer", "/price-lists", "/price-lists/vip"):
        assert client.get(path).status_code == 200, path
    assert "New promotion" not in client.get("/promotions").text
    page = client.get("/promotions/summer").text
    assert "SECRET1" not in page and "Generate codes" not in page  # codes are credentials
    for path in (
        "/promotions/_new",
        "/promotions/summer/edit",
        "/promotions/summer/delete",
        "/promotions/summer/codes.csv",
        "/price-lists/_new",
        "/price-lists/vip/edit",
        "/price-lists/vip/delete",
    ):
        assert client.get(path).status_code == 403, path
    posts: list[tuple[str, dict[str, str]]] = [
        ("/promotions/_new", promotion_form(csrf, "other")),
        ("/promotions/summer/edit", promotion_form(csrf, version="1", name="Changed")),
        ("/promotions/summer/delete", {"csrf_token": csrf, "version": "1"}),
        ("/promotions/summer/codes", {"csrf_token": csrf, "count": "3", "length": "8"}),
        ("/price-lists/_new", price_list_form(csrf, "other")),
        ("/price-lists/vip/edit", price_list_form(csrf, version="1", name="Changed")),
        ("/price-lists/vip/delete", {"csrf_token": csrf, "version": "1"}),
    ]
    for path, data in posts:
        assert client.post(path, data=data).status_code == 403, path
    assert [r.version for r in levers_service.lever_rows(shop, "promotions")] == [1]
    assert [r.version for r in levers_service.lever_rows(shop, "price_lists")] == [1]
    assert len(codes_service.list_codes(shop, "summer")) == 1


def test_hostile_text_is_escaped(web: tuple[TestClient, str]) -> None:
    client, csrf = web
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    form = promotion_form(csrf, name=hostile, message=hostile, description=hostile)
    create(client, "/promotions/_new", form)
    create(client, "/price-lists/_new", price_list_form(csrf, name=hostile))
    pages = [
        client.get(path).text
        for path in (
            "/promotions",
            "/promotions/summer",
            "/promotions/summer/edit",
            "/promotions/summer/history",
            "/price-lists",
            "/price-lists/vip",
            "/price-lists/vip/edit",
        )
    ]
    bad = client.post("/promotions/_new", data={**form, "code": "x2", "value": "500"})
    pages.append(bad.text)
    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1]


# ---- codes ----------------------------------------------------------------------------------


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_codes_generated_listed_and_downloaded(web: tuple[TestClient, str], shop: Store) -> None:
    client, csrf = web
    form = promotion_form(csrf, trigger="code", codes="=SUM(A1)\nSummer10")
    create(client, "/promotions/_new", form)
    response = client.post(
        "/promotions/summer/codes",
        data={"csrf_token": csrf, "count": "5", "prefix": "-vip", "length": "8", "uses": "2"},
    )
    assert response.status_code == 303
    assert flash(client.get(response.headers["location"]).text) == "5 codes generated"
    response = client.post(
        "/promotions/summer/codes",
        data={"csrf_token": csrf, "segment": "big", "length": "10", "uses": ""},
    )
    assert flash(client.get(response.headers["location"]).text) == (
        "5 codes generated for the members of big"
    )
    listed = codes_service.list_codes(shop, "summer")
    generated = [c for c in listed if not c.listed]
    assert len(listed) == 12 and len(generated) == 10
    # one generated code and a listed one used by orders (one of them released)
    first = next(c.code for c in generated if c.code.startswith("-VIP"))
    repo = RedemptionRepository(shop)
    now = dt.datetime.now(dt.UTC)
    for order, code in (("r1", first), ("r2", "SUMMER10"), ("r3", "SUMMER10"), ("r4", first)):
        with shop.transaction():
            redemption = Redemption(order, "summer", code, "c01", None, Decimal(1), "USD", True)
            repo.record(order, "c01", "{}", [redemption], now)
    with shop.transaction():
        repo.cancel("r4", now)
    listed = codes_service.list_codes(shop, "summer")
    used = {c.code: c.used for c in listed}
    assert used[first] == 1 and used["SUMMER10"] == 2

    page = client.get("/promotions/summer").text
    assert re.search(r'class="code-count">12 \(3 uses\)', page)
    rows = re.findall(
        r'<tr data-code="([^"]+)"><td><code>[^<]*</code></td><td class="num">([^<]*)</td>'
        r'<td class="num">(\d+)</td><td>([^<]*)</td><td>(\w+)</td></tr>',
        page,
    )
    expected = [
        (
            c.code,
            "—" if c.uses is None else str(c.uses),
            str(c.used),
            c.customer_id or "—",
            "listed" if c.listed else "generated",
        )
        for c in listed
    ]
    assert [tuple(html.unescape(x) for x in r) for r in rows] == expected

    download = client.get("/promotions/summer/codes.csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"].startswith(
        'attachment; filename="summer-codes.csv"'
    )
    got = read_csv(download.text)
    # CSV-injection safe: cells a spreadsheet would read as a formula start with a quote
    raw = [r["code"] for r in got]
    assert "'=SUM(A1)" in raw and all(c.startswith("'-VIP") for c in raw if "VIP" in c)
    assert not any(c[:1] in "=+-@" for r in got for c in r.values() if c)
    unquoted = [
        (
            r["code"].removeprefix("'"),
            int(r["uses"]) if r["uses"] else None,
            int(r["used"]),
            r["customer_id"] or None,
            r["listed"] == "true",
        )
        for r in got
    ]
    assert unquoted == [(c.code, c.uses, c.used, c.customer_id, c.listed) for c in listed]
    bound = sorted(r[3] for r in unquoted if r[3])
    assert bound == ["c04", "c05", "c06", "c07", "c08"]  # the members of big

    bad = client.post(
        "/promotions/summer/codes", data={"csrf_token": csrf, "count": "5", "length": "3"}
    )
    assert bad.status_code == 400 and "length: between 6 and 32" in html.unescape(bad.text)
    both = client.post(
        "/promotions/summer/codes", data={"csrf_token": csrf, "count": "5", "segment": "big"}
    )
    assert both.status_code == 400 and "give one" in html.unescape(both.text)
    assert len(codes_service.list_codes(shop, "summer")) == 12
    create(client, "/promotions/_new", promotion_form(csrf, "auto"))
    auto = client.post("/promotions/auto/codes", data={"csrf_token": csrf, "count": "1"})
    assert auto.status_code == 400 and "automatic" in auto.text
    assert client.get("/promotions/nope/codes.csv").status_code == 404


# ---- budget meters ------------------------------------------------------------------------


def meters_of(page: str) -> dict[str, tuple[str, str, str]]:
    found = re.findall(
        r'data-meter="([^"]+)">.*?<span class="used">([^<]*)</span> used / '
        r'<span class="left">([^<]*)</span> left.*?<span class="limit">([^<]*)</span>',
        page,
        re.S,
    )
    return {what: (used, left, limit) for what, used, left, limit in found}


def test_budget_meters_count_the_redemptions(web: tuple[TestClient, str], shop: Store) -> None:
    client, csrf = web
    now = dt.datetime.now(dt.UTC)
    campaign = {"code": "summer-camp", "budget": {"spend": "100.00", "usage": 3}}
    levers_service.put_lever(shop, "campaigns", "summer-camp", campaign, now, who="t")
    create(
        client,
        "/promotions/_new",
        promotion_form(csrf, "p1", campaign="summer-camp", usage_limit="10"),
    )
    create(client, "/promotions/_new", promotion_form(csrf, "p2", campaign="summer-camp"))
    create(client, "/promotions/_new", promotion_form(csrf, "p3"))
    repo = RedemptionRepository(shop)
    writes = [
        ("o1", [("p1", "12.50"), ("p2", "5.00")]),
        ("o2", [("p1", "7.25")]),
        ("o3", [("p2", "30.00")]),
        ("o4", [("p1", "40.00")]),  # cancelled below: released
    ]
    for order, parts in writes:
        redemptions = [
            Redemption(order, p, None, "c01", "summer-camp", Decimal(a), "USD", True)
            for p, a in parts
        ]
        with shop.transaction():
            repo.record(order, "c01", "{}", redemptions, now)
    with shop.transaction():
        repo.cancel("o4", now)
    # by hand: p1 used by o1, o2 (o4 released); the campaign granted 12.50 + 5.00 + 7.25
    # + 30.00 = 54.75 over orders o1, o2, o3
    page = client.get("/promotions/p1").text
    assert meters_of(page) == {
        "uses": ("2", "8", "10"),
        "campaign spend": ("54.75", "45.25", "100.00"),
        "campaign orders": ("3", "0", "3"),
    }
    listing = client.get("/promotions").text
    p2 = re.search(r'<tr data-promotion="p2">(.*?)</tr>', listing, re.S)
    assert p2 and meters_of(p2.group(1)) == {
        "campaign spend": ("54.75", "45.25", "100.00"),
        "campaign orders": ("3", "0", "3"),
    }
    p3 = re.search(r'<tr data-promotion="p3">(.*?)</tr>', listing, re.S)
    assert p3 and "no limit" in p3.group(1)
    # a campaign that has not started shows on its promotions' status
    later = {**campaign, "starts_at": "2999-01-01T00:00:00Z"}
    levers_service.put_lever(shop, "campaigns", "summer-camp", later, now, who="t")
    assert "scheduled (campaign)" in client.get("/promotions/p1").text


# ---- price lists ----------------------------------------------------------------------------


def price_list_form(csrf: str, code: str = "vip", **extra: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "code": code,
        "name": "VIP prices",
        "active": "on",
        "currency": "usd",
        "audience": "IN SEGMENT 'big'",
        "prices": 'sku,price,min_quantity\nB-2,4.00\n"A,1",9.00,1\n\n"A,1",8.50,10\n',
    }
    form.update(extra)
    return form


def test_price_lists_create_edit_delete_history(web: tuple[TestClient, str], shop: Store) -> None:
    client, csrf = web
    new = client.get("/price-lists/_new").text
    assert 'name="currency" value="USD"' in new  # the store's default currency
    create(client, "/price-lists/_new", price_list_form(csrf, priority="3"))
    page = client.get("/price-lists/vip").text
    assert flash(page) == "Price list created: vip (version 1)"
    data = stored(shop, "price_lists", "vip")
    assert data is not None
    assert data["currency"] == "USD" and data["priority"] == 3
    assert data["audience"] == "IN SEGMENT 'big'"
    assert data["prices"] == [
        {"sku": "A,1", "price": "9.00", "min_quantity": 1},
        {"sku": "A,1", "price": "8.50", "min_quantity": 10},
        {"sku": "B-2", "price": "4.00", "min_quantity": 1},
    ]
    table = re.findall(
        r'<tr><td><code>([^<]*)</code></td><td class="num">([^<]*)</td>'
        r'<td class="num">(\d+)</td></tr>',
        page,
    )
    assert table == [("A,1", "9.00 USD", "1"), ("A,1", "8.50 USD", "10"), ("B-2", "4.00 USD", "1")]
    listing = client.get("/price-lists").text
    row = re.search(r'<tr data-price-list="vip">(.*?)</tr>', listing, re.S)
    assert row and "USD" in row.group(1) and '<td class="num">3</td>' in row.group(1)

    reopened = form_of(client.get("/price-lists/vip/edit").text)
    assert reopened["version"] == "1"
    response = client.post("/price-lists/vip/edit", data=reopened)
    assert "Nothing changed" in flash(client.get(response.headers["location"]).text)
    changed = {**reopened, "prices": "A-1,7.00,2", "audience": ""}
    assert client.post("/price-lists/vip/edit", data=changed).status_code == 303
    data = stored(shop, "price_lists", "vip")
    assert data is not None and data["audience"] is None
    assert data["prices"] == [{"sku": "A-1", "price": "7.00", "min_quantity": 2}]
    assert "GLOBAL" in client.get("/price-lists/vip").text

    stale = client.post("/price-lists/vip/edit", data={**changed, "name": "Mine"})
    assert stale.status_code == 409 and "is at version 2, not version 1" in stale.text
    response = client.post("/price-lists/vip/delete", data={"csrf_token": csrf, "version": "2"})
    assert response.headers["location"] == "/price-lists"
    assert stored(shop, "price_lists", "vip") is None
    history = client.get("/price-lists/vip/history").text
    rows = re.findall(r'<td class="num">(\d+)</td>\s*<td>(\w+)</td>', history)
    assert rows == [("3", "delete"), ("2", "update"), ("1", "create")]


def test_bad_price_lists_are_placed_and_write_nothing(
    web: tuple[TestClient, str], shop: Store
) -> None:
    client, csrf = web
    prices = "A-1,9.00\nA-2,1.234,1\nA-3,1,2,3\nA-1,8.00,1\nA-4,2.00,many\n"
    response = client.post("/price-lists/_new", data=price_list_form(csrf, prices=prices))
    assert response.status_code == 400
    errors = field_error(response.text, "prices")
    assert "line 2: prices[1].price: 1.234 has more digits than USD allows" in errors
    assert "line 3: prices[2]: write sku,price,min_quantity (got 4 values)" in errors
    assert "line 4: prices[3].sku: duplicate price for" in errors
    assert 'line 5: prices[4].min_quantity: must be a positive integer, not "many"' in errors
    for extra, name, message in (
        ({"currency": "XYZ"}, "currency", "currency: "),
        ({"currency": ""}, "currency", "currency: is required"),
        ({"audience": "IN SEGMENT 'bgi'"}, "audience", ""),
    ):
        bad = client.post("/price-lists/_new", data=price_list_form(csrf, **extra))
        assert bad.status_code == 400, extra
        if name == "audience":
            assert "unknown segment 'bgi'" in html.unescape(
                bad.text.split('id="check-audience"')[1]
            )
        else:
            assert message in field_error(bad.text, name)
    live = client.post(
        "/price-lists/_validate",
        data={"audience": "totl_spent > 1"},
        headers={"X-CSRF-Token": csrf},
    )
    assert "unknown field 'totl_spent'" in html.unescape(live.text)
    assert levers_service.lever_rows(shop, "price_lists") == []
