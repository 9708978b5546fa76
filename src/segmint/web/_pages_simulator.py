"""The cart simulator page (``/simulator``, TARGETING.md §3–§4): a marketer prices a cart
for a customer or an anonymous visitor and sees what ``POST /v1/evaluate`` answers — each
line's price and discounts, the totals, the promotions, what did not apply and why, the
near misses and the placements.

A GET form: it only reads (the answer comes from :func:`segmint.services.simulate.simulate`,
which records no redemption), so it needs no CSRF token and a simulation can be shared as
a link. Like the lever forms it is for the roles that may write levers (``LEVER_WRITERS``);
another stored role gets 403, no session the login.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from segmint.api.deps import app_state
from segmint.errors import ConfigError
from segmint.services.simulate import simulate
from segmint.web._deps import NowDep, StoreDep, guard
from segmint.web._session import LEVER_WRITERS
from segmint.web._simulator import failed, finish, read_form
from segmint.web._templates import render

router = APIRouter(include_in_schema=False)


@router.get("/simulator")
def simulator(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    if session.role not in LEVER_WRITERS:
        return render(
            request,
            "error.html",
            session,
            status_code=403,
            title="Forbidden",
            message="Only marketers and admins can use the cart simulator.",
        )
    params = {key: request.query_params.getlist(key) for key in request.query_params}
    simulation, document = read_form(params)
    status = 400 if simulation.error else 200
    if document is not None:
        try:
            answer = simulate(store, app_state(request).targeting, document, now)
        except ConfigError as error:
            failed(simulation, error)
            status = 400
        else:
            finish(simulation, answer)
    return render(request, "simulator.html", session, status_code=status, sim=simulation)
