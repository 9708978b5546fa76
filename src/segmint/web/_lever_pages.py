"""What the lever pages share. Every lever kind's (promotions, price lists, placements):
the writer check (every web user reads, ``LEVER_WRITERS`` write), a lever's status, the
not-found page of a missing lever, delete with confirmation and history
(:func:`add_delete_history`). The promotion and price-list pages also share their form
(:class:`LeverForm`): new, create, edit and the live rule check, all made by
:func:`lever_router`; saving goes through :func:`segmint.services.levers.put_lever` with
the version the form was opened on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from segmint.errors import ConflictError, NotFoundError, SegmintError
from segmint.services import levers as service
from segmint.store.base import Store
from segmint.store.levers import LeverRow
from segmint.targeting.document import DocumentError, RuleScope
from segmint.web._deps import FormDep, NowDep, StoreDep, guard
from segmint.web._forms import Form, rule_error
from segmint.web._lever_form import LeverErrors
from segmint.web._session import LEVER_WRITERS, WebSession
from segmint.web._templates import not_found, redirect, render, urlpart


@dataclass(frozen=True)
class LeverPages:
    """One lever kind's pages: its kind, its words, its URLs."""

    kind: str  # "promotions", "price_lists", "placements"
    label: str  # "promotion", "price list", "placement"
    base: str  # "/promotions", "/price-lists", "/placements"

    def url(self, code: str) -> str:
        return f"{self.base}/{urlpart(code)}"


def who(session: WebSession) -> str:
    return f"web:{session.username}"


def can_write(session: WebSession) -> bool:
    return session.role in LEVER_WRITERS


def writer(
    pages: LeverPages, request: Request, store: Store, now: dt.datetime, form: Form | None = None
) -> WebSession | Response:
    """A session that may write levers (the API's marketer role), else the answer."""
    session = guard(request, store, now, form)
    if isinstance(session, Response) or can_write(session):
        return session
    return render(
        request,
        "error.html",
        session,
        status_code=403,
        title="Forbidden",
        message=f"Only marketers and admins can change {pages.kind.replace('_', ' ')}.",
    )


def _instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def status(data: dict[str, Any], now: dt.datetime, live: str = "live") -> str:
    """``live`` (the placement pages say ``active``), ``inactive``, ``scheduled`` (before
    starts_at) or ``ended``."""
    if not data.get("active", True):
        return "inactive"
    starts, ends = _instant(data.get("starts_at")), _instant(data.get("ends_at"))
    if starts is not None and now < starts:
        return "scheduled"
    if ends is not None and now >= ends:
        return "ended"
    return live


def list_row(row: LeverRow, status: str, **more: Any) -> dict[str, Any]:
    """A row of a lever list page: the lever, its status, its version and last change,
    and ``more`` (the kind's own columns)."""
    return {
        "code": row.code,
        "data": row.data,
        "status": status,
        "version": row.version,
        "updated_at": row.updated_at,
        "updated_by": row.updated_by,
        **more,
    }


def find(
    pages: LeverPages, request: Request, session: WebSession, store: Store, code: str
) -> LeverRow | Response:
    """The stored lever, else the not-found page."""
    try:
        return service.show_lever(store, pages.kind, code)
    except NotFoundError as error:
        return not_found(request, session, str(error).removeprefix("error: "))


def check_rule(
    request: Request,
    store: Store,
    now: dt.datetime,
    form: Form,
    scopes: dict[str, RuleScope],
    empty: dict[str, str],
    paths: dict[str, str] | None = None,
) -> Response:
    """The live check of one rule field (htmx posts the whole form; the field is the one
    named by ``HX-Trigger-Name``, else the first rule field sent): checked as saving
    will check it, in its scope; an error names the lever path (``paths``, default the
    field's name)."""
    session = guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    paths = paths or {}
    trigger = request.headers.get("HX-Trigger-Name") or ""
    sent = [name for name in scopes if name in form.fields]
    name = trigger if trigger in scopes else (sent[0] if sent else "")
    text = form.get(name)
    problem = service.rule_problem(store, text, scopes[name]) if name and text.strip() else None
    shown = {**rule_error(problem), "path": paths.get(name, name)} if problem else None
    return render(
        request,
        "_rule_check.html",
        session,
        rule_error=shown,
        text=text,
        empty=empty.get(name, ""),
    )


FormPage = Callable[[LeverErrors | None, int], HTMLResponse]


def save(
    pages: LeverPages,
    session: WebSession,
    store: Store,
    now: dt.datetime,
    form: Form,
    *,
    editing: str | None,
    data: dict[str, Any],
    problems: list[tuple[str, str]],
    errors: LeverErrors,
    form_page: FormPage,
) -> Response:
    """Save the lever the form describes, or show the form again with every problem
    beside its field (400), or the conflict (409); nothing is written on any problem."""
    code = str(data.get("code") or "")
    for path, message in problems:
        errors.add(path, message)
    version = form.get("version")
    # a create must not replace a lever someone else made meanwhile (version 0)
    expected = int(version) if version.isdigit() else (None if editing else 0)
    change = None
    try:
        if errors:
            service.check_lever(store, pages.kind, code, data)  # every other problem too
        else:
            _, change = service.put_lever(
                store, pages.kind, code, data, now, who=who(session), expected_version=expected
            )
    except DocumentError as error:
        errors.add_all(error.errors, error.rule_errors)
    except ConflictError as error:
        errors.general.append(
            str(error).removeprefix("error: ")
            + f". Your changes were not saved: open the {pages.label} again to see the current"
            " version, then make them there."
        )
        return form_page(errors, 409)
    except SegmintError as error:
        errors.general.append(str(error).removeprefix("error: "))
    if errors:
        return form_page(errors, 400)
    title = pages.label[0].upper() + pages.label[1:]
    if change is None:
        flash = f"Nothing changed: the {pages.label} is the same as the stored one."
    elif change.change == "create":
        flash = f"{title} created: {code} (version {change.version})"
    else:
        flash = f"{title} updated: {code} (version {change.version})"
    return redirect(pages.url(code), flash)


def delete_confirm(
    pages: LeverPages,
    request: Request,
    code: str,
    store: Store,
    now: dt.datetime,
    what: str,
    template: str = "lever_delete.html",
) -> Response:
    session = writer(pages, request, store, now)
    if isinstance(session, Response):
        return session
    row = find(pages, request, session, store, code)
    if isinstance(row, Response):
        return row
    return render(request, template, session, row=row, data=row.data, pages=pages, what=what)


def delete(
    pages: LeverPages, request: Request, code: str, store: Store, now: dt.datetime, form: Form
) -> Response:
    session = writer(pages, request, store, now, form)
    if isinstance(session, Response):
        return session
    version = form.get("version")
    expected = int(version) if version.isdigit() else None
    try:
        change = service.delete_lever(
            store, pages.kind, code, now, who=who(session), expected_version=expected
        )
    except NotFoundError as error:
        return not_found(request, session, str(error).removeprefix("error: "))
    except SegmintError as error:
        return redirect(pages.url(code), str(error).removeprefix("error: "))
    title = pages.label[0].upper() + pages.label[1:]
    return redirect(pages.base, f"{title} deleted: {code} (version {change.version})")


def history(
    pages: LeverPages,
    request: Request,
    code: str,
    store: Store,
    now: dt.datetime,
    template: str = "lever_history.html",
) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    try:
        versions = service.lever_history(store, pages.kind, code)
    except NotFoundError as error:
        return not_found(request, session, str(error).removeprefix("error: "))
    return render(
        request,
        template,
        session,
        code=code,
        pages=pages,
        versions=list(reversed(versions)),
        exists=any(v.change != "delete" for v in versions[-1:]),
    )


def add_delete_history(
    router: APIRouter,
    pages: LeverPages,
    what: str = "",
    *,
    delete_template: str = "lever_delete.html",
    history_template: str = "lever_history.html",
) -> None:
    """``{base}/{code}/delete`` (GET: the confirmation, saying ``what`` deleting does;
    POST: delete) and ``{base}/{code}/history`` on ``router``."""

    @router.get(pages.base + "/{code}/delete")
    def delete_confirm_page(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
        return delete_confirm(pages, request, code, store, now, what, delete_template)

    @router.post(pages.base + "/{code}/delete")
    def delete_page(
        request: Request, code: str, store: StoreDep, now: NowDep, form: FormDep
    ) -> Response:
        return delete(pages, request, code, store, now, form)

    @router.get(pages.base + "/{code}/history")
    def history_page(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
        return history(pages, request, code, store, now, history_template)


# ---- the promotion and price-list form --------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    """What a form's fields say: the lever, the form's own problems by JSON path, and the
    errors that will place every problem (knowing the textarea lines of its lists)."""

    data: dict[str, Any]
    problems: list[tuple[str, str]]
    errors: LeverErrors


def _no_context(store: Store) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class LeverForm:
    """One kind's create/edit form: its template; the lever it describes (``read``, with
    the code being edited); its values for a stored lever or a new one (None) and as
    submitted; an empty errors; its rule fields (scope, what empty means, lever path when
    it is not the field's name); ``context``: more for the template; ``defaults``: a new
    lever's values that depend on the store."""

    template: str
    read: Callable[[Form, str | None], Submitted]
    stored_values: Callable[[dict[str, Any] | None], dict[str, str]]
    submitted_values: Callable[[Form], dict[str, str]]
    errors: Callable[[], LeverErrors]
    scopes: dict[str, RuleScope]
    empty: dict[str, str]
    paths: dict[str, str] = field(default_factory=dict)
    context: Callable[[Store], dict[str, Any]] = _no_context
    defaults: Callable[[Store], dict[str, str]] = _no_context


def form_page(
    pages: LeverPages,
    form: LeverForm,
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
        form.template,
        session,
        status_code=status_code,
        values=values,
        editing=editing,
        errors=errors or form.errors(),
        pages=pages,
        **form.context(store),
    )


def _save_form(
    pages: LeverPages,
    lever_form: LeverForm,
    request: Request,
    session: WebSession,
    store: Store,
    now: dt.datetime,
    form: Form,
    editing: str | None,
) -> Response:
    submitted = lever_form.read(form, editing)
    values = lever_form.submitted_values(form)

    def again(errors: LeverErrors | None, status_code: int) -> HTMLResponse:
        return form_page(
            pages,
            lever_form,
            request,
            session,
            store,
            values=values,
            editing=editing,
            errors=errors,
            status_code=status_code,
        )

    return save(
        pages,
        session,
        store,
        now,
        form,
        editing=editing,
        data=submitted.data,
        problems=submitted.problems,
        errors=submitted.errors,
        form_page=again,
    )


def lever_router(pages: LeverPages, lever_form: LeverForm, what: str) -> APIRouter:
    """A router with one kind's form pages (``{base}/_new``: new and create;
    ``{base}/_validate``: the live rule check; ``{base}/{code}/edit``), delete (saying
    ``what`` deleting does) and history. ``_new`` and ``_validate`` start with ``_``,
    which no lever code can; they come before any ``{base}/{code}`` page the kind adds."""
    router = APIRouter(include_in_schema=False)

    @router.get(pages.base + "/_new")
    def new_page(request: Request, store: StoreDep, now: NowDep) -> Response:
        session = writer(pages, request, store, now)
        if isinstance(session, Response):
            return session
        values = {**lever_form.stored_values(None), **lever_form.defaults(store)}
        return form_page(pages, lever_form, request, session, store, values=values)

    @router.post(pages.base + "/_validate")
    def validate_page(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
        return check_rule(
            request, store, now, form, lever_form.scopes, lever_form.empty, lever_form.paths
        )

    @router.post(pages.base + "/_new")
    def create_page(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
        session = writer(pages, request, store, now, form)
        if isinstance(session, Response):
            return session
        return _save_form(pages, lever_form, request, session, store, now, form, None)

    @router.get(pages.base + "/{code}/edit")
    def edit_page(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
        session = writer(pages, request, store, now)
        if isinstance(session, Response):
            return session
        row = find(pages, request, session, store, code)
        if isinstance(row, Response):
            return row
        values = lever_form.stored_values(row.data)
        values["version"] = str(row.version)  # saving over a newer version is refused
        return form_page(pages, lever_form, request, session, store, values=values, editing=code)

    @router.post(pages.base + "/{code}/edit")
    def edit_save(
        request: Request, code: str, store: StoreDep, now: NowDep, form: FormDep
    ) -> Response:
        session = writer(pages, request, store, now, form)
        if isinstance(session, Response):
            return session
        return _save_form(pages, lever_form, request, session, store, now, form, code)

    add_delete_history(router, pages, what)
    return router
