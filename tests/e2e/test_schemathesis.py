"""Schemathesis against the app's own OpenAPI document: generated requests (valid and
invalid) to every /v1 operation with an admin key must never produce a 5xx.

Bounded (``MAX_EXAMPLES`` per operation, no deadline) so the whole run takes about a
minute; ``SEGMINT_SCHEMATHESIS_EXAMPLES`` raises it for a longer hunt.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from segmint.api.app import create_app
from segmint.services import auth
from segmint.store.duckdb import DuckDBStore

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
MAX_EXAMPLES = int(os.environ.get("SEGMINT_SCHEMATHESIS_EXAMPLES", "12"))
_TOKEN: dict[str, str] = {}


# The app opens its database lazily: building it (and loading its schema) at import
# touches nothing; the fixture below creates and seeds the database first.
_DIR = Path(tempfile.mkdtemp(prefix="segmint_schemathesis_"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)  # also when only collected
_PATH = _DIR / "segmint.duckdb"
APP = create_app(str(_PATH), clock=lambda: NOW)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def seeded() -> Iterator[None]:
    store = DuckDBStore(_PATH)
    store.init()
    _, token = auth.create_api_key(store, "admin", NOW, name="schemathesis")
    store.close()
    _TOKEN["admin"] = token
    client = TestClient(APP)
    h = {"Authorization": f"Bearer {token}"}
    for i in range(5):
        order = {
            "id": f"o{i}",
            "customer_id": f"c{i}",
            "placed_at": "2024-04-01T00:00:00Z",
            "status": "completed",
            "total": str(100 * i),
            "lines": [{"sku": "s1", "brand": "Acme", "quantity": 1, "amount": str(100 * i)}],
        }
        assert client.post("/v1/orders", json=order, headers=h).status_code == 200
    segments = [
        {"code": "base", "name": "Base", "kind": "rule", "rule": "total_spent > 100"},
        {"code": "vip", "name": "VIP", "kind": "manual"},
        {"code": "rt", "name": "RT", "kind": "realtime", "rule": "cart.subtotal > 10"},
    ]
    for body in segments:
        assert client.post("/v1/segments", json=body, headers=h).status_code == 201
    feed = {
        "code": "feed",
        "type": "news_feed",
        "max_items": 2,
        "items": [
            {"code": "vip", "audience": "IN SEGMENT 'vip'", "content": {"t": "{{first_name}}"}},
            {
                "code": "cart",
                "audience": "cart.subtotal >= 20",
                "content": {"t": "{{cart.subtotal}}"},
            },
            {"code": "all", "audience": None, "content": {"t": "{{context.query.x}}"}},
        ],
    }
    levers = {"placements": [feed, {"code": "hero", "type": "hero", "items": []}]}
    assert client.put("/v1/levers", json=levers, headers=h).status_code == 200
    yield
    APP.state.segmint.pool.close()
    shutil.rmtree(_DIR, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: Any) -> None:
    response = case.call(headers={"Authorization": f"Bearer {_TOKEN['admin']}"})
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, (response.status_code, response.text[:500])
