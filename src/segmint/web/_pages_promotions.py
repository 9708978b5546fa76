"""The promotion pages (TARGETING.md §4): the list with each benefit in words, status and
budget meters; a promotion's page (every field, meters, codes with their uses, code
generation, a CSV of its codes); create and edit (rules validated live); delete with
confirmation; history.

Writes go through :func:`segmint.services.levers.put_lever` (``_lever_pages.save``)
with the version the form was opened on. ``/promotions/_new`` and ``_validate`` start
with ``_``, which no lever code can. Codes are bearer credentials worth a discount: the
codes table and the CSV need a role that may write levers, as ``GET
/v1/promotions/{code}/codes`` does; every web user sees how many there are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from segmint.errors import NotFoundError, SegmintError
from segmint.services import codes as code_service
from segmint.services import levers as service
from segmint.services.promotion_usage import meters
from segmint.store.base import Store
from segmint.web import _lever_pages as pages_
from segmint.web._deps import FormDep, NowDep, StoreDep, guard
from segmint.web._forms import Form
from segmint.web._lever_form import LeverErrors
from segmint.web._promotion_form import (
    BENEFIT_TYPES,
    RULE_FIELDS,
    benefit_words,
    promotion_errors,
    promotion_from_form,
    stored_values,
    submitted_values,
)
from segmint.web._session import WebSession
from segmint.web._templates import SECURITY_HEADERS, not_found, redirect, render, urlpart

PAGES = pages_.LeverPages("promotions", "promotion", "/promotions")
#: Codes shown on a promotion's page (all of them are in the CSV).
CODES_SHOWN = 200
#: What an empty rule field means.
EMPTY = {
    "audience": "Empty: GLOBAL — everyone, anonymous visitors too.",
    "condition": "Empty: always (no condition on the request).",
    "target": "Empty: every line of the cart.",
    "buy": "Required: a condition on one cart line, e.g. category = 'wine'.",
    "get": "Required: a condition on one cart line, e.g. category = 'cheese'.",
}

router = APIRouter(include_in_schema=False)


def _statuses(rows: list[dict[str, Any]], store: Store, now: dt.datetime) -> dict[str, str]:
    """Each promotion's status; a live promotion whose campaign is not live says the
    campaign's (it does not apply outside its campaign's dates)."""
    campaigns = {r.code: pages_.status(r.data, now) for r in service.lever_rows(store, "campaigns")}
    out = {}
    for data in rows:
        own = pages_.status(data, now)
        campaign = campaigns.get(str(data.get("campaign")))
        out[str(data["code"])] = (
            f"{campaign} (campaign)" if own == "live" and campaign not in (None, "live") else own
        )
    return out


@router.get("/promotions")
def promotion_list(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    stored = service.lever_rows(store, PAGES.kind)
    datas = [r.data for r in stored]
    found = meters(store, datas)
    statuses = _statuses(datas, store, now)
    rows = [
        {
            "code": r.code,
            "data": r.data,
            "words": benefit_words(dict(r.data.get("benefit") or {})),
            "status": statuses[r.code],
            "meters": found.get(r.code, []),
            "version": r.version,
        }
        for r in sorted(stored, key=lambda r: (-int(r.data.get("priority") or 0), r.code))
    ]
    return render(
        request, "promotions.html", session, rows=rows, can_write=pages_.can_write(session)
    )


# ---- the form ------------------------------------------------------------------------------


def _form_page(
    request: Request,
    session: WebSession,
    store: Store,
    *,
    values: dict[str, str],
    editing: str | None = None,
    errors: LeverErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "promotion_form.html",
        session,
        status_code=status_code,
        values=values,
        editing=editing,
        errors=errors or promotion_errors(),
        benefit_types=BENEFIT_TYPES,
        campaigns=[c.code for c in service.list_levers(store, "campaigns")],
        default_currency=service.default_currency(store),
    )


@router.get("/promotions/_new")
def new_promotion(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = pages_.writer(PAGES, request, store, now)
    if isinstance(session, Response):
        return session
    return _form_page(request, session, store, values=stored_values(None))


@router.post("/promotions/_validate")
def validate_rule(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    """The live check under a rule field: audience and condition over the request;
    target, buy and get over one cart line."""
    paths = {name: f"benefit.{name}" for name in ("target", "buy", "get")}
    return pages_.check_rule(request, store, now, form, RULE_FIELDS, EMPTY, paths)


def _save(
    request: Request,
    session: WebSession,
    store: Store,
    now: dt.datetime,
    form: Form,
    editing: str | None,
) -> Response:
    submitted = promotion_from_form(form, editing)
    values = submitted_values(form)

    def form_page(errors: LeverErrors | None, status_code: int) -> HTMLResponse:
        return _form_page(
            request,
            session,
            store,
            values=values,
            editing=editing,
            errors=errors,
            status_code=status_code,
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
        errors=promotion_errors(submitted.tier_lines),
        form_page=form_page,
    )


@router.post("/promotions/_new")
def create(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = pages_.writer(PAGES, request, store, now, form)
    if isinstance(session, Response):
        return session
    return _save(request, session, store, now, form, None)


@router.get("/promotions/{code}/edit")
def edit_form(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    session = pages_.writer(PAGES, request, store, now)
    if isinstance(session, Response):
        return session
    try:
        row = service.show_lever(store, PAGES.kind, code)
    except NotFoundError as error:
        return not_found(request, session, str(error).removeprefix("error: "))
    values = stored_values(row.data)
    values["version"] = str(row.version)  # saving over a newer version is refused
    return _form_page(request, session, store, values=values, editing=code)


@router.post("/promotions/{code}/edit")
def edit(request: Request, code: str, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = pages_.writer(PAGES, request, store, now, form)
    if isinstance(session, Response):
        return session
    return _save(request, session, store, now, form, code)


# ---- a promotion's page ---------------------------------------------------------------------


def _detail(
    request: Request,
    session: WebSession,
    store: Store,
    now: dt.datetime,
    code: str,
    *,
    generate: dict[str, str] | None = None,
    generate_error: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        row = service.show_lever(store, PAGES.kind, code)
    except NotFoundError as error:
        return not_found(request, session, str(error).removeprefix("error: "))
    codes = code_service.list_codes(store, code)
    writer = pages_.can_write(session)
    return render(
        request,
        "promotion.html",
        session,
        status_code=status_code,
        row=row,
        data=row.data,
        words=benefit_words(dict(row.data.get("benefit") or {})),
        status=_statuses([row.data], store, now)[code],
        meters=meters(store, [row.data]).get(code, []),
        codes=codes[:CODES_SHOWN] if writer else [],
        code_count=len(codes),
        codes_used=sum(c.used for c in codes),
        shown=CODES_SHOWN,
        can_write=writer,
        generate=generate or {"length": "10", "uses": "1"},
        generate_error=generate_error,
    )


@router.get("/promotions/{code}")
def detail(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    return _detail(request, session, store, now, code)


def _number(text: str, name: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise SegmintError(f"error: {name}: a whole number, not {text!r}") from None


@router.post("/promotions/{code}/codes")
def generate_codes(
    request: Request, code: str, store: StoreDep, now: NowDep, form: FormDep
) -> Response:
    """Generate codes (``services.codes.generate_codes``): ``count`` of them, or one per
    member of ``segment``, each with ``uses`` (empty: no limit of its own)."""
    session = pages_.writer(PAGES, request, store, now, form)
    if isinstance(session, Response):
        return session
    segment = form.get("segment").strip() or None
    try:
        length = _number(form.get("length"), "length")
        made = code_service.generate_codes(
            store,
            code,
            now,
            count=_number(form.get("count"), "count"),
            prefix=form.get("prefix").strip(),
            length=10 if length is None else length,
            uses=_number(form.get("uses"), "uses"),
            segment=segment,
        )
    except NotFoundError as error:
        return not_found(request, session, str(error).removeprefix("error: "))
    except SegmintError as error:
        message = str(error).removeprefix("error: ").replace("--", "")
        return _detail(
            request,
            session,
            store,
            now,
            code,
            generate=dict(form.fields),
            generate_error=message,
            status_code=400,
        )
    to = f" for the members of {segment}" if segment else ""
    noun = "code" if len(made) == 1 else "codes"
    return redirect(PAGES.url(code) + "#codes", f"{len(made)} {noun} generated{to}")


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ (or a tab or a
    carriage return) is prefixed with a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get("/promotions/{code}/codes.csv")
def codes_csv(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    """Every code of the promotion with its uses: code, uses (its own limit; empty: none),
    used, customer_id (the recipient of a code bound to one), listed (written in the
    promotion's definition, not generated)."""
    session = pages_.writer(PAGES, request, store, now)
    if isinstance(session, Response):
        return session
    try:
        codes = code_service.list_codes(store, code)
    except NotFoundError as error:
        return not_found(request, session, str(error).removeprefix("error: "))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["code", "uses", "used", "customer_id", "listed"])
    for c in codes:
        writer.writerow(
            [
                csv_cell(c.code),
                csv_cell(c.uses),
                csv_cell(c.used),
                csv_cell(c.customer_id),
                "true" if c.listed else "false",
            ]
        )
    name = f"{code}-codes.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''"
            + urlpart(name),
        },
    )


# ---- delete and history ------------------------------------------------------------------------


@router.get("/promotions/{code}/delete")
def delete_confirm(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    what = "Carts stop getting its discount at once; redemptions already recorded stay."
    return pages_.delete_confirm(PAGES, request, code, store, now, what)


@router.post("/promotions/{code}/delete")
def delete(request: Request, code: str, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    return pages_.delete(PAGES, request, code, store, now, form)


@router.get("/promotions/{code}/history")
def history(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    return pages_.history(PAGES, request, code, store, now)
