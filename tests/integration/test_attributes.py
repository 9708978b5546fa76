"""``segmint attributes list|drop`` and ``GET/DELETE /v1/attributes``, on both stores:
a drop removes the column and its registration, and is refused while a segment's rule or
a lever's audience or condition reads the attribute, naming them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cli_run import run_cli as cli
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


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def placement(audience: str) -> dict[str, Any]:
    item = {"code": "gold-hero", "audience": audience, "priority": 1, "content": {"t": "x"}}
    return {"code": "hero", "type": "hero", "items": [item]}


def test_drop_is_refused_while_read_then_drops(
    api: TestClient, store: Store, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(api.put("/v1/customers/c1", json={"attributes": {"tier": "gold", "score": 3}}))
    ok(api.put("/v1/customers/c2", json={"attributes": {"tier": "silver"}}))
    listed = ok(api.get("/v1/attributes"))
    assert [(a["name"], a["type"], a["customers"]) for a in listed] == [
        ("score", "string", 1),  # JSON records register text attributes
        ("tier", "string", 2),
    ]
    code, out, _ = cli(capsys, "--db", store_url, "attributes", "list", "--format", "csv")
    assert code == 0 and out.splitlines()[1:] == ["score,string,False,1", "tier,string,False,2"]

    body = {"code": "gold", "name": "Gold", "kind": "rule", "rule": "attributes.tier = 'gold'"}
    ok(api.post("/v1/segments", json=body), 201)
    ok(api.put("/v1/placements/hero", json=placement("attributes.tier = 'gold'")))
    refused = api.delete("/v1/attributes/tier")
    assert refused.status_code == 422, refused.text
    message = refused.json()["error"]["message"]
    assert "segment 'gold'" in message and "placement 'hero', item 'gold-hero'" in message
    code, _, err = cli(capsys, "--db", store_url, "attributes", "drop", "tier")
    assert code == 1 and "segment 'gold'" in err and "placement 'hero'" in err
    assert "tier" in store.attributes()

    ok(api.delete("/v1/segments/gold"))
    ok(api.put("/v1/placements/hero", json=placement("attributes.score = '3'")))
    # nothing reads tier now; score is read by the placement
    code, out, err = cli(capsys, "--db", store_url, "attributes", "drop", "tier")
    assert code == 0, err
    assert out.startswith("dropped attribute 'tier'")
    assert "tier" not in store.attributes()
    assert "attr_tier" not in store.column_names("customers")
    assert "placement 'hero'" in ok(api.delete("/v1/attributes/score"), 422)["error"]["message"]
    assert api.delete("/v1/attributes/tier").status_code == 404
    # the name can be registered again
    ok(api.put("/v1/customers/c3", json={"attributes": {"tier": "bronze"}}))
    assert store._q("SELECT id FROM customers WHERE attr_tier IS NOT NULL") == [("c3",)]
