"""The demo's targeting document applies over the demo segments and answers as the seeds
describe (both stores); it is applied once, never over a merchant's own levers."""

from __future__ import annotations

import datetime as dt

from segmint.cli.commands_service import demo_segments
from segmint.services import demo_data, levers, segments
from segmint.services.customers import ingest
from segmint.services.evaluate import Evaluator
from segmint.services.evaluate_request import read_request
from segmint.services.targeting import Targeting
from segmint.store.base import Store

NOW = dt.datetime(2018, 1, 1, tzinfo=dt.UTC)


def shown(store: Store, request: dict[str, object]) -> dict[str, list[str]]:
    answer = Targeting(Evaluator()).answer(store, read_request(request), NOW)
    return {p.code: list(p.shown) for p in answer.placements}


def test_the_demo_document_answers_as_the_seeds_describe(store: Store) -> None:
    ingest(
        store,
        "customers",
        [{"id": h, "attributes": {"marital_status": "Single"}} for h in ("h1", "h2")],
        NOW,
    )
    ingest(
        store,
        "orders",
        [
            {
                "order_id": "o1",
                "customer_id": "h1",
                "placed_at": "2017-12-01T10:00:00Z",
                "total": "6000",
            }
        ],
        NOW,
    )
    for definition in demo_segments():
        segments.create_segment(store, definition, NOW)
    assert demo_data.apply_demo_levers(store, NOW) == 12  # 5 placements, 5 promotions, …
    assert demo_data.apply_demo_levers(store, NOW) == 0  # once only

    anonymous = shown(store, {})
    assert anonymous["home-feed"] == ["weekly"]
    assert anonymous["home-hero"] == ["default-hero"]
    assert anonymous["home-page"] == ["home"]
    assert anonymous["main-nav"] == ["shop", "deals"]

    guest_b2b = shown(store, {"context": {"view": "business", "query": {"showBusinessView": "1"}}})
    assert guest_b2b["home-page"] == ["b2b-guest-home"]  # orders_count needs a customer
    assert guest_b2b["home-hero"] == ["business-hero"]
    assert guest_b2b["main-nav"] == ["shop", "deals", "business"]

    # h1 spent 6000: high-value, whose group is vip; one order: an existing B2B user
    vip = shown(
        store,
        {"customer_id": "h1", "context": {"view": "business", "query": {"showBusinessView": "1"}}},
    )
    assert vip["home-feed"] == ["vip-thanks", "b2b-existing", "weekly"]
    assert vip["home-page"] == ["b2b-existing-home"]
    assert vip["main-nav"] == ["shop", "deals", "my-orders", "business", "vip-lounge"]
    new_b2b = shown(store, {"customer_id": "h2", "context": {"view": "business"}})
    assert new_b2b["home-feed"] == ["b2b-new", "weekly"]

    cart = {"lines": [{"sku": "x", "quantity": 1, "unit_price": "250.00"}]}
    big = shown(store, {"context": {"view": "business"}, "cart": cart})
    assert big["cart-messages"] == ["business-big-cart", "basket-35"]
    assert levers.export_document(store)["placements"][0]["code"] == "cart-messages"


def test_the_demo_promotions_price_a_vip_basket(store: Store) -> None:
    ingest(store, "customers", [{"id": "h1", "attributes": {"marital_status": "Single"}}], NOW)
    order = {"order_id": "o1", "customer_id": "h1", "placed_at": "2017-12-01", "total": "6000"}
    ingest(store, "orders", [order], NOW)
    for definition in demo_segments():
        segments.create_segment(store, definition, NOW)
    demo_data.apply_demo_levers(store, NOW)
    request = {
        "customer_id": "h1",
        "cart": {
            "lines": [{"sku": "1082185", "quantity": 40, "unit_price": "0.94"}],
            "shipping": {"amount": "4.99"},
        },
    }
    answer = Targeting(Evaluator()).answer(store, read_request(request), NOW).to_dict()
    # 37.60: in the basket group vip-10 gives 3.76 and basket-builder nothing (below 50);
    # 33.84 is 1.16 short of free delivery, which the cart message says
    assert [(p["code"], p["amount"]) for p in answer["promotions"]] == [("vip-10", "3.76")]
    assert answer["cart"]["total"] == "38.83"
    assert answer["near"] == [{"promotion": "free-delivery", "missing": {"cart.subtotal": "1.16"}}]
    assert answer["placements"]["cart-messages"] == [
        {"item": "delivery-nudge", "content": {"text": "Add 1.16 more for free delivery."}}
    ]
