"""Concurrent checkouts never overspend a limit (TARGETING.md §4), on both stores: 40
checkouts at once at a code limited to 5 orders, 32 at one generated code of 3 uses and
32 at a campaign budget of 4 orders, through the API (its pool of connections); on
PostgreSQL also 16 threads each with its own connection through the service. Exactly the
limit applies, the redemption rows say the same, and every order is answered once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from segmint.api.app import create_app
from segmint.services import auth, codes, levers
from segmint.services.checkout import checkout
from segmint.services.customers import ingest
from segmint.services.evaluate import Evaluator
from segmint.services.evaluate_request import read_request
from segmint.services.targeting import Targeting
from segmint.store.base import Store
from segmint.store.postgres import PostgresStore
from segmint.store.redemptions import RedemptionRepository

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
DOCUMENT: dict[str, Any] = {
    "campaigns": [{"code": "flash", "budget": {"usage": 4}}],
    "promotions": [
        {
            "code": "five",
            "trigger": "code",
            "codes": ["FIVE"],
            "usage_limit": 5,
            "benefit": {"type": "order", "amount": "1.00"},
        },
        {"code": "gen", "trigger": "code", "benefit": {"type": "order", "percentage": "10"}},
        {
            "code": "flash-sale",
            "campaign": "flash",
            "condition": "cart.quantity >= 3",
            "benefit": {"type": "order", "amount": "2.00"},
        },
    ],
}


def stock(store: Store) -> Store:
    ingest(store, "products", [{"sku": "A", "unit_price": "10.00"}], NOW)
    ingest(store, "customers", [{"id": f"c{i}"} for i in range(40)], NOW)
    levers.apply_document(store, DOCUMENT, NOW, who="test")
    return store


@pytest.fixture()
def shop(store: Store) -> Store:
    return stock(store)


def body(n: int, code: str | None, quantity: int = 1) -> dict[str, Any]:
    return {
        "customer_id": f"c{n}",
        "order_id": f"{code or 'auto'}-{n}",
        "cart": {"lines": [{"sku": "A", "quantity": quantity}]},
        "codes": [code] if code else [],
    }


def race(fire: Callable[[int], dict[str, Any]], count: int) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(fire, range(count)))


def applied(answers: list[dict[str, Any]], promotion: str) -> int:
    return sum(any(p["code"] == promotion for p in a["promotions"]) for a in answers)


def test_concurrent_checkouts_through_the_api_count_exactly_the_limit(
    shop: Store, store_url: str
) -> None:
    _, token = auth.create_api_key(shop, "storefront", NOW)
    (generated,) = codes.generate_codes(shop, "gen", NOW, count=1, uses=3)
    client = TestClient(create_app(store_url, clock=lambda: NOW, pool_size=8))
    client.headers["Authorization"] = f"Bearer {token}"

    def fire_with(code: str | None, quantity: int = 1) -> Callable[[int], dict[str, Any]]:
        def fire(n: int) -> dict[str, Any]:
            response = client.post("/v1/checkout", json=body(n, code, quantity))
            assert response.status_code == 200, response.text
            answer: dict[str, Any] = response.json()
            return answer

        return fire

    repo = RedemptionRepository(shop)
    five = race(fire_with("FIVE"), 40)
    assert applied(five, "five") == 5
    assert repo.promotion_uses(["five"]) == {"five": 5}
    assert sorted(r["reason"] for a in five for r in a["rejected"]) == ["usage_limit"] * 35

    gen = race(fire_with(generated.code), 32)
    assert applied(gen, "gen") == 3
    assert repo.code_uses([generated.code]) == {generated.code: 3}

    flash = race(fire_with(None, quantity=3), 32)
    assert applied(flash, "flash-sale") == 4
    assert repo.campaign_totals(["flash"])["flash"][1] == 4

    # every order answered once, and a repeat counts nothing
    assert len({a["order_id"] for a in five + gen + flash}) == 104
    again = race(fire_with("FIVE"), 40)
    assert [a["order_id"] for a in again] == [a["order_id"] for a in five]
    assert applied(again, "five") == 5 and repo.promotion_uses(["five"]) == {"five": 5}


def test_concurrent_checkouts_on_their_own_postgres_connections(
    make_store: Callable[..., Store],
) -> None:
    # DuckDB has one writing connection (the API case above covers it); PostgreSQL can
    # have one per checkout
    shop = stock(make_store("postgres"))
    assert isinstance(shop, PostgresStore)
    targeting = Targeting(Evaluator())

    def fire(n: int) -> dict[str, Any]:
        data = body(n, "five")
        request = read_request({k: v for k, v in data.items() if k != "order_id"})
        own = PostgresStore(shop.url)
        try:
            return checkout(own, targeting, request, data["order_id"], NOW).to_dict()
        finally:
            own.close()

    answers = race(fire, 16)
    assert applied(answers, "five") == 5
    assert RedemptionRepository(shop).promotion_uses(["five"]) == {"five": 5}
