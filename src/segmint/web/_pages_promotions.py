"""The promotion pages (TARGETING.md §4): the list with each benefit in words, status and
budget meters; a promotion's page (every field, meters, codes with their uses, code
generation, a CSV of its codes); create and edit (rules validated live); delete with
confirmation; history.

The form, delete and history are made by :func:`segmint.web._lever_pages.lever_router`;
writes go through :func:`segmint.services.levers.put_lever` with the version the form
was opened on. ``/promotions/_new`` and ``_validate`` start with ``_``, which no lever
code can. Codes are bearer credentials worth a discount: the
codes table and the CSV need a role that may write levers, as ``GET
/v1/promotions/{code}/codes`` does; every web user sees how many there are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from segmint.csv_safe import csv_row
from segmint.errors import NotFoundError, SegmintError
from segmint.services import codes as code_service
from segmint.services import levers as service
from segmint.services.promotion_usage import meters
from segmint.store.base import Store
from segmint.web import _lever_pages as pages_
from segmint.web._deps import FormDep, NowDep, StoreDep, guard
from segmint.web._forms import Form
from segmint.web._pages_backtest import default_period
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


def _read(form: Form, editing: str | None) -> pages_.Submitted:
    submitted = promotion_from_form(form, editing)
    return pages_.Submitted(
        submitted.data, submitted.problems, promotion_errors(submitted.tier_lines)
    )


def _context(store: Store) -> dict[str, Any]:
    return {
        "benefit_types": BENEFIT_TYPES,
        "campaigns": [c.code for c in service.list_levers(store, "campaigns")],
        "default_currency": service.default_currency(store),
    }


#: The live check under a rule field: audience and condition over the request; target,
#: buy and get over one cart line.
FORM = pages_.LeverForm(
    template="promotion_form.html",
    read=_read,
    stored_values=stored_values,
    submitted_values=submitted_values,
    errors=promotion_errors,
    scopes=RULE_FIELDS,
    empty=EMPTY,
    paths={name: f"benefit.{name}" for name in ("target", "buy", "get")},
    context=_context,
)

router = pages_.lever_router(
    PAGES, FORM, "Carts stop getting its discount at once; redemptions already recorded stay."
)


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
        pages_.list_row(
            r,
            statuses[r.code],
            words=benefit_words(dict(r.data.get("benefit") or {})),
            meters=found.get(r.code, []),
        )
        for r in sorted(stored, key=lambda r: (-int(r.data.get("priority") or 0), r.code))
    ]
    return render(
        request, "promotions.html", session, rows=rows, can_write=pages_.can_write(session)
    )


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
    row = pages_.find(PAGES, request, session, store, code)
    if isinstance(row, Response):
        return row
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
        pages=PAGES,
        period=default_period(store) if writer else ("", ""),
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
        listed = "true" if c.listed else "false"
        writer.writerow(csv_row([c.code, c.uses, c.used, c.customer_id, listed]))
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
