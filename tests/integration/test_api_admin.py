"""The endpoints the CLI needs to go through a running server, on both stores: whole-file
imports (as ``segmint import``: all or nothing, mapping, date format), web users, row
counts, the rule schema, and match pages with either engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from segmint.api.app import create_app
from segmint.services import auth
from segmint.services import rules as rules_service
from segmint.store.base import Store

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
ORDERS = (
    "basket,customer_id,placed_at,total\n"
    "o1,c1,01/04/2024 10:00,120\n"
    "o2,c2,02/04/2024 10:00,30\n"
    "o3,c3,03/04/2024 10:00,80\n"
)


@pytest.fixture()
def api(store: Store, store_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    token = auth.create_api_key(store, "admin", NOW)[1]
    with TestClient(create_app(store_url, clock=lambda: NOW)) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def test_a_whole_file_imports_as_the_cli_imports_it(
    store: Store, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, h = api
    segment = {"code": "big", "name": "Big", "kind": "rule", "rule": "total_spent > 50"}
    assert client.post("/v1/segments", json=segment, headers=h).status_code == 201
    bad = ORDERS.replace(",30\n", ",thirty\n")
    params = {"source": "orders.csv", "map": "basket=order_id", "date_format": "%d/%m/%Y %H:%M"}
    refused = client.post("/v1/orders/import", params=params, content=bad.encode(), headers=h)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["type"] == "ImportError" and error["details"]["source"] == "orders.csv"
    assert [(r["row"], r["column"], r["value"]) for r in error["details"]["bad_rows"]] == [
        (2, "total", "thirty")
    ]
    assert store.stats()["orders"] == 0  # all or nothing
    done = client.post("/v1/orders/import", params=params, content=ORDERS.encode(), headers=h)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["report"]["inserted"] == 3 and body["summary"].startswith("orders.csv: 3 rows")
    assert body["memberships"]["entered"] == 2
    placed = store.query("SELECT placed_at FROM orders WHERE id = 'o1'")[0][0]
    assert placed.replace(tzinfo=None) == dt.datetime(2024, 4, 1, 10, 0)
    members = client.get("/v1/segments/big/members", headers=h).json()["items"]
    assert members == rules_service.match(store, "total_spent > 50", NOW, "python").customers
    assert members == ["c1", "c3"]
    empty = client.post("/v1/orders/import", params=params, content=b"", headers=h)
    assert empty.status_code == 422 and "empty" in empty.json()["error"]["message"]
    unknown = client.post("/v1/orders/import?source=x.xlsx", content=b"a", headers=h)
    assert unknown.status_code == 422 and "--format" in unknown.json()["error"]["message"]


def test_users_stats_and_rule_schema(store: Store, api: tuple[TestClient, dict[str, str]]) -> None:
    client, h = api
    body = {"username": "bob", "password": "long enough", "role": "marketer"}
    created = client.post("/v1/users", json=body, headers=h)
    assert created.status_code == 201 and created.json()["role"] == "marketer"
    assert client.post("/v1/users", json=body, headers=h).status_code == 422  # taken
    short = {**body, "username": "eve", "password": "short"}
    assert client.post("/v1/users", json=short, headers=h).status_code == 422
    listed = client.get("/v1/users", headers=h).json()
    assert [(u["username"], u["role"]) for u in listed] == [("bob", "marketer")]
    assert "password" not in str(listed) and "argon2" not in str(listed)
    assert auth.authenticate_user(store, "bob", "long enough") is not None
    customers = [{"id": "c1", "attributes": {"tier": "gold"}}]
    assert client.post("/v1/customers/batch", json=customers, headers=h).status_code == 200
    stats = client.get("/v1/stats", headers=h).json()
    assert stats["counts"] == store.stats() and stats["schema_version"] == store.schema_version()
    schema = client.get("/v1/rules/schema", headers=h).json()
    assert schema == {"attributes": {"tier": "string"}, "timezone": store.timezone()}


def test_match_pages_with_either_engine(
    store: Store, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, h = api
    customers = [{"id": f"c{i:02d}", "city": "Lyon" if i % 3 else "Oslo"} for i in range(20)]
    assert client.post("/v1/customers/batch", json=customers, headers=h).status_code == 200
    rule = "city = 'Lyon'"
    expected = rules_service.match(store, rule, NOW, "python").customers
    for engine in ("sql", "python"):
        pages: list[str] = []
        while len(pages) < len(expected):
            body = {"rule": rule, "engine": engine, "limit": 5, "offset": len(pages)}
            page = client.post("/v1/rules/match", json=body, headers=h).json()
            assert page["count"] == len(expected)
            pages += page["customers"]
        assert pages == expected
