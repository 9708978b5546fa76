"""Checkout and orders after it: ``POST /v1/checkout`` redeems what a cart's answer
applied (TARGETING.md §4); cancelling an order gives back its redemptions (and its
customer's memberships follow the new status)."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Path, Request, Response

from segmint.api import models as m
from segmint.api.deps import app_state, authorize, get_now, get_store
from segmint.services import orders
from segmint.services.checkout import checkout
from segmint.services.evaluate_request import CheckoutIn, to_request
from segmint.store.base import Store

StoreDep = Annotated[Store, Depends(get_store)]
NowDep = Annotated[Any, Depends(get_now)]
OrderId = Annotated[str, Path(min_length=1, max_length=200)]

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(authorize)],
    responses={
        401: {"model": m.ErrorBody, "description": "no or an invalid API key"},
        403: {"model": m.ErrorBody, "description": "the key's role may not call this"},
        404: {"model": m.ErrorBody, "description": "no such order"},
        503: {"model": m.ErrorBody, "description": "database unavailable; retry"},
    },
)


@router.post(
    "/checkout",
    response_model=m.CheckoutOut,
    responses={422: {"model": m.ErrorBody, "description": "a request that cannot be priced"}},
)
async def checkout_order(body: CheckoutIn, request: Request) -> Response:
    """Evaluate the request and, in one transaction, re-check every limit and budget and
    record the redemptions of the promotions it applies; answers like evaluate, with
    ``order_id``. Idempotent: the same ``order_id`` answers the recorded result (header
    ``Idempotent-Replayed: true``) and counts once."""
    state = app_state(request)
    now = state.clock()
    ask = to_request(body)

    def run() -> tuple[str, bool]:
        store = state.pool.acquire()
        try:
            result = checkout(store, state.targeting, ask, body.order_id, now)
        finally:
            state.pool.release(store)
        return result.answer, result.repeated

    answer, repeated = await anyio.to_thread.run_sync(run)
    headers = {"Idempotent-Replayed": "true"} if repeated else {}
    return Response(answer, media_type="application/json", headers=headers)


@router.post("/orders/{order_id}/cancel")
def cancel_order(
    order_id: OrderId, request: Request, store: StoreDep, now: NowDep
) -> dict[str, Any]:
    """Mark the order cancelled (its customer's memberships are updated at once) and
    release its redemptions, unless a promotion says ``release_on_cancel: false``.
    Cancelling again changes nothing."""
    result = orders.cancel_order(store, order_id, now)
    state = app_state(request)
    if result.customer_id is not None:
        state.evaluator.invalidate_customers([result.customer_id])
    return {
        "order_id": result.order_id,
        "order_stored": result.order_stored,
        "released": result.released,
        "customers_reevaluated": result.memberships.customers if result.memberships else 0,
    }
