"""The price-list pages (TARGETING.md §3.2): the list, a price list's page (its prices
table, currency, audience), create and edit (prices as CSV lines, the audience
validated live), delete with confirmation, history (the form, delete and history made
by :func:`segmint.web._lever_pages.lever_router`). Writes go through
:func:`segmint.services.levers.put_lever` with the version the form was opened on."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from segmint.services import levers as service
from segmint.store.base import Store
from segmint.web import _lever_pages as pages_
from segmint.web._deps import NowDep, StoreDep, guard
from segmint.web._forms import Form
from segmint.web._price_list_form import (
    price_list_errors,
    price_list_from_form,
    stored_values,
    submitted_values,
)
from segmint.web._templates import render

PAGES = pages_.LeverPages("price_lists", "price list", "/price-lists")
EMPTY = {"audience": "Empty: GLOBAL — everyone, anonymous visitors too."}


def _read(form: Form, editing: str | None) -> pages_.Submitted:
    submitted = price_list_from_form(form, editing)
    return pages_.Submitted(submitted.data, submitted.problems, price_list_errors(submitted.lines))


def _defaults(store: Store) -> dict[str, str]:
    return {"currency": service.default_currency(store)}


FORM = pages_.LeverForm(
    template="price_list_form.html",
    read=_read,
    stored_values=stored_values,
    submitted_values=submitted_values,
    errors=price_list_errors,
    scopes={"audience": "request"},
    empty=EMPTY,
    defaults=_defaults,
)

router = pages_.lever_router(
    PAGES,
    FORM,
    "Its prices stop applying at once: lines are priced by the next list, or the catalog.",
)


@router.get("/price-lists")
def price_list_list(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    rows = [
        pages_.list_row(r, pages_.status(r.data, now))
        for r in sorted(
            service.lever_rows(store, PAGES.kind),
            key=lambda r: (-int(r.data.get("priority") or 0), r.code),
        )
    ]
    return render(
        request, "price_lists.html", session, rows=rows, can_write=pages_.can_write(session)
    )


@router.get("/price-lists/{code}")
def detail(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    row = pages_.find(PAGES, request, session, store, code)
    if isinstance(row, Response):
        return row
    return render(
        request,
        "price_list.html",
        session,
        row=row,
        data=row.data,
        status=pages_.status(row.data, now),
        can_write=pages_.can_write(session),
        pages=PAGES,
    )
