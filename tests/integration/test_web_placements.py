"""The placement pages through the real app on both stores: create, edit, delete and
history through the forms; positioned errors that write nothing; a stale edit refused;
reach checked against the engines; "see it as" for a member, a non-member and an
anonymous visitor; roles and CSRF; hostile content shown escaped."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import web_session
from segmint.engine.match import match, match_python
from segmint.importing.api import import_file
from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.rules import check, parse
from segmint.services import auth
from segmint.services import levers as levers_service
from segmint.services import segments as segments_service
from segmint.store.base import Store

CUSTOMERS = "id,email,city\n" + "".join(f"c{i:02d},c{i}@x.io,Lyon\n" for i in range(1, 13))
# c01..c08 ordered once each, for 50 × i: total_spent >= 200 is c04..c08
ORDERS = "order_id,customer_id,placed_at,status,total\n" + "".join(
    f"o{i},c{i:02d},2024-04-0{1 + i % 9}T10:00:00Z,paid,{i * 50}\n" for i in range(1, 9)
)
PASSWORD = web_session.PASSWORD
BIG = "total_spent >= 200"


@pytest.fixture()
def shop(store: Store, tmp_path: Path) -> Store:
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "orders.csv").write_text(ORDERS)
    import_file(store, "customers", tmp_path / "customers.csv")
    import_file(store, "orders", tmp_path / "orders.csv")
    now = dt.datetime.now(dt.UTC)
    auth.create_user(store, "ada", PASSWORD, now)
    auth.create_user(store, "mark", PASSWORD, now, role="marketer")
    big = SegmentDefinition(code="big", name="Big", kind=SegmentKind.RULE, rule_text=BIG)
    segments_service.create_segment(store, big, now)
    return store


@pytest.fixture()
def client(shop: Store, store_url: str) -> Iterator[TestClient]:
    from segmint.api.app import create_app

    with TestClient(create_app(store_url), follow_redirects=False) as c:
        yield c


def log_in(client: TestClient, username: str = "ada") -> str:
    return web_session.log_in(client, username, page="/placements")


@pytest.fixture()
def web(client: TestClient) -> tuple[TestClient, str]:
    return client, log_in(client)


flash = web_session.flash


def item_fields(row: int, code: str, audience: str = "", **extra: str) -> dict[str, str]:
    p = f"item-{row}-"
    fields = {
        p + "code": code,
        p + "audience": audience,
        p + "active": "on",
        p + "content": json.dumps({"title": code}),
    }
    fields.update({p + k: v for k, v in extra.items()})
    return fields


def placement_form(csrf: str, code: str, *items: dict[str, str], **extra: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "code": code,
        "name": code.title(),
        "type": "news_feed",
        "active": "on",
        "action": "save",
        "item_count": str(len(items)),
    }
    for fields in items:
        form.update(fields)
    form.update(extra)  # last: an extra item field overrides the item's own
    return form


def feed_form(csrf: str, **extra: str) -> dict[str, str]:
    return placement_form(
        csrf,
        "home-feed",
        item_fields(0, "all-news"),
        item_fields(1, "big-news", "IN SEGMENT 'big'", priority="5"),
        **extra,
    )


def create_feed(client: TestClient, csrf: str) -> None:
    response = client.post("/placements/_new", data=feed_form(csrf))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/placements/home-feed"


def version_of(page: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', page)
    assert found, page
    return found.group(1)


def stored(shop: Store, code: str = "home-feed") -> dict[str, Any] | None:
    rows = {r.code: r for r in levers_service.lever_rows(shop, "placements")}
    return rows[code].data if code in rows else None


def shown_items(page: str, placement: str = "home-feed") -> list[str]:
    block = re.search(
        rf'data-placement="{placement}">(.*?)(?:<div class="placement-answer"|</section>)',
        page,
        re.S,
    )
    assert block, page
    shown = re.search(r'<ol class="shown">(.*?)</ol>', block.group(1), re.S)
    return re.findall(r'<li data-item="([^"]+)"', shown.group(1)) if shown else []


# ---- create, edit, delete, history ---------------------------------------------------------


def test_create_edit_delete_and_history(web: tuple[TestClient, str], shop: Store) -> None:
    client, csrf = web
    assert client.get("/placements/_new").status_code == 200
    create_feed(client, csrf)
    page = client.get("/placements/home-feed", follow_redirects=True)
    assert "Placement created: home-feed (version 1)" in flash(page.text)
    data = stored(shop)
    assert data is not None
    items = {i["code"]: i for i in data["items"]}
    assert items["all-news"]["audience"] is None
    assert items["big-news"]["audience"] == "IN SEGMENT 'big'"
    assert items["big-news"]["priority"] == 5
    assert items["big-news"]["content"] == {"title": "big-news"}
    # the list: code, type, mode (the type's default), items, status
    listing = client.get("/placements").text
    assert "home-feed" in listing and "news_feed" in listing and "multi" in listing
    assert re.search(r'class="num">2</td>', listing)
    # the page: GLOBAL shown as such, in priority order
    assert page.text.index('data-item="big-news"') < page.text.index('data-item="all-news"')
    assert "GLOBAL" in page.text

    edit = client.get("/placements/home-feed/edit")
    assert edit.status_code == 200 and version_of(edit.text) == "1"
    form = feed_form(
        csrf,
        version="1",
        max_items="1",
        starts_at="2020-01-01",
        stores="web, app",
        **{"item-1-content": '{"title": "Big spenders", "link": "/big"}'},
    )
    response = client.post("/placements/home-feed/edit", data=form)
    assert response.status_code == 303, response.text
    data = stored(shop)
    assert data is not None
    assert data["max_items"] == 1 and data["stores"] == ["web", "app"]
    assert data["starts_at"] == "2020-01-01T00:00:00Z"  # a date is read as UTC midnight
    assert data["items"][1]["content"] == {"title": "Big spenders", "link": "/big"}
    # saving the same again writes no version
    response = client.post("/placements/home-feed/edit", data={**form, "version": "2"})
    assert "Nothing changed" in flash(client.get(response.headers["location"]).text)

    # removing an item, adding a row (the form comes back with one more, nothing saved)
    more = client.post("/placements/home-feed/edit", data={**form, "action": "add_item"})
    assert more.status_code == 200 and 'name="item_count" value="3"' in more.text
    assert levers_service.show_lever(shop, "placements", "home-feed").version == 2
    removed = {**form, "version": "2", "item-0-remove": "on"}
    assert client.post("/placements/home-feed/edit", data=removed).status_code == 303
    data = stored(shop)
    assert data is not None and [i["code"] for i in data["items"]] == ["big-news"]

    confirm = client.get("/placements/home-feed/delete")
    assert confirm.status_code == 200 and version_of(confirm.text) == "3"
    response = client.post(
        "/placements/home-feed/delete", data={"csrf_token": csrf, "version": "3"}
    )
    assert response.status_code == 303 and response.headers["location"] == "/placements"
    assert "Placement deleted: home-feed" in flash(client.get("/placements").text)
    assert stored(shop) is None
    assert client.get("/placements/home-feed").status_code == 404

    history = client.get("/placements/home-feed/history").text
    rows = re.findall(r'<td class="num">(\d+)</td>\s*<td>(\w+)</td>', history)
    assert rows == [("4", "delete"), ("3", "update"), ("2", "update"), ("1", "create")]
    assert history.count("web:ada") == 4


def test_a_code_already_taken_is_refused_on_create(web: tuple[TestClient, str]) -> None:
    client, csrf = web
    create_feed(client, csrf)
    again = client.post("/placements/_new", data=feed_form(csrf))
    assert again.status_code == 409
    assert "already exists" in html.unescape(again.text)


def test_bad_audience_and_content_are_positioned_and_write_nothing(
    web: tuple[TestClient, str], shop: Store
) -> None:
    client, csrf = web
    form = placement_form(
        csrf,
        "home-feed",
        item_fields(0, "ok-item"),
        item_fields(1, "typo", "totl_spent > 100"),
        item_fields(2, "bad-json", **{"content": '{"title": '}),
        item_fields(3, "not-object", **{"content": "[1, 2]", "priority": "high"}),
        item_fields(4, "bad-segment", "IN SEGMENT 'bgi'"),
        type="banner",
        max_items="3",
    )
    response = client.post("/placements/_new", data=form)
    assert response.status_code == 400
    page = response.text

    def under(row: int) -> str:
        found = re.search(rf'id="item-{row}">(.*?)</fieldset>', page, re.S)
        assert found, page
        return html.unescape(found.group(1))

    typo = under(1)
    assert "unknown field 'totl_spent'" in typo and "line 1, column 1" in typo
    assert "total_spent" in typo  # the suggestion
    assert "^^^^^^^^^^" in typo  # the caret under the field
    assert "invalid JSON at line 1, column 11" in under(2)
    assert "must be a JSON object" in under(3)
    assert 'must be an integer, not "high"' in under(3)
    assert "unknown segment 'bgi'" in under(4) and "big" in under(4)
    assert "unknown field" not in under(0) and "invalid" not in under(0)
    # a single placement (banner) takes no max_items: said next to the field
    assert re.search(r'data-field="max_items">[^<]*multi placements only', page)
    # the values typed are kept
    assert "totl_spent &gt; 100" in page
    assert stored(shop) is None
    assert levers_service.lever_rows(shop, "placements") == []


def test_live_audience_validation(web: tuple[TestClient, str]) -> None:
    client, csrf = web

    def validate(text: str) -> str:
        response = client.post(
            "/placements/_validate",
            data={"item-3-audience": text},
            headers={"X-CSRF-Token": csrf},  # as htmx sends it
        )
        assert response.status_code == 200
        return html.unescape(response.text)

    assert "GLOBAL" in validate("")
    assert "The audience is valid" in validate("IN SEGMENT 'big' AND context.view = 'business'")
    wrong = validate("orders_count >= 'x'")
    assert "line 1" in wrong and "^" in wrong
    assert "unknown segment 'nope'" in validate("IN SEGMENT 'nope'")
    # htmx posts the whole form: the audience checked is the one that triggered the call
    both = {"item-0-audience": "", "item-1-audience": "IN SEGMENT 'nope'"}
    response = client.post(
        "/placements/_validate",
        data=both,
        headers={"X-CSRF-Token": csrf, "HX-Trigger-Name": "item-1-audience"},
    )
    assert "unknown segment 'nope'" in html.unescape(response.text)
    response = client.post(
        "/placements/_validate",
        data=both,
        headers={"X-CSRF-Token": csrf, "HX-Trigger-Name": "item-0-audience"},
    )
    assert "GLOBAL" in response.text


def test_a_stale_edit_is_refused(web: tuple[TestClient, str], shop: Store) -> None:
    client, csrf = web
    create_feed(client, csrf)
    opened = version_of(client.get("/placements/home-feed/edit").text)
    # someone else saves meanwhile
    other = {**levers_service.show_lever(shop, "placements", "home-feed").data, "name": "Theirs"}
    levers_service.put_lever(
        shop, "placements", "home-feed", other, dt.datetime.now(dt.UTC), who="cli:bob"
    )
    form = feed_form(csrf, version=opened, name="Mine")
    response = client.post("/placements/home-feed/edit", data=form)
    assert response.status_code == 409
    text = html.unescape(response.text)
    assert "is at version 2, not version 1" in text and "not saved" in text
    assert 'value="Mine"' in text  # the draft is kept to copy from
    data = stored(shop)
    assert data is not None and data["name"] == "Theirs"
    # a stale delete is refused too
    response = client.post(
        "/placements/home-feed/delete", data={"csrf_token": csrf, "version": opened}
    )
    assert response.status_code == 303
    assert "at version 2" in flash(client.get(response.headers["location"]).text)
    assert stored(shop) is not None


# ---- reach -------------------------------------------------------------------------------


def reach_of(page: str, item: str) -> tuple[str, str | None]:
    row = re.search(rf'<tr data-item="{item}">(.*?)</tr>', page, re.S)
    assert row, page
    cell = re.search(r'class="reach" data-kind="(\w+)">(.*?)</td>', row.group(1), re.S)
    assert cell
    count = re.search(r'class="reach-count">(\d+)<', cell.group(2))
    return cell.group(1), count.group(1) if count else None


def test_reach_matches_the_engines(web: tuple[TestClient, str], shop: Store) -> None:
    client, csrf = web
    audiences = {
        "everyone": "",
        "big-news": "IN SEGMENT 'big'",
        "lyon-small": "city = 'Lyon' AND total_spent < 200",
        "business": "context.view = 'business'",
        "new-b2b": "context.view IS NULL AND orders_count = 0",
    }
    items = [item_fields(i, code, rule) for i, (code, rule) in enumerate(audiences.items())]
    assert (
        client.post("/placements/_new", data=placement_form(csrf, "feed", *items)).status_code
        == 303
    )
    page = client.get("/placements/feed").text
    now = dt.datetime.now(dt.UTC)
    schema = shop.rule_schema()

    def sql(rule: str) -> str:
        return str(len(match(shop, check(parse(rule), schema), now)))

    assert reach_of(page, "everyone") == ("global", str(len(shop.customer_ids())))
    assert reach_of(page, "big-news") == ("stored", sql("IN SEGMENT 'big'"))
    assert reach_of(page, "big-news")[1] == "5"  # c04..c08
    assert reach_of(page, "lyon-small") == ("stored", sql(audiences["lyon-small"]))
    assert reach_of(page, "business") == ("request", None)
    assert "depends on the request" in page
    realtime = check(parse(audiences["new-b2b"]), schema, allow_realtime=True)
    assert reach_of(page, "new-b2b") == ("realtime", str(len(match_python(shop, realtime, now))))
    assert reach_of(page, "new-b2b")[1] == "4"  # c09..c12 never ordered
    assert "empty request context" in page


# ---- see it as -----------------------------------------------------------------------------


def test_see_it_as_a_member_a_non_member_and_anonymous(web: tuple[TestClient, str]) -> None:
    client, csrf = web
    create_feed(client, csrf)
    member = client.get("/placements/home-feed?see=1&who=customer&customer_id=c05").text
    assert shown_items(member) == ["big-news", "all-news"]
    assert "Customer" in member and "c05" in member and "big" in member

    other = client.get("/placements/home-feed", params={"see": "1", "customer_id": "c01"}).text
    assert shown_items(other) == ["all-news"]
    row = re.search(
        r'<tr data-item="big-news">(.*?)</tr>', other.split('class="list rejected"')[1], re.S
    )
    assert row and "audience" in row.group(1)
    assert "IN SEGMENT" in html.unescape(row.group(1))  # the false part

    anonymous = client.get(
        "/see-as", params={"see": "1", "who": "anonymous", "view": "business", "query": "a=1"}
    ).text
    assert "anonymous visitor" in anonymous
    assert shown_items(anonymous) == ["all-news"]
    assert "login_required" in anonymous

    unknown = client.get("/see-as", params={"see": "1", "customer_id": "zz"}).text
    assert "no such customer" in unknown and shown_items(unknown) == ["all-news"]
    bad = client.get("/see-as", params={"see": "1", "who": "anonymous", "query": "oops"}).text
    assert "line 1: expected key=value" in html.unescape(bad)
    missing = client.get("/see-as", params={"see": "1", "who": "customer"}).text
    assert "give one, or choose an anonymous visitor" in missing
    # schedules follow as_of: before the placement starts, nothing shows
    form = feed_form(csrf, version="1", starts_at="2030-01-01T00:00:00Z")
    assert client.post("/placements/home-feed/edit", data=form).status_code == 303
    early = client.get("/see-as", params={"see": "1", "customer_id": "c05"}).text
    assert shown_items(early) == [] and "not_started" in early
    later = client.get(
        "/see-as", params={"see": "1", "customer_id": "c05", "as_of": "2030-06-01T00:00:00Z"}
    ).text
    assert shown_items(later) == ["big-news", "all-news"]


def test_see_it_as_follows_an_edit_at_once(web: tuple[TestClient, str]) -> None:
    client, csrf = web
    create_feed(client, csrf)
    before = client.get("/see-as", params={"see": "1", "customer_id": "c01"}).text
    assert shown_items(before) == ["all-news"]  # the catalog is now cached
    form = feed_form(csrf, version="1", **{"item-1-audience": "IN SEGMENT 'big' OR city = 'Lyon'"})
    assert client.post("/placements/home-feed/edit", data=form).status_code == 303
    after = client.get("/see-as", params={"see": "1", "customer_id": "c01"}).text
    assert shown_items(after) == ["big-news", "all-news"]


# ---- roles, CSRF, escaping ---------------------------------------------------------------------


def test_roles_and_csrf(client: TestClient, shop: Store) -> None:
    # no session: the login, and nothing written
    assert client.get("/placements").status_code == 303
    response = client.post("/placements/_new", data=feed_form("x"))
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert stored(shop) is None
    # a marketer writes placements
    csrf = log_in(client, "mark")
    for path, data in (
        ("/placements/_new", feed_form("")),
        ("/placements/_validate", {"item-0-audience": "x"}),
    ):
        no_token = {k: v for k, v in data.items() if k != "csrf_token"}
        assert client.post(path, data=no_token).status_code == 403
        assert client.post(path, data={**no_token, "csrf_token": "forged"}).status_code == 403
    assert stored(shop) is None
    create_feed(client, csrf)
    assert levers_service.show_lever(shop, "placements", "home-feed").updated_by == "web:mark"
    # a stored role that may not write levers reads, and is refused every write
    shop._x("UPDATE users SET role = 'ingest' WHERE username = 'mark'")
    assert client.get("/placements").status_code == 200
    assert client.get("/placements/home-feed").status_code == 200
    assert "New placement" not in client.get("/placements").text
    for path in ("/placements/_new", "/placements/home-feed/edit", "/placements/home-feed/delete"):
        assert client.get(path).status_code == 403, path
    assert client.post("/placements/_new", data=feed_form(csrf)).status_code == 403
    edit = feed_form(csrf, version="1", name="Changed")
    assert client.post("/placements/home-feed/edit", data=edit).status_code == 403
    delete = {"csrf_token": csrf, "version": "1"}
    assert client.post("/placements/home-feed/delete", data=delete).status_code == 403
    row = levers_service.show_lever(shop, "placements", "home-feed")
    assert row.version == 1 and row.data["name"] == "Home-Feed"


def test_hostile_content_and_names_are_escaped(web: tuple[TestClient, str]) -> None:
    client, csrf = web
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    content = json.dumps({"title": hostile, "body": "{{first_name}}"})
    form = placement_form(
        csrf,
        "xss",
        item_fields(0, "evil", **{"content": content, "name": hostile}),
        name=hostile,
        description=hostile,
    )
    assert client.post("/placements/_new", data=form).status_code == 303
    pages = [
        client.get("/placements").text,
        client.get("/placements/xss").text,
        client.get("/placements/xss/edit").text,
        client.get("/placements/xss/history").text,
        client.get("/placements/xss?see=1&who=anonymous").text,
        client.get("/see-as?see=1&customer_id=c01").text,
    ]
    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1]
    assert shown_items(pages[4], "xss") == ["evil"]
    assert "&lt;script&gt;alert(1)" in pages[4].split('data-placement="xss"')[1]
    # an item name typed with markup in the form's error page is escaped as well
    bad = client.post("/placements/_new", data={**form, "code": "xss2", "item-0-content": "{"})
    assert bad.status_code == 400 and "<script>alert" not in bad.text


def test_reach_through_real_time_segments_matches_evaluate(
    web: tuple[TestClient, str], shop: Store
) -> None:
    """Audiences naming real-time segments (or their groups) are counted as evaluate
    answers each customer with an empty request; the oracle is evaluate itself."""
    from segmint.services.evaluate import Evaluator
    from segmint.services.evaluate_request import read_request
    from segmint.services.targeting import Targeting

    client, csrf = web
    now = dt.datetime.now(dt.UTC)
    for code, rule in (
        ("rt-small", "total_spent < 200 AND context.view IS NULL"),
        ("rt-biz", "context.view = 'business'"),
    ):
        definition = SegmentDefinition(
            code=code, name=code, kind=SegmentKind.REALTIME, rule_text=rule
        )
        segments_service.create_segment(shop, definition, now)
    audiences = {
        "via-segment": "IN SEGMENT 'rt-small' AND orders_count >= 1",
        "via-group": "user_groups CONTAINS 'rt-small' OR IN SEGMENT 'big'",
        "request-only": "IN SEGMENT 'rt-biz'",
    }
    items = [item_fields(i, code, rule) for i, (code, rule) in enumerate(audiences.items())]
    assert (
        client.post("/placements/_new", data=placement_form(csrf, "rt", *items)).status_code == 303
    )
    page = client.get("/placements/rt").text

    targeting = Targeting(Evaluator())
    shown: dict[str, int] = dict.fromkeys(audiences, 0)
    for cid in shop.customer_ids():
        request = read_request({"customer_id": cid, "placements": ["rt"]})
        for item in targeting.answer(shop, request, now).placements[0].shown:
            shown[item] += 1
    assert shown["via-segment"] == 3  # c01..c03: ordered, under 200
    assert shown["via-group"] == 12  # c01..c03, c09..c12 by the group; c04..c08 by big
    assert reach_of(page, "via-segment") == ("realtime", str(shown["via-segment"]))
    assert reach_of(page, "via-group") == ("realtime", str(shown["via-group"]))
    assert reach_of(page, "request-only") == ("request", None)


class _FormFields(HTMLParser):
    """The fields a browser would submit from a page's form (text, checked boxes,
    selected options, textareas)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name and a.get("type") != "checkbox":
            self.fields[name] = a.get("value", "")
        elif tag == "input" and name and "checked" in a:
            self.fields[name] = "on"
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data


def test_the_edit_form_keeps_every_field(web: tuple[TestClient, str], shop: Store) -> None:
    """A placement with every field set, opened and saved unchanged: nothing changes."""
    client, _ = web
    now = dt.datetime.now(dt.UTC)
    promotion = {"code": "free-ship", "benefit": {"type": "shipping", "percentage": "100"}}
    levers_service.put_lever(shop, "promotions", "free-ship", promotion, now, who="t")
    placement = {
        "code": "cart-msgs",
        "name": "Cart messages — été",
        "description": "shown under the cart",
        "type": "cart_message",
        "mode": "single",
        "active": False,
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2027-01-01T06:30:00Z",
        "stores": ["web", "App"],
        "priority": -3,
        "items": [
            {
                "code": "nudge",
                "name": "Nudge",
                "description": "near free shipping",
                "audience": "cart.subtotal >= 20\nAND IN SEGMENT 'big'",
                "when_near": "free-ship",
                "priority": 7,
                "stores": ["web"],
                "starts_at": "2026-02-01T00:00:00Z",
                "content": {"title": "{{missing}} to go", "n": [1, 2.5, None, True], "o": {}},
            },
            {"code": "plain", "active": False, "content": {}},
        ],
    }
    levers_service.put_lever(shop, "placements", "cart-msgs", placement, now, who="t")
    before = levers_service.show_lever(shop, "placements", "cart-msgs")
    reader = _FormFields()
    reader.feed(client.get("/placements/cart-msgs/edit").text)
    response = client.post("/placements/cart-msgs/edit", data={**reader.fields, "action": "save"})
    assert response.status_code == 303, response.text
    assert "Nothing changed" in flash(client.get(response.headers["location"]).text)
    after = levers_service.show_lever(shop, "placements", "cart-msgs")
    assert after.version == before.version and after.data == before.data


def test_a_placement_too_large_for_the_form_is_never_saved_in_part(
    web: tuple[TestClient, str], shop: Store
) -> None:
    from segmint.web._placement_form import MAX_ROWS

    client, csrf = web
    items = [{"code": f"i{n:03d}", "content": {}} for n in range(MAX_ROWS + 1)]
    placement = {"code": "big-nav", "type": "navigation", "items": items}
    now = dt.datetime.now(dt.UTC)
    levers_service.put_lever(shop, "placements", "big-nav", placement, now, who="t")
    assert client.get("/placements/big-nav/edit").status_code == 400
    rows = [item_fields(n, f"i{n:03d}") for n in range(MAX_ROWS + 1)]
    form = placement_form(csrf, "big-nav", *rows, type="navigation", version="1")
    response = client.post("/placements/big-nav/edit", data=form)
    assert response.status_code == 400 and "at most" in response.text
    assert levers_service.show_lever(shop, "placements", "big-nav").version == 1
