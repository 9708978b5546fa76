"""The role matrix: every /v1 endpoint x every role, no key and a bad key -> exact status.

The expected statuses come from ONE table, ``segmint.api.access.ACCESS`` (the same one
the ``authorize`` dependency reads); this test also checks that the table and the app's
routes are the same set, so a new endpoint cannot go unprotected.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from segmint.api.access import ACCESS
from segmint.api.app import create_app
from segmint.services import auth
from segmint.store.base import Store

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
ROLES = auth.ROLES
_counter = itertools.count()


def _seg(code: str) -> dict[str, Any]:
    return {"code": code, "name": code, "kind": "rule", "rule": "orders_count >= 1"}


# (method, path) -> (url, json body or None, status when the role is allowed).
def _call(method: str, path: str) -> tuple[str, Any, int]:
    n = next(_counter)
    order = {"id": f"o{n}", "customer_id": "c1", "placed_at": "2024-04-01T00:00:00Z"}
    event = {"customer_id": "c1", "type": "view", "at": "2024-04-01T00:00:00Z"}
    calls: dict[tuple[str, str], tuple[str, Any, int]] = {
        ("GET", "/v1/health"): ("/v1/health", None, 200),
        ("GET", "/v1/keys"): ("/v1/keys", None, 200),
        ("POST", "/v1/keys"): ("/v1/keys", {"role": "storefront"}, 201),
        ("DELETE", "/v1/keys/{key_id}"): ("/v1/keys/nosuchkey", None, 404),
        ("GET", "/v1/customers"): ("/v1/customers", None, 200),
        ("GET", "/v1/customers/{customer_id}"): ("/v1/customers/c1", None, 200),
        ("GET", "/v1/customers/{customer_id}/segments"): ("/v1/customers/c1/segments", None, 200),
        ("PUT", "/v1/customers/{customer_id}"): ("/v1/customers/c2", {"city": "Oslo"}, 200),
        ("DELETE", "/v1/customers/{customer_id}"): ("/v1/customers/nobody", None, 404),
        ("POST", "/v1/customers/batch"): ("/v1/customers/batch", [{"id": "c3"}], 200),
        ("PUT", "/v1/customers/{customer_id}/groups/{group}"): (
            "/v1/customers/c1/groups/vip",
            None,
            200,
        ),
        ("DELETE", "/v1/customers/{customer_id}/groups/{group}"): (
            "/v1/customers/c1/groups/vip",
            None,
            200,
        ),
        ("POST", "/v1/orders"): ("/v1/orders", order, 200),
        ("POST", "/v1/orders/batch"): ("/v1/orders/batch", [order], 200),
        ("POST", "/v1/events"): ("/v1/events", event, 200),
        ("POST", "/v1/events/batch"): ("/v1/events/batch", [event], 200),
        ("POST", "/v1/products/batch"): ("/v1/products/batch", [{"sku": "p1"}], 200),
        ("POST", "/v1/accounts/batch"): ("/v1/accounts/batch", [{"id": "a1"}], 200),
        ("GET", "/v1/segments"): ("/v1/segments", None, 200),
        ("POST", "/v1/segments"): ("/v1/segments", _seg(f"s{n}"), 201),
        ("POST", "/v1/segments/preview"): ("/v1/segments/preview", {"segment": _seg("p")}, 200),
        ("POST", "/v1/segments/refresh"): ("/v1/segments/refresh", {"codes": ["base"]}, 200),
        ("GET", "/v1/segments/{code}"): ("/v1/segments/base", None, 200),
        ("PUT", "/v1/segments/{code}"): ("/v1/segments/base", _seg("base"), 200),
        ("DELETE", "/v1/segments/{code}"): ("/v1/segments/nosuch", None, 404),
        ("GET", "/v1/segments/{code}/members"): ("/v1/segments/base/members", None, 200),
        ("POST", "/v1/segments/{code}/members/add"): (
            "/v1/segments/base/members/add",
            {"ids": ["c1"]},
            200,
        ),
        ("POST", "/v1/segments/{code}/members/remove"): (
            "/v1/segments/base/members/remove",
            {"ids": ["c1"]},
            200,
        ),
        ("GET", "/v1/segments/{code}/history"): ("/v1/segments/base/history", None, 200),
        ("GET", "/v1/changes"): ("/v1/changes?since=0", None, 200),
        ("POST", "/v1/rules/check"): ("/v1/rules/check", {"rule": "orders_count > 1"}, 200),
        ("POST", "/v1/rules/match"): ("/v1/rules/match", {"rule": "orders_count > 1"}, 200),
        ("POST", "/v1/explain"): (
            "/v1/explain",
            {"customer_id": "c1", "rule": "orders_count > 1"},
            200,
        ),
        ("POST", "/v1/evaluate"): ("/v1/evaluate", {"customer_id": "c1"}, 200),
        ("POST", "/v1/checkout"): ("/v1/checkout", {"customer_id": "c1", "order_id": "r1"}, 200),
        ("GET", "/v1/users"): ("/v1/users", None, 200),
        ("POST", "/v1/users/{username}/disable"): ("/v1/users/nosuch/disable", None, 404),
        ("POST", "/v1/users/{username}/enable"): ("/v1/users/nosuch/enable", None, 404),
        ("DELETE", "/v1/users/{username}"): ("/v1/users/nosuch", None, 404),
        ("POST", "/v1/users/{username}/password"): ("/v1/users/nosuch/password", None, 404),
        ("POST", "/v1/users"): ("/v1/users", {"username": f"u{n}", "password": "long enough"}, 201),
        ("GET", "/v1/admin/worker"): ("/v1/admin/worker", None, 200),
        ("POST", "/v1/admin/worker/run"): ("/v1/admin/worker/run", {}, 200),
        ("GET", "/v1/stats"): ("/v1/stats", None, 200),
        ("GET", "/v1/rules/schema"): ("/v1/rules/schema", None, 200),
        ("GET", "/v1/schema"): ("/v1/schema", None, 200),
        ("GET", "/v1/values"): ("/v1/values?field=country", None, 200),
        ("GET", "/v1/attributes"): ("/v1/attributes", None, 200),
        ("DELETE", "/v1/attributes/{name}"): ("/v1/attributes/nosuch", None, 404),
        ("GET", "/v1/segments/{code}/members/export"): (
            "/v1/segments/base/members/export",
            None,
            200,
        ),
        # file imports: the body is the file (bytes)
        ("POST", "/v1/customers/import"): ("/v1/customers/import?source=c.csv", b"id\nc9\n", 200),
        ("POST", "/v1/orders/import"): (
            "/v1/orders/import?format=csv",
            f"order_id,customer_id,placed_at\nf{n},c1,2024-04-01T00:00:00Z\n".encode(),
            200,
        ),
        ("POST", "/v1/events/import"): (
            "/v1/events/import?format=csv",
            b"customer_id,type,at\nc1,view,2024-04-01T00:00:00Z\n",
            200,
        ),
        ("POST", "/v1/products/import"): ("/v1/products/import?source=p.csv", b"sku\np9\n", 200),
        ("POST", "/v1/accounts/import"): ("/v1/accounts/import?source=a.csv", b"id\na9\n", 200),
        ("GET", "/v1/levers"): ("/v1/levers", None, 200),
        ("PUT", "/v1/levers"): ("/v1/levers?dry_run=true", {"promotions": [_promo("d")]}, 200),
        ("GET", "/v1/promotions/{code}/codes"): ("/v1/promotions/nosuch/codes", None, 404),
        ("POST", "/v1/orders/{order_id}/cancel"): ("/v1/orders/nosuch/cancel", None, 404),
        ("POST", "/v1/promotions/{code}/codes"): (
            "/v1/promotions/nosuch/codes",
            {"count": 1},
            404,
        ),
        ("POST", "/v1/promotions/simulate"): (
            "/v1/promotions/simulate",
            {"promotions": ["nosuch"], "from": "2024-01-01", "to": "2024-01-31"},
            404,
        ),
        ("GET", "/v1/promotions/simulate/{job_id}"): ("/v1/promotions/simulate/nosuch", None, 404),
    }
    for kind, body in LEVERS.items():
        calls |= {
            ("GET", f"/v1/{kind}"): (f"/v1/{kind}", None, 200),
            ("GET", f"/v1/{kind}/{{code}}"): (f"/v1/{kind}/nosuch", None, 404),
            ("PUT", f"/v1/{kind}/{{code}}"): (f"/v1/{kind}/l{n}", body(f"l{n}"), 200),
            ("DELETE", f"/v1/{kind}/{{code}}"): (f"/v1/{kind}/nosuch", None, 404),
            ("GET", f"/v1/{kind}/{{code}}/history"): (f"/v1/{kind}/nosuch/history", None, 404),
        }
    return calls[(method, path)]


def _promo(code: str) -> dict[str, Any]:
    return {"code": code, "benefit": {"type": "order", "percentage": "5"}}


LEVERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "campaigns": lambda c: {"code": c},
    "promotions": _promo,
    "price-lists": lambda c: {"code": c, "currency": "USD", "prices": []},
    "placements": lambda c: {"code": c, "type": "banner", "items": []},
    "account-portals": lambda c: {"id": c, "portal": {"global_promotions": False}},
}


@pytest.fixture()
def setup(store: Store, store_url: str) -> tuple[TestClient, dict[str, str]]:
    tokens = {role: auth.create_api_key(store, role, NOW, name=role)[1] for role in ROLES}
    client = TestClient(create_app(store_url, clock=lambda: NOW))
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    assert client.put(
        "/v1/customers/c1", json={"email": "c1@example.com"}, headers=admin
    ).is_success
    assert client.post("/v1/segments", json=_seg("base"), headers=admin).status_code == 201
    return client, tokens


def test_table_covers_every_route() -> None:
    app = create_app("duckdb:///:memory:")
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/v1")
        for method in operations
    }
    assert routes == set(ACCESS)


def test_role_matrix(setup: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = setup
    headers: dict[str, Callable[[], dict[str, str]]] = {
        "no key": lambda: {},
        "bad key": lambda: {"Authorization": "Bearer sk_nosuch_secret"},
        "bad secret": lambda: {"X-API-Key": tokens["admin"][:-3] + "xyz"},
        **{role: (lambda r=role: {"X-API-Key": tokens[r]}) for role in ROLES},
    }
    failures = []
    for (method, path), allowed in sorted(ACCESS.items()):
        for who, make_headers in headers.items():
            url, body, ok_status = _call(method, path)
            expected = (ok_status if who in allowed else 403) if who in ROLES else 401
            if isinstance(body, bytes):
                response = client.request(method, url, content=body, headers=make_headers())
            else:
                response = client.request(method, url, json=body, headers=make_headers())
            if response.status_code != expected:
                failures.append(f"{method} {url} as {who}: {response.status_code} != {expected}")
            if expected in (401, 403):
                assert response.json()["error"]["type"] in ("Unauthorized", "Forbidden")
    assert not failures, "\n".join(failures)


def test_storefront_cannot_list_customers_or_members(
    setup: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = setup
    h = {"Authorization": f"Bearer {tokens['storefront']}"}
    for url in ("/v1/customers", "/v1/customers/c1", "/v1/segments/base/members"):
        assert client.get(url, headers=h).status_code == 403


def test_revoked_key_is_refused_at_once(setup: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = setup
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    created = client.post("/v1/keys", json={"role": "marketer", "name": "tmp"}, headers=admin)
    key = created.json()
    h = {"Authorization": f"Bearer {key['token']}"}
    assert client.get("/v1/segments", headers=h).status_code == 200
    listed = client.get("/v1/keys", headers=admin).json()
    assert key["id"] in {k["id"] for k in listed}
    assert all("token" not in k and "secret_hash" not in k for k in listed)
    assert client.delete(f"/v1/keys/{key['id']}", headers=admin).json()["revoked"] is True
    assert client.get("/v1/segments", headers=h).status_code == 401
