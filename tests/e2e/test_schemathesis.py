"""Schemathesis against the app's own OpenAPI document: generated requests (valid and
invalid) to every /v1 operation with an admin key must never produce a 5xx; nor with the
lowest-privilege keys, storefront and ingest: on the operations their role may call
(``MAX_EXAMPLES`` each; ``INGEST_EXAMPLES`` for ingest's slow batch and file operations)
and on every other one (``REFUSED_EXAMPLES``, where they must be refused: 403, or 4xx for
a request that is not even well-formed).

Bounded (examples per operation, no deadline) so the whole run takes a few minutes;
``SEGMINT_SCHEMATHESIS_EXAMPLES`` raises it for a longer hunt.
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

from segmint.api.access import allowed_roles
from segmint.api.app import create_app
from segmint.services import auth
from segmint.store.duckdb import DuckDBStore

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
MAX_EXAMPLES = int(os.environ.get("SEGMINT_SCHEMATHESIS_EXAMPLES", "12"))
#: The ingest role's operations are the slow ones (batches, file imports) and the admin
#: run covers them already: fewer examples exercise the role's own path.
INGEST_EXAMPLES = max(2, MAX_EXAMPLES // 3)
REFUSED_EXAMPLES = 2
LOW_ROLES = ("storefront", "ingest")
_TOKEN: dict[str, str] = {}


# The app opens its database lazily: building it (and loading its schema) at import
# touches nothing; the fixture below creates and seeds the database first.
_DIR = Path(tempfile.mkdtemp(prefix="segmint_schemathesis_"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)  # also when only collected
_PATH = _DIR / "segmint.duckdb"
APP = create_app(str(_PATH), clock=lambda: NOW)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


def _allows(role: str) -> Any:
    def allowed(ctx: Any) -> bool:
        return role in (allowed_roles(ctx.operation.method, ctx.operation.path) or ())

    return allowed


def _refuses_every_low_role(ctx: Any) -> bool:
    return not any(_allows(role)(ctx) for role in LOW_ROLES)


storefront_schema = schema.include(_allows("storefront"))
ingest_schema = schema.include(_allows("ingest"))
refused_schema = schema.include(_refuses_every_low_role)


@pytest.fixture(scope="module", autouse=True)
def seeded() -> Iterator[None]:
    store = DuckDBStore(_PATH)
    store.init()
    for role in ("admin", *LOW_ROLES):
        _, _TOKEN[role] = auth.create_api_key(store, role, NOW, name=f"schemathesis {role}")
    store.close()
    token = _TOKEN["admin"]
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


def _call(case: Any, role: str) -> Any:
    response = case.call(headers={"Authorization": f"Bearer {_TOKEN[role]}"})
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, (role, response.status_code, response.text[:500])
    return response


@storefront_schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_as_storefront(case: Any) -> None:
    _call(case, "storefront")


@ingest_schema.parametrize()
@settings(
    max_examples=INGEST_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_as_ingest(case: Any) -> None:
    _call(case, "ingest")


@refused_schema.parametrize()
@settings(
    max_examples=REFUSED_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_low_roles_are_refused_without_server_errors(case: Any) -> None:
    for role in LOW_ROLES:
        response = _call(case, role)
        assert 400 <= response.status_code < 500, (role, case.method, case.path)
