"""Placements answered by one evaluate request (TARGETING.md §3, §6), on both stores,
through the API and the CLI: modes, priorities, max_items, GLOBAL items, item dates and
stores, pages by query parameter, navigation, {{path}} substitution as plain text, and
with explain the reason every other item did not show. Expected answers are worked out
by hand from the document below."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from segmint.api.app import create_app
from segmint.cli.main import _register, cli
from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.services import auth, levers, segments
from segmint.services.customers import ingest
from segmint.store.base import Store

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


def item(code: str, audience: str | None, priority: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "code": code,
        "audience": audience,
        "priority": priority,
        "content": extra.pop("content", {"title": code}),
        **extra,
    }


DOCUMENT: dict[str, Any] = {
    "promotions": [{"code": "vip10", "benefit": {"type": "order", "percentage": "10"}}],
    "placements": [
        {
            "code": "home-feed",
            "type": "news_feed",
            "max_items": 2,
            "items": [
                item("vip-news", "IN SEGMENT 'vip'", 5, content={"title": "Hi {{first_name}}"}),
                item("b2b-new", "context.view = 'business' AND orders_count = 0", 3),
                item("web-only", None, 1, stores=["web"]),
                item("all-news", None, 0),
                item("old", None, 9, ends_at="2026-11-01T00:00:00Z"),
                item("soon", None, 8, starts_at="2026-12-10T00:00:00Z"),
            ],
        },
        {
            "code": "home-hero",
            "type": "hero",
            "items": [
                item("business-hero", "context.view = 'business'", 2),
                item("default-hero", None),
            ],
        },
        {
            "code": "b2b-home",
            "type": "page",
            "items": [
                item(
                    "new-b2b-user",
                    "context.query.showBusinessView IS NOT NULL AND orders_count = 0",
                    1,
                ),
                item("default", None),
            ],
        },
        {
            "code": "nav",
            "type": "navigation",
            "items": [
                item(
                    "account",
                    "business_account IS NOT NULL",
                    1,
                    content={"label": "{{business_account}}", "link": "/account"},
                ),
                item("shop", None, content={"label": "Shop", "link": "/shop"}),
            ],
        },
        {
            "code": "cart-messages",
            "type": "cart_message",
            "items": [
                item("big-cart", "cart.subtotal >= 50", content={"text": "Cart {{cart.subtotal}}"}),
                item("nudge", None, when_near="vip10", content={"text": "{{missing}} more"}),
            ],
        },
    ],
}

CUSTOMERS = [
    {"id": "c1", "first_name": "Ann", "business_account": "acme"},
    {"id": "c2", "first_name": "Bob"},
    {"id": "c3", "first_name": "<b>{{cart.subtotal}}</b>"},
]


@pytest.fixture()
def shop(store: Store) -> Store:
    ingest(store, "customers", CUSTOMERS, NOW)
    segments.create_segment(
        store,
        SegmentDefinition(code="vip", name="VIP", kind=SegmentKind.MANUAL, user_group="vip"),
        NOW,
    )
    segments.add_members(store, "vip", ["c1", "c3"], NOW)
    levers.apply_document(store, DOCUMENT, NOW, who="test")
    return store


@pytest.fixture()
def api(shop: Store, store_url: str) -> TestClient:
    _, token = auth.create_api_key(shop, "admin", NOW)
    client = TestClient(create_app(store_url, clock=lambda: NOW))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def evaluate(api: TestClient, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/evaluate", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def shown(answer: dict[str, Any], placement: str) -> list[str]:
    return [i["item"] for i in answer["placements"][placement]]


def reasons(answer: dict[str, Any], placement: str) -> dict[str, str]:
    return {r["item"]: r["reason"] for r in answer["rejected"] if r.get("placement") == placement}


def test_a_known_business_member_sees_the_items_of_their_segments(api: TestClient) -> None:
    answer = evaluate(
        api,
        customer_id="c1",
        context={"view": "business", "store": "web", "query": {"showBusinessView": "1"}},
    )
    assert answer["customer"] == {"id": "c1", "known": True}
    assert answer["as_of"] == "2026-12-01T12:00:00Z"
    assert [s["code"] for s in answer["segments"]] == ["vip"]
    # multi, max_items 2: priorities 5 and 3 win over web-only (1) and all-news (0)
    assert shown(answer, "home-feed") == ["vip-news", "b2b-new"]
    assert answer["placements"]["home-feed"][0]["content"] == {"title": "Hi Ann"}
    assert shown(answer, "home-hero") == ["business-hero"]  # single: the first by priority
    assert shown(answer, "b2b-home") == ["new-b2b-user"]
    assert answer["placements"]["nav"] == [
        {"item": "account", "content": {"label": "acme", "link": "/account"}},
        {"item": "shop", "content": {"label": "Shop", "link": "/shop"}},
    ]
    assert shown(answer, "cart-messages") == []
    assert answer["rejected"] == []  # placement items only with explain; no code entered


def test_an_anonymous_visitor_sees_global_items_only(api: TestClient) -> None:
    answer = evaluate(api, context={"query": {"showBusinessView": "1"}})
    assert answer["customer"] == {"id": None, "known": False}
    assert shown(answer, "home-feed") == ["all-news"]  # web-only needs store web
    assert shown(answer, "home-hero") == ["default-hero"]
    assert shown(answer, "b2b-home") == ["default"]  # orders_count needs a known customer
    assert shown(answer, "nav") == ["shop"]
    in_web = evaluate(api, context={"store": "WEB"})  # stores match ignoring case
    assert shown(in_web, "home-feed") == ["web-only", "all-news"]


def test_explain_says_why_every_other_item_did_not_show(api: TestClient) -> None:
    anonymous = evaluate(api, context={"store": "app"}, explain=True)
    assert reasons(anonymous, "home-feed") == {
        "old": "ended",
        "soon": "not_started",
        "vip-news": "login_required",
        "b2b-new": "login_required",
        "web-only": "store",
    }
    assert reasons(anonymous, "home-hero") == {"business-hero": "audience"}
    assert reasons(anonymous, "cart-messages") == {"big-cart": "audience", "nudge": "not_near"}
    member = evaluate(api, customer_id="c2", context={"view": "business"}, explain=True)
    feed = {r["item"]: r for r in member["rejected"] if r.get("placement") == "home-feed"}
    assert feed["vip-news"]["reason"] == "audience"
    assert [p["text"] for p in feed["vip-news"]["false"]] == ["IN SEGMENT 'vip'"]
    # b2b-new (3) and all-news (0) show; web-only is for store web only
    assert shown(member, "home-feed") == ["b2b-new", "all-news"]
    assert feed["web-only"]["reason"] == "store"
    hero = reasons(member, "home-hero")
    assert hero == {"default-hero": "single_taken"}
    with_web = evaluate(
        api, customer_id="c1", context={"view": "business", "store": "web"}, explain=True
    )
    assert reasons(with_web, "home-feed")["web-only"] == "max_items"
    assert reasons(with_web, "home-feed")["all-news"] == "max_items"


def test_content_is_substituted_as_plain_text_once(api: TestClient) -> None:
    cart = {"lines": [{"sku": "A", "quantity": 3, "unit_price": "20.00"}]}
    answer = evaluate(api, customer_id="c3", cart=cart)
    assert answer["placements"]["home-feed"][0]["content"] == {
        "title": "Hi <b>{{cart.subtotal}}</b>"  # a value is never substituted again
    }
    assert answer["placements"]["cart-messages"] == [
        # the cart as priced (60.00 less vip10's 10%), with the currency's digits
        {"item": "big-cart", "content": {"text": "Cart 54.00"}}
    ]


def test_placements_asked_for_and_as_of(api: TestClient) -> None:
    answer = evaluate(api, placements=["home-hero", "gone"], explain=True)
    assert list(answer["placements"]) == ["home-hero", "gone"]
    assert answer["placements"]["gone"] == []
    assert {"placement": "gone", "item": None, "reason": "unknown_placement"}.items() <= {
        **next(r for r in answer["rejected"] if r.get("placement") == "gone")
    }.items()
    later = evaluate(api, as_of="2026-12-11T00:00:00Z", placements=["home-feed"])
    assert later["as_of"] == "2026-12-11T00:00:00Z"
    assert shown(later, "home-feed") == ["soon", "all-news"]


def test_a_lever_change_shows_in_the_next_answer(api: TestClient) -> None:
    assert shown(evaluate(api, placements=["home-hero"]), "home-hero") == ["default-hero"]
    placement = copy.deepcopy(DOCUMENT["placements"][1])
    placement["items"].append(item("winter", None, 7))
    response = api.put("/v1/placements/home-hero", json=placement)
    assert response.status_code == 200, response.text
    assert shown(evaluate(api, placements=["home-hero"]), "home-hero") == ["winter"]


def test_bad_requests_name_the_field(api: TestClient) -> None:
    response = api.post("/v1/evaluate", json={"placements": ["Not A Code"]})
    assert response.status_code == 422
    assert "placements" in response.text
    response = api.post("/v1/evaluate", json={"as_of": "yesterday"})
    assert response.status_code == 422
    assert "as_of" in response.text


def test_the_cli_answers_json_lines_as_the_api_does(
    api: TestClient, store_url: str, tmp_path: Path
) -> None:
    requests = [
        {"customer_id": "c1", "context": {"view": "business"}},
        {"context": {"store": "web"}, "explain": True},
    ]
    file = tmp_path / "requests.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in requests) + "\n")
    _register()
    runner = CliRunner()
    args = ["--db", store_url, "--as-of", NOW.isoformat(), "evaluate", "--request", str(file)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert lines == [evaluate(api, **r) for r in requests]
    table = runner.invoke(cli, [*args, "--format", "table"])
    assert "placement home-feed: vip-news, b2b-new" in table.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"customer_id": "c1"}\n{"cart": {"lines": [{"sku": "a", "quantity": "x"}]}}\n')
    result = runner.invoke(cli, ["--db", store_url, "evaluate", "--request", str(bad)])
    assert result.exit_code != 0
    assert "line 2: cart.lines[0].quantity" in str(result.exception or result.output)
