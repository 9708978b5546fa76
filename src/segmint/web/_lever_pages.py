"""What the promotion and price-list pages share: the writer check (the placement pages'
roles: every web user reads, ``LEVER_WRITERS`` write), a lever's status, saving through
:func:`segmint.services.levers.put_lever` with the version the form was opened on, the
live rule check, delete and history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from segmint.errors import ConflictError, NotFoundError, SegmintError
from segmint.services import levers as service
from segmint.store.base import Store
from segmint.targeting.document import DocumentError, RuleScope
from segmint.web._deps import guard
from segmint.web._forms import Form, rule_error
from segmint.web._lever_form import LeverErrors
from segmint.web._session import LEVER_WRITERS, WebSession
from segmint.web._templates import not_found, redirect, render, urlpart


@dataclass(frozen=True)
class LeverPages:
    """One lever kind's pages: its kind, its words, its URLs."""

    kind: str  # "promotions", "price_lists"
    label: str  # "promotion", "price list"
    base: str  # "/promotions", "/price-lists"

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


def status(data: dict[str, Any], now: dt.datetime) -> str:
    """``live``, ``inactive``, ``scheduled`` (before starts_at) or ``ended``."""
    if not data.get("active", True):
        return "inactive"
    starts, ends = _instant(data.get("starts_at")), _instant(data.get("ends_at"))
    if starts is not None and now < starts:
        return "scheduled"
    if ends is not None and now >= ends:
        return "ended"
    return "live"


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
    pages: LeverPages, request: Request, code: str, store: Store, now: dt.datetime, what: str
) -> Response:
    session = writer(pages, request, store, now)
    if isinstance(session, Response):
        return session
    try:
        row = service.show_lever(store, pages.kind, code)
    except NotFoundError as error:
        return not_found(request, session, str(error).removeprefix("error: "))
    return render(
        request, "lever_delete.html", session, row=row, data=row.data, pages=pages, what=what
    )


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
    pages: LeverPages, request: Request, code: str, store: Store, now: dt.datetime
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
        "lever_history.html",
        session,
        code=code,
        pages=pages,
        versions=list(reversed(versions)),
        exists=any(v.change != "delete" for v in versions[-1:]),
    )
