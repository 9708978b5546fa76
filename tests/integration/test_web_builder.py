"""What the visual builder asks of the server (web/_pages_builder.py), through the real
app on both stores with a real login: a rule's tree and the tree's text agree with the
rule language (parse / print), positioned errors, the store's fields and values for the
pickers and autocomplete, CSRF and the session required."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from segmint.api.app import create_app
from segmint.rules import parse, to_json, to_text
from segmint.services import auth
from segmint.services.customers import ingest
from segmint.store.base import Store
from web_session import PASSWORD, log_in

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
RULE = (
    "SUM(orders.total WHERE placed_at WITHIN 30d) > 200 AND "
    "EXISTS(lines WHERE brand = 'National' AND placed_at WITHIN 30d)"
)


@pytest.fixture()
def web(store: Store, store_url: str) -> Iterator[tuple[TestClient, str]]:
    ingest(store, "customers", [{"id": "c1", "country": "NL"}, {"id": "c2", "country": "NO"}], NOW)
    lines = [
        {"order_id": "o1", "customer_id": "c1", "placed_at": "2026-11-20T00:00:00Z",
         "sku": "S1", "brand": "National", "quantity": 1, "unit_price": "250"},
        {"order_id": "o2", "customer_id": "c2", "placed_at": "2026-11-21T00:00:00Z",
         "sku": "S2", "brand": "Natural Farms", "quantity": 1, "unit_price": "20"},
        {"order_id": "o3", "customer_id": "c2", "placed_at": "2026-11-22T00:00:00Z",
         "sku": "S1", "brand": "National", "quantity": 1, "unit_price": "20"},
    ]  # fmt: skip
    ingest(store, "orders", lines, NOW)
    auth.create_user(store, "ada", PASSWORD, NOW, role="marketer")
    with TestClient(create_app(store_url, clock=lambda: NOW), follow_redirects=False) as client:
        yield client, log_in(client, "ada", page="/segments/new")


def test_text_and_tree_are_the_same_rule(web: tuple[TestClient, str]) -> None:
    client, csrf = web
    h = {"X-CSRF-Token": csrf}
    tree = client.post("/builder/tree", json={"text": RULE}, headers=h)
    assert tree.status_code == 200 and tree.json()["tree"] == to_json(parse(RULE))
    text = client.post("/builder/text", json={"tree": tree.json()["tree"]}, headers=h)
    assert text.status_code == 200 and text.json()["text"] == to_text(parse(RULE))
    assert client.post("/builder/tree", json={"text": "  "}, headers=h).json() == {"tree": None}
    assert client.post("/builder/text", json={"tree": None}, headers=h).json() == {"text": ""}


def test_errors_are_positioned_and_named(web: tuple[TestClient, str]) -> None:
    client, csrf = web
    h = {"X-CSRF-Token": csrf}
    bad = client.post("/builder/tree", json={"text": "orders_count >= "}, headers=h)
    assert bad.status_code == 422 and bad.json()["start"] == 16
    bad_tree = {"type": "compare", "op": ">", "left": {"type": "path", "parts": ["x"]}}
    answer = client.post("/builder/text", json={"tree": bad_tree}, headers=h)
    assert answer.status_code == 422 and "$.right" in answer.json()["error"]
    assert client.post("/builder/tree", content=b"[1]", headers=h).status_code == 400
    assert client.post("/builder/tree", content=b"{", headers=h).status_code == 400
    refused = client.post("/builder/tree", json={"text": RULE}, headers={"X-CSRF-Token": "no"})
    assert refused.status_code == 403


def test_fields_and_values_come_from_the_store(web: tuple[TestClient, str]) -> None:
    client, _ = web
    names = {f["name"]: f for f in client.get("/builder/fields").json()["fields"]}
    assert names["orders_count"]["type"] == "integer" and names["country"]["values"]
    brands = client.get("/builder/values", params={"field": "lines.brand", "prefix": "nat"})
    assert brands.status_code == 200
    assert [(v["value"], v["count"]) for v in brands.json()["values"]] == [
        ("National", 2),
        ("Natural Farms", 1),
    ]
    countries = client.get("/builder/values", params={"field": "country", "prefix": "NO"})
    assert [v["value"] for v in countries.json()["values"]] == ["NO"]
    unknown = client.get("/builder/values", params={"field": "nope"})
    assert unknown.status_code == 422 and "nope" in unknown.json()["error"]


def test_a_session_is_needed(store: Store, store_url: str) -> None:
    with TestClient(create_app(store_url, clock=lambda: NOW), follow_redirects=False) as client:
        assert client.get("/builder/fields").status_code == 303
        assert client.post("/builder/tree", json={"text": RULE}).status_code == 303
