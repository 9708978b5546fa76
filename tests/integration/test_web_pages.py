"""The admin web pages through the real app (``create_app``) on both stores: login and
sessions, CSRF, the builder's live validation and preview, save, detail, edit review,
delete confirmation, manual bulk add/remove, the customer page, and escaping."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from segmint.importing.api import import_file
from segmint.services import auth
from segmint.services import segments as svc
from segmint.store.base import Store

CUSTOMERS = "id,email,city\n" + "".join(f"c{i:02d},c{i}@x.io,Lyon\n" for i in range(1, 13))
ORDERS = "order_id,customer_id,placed_at,status,total\n" + "".join(
    f"o{i},c{i:02d},2024-04-0{1 + i % 9}T10:00:00Z,paid,{i * 50}\n" for i in range(1, 9)
)
PASSWORD = "correct horse battery"


@pytest.fixture()
def shop(store: Store, tmp_path: Path) -> Store:
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "orders.csv").write_text(ORDERS)
    import_file(store, "customers", tmp_path / "customers.csv")
    import_file(store, "orders", tmp_path / "orders.csv")
    auth.create_user(store, "ada", PASSWORD, dt.datetime.now(dt.UTC))
    return store


@pytest.fixture()
def anon(shop: Store, store_url: str) -> Iterator[TestClient]:
    from segmint.api.app import create_app

    app = create_app(store_url)
    with TestClient(app, follow_redirects=False) as client:
        yield client


def login_csrf(client: TestClient) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    found = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def log_in(client: TestClient, password: str = PASSWORD) -> str:
    """Log in; returns the session's CSRF token (from a page's form)."""
    response = client.post(
        "/login",
        data={"login_csrf": login_csrf(client), "username": "ada", "password": password},
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/segments").text)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


@pytest.fixture()
def web(anon: TestClient) -> tuple[TestClient, str]:
    return anon, log_in(anon)


def flash(page: str) -> str:
    found = re.search(r'class="flash"[^>]*>(.*?)</div>', page, re.S)
    assert found, page
    return html.unescape(found.group(1)).strip()


def rule_form(csrf: str, code: str, rule: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "code": code,
        "name": code.title(),
        "kind": "rule",
        "rule_text": rule,
        "active_shown": "1",
        "active": "on",
        **extra,
    }


def create(client: TestClient, form: dict[str, str]) -> str:
    response = client.post("/segments/new", data=form, follow_redirects=True)
    assert response.status_code == 200, response.text
    return response.text


# ---- login and sessions -----------------------------------------------------------------


def test_pages_require_login(anon: TestClient) -> None:
    assert anon.get("/").headers["location"] == "/login"
    for path in ("/segments", "/segments/new", "/segments/x", "/customers/c01"):
        response = anon.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    # htmx calls without a session send the page to the login form; posts do nothing
    response = anon.post(
        "/segments/validate", data={"rule_text": "x"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 401 and response.headers["HX-Redirect"] == "/login"
    response = anon.post("/segments/new", data={"code": "x", "name": "x", "kind": "manual"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    page = anon.get("/login")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_login_wrong_password_then_right_and_logout(anon: TestClient) -> None:
    response = anon.post(
        "/login",
        data={"login_csrf": login_csrf(anon), "username": "ada", "password": "nope nope"},
    )
    assert response.status_code == 401
    assert "Wrong username or password" in response.text
    assert "segmint_session" not in anon.cookies

    response = anon.post(
        "/login",
        data={
            "login_csrf": login_csrf(anon),
            "username": "ada",
            "password": PASSWORD,
            "next": "/segments/new",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/segments/new"
    cookie = response.headers["set-cookie"]
    assert "segmint_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert anon.get("/").headers["location"] == "/segments"
    page = anon.get("/segments")
    assert page.status_code == 200 and "ada" in page.text

    response = anon.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303
    anon.cookies.clear()
    assert anon.get("/segments").status_code == 303


def test_login_refuses_offsite_next_and_forged_form(anon: TestClient) -> None:
    response = anon.post(
        "/login",
        data={
            "login_csrf": login_csrf(anon),
            "username": "ada",
            "password": PASSWORD,
            "next": "/\t/evil.example/x",
        },
    )
    assert response.headers["location"] == "/segments"
    anon.cookies.clear()
    # a login form posted from elsewhere has no matching double-submit token
    response = anon.post("/login", data={"username": "ada", "password": PASSWORD})
    assert response.status_code == 403


def test_csrf_is_enforced_on_every_post(web: tuple[TestClient, str], shop: Store) -> None:
    client, csrf = web
    form = rule_form(csrf, "buyers", "orders_count >= 1")
    cases = [
        ("/segments/new", form),
        ("/segments/validate", {"rule_text": "orders_count >= 1"}),
        ("/segments/preview", form),
        ("/logout", {}),
    ]
    for path, data in cases:
        without = {k: v for k, v in data.items() if k != "csrf_token"}
        assert client.post(path, data=without).status_code == 403, path
        assert client.post(path, data={**without, "csrf_token": "forged"}).status_code == 403
        assert (
            client.post(path, data=without, headers={"X-CSRF-Token": csrf + "x"}).status_code == 403
        )
    assert svc.find_segment(shop, "buyers") is None
    # the htmx header carries the token as well as the form field does
    response = client.post(
        "/segments/validate",
        data={"rule_text": "orders_count >= 1"},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 200
    create(client, form)
    for path in ("/segments/buyers/edit", "/segments/buyers/delete"):
        assert client.post(path, data={**form, "csrf_token": "forged"}).status_code == 403
    assert client.post("/segments/buyers/members/add", data={"ids": "c01"}).status_code == 403
    assert svc.find_segment(shop, "buyers") is not None


# ---- builder -----------------------------------------------------------------------------


def test_validation_fragment_shows_the_positioned_error(web: tuple[TestClient, str]) -> None:
    client, csrf = web
    response = client.post(
        "/segments/validate",
        data={"rule_text": "city = 'Lyon'\n  AND ordrs_count >= 2", "kind": "rule"},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert response.status_code == 200
    text = html.unescape(response.text)
    assert "unknown field 'ordrs_count'" in text
    assert "line 2, column 7" in text
    assert "orders_count" in text  # the suggestion
    assert "  AND ordrs_count >= 2\n        ^^^^^^^^^^^" in text
    assert "<html" not in response.text  # a fragment, not a page

    ok = client.post(
        "/segments/validate",
        data={"rule_text": "orders_count >= 2"},
        headers={"X-CSRF-Token": csrf},
    )
    assert "The rule is valid" in ok.text
    realtime = client.post(
        "/segments/validate",
        data={"rule_text": "cart.subtotal > 10", "kind": "rule"},
        headers={"X-CSRF-Token": csrf},
    )
    assert "rule-error" in realtime.text and "real-time field" in realtime.text
    as_realtime = client.post(
        "/segments/validate",
        data={"rule_text": "cart.subtotal > 10", "kind": "realtime"},
        headers={"X-CSRF-Token": csrf},
    )
    assert "The rule is valid" in as_realtime.text


def test_preview_save_detail_and_list(web: tuple[TestClient, str]) -> None:
    client, csrf = web
    form = rule_form(csrf, "big", "total_spent >= 200")
    preview = client.post("/segments/preview", data=form)
    assert preview.status_code == 200
    # c04..c08 spent 200..400
    assert "<strong>5</strong> customers would be members" in preview.text
    assert all(f">c0{i}<" in preview.text for i in range(4, 9))

    typo = client.post("/segments/preview", data={**form, "rule_text": "total_spnt >= 200"})
    assert "unknown field" in html.unescape(typo.text)

    bad = client.post("/segments/new", data={**form, "rule_text": "total_spent >="})
    assert bad.status_code == 400
    assert "rule-error" in bad.text and "total_spent &gt;=" in bad.text  # kept, escaped

    page = create(client, form)
    assert flash(page) == "Segment created: big; 5 members"
    assert 'class="member-count">5<' in page
    assert "<svg" in page and "<polyline" in page
    assert all(f">c0{i}</a>" in page for i in range(4, 9))

    listing = client.get("/segments").text
    row = re.search(r"<tr>\s*<td><a href=\"/segments/big\">.*?</tr>", listing, re.S)
    assert row
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    assert cells[1:4] == ["Big", "rule", "5"]
    assert cells[4] == "41.7%"  # of the 12 customers
    assert "exact — updated at" in cells[7] and "active" in cells[6]

    duplicate = client.post("/segments/new", data=form)
    assert duplicate.status_code == 400 and "already exists" in duplicate.text


def test_purchase_requirements_form(web: tuple[TestClient, str], shop: Store) -> None:
    client, csrf = web
    form = {
        "csrf_token": csrf,
        "code": "spenders",
        "name": "Spenders",
        "kind": "purchase",
        "min_spend": "300",
        "window": "dates",
        "date_from": "2024-01-01",
        "date_to": "2024-12-31",
        "rule_text": "ignored for this kind",
    }
    preview = client.post("/segments/preview", data=form)
    assert "<strong>3</strong> customers" in preview.text  # c06, c07, c08
    page = create(client, form)
    assert flash(page) == "Segment created: spenders; 3 members"
    stored = svc.get_segment(shop, "spenders").definition
    assert stored.purchase is not None and stored.purchase.date_to == dt.date(2024, 12, 31)
    bad = client.post("/segments/new", data={**form, "code": "x2", "min_spend": "lots"})
    assert bad.status_code == 400 and "is not a number" in html.unescape(bad.text)
    assert "built-in method" not in bad.text + client.get("/segments/new").text


def test_members_are_paginated_and_searchable(web: tuple[TestClient, str], shop: Store) -> None:
    client, csrf = web
    create(client, {**rule_form(csrf, "everyone", "city = 'Lyon'")})
    page = client.get("/segments/everyone").text
    assert "12 members" in page
    page = client.get("/segments/everyone", params={"q": "c1"}).text
    # id, name or e-mail contains: c10-c12 by id, c01 by its e-mail c1@x.io
    assert "4 members matching" in page
    assert ">c10</a>" in page and ">c01</a>" in page and ">c02</a>" not in page
    import segmint.web.routes as routes

    old = routes.PAGE_SIZE
    routes.PAGE_SIZE = 5
    try:
        second = client.get("/segments/everyone", params={"page": 2}).text
    finally:
        routes.PAGE_SIZE = old
    assert "page 2 of 3" in second and ">c06</a>" in second and ">c05</a>" not in second


# ---- edit and delete ---------------------------------------------------------------------


def test_edit_shows_who_enters_and_leaves_before_saving(
    web: tuple[TestClient, str], shop: Store
) -> None:
    client, csrf = web
    create(client, rule_form(csrf, "big", "total_spent >= 200"))
    edit = client.get("/segments/big/edit")
    assert edit.status_code == 200 and "total_spent &gt;= 200" in edit.text

    changed = rule_form(csrf, "big", "total_spent >= 100 AND total_spent < 300")
    review = client.post("/segments/big/edit", data=changed)
    assert review.status_code == 200
    enters = re.search(r"Who enters</h2>(.*?)</div>", review.text, re.S)
    leaves = re.search(r"Who leaves</h2>(.*?)</div>", review.text, re.S)
    assert enters and leaves
    assert re.findall(r">(c\d\d)</a>", enters.group(1)) == ["c02", "c03"]
    assert re.findall(r">(c\d\d)</a>", leaves.group(1)) == ["c06", "c07", "c08"]
    assert svc.get_segment(shop, "big").version == 1  # not saved yet

    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', review.text))
    hidden = {k: html.unescape(v) for k, v in hidden.items()}
    assert 'name="confirm" value="yes"' in review.text
    back = client.post("/segments/big/edit", data={**hidden, "confirm": "back"})
    assert "total_spent &gt;= 100 AND total_spent &lt; 300</textarea>" in back.text
    saved = client.post(
        "/segments/big/edit", data={**hidden, "confirm": "yes"}, follow_redirects=True
    )
    assert flash(saved.text) == ("Segment updated (version 2); memberships recalculated: +2 / −3")
    assert svc.members(shop, "big") == ["c02", "c03", "c04", "c05"]
    # the diff is also available as a preview fragment from the edit page
    again = client.post(
        "/segments/preview", data={**rule_form(csrf, "big", "total_spent >= 50"), "editing": "big"}
    )
    assert "+4 enter" in again.text and "−0 leave" in html.unescape(again.text)


def test_saving_an_edit_over_a_newer_version_is_refused(
    web: tuple[TestClient, str], shop: Store
) -> None:
    client, csrf = web
    create(client, rule_form(csrf, "big", "total_spent >= 200"))
    edit = client.get("/segments/big/edit")
    assert '<input type="hidden" name="version" value="1">' in edit.text
    # Someone else saves version 2 while this form is open.
    other = svc.get_segment(shop, "big").definition.with_changes(rule_text="total_spent >= 300")
    svc.update_segment(shop, other, dt.datetime.now(dt.UTC))
    form = {**rule_form(csrf, "big", "total_spent >= 100"), "version": "1", "confirm": "yes"}
    refused = client.post("/segments/big/edit", data=form)
    assert refused.status_code == 400
    assert "is at version 2, not 1" in html.unescape(refused.text)
    record = svc.get_segment(shop, "big")
    assert record.version == 2 and record.definition.rule_text == "total_spent >= 300"


def test_delete_confirmation_and_refusal(web: tuple[TestClient, str], shop: Store) -> None:
    client, csrf = web
    create(client, {**rule_form(csrf, "big", "total_spent >= 200"), "user_group": "vip"})
    create(client, rule_form(csrf, "big-lyon", "IN SEGMENT 'big' AND city = 'Lyon'"))

    refused = client.get("/segments/big/delete").text
    assert "cannot be deleted" in refused and 'href="/segments/big-lyon"' in refused
    assert 'action="/segments/big/delete"' not in refused
    forced = client.post("/segments/big/delete", data={"csrf_token": csrf}, follow_redirects=True)
    assert "referenced by segment big-lyon" in flash(forced.text)
    assert svc.find_segment(shop, "big") is not None

    confirm = client.get("/segments/big-lyon/delete").text
    assert "What will stop being targeted" in confirm
    assert 'class="member-count">5<' in confirm and "big-lyon" in confirm
    done = client.post(
        "/segments/big-lyon/delete", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert flash(done.text) == "Segment deleted: big-lyon; 5 members left it"
    assert svc.find_segment(shop, "big-lyon") is None
    confirm = client.get("/segments/big/delete").text
    assert "user group <strong>vip</strong>" in confirm
    assert client.get("/segments/nope/delete").status_code == 404


# ---- manual segments ---------------------------------------------------------------------


def test_manual_segment_bulk_add_and_remove(web: tuple[TestClient, str], shop: Store) -> None:
    client, csrf = web
    page = create(
        client,
        {"csrf_token": csrf, "code": "hand", "name": "Hand picked", "kind": "manual"},
    )
    assert flash(page) == "Segment created: hand; 0 members"
    assert 'action="/segments/hand/members/add"' in page

    added = client.post(
        "/segments/hand/members/add",
        data={"csrf_token": csrf, "ids": "c01\nc02, c03\n\n"},
        files={"file": ("ids.csv", b"id,note\nc04,x\nc05,y\n", "text/csv")},
        follow_redirects=True,
    )
    assert flash(added.text) == "5 customers added; memberships: +5 / −0"
    assert svc.members(shop, "hand") == ["c01", "c02", "c03", "c04", "c05"]
    assert all(f">c0{i}</a>" in added.text for i in range(1, 6))

    unknown = client.post(
        "/segments/hand/members/add",
        data={"csrf_token": csrf, "ids": "c06\nghost"},
        follow_redirects=True,
    )
    assert "unknown customer id" in flash(unknown.text) and "ghost" in flash(unknown.text)
    assert len(svc.members(shop, "hand")) == 5  # nothing changed

    removed = client.post(
        "/segments/hand/members/remove",
        data={"csrf_token": csrf},
        files={"file": ("ids.txt", b"c01\nc02\n", "text/plain")},
        follow_redirects=True,
    )
    assert flash(removed.text) == "2 customers removed; memberships: +0 / −2"
    assert svc.members(shop, "hand") == ["c03", "c04", "c05"]
    # the chart is drawn from history: 5 entries, 2 exits
    assert "peak 5 · now 3 · 7 changes" in removed.text
    assert re.search(r'<polyline [^>]*points="[0-9., ]+"', removed.text)
    listing = client.get("/segments").text
    row = re.search(r'<a href="/segments/hand">.*?</tr>', listing, re.S)
    assert row and ">3<" in row.group(0)
    empty = client.post(
        "/segments/hand/members/remove", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "no customer ids given" in flash(empty.text)


# ---- customers -----------------------------------------------------------------------------


def test_customer_page_shows_segments_and_groups(web: tuple[TestClient, str], shop: Store) -> None:
    client, csrf = web
    create(client, {**rule_form(csrf, "big", "total_spent >= 200"), "user_group": "vip"})
    create(client, {"csrf_token": csrf, "code": "hand", "name": "Hand", "kind": "manual"})
    client.post("/segments/hand/members/add", data={"csrf_token": csrf, "ids": "c05"})
    from segmint.services import user_groups

    user_groups.assign_group(shop, "c05", "vip", dt.datetime.now(dt.UTC))

    page = client.get("/customers/c05").text
    assert "Customer <code>c05</code>" in page
    segments = re.search(r"<h2>Segments</h2>(.*?)</table>", page, re.S)
    groups = re.search(r"<h2>User groups</h2>(.*?)</table>", page, re.S)
    assert segments and groups
    # the why: the explain tree of the rule for c05 (one order of 250), or "added by hand"
    assert 'href="/segments/big"' in segments.group(1) and ">rule<" not in segments.group(1)
    assert "<code>total_spent &gt;= 200</code>" in segments.group(1)
    assert "total spent is 250" in segments.group(1)
    assert 'href="/segments/hand"' in segments.group(1) and "added by hand" in segments.group(1)
    orders = re.search(r"<h2>Recent orders</h2>(.*?)</table>", page, re.S)
    assert orders and "<code>o5</code>" in orders.group(1) and ">250.00<" in orders.group(1)
    assert re.search(
        r"<td>vip</td><td><span class=\"chip\">explicit</span>\s*"
        r"<span class=\"chip\">segment:big</span>",
        groups.group(1),
    )
    assert "segment:hand" in groups.group(1)
    assert client.get("/customers/ghost").status_code == 404
    assert client.get("/customers", params={"id": "c05"}).headers["location"] == "/customers/c05"


# ---- escaping ------------------------------------------------------------------------------


def test_hostile_names_rules_and_ids_are_escaped(
    web: tuple[TestClient, str], shop: Store, tmp_path: Path
) -> None:
    client, csrf = web
    evil = "<script>alert(1)</script>"
    (tmp_path / "evil.csv").write_text(
        f'id,email,first_name\n"<img src=x onerror=alert(2)>",e@x,"{evil}"\n'
    )
    import_file(shop, "customers", tmp_path / "evil.csv")
    form = rule_form(csrf, "evil", f"email = '{evil}' OR first_name = '{evil}'")
    form["name"] = evil
    form["description"] = '"><svg onload=alert(3)>'
    pages = [create(client, form), client.get("/segments").text]
    pages.append(client.get("/segments/evil/delete").text)
    pages.append(client.post("/segments/evil/edit", data=form).text)
    pages.append(client.get("/segments/evil/edit").text)
    pages.append(
        client.post(
            "/segments/validate",
            data={"rule_text": f"{evil} = 1"},
            headers={"X-CSRF-Token": csrf},
        ).text
    )
    pages.append(client.post("/segments/preview", data=form).text)
    customer = "<img src=x onerror=alert(2)>"
    pages.append(client.get("/customers/" + customer.replace("/", "%2F")).text)
    for page in pages:
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "<svg onload" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    assert "%3Cimg%20src%3Dx" in pages[0] or "%3Cimg%20src%3Dx" in pages[-2]


def test_realtime_segment_from_the_builder(web: tuple[TestClient, str]) -> None:
    client, csrf = web
    form = rule_form(csrf, "cart-big", "cart.subtotal > 100", kind="realtime")
    preview = client.post("/segments/preview", data=form)
    assert "evaluated per request" in preview.text
    page = create(client, form)
    assert flash(page) == "Segment created: cart-big (real-time: evaluated per request)"
    assert "— (real-time)" in page and "<svg" not in page
    listing = client.get("/segments").text
    assert "real-time (evaluated per request)" in listing
    # a rule kind refuses a rule that reads request context, positioned
    bad = client.post("/segments/new", data=rule_form(csrf, "cart-rule", "cart.subtotal > 100"))
    assert bad.status_code == 400 and "rule-error" in bad.text
