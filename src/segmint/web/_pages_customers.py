"""The customer pages: find a customer by id, and a customer's profile, segments (since
when, and why: the explain tree of the rule), user groups with their sources, derived
fields with money in its currency, and the recent orders and events."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from segmint.errors import NotFoundError
from segmint.services.customer_page import customer_page
from segmint.web._deps import NowDep, StoreDep, guard
from segmint.web._templates import not_found, redirect, render

router = APIRouter(include_in_schema=False)


@router.get("/customers")
def find_customer(request: Request, store: StoreDep, now: NowDep, id: str = "") -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    if id.strip():
        return redirect("/customers/" + quote(id.strip(), safe=""))
    return render(request, "customer_search.html", session)


@router.get("/customers/{customer_id:path}")
def customer(request: Request, customer_id: str, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    try:
        details = customer_page(store, customer_id, now)
    except NotFoundError as error:
        return not_found(request, session, str(error))
    overview = details.overview
    profile = {k: v for k, v in overview.profile.items() if v not in (None, "", [])}
    return render(
        request,
        "customer.html",
        session,
        c=overview,
        p=details,
        profile=profile,
        money_fields=MONEY_FIELDS,
    )


#: Derived fields that are amounts of money (written in the customer's currency).
MONEY_FIELDS = frozenset({"total_spent", "average_order_value"})
