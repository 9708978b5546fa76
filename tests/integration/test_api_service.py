"""The JSON API on both stores: ingestion (idempotent, incremental memberships), evaluate
for known and anonymous visitors with real-time segments, customer deletion with
anonymised history, segments through the API, and error bodies."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from segmint.api.app import create_app
from segmint.services import auth
from segmint.store.base import Store

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


@pytest.fixture()
def api(store: Store, store_url: str) -> TestClient:
    _, token = auth.create_api_key(store, "admin", NOW)
    client = TestClient(create_app(store_url, clock=lambda: NOW))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def order(oid: str, cid: str, total: str, *, status: str = "completed", **extra: Any) -> dict:
    return {
        "id": oid,
        "customer_id": cid,
        "placed_at": "2024-04-20T10:00:00Z",
        "status": status,
        "total": total,
        "lines": [{"sku": "sku-1", "brand": "Acme", "quantity": 1, "amount": total}],
        **extra,
    }


def segment(code: str, kind: str, rule: str | None = None, **extra: Any) -> dict:
    body = {"code": code, "name": code.title(), "kind": kind, **extra}
    if rule is not None:
        body["rule"] = rule
    return body


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_ingestion_is_idempotent_and_updates_memberships_at_once(
    api: TestClient, store: Store
) -> None:
    ok(api.post("/v1/segments", json=segment("big", "rule", "total_spent > 100")), 201)
    ok(api.put("/v1/customers/c1", json={"email": "c1@example.com", "tags": ["vip"]}))
    assert ok(api.get("/v1/segments/big/members"))["items"] == []
    # a pending order does not count; completing it qualifies the customer immediately
    ok(api.post("/v1/orders", json=order("o1", "c1", "150", status="cancelled")))
    assert ok(api.get("/v1/segments/big/members"))["items"] == []
    done = ok(api.post("/v1/orders", json=order("o1", "c1", "150")))
    assert done["updated"] == 1 and done["memberships_entered"] == 1
    assert ok(api.get("/v1/segments/big/members"))["items"] == ["c1"]
    evaluated = ok(api.post("/v1/evaluate", json={"customer_id": "c1"}))
    assert [s["code"] for s in evaluated["segments"]] == ["big"]
    # the same order and events again: nothing duplicated
    ok(api.post("/v1/orders/batch", json=[order("o1", "c1", "150"), order("o2", "c2", "5")]))
    events = [
        {"id": "e1", "customer_id": "c1", "type": "view", "at": "2024-04-20T10:00:00Z"},
        {"customer_id": "c1", "type": "wishlist_add", "at": "2024-04-21T10:00:00Z", "sku": "s"},
    ]
    ok(api.post("/v1/events/batch", json=events))
    again = ok(api.post("/v1/events/batch", json=events))
    assert again["inserted"] == 0 and again["updated"] == 2
    stats = store.stats()
    assert (stats["orders"], stats["lines"], stats["events"], stats["customers"]) == (2, 2, 2, 2)
    assert stats["wishlist_items"] == 1
    history = ok(api.get("/v1/segments/big/history"))["changes"]
    assert [(c["customer_id"], c["change"], c["trigger"]) for c in history] == [
        ("c1", "enter", "incremental")
    ]
    feed = ok(api.get("/v1/changes", params={"since": 0}))
    assert feed["cursor"] == history[0]["seq"]
    assert ok(api.get("/v1/changes", params={"since": feed["cursor"]}))["changes"] == []


def test_evaluate_known_and_anonymous_with_realtime_segments(api: TestClient) -> None:
    ok(api.put("/v1/customers/c1", json={"user_groups": ["staff"]}))
    ok(api.post("/v1/orders", json=order("o1", "c1", "500")))
    ok(api.post("/v1/segments", json=segment("big", "rule", "total_spent > 100")), 201)
    ok(api.post("/v1/segments", json=segment("vip", "manual", user_group="gold")), 201)
    ok(api.post("/v1/segments/vip/members/add", json={"ids": ["c1"]}))
    realtime = {
        "b2b-cart": "context.view = 'business' AND cart.subtotal >= 100",
        "loyal-cart": "total_spent > 100 AND cart.quantity >= 2",
        "acme-cart": "EXISTS(cart.lines WHERE brand = 'Acme')",
        "never": "context.channel = 'kiosk'",
        "not-a-customer": "NOT EXISTS(orders) AND context.view = 'business'",
        "big-and-b2b": "IN SEGMENT 'b2b-cart' AND context.store = 'eu'",
    }
    for code, rule in realtime.items():
        ok(api.post("/v1/segments", json=segment(code, "realtime", rule)), 201)
    ok(
        api.post(
            "/v1/segments",
            json=segment("us-only", "realtime", "context.view = 'business'", stores=["us"]),
        ),
        201,
    )
    request = {
        "context": {"view": "business", "store": "eu"},
        "cart": {"lines": [{"sku": "a", "brand": "ACME", "quantity": 2, "unit_price": "60"}]},
    }
    known = ok(api.post("/v1/evaluate", json={"customer_id": "c1", **request}))
    assert known["known"] is True
    assert [s["code"] for s in known["segments"]] == [
        "acme-cart",
        "b2b-cart",
        "big",
        "big-and-b2b",
        "loyal-cart",
        "vip",
    ]
    groups = {g["group"]: g["sources"] for g in known["user_groups"]}
    assert groups["staff"] == ["explicit"] and groups["gold"] == ["segment:vip"]
    assert groups["big"] == ["segment:big"]
    anonymous = ok(api.post("/v1/evaluate", json=request))
    # segments reading the customer (orders, total_spent) never match an anonymous visitor
    assert anonymous["known"] is False
    assert [s["code"] for s in anonymous["segments"]] == ["acme-cart", "b2b-cart", "big-and-b2b"]
    unknown = ok(api.post("/v1/evaluate", json={"customer_id": "nobody", **request}))
    assert [s["code"] for s in unknown["segments"]] == ["acme-cart", "b2b-cart", "big-and-b2b"]
    # a segment change is seen by the next evaluate (cache invalidated)
    api.put("/v1/segments/never", json=segment("never", "realtime", "context.channel = 'web'"))
    web = ok(api.post("/v1/evaluate", json={"context": {"channel": "web"}}))
    assert [s["code"] for s in web["segments"]] == ["never"]
    ok(api.delete("/v1/segments/never"))
    assert ok(api.post("/v1/evaluate", json={"context": {"channel": "web"}}))["segments"] == []


def test_delete_customer_erases_data_and_anonymises_history(api: TestClient, store: Store) -> None:
    ok(api.put("/v1/customers/c1", json={"email": "c1@example.com", "attributes": {"age": 40}}))
    ok(api.post("/v1/orders", json=order("o1", "c1", "500")))
    ok(api.post("/v1/events", json={"customer_id": "c1", "type": "view", "at": NOW.isoformat()}))
    ok(api.post("/v1/segments", json=segment("big", "rule", "total_spent > 100")), 201)
    deleted = ok(api.delete("/v1/customers/c1"))
    anon = deleted["pseudonym"]
    # an HMAC in hex: nothing of the id shows (a random hex string may contain "c1")
    assert re.fullmatch(r"anon-[0-9a-f]{24}", anon)
    assert deleted["orders_erased"] == 1 and deleted["events_erased"] == 1
    assert api.get("/v1/customers/c1").status_code == 404
    assert api.delete("/v1/customers/c1").status_code == 404
    stats = store.stats()
    assert (stats["customers"], stats["orders"], stats["lines"], stats["events"]) == (0, 0, 0, 0)
    history = ok(api.get("/v1/segments/big/history"))["changes"]
    assert [c["customer_id"] for c in history] == [anon]
    assert ok(api.get("/v1/segments/big/members"))["items"] == [anon]
    assert not store.query(
        "SELECT 1 FROM membership_history WHERE customer_id = 'c1' "
        "UNION ALL SELECT 1 FROM memberships WHERE customer_id = 'c1'"
    )
    assert ok(api.post("/v1/evaluate", json={"customer_id": "c1"}))["known"] is False
    # the same id re-created and deleted again gets the same pseudonym
    ok(api.post("/v1/orders", json=order("o2", "c1", "500")))
    assert ok(api.delete("/v1/customers/c1"))["pseudonym"] == anon


def test_segments_through_the_api(api: TestClient) -> None:
    for i in range(5):
        ok(api.post("/v1/orders", json=order(f"o{i}", f"c{i}", str(50 * (i + 1)))))
    body = segment(
        "spenders",
        "purchase",
        purchase={"min_spend": "100", "last_days": 30, "item_field": "brand", "item_value": "Acme"},
    )
    saved = ok(api.post("/v1/segments", json=body), 201)
    assert saved["entered"] == 4 and saved["segment"]["members"] == 4
    assert api.post("/v1/segments", json=body).status_code == 409  # exists
    page1 = ok(api.get("/v1/segments/spenders/members", params={"limit": 2}))
    assert page1["items"] == ["c1", "c2"] and page1["total"] == 4
    page2 = ok(
        api.get("/v1/segments/spenders/members", params={"limit": 2, "after": page1["next_cursor"]})
    )
    assert page2["items"] == ["c3", "c4"] and page2["next_cursor"] is None
    assert ok(api.get("/v1/segments/spenders/members", params={"offset": 3}))["items"] == ["c4"]
    body["purchase"]["min_spend"] = "200"
    preview = ok(api.post("/v1/segments/preview", json={"segment": body}))
    assert preview["count"] == 2 and preview["entering"] == []
    assert preview["leaving"] == ["c1", "c2"] and preview["leaving_count"] == 2
    updated = ok(api.put("/v1/segments/spenders", json=body))
    assert updated["exited"] == 2 and updated["segment"]["version"] == 2
    shown = ok(api.get("/v1/segments/spenders"))
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert ok(api.post("/v1/segments/refresh", json={}))["report"]
    assert ok(api.get("/v1/segments"))[0]["members"] == 2
    explained = ok(api.post("/v1/explain", json={"customer_id": "c4", "rule": "total_spent > 1"}))
    assert explained["result"] is True and explained["steps"]
    assert ok(api.post("/v1/rules/match", json={"rule": "total_spent >= 200"}))["count"] == 2
    assert ok(api.delete("/v1/segments/spenders"))["exited"] == 2
    assert api.get("/v1/segments/spenders").status_code == 404


def test_error_bodies(api: TestClient) -> None:
    bad = api.post("/v1/rules/check", json={"rule": "total_spnt > 1\n  AND x"})
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["type"] == "RuleError"
    assert (error["details"]["line"], error["details"]["column"]) == (1, 1)
    assert error["details"]["suggestion"] == "total_spent" and "^" in error["details"]["rendered"]
    realtime = segment("rt", "realtime", "total_spent > 1")
    assert api.post("/v1/segments", json=realtime).json()["error"]["type"] == "ConfigError"
    missing = api.get("/v1/segments/nosuch")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "NotFoundError"
    wrong = api.post("/v1/orders", json={**order("o1", "c1", "1"), "total": "1.23456"})
    assert wrong.status_code == 422
    bad_rows = api.post("/v1/orders", json={**order("o1", "c1", "1"), "total": "abc"})
    assert bad_rows.status_code == 422 and bad_rows.json()["error"]["type"] == "ValidationError"
    naive = segment("t", "rule", "orders_count > 1", starts_at="2024-01-01T00:00:00")
    assert api.post("/v1/segments", json=naive).status_code == 201  # naive means UTC


def test_segment_versions_are_etags_and_if_match_refuses_a_stale_write(api: TestClient) -> None:
    for i in range(3):
        ok(api.post("/v1/orders", json=order(f"o{i}", f"c{i}", str(100 * (i + 1)))))
    created = api.post("/v1/segments", json=segment("big", "rule", "total_spent > 100"))
    assert created.status_code == 201 and created.headers["etag"] == '"1"'
    read = api.get("/v1/segments/big")
    assert read.headers["etag"] == '"1"'
    update = segment("big", "rule", "total_spent > 200")
    moved = api.put("/v1/segments/big", json=update, headers={"If-Match": read.headers["etag"]})
    assert moved.status_code == 200 and moved.headers["etag"] == '"2"'
    stale = segment("big", "rule", "total_spent > 0")
    refused = api.put("/v1/segments/big", json=stale, headers={"If-Match": '"1"'})
    assert refused.status_code == 409
    assert "version 2, not 1" in refused.json()["error"]["message"]
    assert api.get("/v1/segments/big").json()["rule"] == "total_spent > 200"
    assert ok(api.get("/v1/segments/big/members"))["items"] == ["c2"]
    bad = api.put("/v1/segments/big", json=stale, headers={"If-Match": "yesterday"})
    assert bad.status_code == 400
    assert api.delete("/v1/segments/big", headers={"If-Match": '"1"'}).status_code == 409
    assert api.delete("/v1/segments/big", headers={"If-Match": '"2"'}).status_code == 200
