"""The price-list pages (TARGETING.md §3.2): the list, a price list's page (its prices
table, currency, audience), create and edit (prices as CSV lines, the audience
validated live), delete with confirmation, history. Writes go through
:func:`segmint.services.levers.put_lever` with the version the form was opened on."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from segmint.errors import NotFoundError
from segmint.services import levers as service
from segmint.store.base import Store
from segmint.web import _lever_pages as pages_
from segmint.web._deps import FormDep, NowDep, StoreDep, guard
from segmint.web._forms import Form
from segmint.web._lever_form import LeverErrors
from segmint.web._price_list_form import (
    price_list_errors,
    price_list_from_form,
    stored_values,
    submitted_values,
)
from segmint.web._session import WebSession
from segmint.web._templates import not_found, render

PAGES = pages_.LeverPages("price_lists", "price list", "/price-lists")
EMPTY = {"audience": "Empty: GLOBAL — everyone, anonymous visitors too."}

router = APIRouter(include_in_schema=False)


@router.get("/price-lists")
def price_list_list(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    rows = [
        {
            "code": r.code,
            "data": r.data,
            "status": pages_.status(r.data, now),
            "version": r.version,
            "updated_at": r.updated_at,
            "updated_by": r.updated_by,
        }
        for r in sorted(
            service.lever_rows(store, PAGES.kind),
            key=lambda r: (-int(r.data.get("priority") or 0), r.code),
        )
    ]
    return render(
        request, "price_lists.html", session, rows=rows, can_write=pages_.can_write(session)
    )


def _form_page(
    request: Request,
    session: WebSession,
    *,
    values: dict[str, str],
    editing: str | None = None,
    errors: LeverErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "price_list_form.html",
        session,
        status_code=status_code,
        values=values,
        editing=editing,
        errors=errors or price_list_errors(),
    )


@router.get("/price-lists/_new")
def new_price_list(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = pages_.writer(PAGES, request, store, now)
    if isinstance(session, Response):
        return session
    values = stored_values(None)
    values["currency"] = service.default_currency(store)
    return _form_page(request, session, values=values)


@router.post("/price-lists/_validate")
def validate_audience(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    return pages_.check_rule(request, store, now, form, {"audience": "request"}, EMPTY)


def _save(
    request: Request,
    session: WebSession,
    store: Store,
    now: dt.datetime,
    form: Form,
    editing: str | None,
) -> Response:
    submitted = price_list_from_form(form, editing)
    values = submitted_values(form)

    def form_page(errors: LeverErrors | None, status_code: int) -> HTMLResponse:
        return _form_page(
            request, session, values=values, editing=editing, errors=errors, status_code=status_code
        )

    return pages_.save(
        PAGES,
        session,
        store,
        now,
        form,
        editing=editing,
        data=submitted.data,
        problems=submitted.problems,
        errors=price_list_errors(submitted.lines),
        form_page=form_page,
    )


@router.post("/price-lists/_new")
def create(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = pages_.writer(PAGES, request, store, now, form)
    if isinstance(session, Response):
        return session
    return _save(request, session, store, now, form, None)


@router.get("/price-lists/{code}/edit")
def edit_form(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    session = pages_.writer(PAGES, request, store, now)
    if isinstance(session, Response):
        return session
    try:
        row = service.show_lever(store, PAGES.kind, code)
    except NotFoundError as error:
        return not_found(request, session, str(error).removeprefix("error: "))
    values = stored_values(row.data)
    values["version"] = str(row.version)
    return _form_page(request, session, values=values, editing=code)


@router.post("/price-lists/{code}/edit")
def edit(request: Request, code: str, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = pages_.writer(PAGES, request, store, now, form)
    if isinstance(session, Response):
        return session
    return _save(request, session, store, now, form, code)


@router.get("/price-lists/{code}")
def detail(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    try:
        row = service.show_lever(store, PAGES.kind, code)
    except NotFoundError as error:
        return not_found(request, session, str(error).removeprefix("error: "))
    return render(
        request,
        "price_list.html",
        session,
        row=row,
        data=row.data,
        status=pages_.status(row.data, now),
        can_write=pages_.can_write(session),
    )


@router.get("/price-lists/{code}/delete")
def delete_confirm(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    what = "Its prices stop applying at once: lines are priced by the next list, or the catalog."
    return pages_.delete_confirm(PAGES, request, code, store, now, what)


@router.post("/price-lists/{code}/delete")
def delete(request: Request, code: str, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    return pages_.delete(PAGES, request, code, store, now, form)


@router.get("/price-lists/{code}/history")
def history(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    return pages_.history(PAGES, request, code, store, now)
