"""The placement pages (TARGETING.md §6): the list, a placement's page (its items with
their reach, and the "see it as" panel), create and edit (items' audiences validated
live), delete with confirmation, history, and "see it as" over every placement.

Every write goes through :func:`segmint.services.levers.put_lever` /
:func:`~segmint.services.levers.delete_lever` with the version the form was opened on,
so a stale edit is refused instead of undoing someone else's change. Creating and
validating live at ``/placements/_new`` and ``/placements/_validate``: a lever code
cannot start with ``_``, so no placement's page is ever shadowed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from segmint.api.deps import app_state
from segmint.errors import ConflictError, SegmintError
from segmint.services import levers as service
from segmint.services.reach import Reach, audience_reach, customer_count
from segmint.store.base import Store
from segmint.targeting.document import DocumentError
from segmint.targeting.model import Mode, PlacementType
from segmint.web import _lever_pages as pages_
from segmint.web._deps import FormDep, NowDep, StoreDep, guard
from segmint.web._forms import Form, rule_error
from segmint.web._placement_form import (
    BLANK_ITEM,
    MAX_ROWS,
    PlacementErrors,
    placement_from_form,
    row_count,
    stored_values,
    submitted_values,
)
from segmint.web._see_as import see_as
from segmint.web._session import WebSession
from segmint.web._templates import redirect, render

PAGES = pages_.LeverPages("placements", "placement", "/placements")

router = APIRouter(include_in_schema=False)


def _status(data: dict[str, Any], now: dt.datetime) -> str:
    """``active``, ``inactive``, ``scheduled`` (before starts_at) or ``ended``."""
    return pages_.status(data, now, live="active")


def _by_priority(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items in the order a placement considers them: priority (higher first), code."""
    return sorted(items, key=lambda i: (-int(i.get("priority") or 0), str(i["code"])))


def _mode(data: dict[str, Any]) -> str:
    if data.get("mode"):
        return str(data["mode"])
    try:
        return PlacementType(str(data.get("type"))).default_mode.value
    except ValueError:
        return "—"


# ---- list ----------------------------------------------------------------------------------


@router.get("/placements")
def placement_list(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    rows = [
        pages_.list_row(r, _status(r.data, now), mode=_mode(r.data))
        for r in service.lever_rows(store, PAGES.kind)
    ]
    return render(
        request, "placements.html", session, rows=rows, can_write=pages_.can_write(session)
    )


# ---- the form ------------------------------------------------------------------------------


def _form_page(
    request: Request,
    session: WebSession,
    *,
    values: dict[str, str],
    rows: list[dict[str, str]],
    editing: str | None = None,
    errors: PlacementErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "placement_form.html",
        session,
        status_code=status_code,
        values=values,
        rows=rows,
        editing=editing,
        errors=errors or PlacementErrors(),
        types=[t.value for t in PlacementType],
        modes=[m.value for m in Mode],
        defaults={t.value: t.default_mode.value for t in PlacementType},
    )


def _too_many(request: Request, session: WebSession) -> HTMLResponse:
    # Never a partial save: items past the form's rows would be dropped.
    return render(
        request,
        "error.html",
        session,
        status_code=400,
        title="Too many items for the form",
        message=f"The form edits placements of at most {MAX_ROWS} items. Edit this one as a "
        "document: segmint levers export / apply, or PUT /v1/placements/{code}.",
    )


@router.get("/placements/_new")
def new_placement(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = pages_.writer(PAGES, request, store, now)
    if isinstance(session, Response):
        return session
    values, rows = stored_values(None)
    return _form_page(request, session, values=values, rows=rows)


@router.post("/placements/_validate")
def validate_audience(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    """The live validation fragment under an item's audience (htmx, on input): checked
    as saving will check it; empty says GLOBAL."""
    session = guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    # htmx posts the whole form: the audience is the field that triggered the call
    trigger = request.headers.get("HX-Trigger-Name") or ""
    names = [k for k in form.fields if k.endswith("-audience")]
    text = form.get(trigger if trigger in names else (names[0] if names else ""))
    problem = service.audience_problem(store, text) if text.strip() else None
    return render(
        request,
        "_audience.html",
        session,
        rule_error=rule_error(problem) if problem is not None else None,
        text=text,
    )


def _save(
    request: Request,
    session: WebSession,
    store: Store,
    now: dt.datetime,
    form: Form,
    editing: str | None,
) -> Response:
    if row_count(form) > MAX_ROWS:
        return _too_many(request, session)
    values, rows = submitted_values(form)
    if form.get("action") == "add_item":
        if len(rows) < MAX_ROWS:
            rows.append(dict(BLANK_ITEM))
        return _form_page(request, session, values=values, rows=rows, editing=editing)
    submitted = placement_from_form(form, editing)
    code = str(submitted.data["code"])
    errors = PlacementErrors()
    for path, message in submitted.problems:
        errors.add(path, message, submitted.rows)
    version = form.get("version")
    # a create must not replace a placement someone else made meanwhile (version 0)
    expected = int(version) if version.isdigit() else (None if editing else 0)
    change = None
    try:
        if errors:
            service.check_lever(store, PAGES.kind, code, submitted.data)  # every other problem too
        else:
            _, change = service.put_lever(
                store,
                PAGES.kind,
                code,
                submitted.data,
                now,
                who=pages_.who(session),
                expected_version=expected,
            )
    except DocumentError as error:
        for path, message in error.errors:
            errors.add(path, message, submitted.rows)
        for path, rule in error.rule_errors.items():
            errors.add_rule(path, rule, submitted.rows)
    except ConflictError as error:
        errors.general.append(
            str(error).removeprefix("error: ")
            + ". Your changes were not saved: open the placement again to see the current"
            " version, then make them there."
        )
        return _form_page(
            request,
            session,
            values=values,
            rows=rows,
            editing=editing,
            errors=errors,
            status_code=409,
        )
    except SegmintError as error:
        errors.general.append(str(error).removeprefix("error: "))
    if errors:
        return _form_page(
            request,
            session,
            values=values,
            rows=rows,
            editing=editing,
            errors=errors,
            status_code=400,
        )
    if change is None:
        flash = "Nothing changed: the placement is the same as the stored one."
    elif change.change == "create":
        flash = f"Placement created: {code} (version {change.version})"
    else:
        flash = f"Placement updated: {code} (version {change.version})"
    return redirect(PAGES.url(code), flash)


@router.post("/placements/_new")
def create(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = pages_.writer(PAGES, request, store, now, form)
    if isinstance(session, Response):
        return session
    return _save(request, session, store, now, form, None)


@router.get("/placements/{code}/edit")
def edit_form(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    session = pages_.writer(PAGES, request, store, now)
    if isinstance(session, Response):
        return session
    row = pages_.find(PAGES, request, session, store, code)
    if isinstance(row, Response):
        return row
    if len(row.data.get("items") or ()) > MAX_ROWS:
        return _too_many(request, session)
    values, rows = stored_values(row.data)
    # The version the form was opened on: saving over a newer one is refused.
    values["version"] = str(row.version)
    return _form_page(request, session, values=values, rows=rows, editing=code)


@router.post("/placements/{code}/edit")
def edit(request: Request, code: str, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = pages_.writer(PAGES, request, store, now, form)
    if isinstance(session, Response):
        return session
    return _save(request, session, store, now, form, code)


# ---- a placement's page ------------------------------------------------------------------------


@router.get("/placements/{code}")
def detail(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    row = pages_.find(PAGES, request, session, store, code)
    if isinstance(row, Response):
        return row
    state = app_state(request)
    segments = state.evaluator.catalog(store)
    total = customer_count(store)
    items = []
    for item in _by_priority(list(row.data.get("items") or ())):
        reach: Reach = audience_reach(store, item.get("audience"), now, segments, total=total)
        items.append({"data": item, "status": _status(item, now), "reach": reach})
    panel = see_as(store, state.targeting, request.query_params, now, placement=code)
    return render(
        request,
        "placement.html",
        session,
        row=row,
        data=row.data,
        mode=_mode(row.data),
        status=_status(row.data, now),
        items=items,
        panel=panel,
        action=PAGES.url(code),
        can_write=pages_.can_write(session),
        now=now,
        pages=PAGES,
    )


@router.get("/see-as")
def see_as_page(request: Request, store: StoreDep, now: NowDep) -> Response:
    """Every placement's answer for one visitor."""
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    panel = see_as(store, app_state(request).targeting, request.query_params, now)
    return render(request, "see_as.html", session, panel=panel, action="/see-as")


# ---- delete and history ------------------------------------------------------------------------

pages_.add_delete_history(
    router,
    PAGES,
    delete_template="placement_delete.html",
    history_template="placement_history.html",
)
