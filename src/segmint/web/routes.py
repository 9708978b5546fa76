"""The admin web pages: server-rendered Jinja2 templates, with htmx for the live parts.

Like every entry point (docs/architecture.md), this module only translates: it reads
forms, calls :mod:`segmint.services`, and renders the result. Sessions, passwords and
CSRF tokens come from :mod:`segmint.services.auth`; every state-changing POST checks the
session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``) and answers
403 when it is missing or wrong. See docs/web.md.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlencode

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from segmint.api.deps import get_now, get_store
from segmint.errors import NotFoundError, RuleError, SegmintError
from segmint.model.segment import (
    DefinitionError,
    PurchaseRequirements,
    SegmentDefinition,
    SegmentKind,
)
from segmint.services import auth
from segmint.services import segments as segments_service
from segmint.services import user_groups as groups_service
from segmint.services.rules import check_rule
from segmint.store.base import Store
from segmint.store.segments import SegmentRecord

HERE = Path(__file__).parent
SESSION_COOKIE = "segmint_session"
LOGIN_CSRF_COOKIE = "segmint_login_csrf"
FLASH_COOKIE = "segmint_flash"
PAGE_SIZE = 50
SAMPLE_SIZE = 10
#: At most this many ids of who enters/leaves are listed on an edit review (then "…").
DIFF_LISTED = 50
STATIC_FILES = {
    "htmx.min.js": "text/javascript",
    "segmint.css": "text/css",
}

#: Sent with every page and fragment: scripts only from this site (htmx is vendored, no
#: inline script anywhere), no framing, no caching of pages holding customer data.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)

StoreDep = Annotated[Store, Depends(get_store)]
NowDep = Annotated[dt.datetime, Depends(get_now)]


# ---- templates ---------------------------------------------------------------------------


def _instant(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _urlpart(value: object) -> str:
    return quote(str(value), safe="")


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every template, every fragment: nothing user-typed renders raw
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["instant"] = _instant
ENV.filters["urlpart"] = _urlpart


@dataclass(frozen=True)
class WebSession:
    token: str
    csrf: str
    username: str
    role: str


def _render(
    request: Request,
    template: str,
    session: WebSession | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    flash = request.cookies.get(FLASH_COOKIE)
    page = ENV.get_template(template).render(
        session=session,
        csrf=session.csrf if session else "",
        flash=unquote(flash) if flash and not template.startswith("_") else None,
        **context,
    )
    response = HTMLResponse(page, status_code=status_code, headers=SECURITY_HEADERS)
    if flash and not template.startswith("_"):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def _redirect(url: str, flash: str | None = None) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    if flash:
        if len(flash) > 1000:  # a cookie holds about 4 kB (after percent-encoding)
            flash = flash[:999] + "…"
        response.set_cookie(FLASH_COOKIE, quote(flash), path="/", httponly=True, samesite="lax")
    return response


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _segment_url(code: str) -> str:
    return "/segments/" + quote(code, safe="")


# ---- sessions and CSRF -------------------------------------------------------------------


def _session(request: Request, store: Store, now: dt.datetime) -> WebSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = auth.session_user(store, token, now)
    if found is None:
        return None
    user, csrf = found
    return WebSession(token, csrf, user.username, user.role)


def _to_login(request: Request) -> Response:
    if request.headers.get("HX-Request"):
        # An htmx call after the session expired: have the page itself go to the login.
        return Response(status_code=401, headers={"HX-Redirect": "/login"})
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if request.method != "GET":
        target = "/segments"
    return _redirect("/login?" + urlencode({"next": target}))


def _forbidden(request: Request, session: WebSession | None) -> HTMLResponse:
    return _render(
        request,
        "error.html",
        session,
        status_code=403,
        title="Forbidden",
        message="This form has expired or did not come from this site (bad CSRF token). "
        "Reload the page and try again.",
    )


def _csrf_ok(request: Request, session: WebSession, form: Mapping[str, Any]) -> bool:
    sent = form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), session.csrf.encode())


@dataclass(frozen=True)
class Form:
    """A submitted form: text fields and uploaded files' contents."""

    fields: dict[str, str]
    files: dict[str, tuple[str, bytes]]

    def get(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default)


async def read_form(request: Request) -> Form:
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    if request.method == "POST":
        data = await request.form()
        for key, value in data.multi_items():
            if isinstance(value, UploadFile):
                content = await value.read()
                if content:
                    files[key] = (value.filename or "", content)
            else:
                fields.setdefault(key, value)
    return Form(fields, files)


FormDep = Annotated[Form, Depends(read_form)]


def _guard(
    request: Request, store: Store, now: dt.datetime, form: Form | None = None
) -> WebSession | Response:
    """The logged-in session, or the response to send instead (login redirect, 403)."""
    session = _session(request, store, now)
    if session is None:
        # Nothing happens without a session, so an expired one just leads to the login.
        return _to_login(request)
    if form is not None and not _csrf_ok(request, session, form.fields):
        return _forbidden(request, session)
    return session


def _cookie_secure(request: Request) -> bool:
    return request.url.scheme == "https"


# ---- login -------------------------------------------------------------------------------


def _safe_next(target: str) -> str:
    # Only a local path: never redirect a logged-in user to another site (browsers
    # drop tabs and newlines, so "/\t/evil.example" would be "//evil.example").
    local = target.startswith("/") and not target.startswith("//")
    if local and "\\" not in target and not any(c.isspace() or ord(c) < 32 for c in target):
        return target
    return "/segments"


@router.get("/")
def home(request: Request, store: StoreDep, now: NowDep) -> Response:
    if _session(request, store, now) is None:
        return _redirect("/login")
    return _redirect("/segments")


def _login_page(
    request: Request, next_url: str, error: str | None = None, username: str = ""
) -> HTMLResponse:
    # One token per browser (kept if already set), so two open login tabs both work.
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = _render(
        request,
        "login.html",
        None,
        status_code=401 if error else 200,
        login_csrf=token,
        next_url=_safe_next(next_url),
        error=error,
        username=username,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_cookie_secure(request),
    )
    return response


@router.get("/login")
def login_form(request: Request, store: StoreDep, now: NowDep, next: str = "") -> Response:
    if _session(request, store, now) is not None:
        return _redirect(_safe_next(next))
    return _login_page(request, next)


@router.post("/login")
def login(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    # Before a session exists, CSRF is a double-submit token: the login form carries the
    # value of a cookie that only this site could have set.
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = form.get("login_csrf")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        return _forbidden(request, None)
    username = form.get("username").strip()
    user = auth.authenticate_user(store, username, form.get("password"))
    if user is None:
        return _login_page(request, form.get("next"), "Wrong username or password.", username)
    token, _csrf = auth.create_session(store, user, now)
    response = _redirect(_safe_next(form.get("next")))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_cookie_secure(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = _guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    auth.end_session(store, session.token)
    response = _redirect("/login", "You are logged out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC_FILES:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(
        HERE / "static" / name,
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "public, max-age=3600"},
    )


# ---- segment list ------------------------------------------------------------------------


def _last_change(record: SegmentRecord, last: dict[str, dt.datetime]) -> dt.datetime:
    """The later of the definition's last save and the last membership change."""
    return max(record.updated_at, last.get(record.code, record.updated_at))


def _freshness(record: SegmentRecord, last: dict[str, dt.datetime]) -> str:
    # Saves, imports, ingestion and the worker keep memberships exact as they happen
    # (docs/membership.md), so a materialized segment is exact as of its last change.
    if not record.definition.kind.materialized:
        return "real-time (evaluated per request)"
    return f"exact — updated at {_instant(_last_change(record, last))}"


@router.get("/segments")
def segment_list(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = _guard(request, store, now)
    if isinstance(session, Response):
        return session
    summaries = segments_service.list_segments(store, now)
    last = segments_service.last_changes(store)
    rows = [
        {
            "code": s.record.code,
            "name": s.record.definition.name,
            "kind": s.record.definition.kind.value,
            "members": s.members if s.record.definition.kind.materialized else None,
            "last_change": _last_change(s.record, last),
            "freshness": _freshness(s.record, last),
            "status": s.status,
        }
        for s in summaries
    ]
    return _render(request, "segments.html", session, rows=rows)


# ---- builder: definition from a form -----------------------------------------------------


@dataclass
class FormErrors:
    """What is wrong with a submitted definition: per field, and a positioned rule error."""

    fields: dict[str, str]
    rule: dict[str, object] | None = None
    general: str | None = None

    def __bool__(self) -> bool:
        return bool(self.fields or self.rule or self.general)


def _opt(form: Form, key: str) -> str | None:
    value = form.get(key).strip()
    return value or None


def _purchase(form: Form) -> PurchaseRequirements:
    raw_spend = form.get("min_spend").strip() or "0"
    try:
        spend = Decimal(raw_spend)
    except InvalidOperation:
        raise DefinitionError("min_spend", f"{raw_spend!r} is not a number") from None
    window = form.get("window", "last_days")
    last_days: int | None = None
    date_from = date_to = None
    if window == "last_days":
        raw_days = form.get("last_days").strip()
        try:
            last_days = int(raw_days) if raw_days else None
        except ValueError:
            raise DefinitionError("last_days", f"{raw_days!r} is not a whole number") from None
    else:
        for key in ("date_from", "date_to"):
            raw = form.get(key).strip()
            try:
                value = dt.date.fromisoformat(raw) if raw else None
            except ValueError:
                raise DefinitionError(key, f"{raw!r} is not a date (YYYY-MM-DD)") from None
            if key == "date_from":
                date_from = value
            else:
                date_to = value
    item_field = _opt(form, "item_field")
    item_value = _opt(form, "item_value")
    items = _opt(form, "items")
    if item_value is None:
        item_field = None
    return PurchaseRequirements(
        min_spend=spend,
        last_days=last_days,
        date_from=date_from,
        date_to=date_to,
        item_field=item_field,
        item_value=item_value,
        items=items,
    )


def _definition(form: Form, base: SegmentDefinition | None = None) -> SegmentDefinition:
    """A definition from the builder form (raises DefinitionError naming the field).
    For an edit, fields the form does not show (dates, stores) keep their values."""
    kind = form.get("kind", "rule")
    rule_text = form.get("rule_text") if kind in ("rule", "realtime") else None
    purchase = _purchase(form) if kind == "purchase" else None
    fields: dict[str, Any] = {
        "code": base.code if base else form.get("code").strip(),
        "name": form.get("name"),
        "kind": kind,
        "description": _opt(form, "description"),
        "user_group": _opt(form, "user_group"),
        "active": form.get("active", "") == "on" if "active_shown" in form.fields else True,
        "rule_text": rule_text if rule_text is None or rule_text.strip() else None,
        "purchase": purchase,
    }
    if base is not None:
        return base.with_changes(**fields)
    return SegmentDefinition(**fields)


def _form_values(definition: SegmentDefinition | None, form: Form | None = None) -> dict[str, str]:
    """The builder's field values: the submitted form, else a stored definition."""
    if form is not None:
        values = dict(form.fields)
        values.setdefault("active", "")
        return values
    if definition is None:
        return {"kind": "rule", "window": "last_days", "last_days": "90", "active": "on"}
    p = definition.purchase
    values = {
        "code": definition.code,
        "name": definition.name,
        "kind": definition.kind.value,
        "description": definition.description or "",
        "user_group": definition.user_group or "",
        "active": "on" if definition.active else "",
        "rule_text": definition.rule_text or "",
        "window": "last_days",
    }
    if p is not None:
        values.update(
            min_spend=format(p.min_spend, "f"),
            window="last_days" if p.last_days is not None else "dates",
            last_days=str(p.last_days or ""),
            date_from=p.date_from.isoformat() if p.date_from else "",
            date_to=p.date_to.isoformat() if p.date_to else "",
            item_field=p.item_field or "",
            item_value=p.item_value or "",
            items=p.items or "",
        )
    return values


def _errors(error: SegmintError) -> FormErrors:
    if isinstance(error, RuleError):
        return FormErrors({}, _rule_error(error))
    if isinstance(error, DefinitionError):
        return FormErrors({error.field: str(error)})
    return FormErrors({}, None, str(error))


def _rule_error(error: RuleError) -> dict[str, object]:
    data = error.to_dict()
    rendered = str(data["rendered"])
    data["excerpt"] = "\n".join(rendered.splitlines()[1:])
    return data


# ---- builder pages -----------------------------------------------------------------------


def _builder(
    request: Request,
    session: WebSession,
    *,
    values: dict[str, str],
    errors: FormErrors | None = None,
    editing: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return _render(
        request,
        "builder.html",
        session,
        status_code=status_code,
        values=values,
        errors=errors or FormErrors({}),
        editing=editing,
        kinds=[k.value for k in SegmentKind],
    )


@router.get("/segments/new")
def new_segment(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = _guard(request, store, now)
    if isinstance(session, Response):
        return session
    return _builder(request, session, values=_form_values(None))


@router.post("/segments/validate")
def validate_rule(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    """The live validation fragment under the rule textarea (htmx, on input)."""
    session = _guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    text = form.get("rule_text")
    error: dict[str, object] | None = None
    message: str | None = None
    if text.strip():
        try:
            check_rule(text, store.rule_schema(), allow_realtime=form.get("kind") == "realtime")
        except RuleError as e:
            error = _rule_error(e)
        except SegmintError as e:
            message = str(e)
    return _render(
        request, "_validation.html", session, rule_error=error, message=message, text=text
    )


@router.post("/segments/preview")
def preview(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    """The preview fragment: count and sample (and, for an edit, who enters and leaves)."""
    session = _guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    editing = form.get("editing") or None
    try:
        base = segments_service.get_segment(store, editing).definition if editing else None
        definition = _definition(form, base)
        if definition.kind is SegmentKind.MANUAL and base is None:
            result = None
        else:
            result = segments_service.preview_segment(store, definition, now, sample=SAMPLE_SIZE)
    except SegmintError as error:
        return _render(request, "_preview.html", session, errors=_errors(error), result=None)
    return _render(
        request,
        "_preview.html",
        session,
        errors=FormErrors({}),
        result=result,
        editing=editing,
        listed=DIFF_LISTED,
    )


@router.post("/segments/new")
def create(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = _guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    try:
        definition = _definition(form)
        result = segments_service.create_segment(store, definition, now)
    except SegmintError as error:
        return _builder(
            request,
            session,
            values=_form_values(None, form),
            errors=_errors(error),
            status_code=400,
        )
    code = result.definition.code
    if result.definition.kind.materialized:
        flash = f"Segment created: {code}; {_n(result.entered, 'member')}"
    else:
        flash = f"Segment created: {code} (real-time: evaluated per request)"
    return _redirect(_segment_url(code), flash)


# ---- detail ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    """An inline SVG step chart of members over time."""

    width: int
    height: int
    left: int
    top: float
    bottom: float
    points: str
    first: str
    last: str
    peak: int
    latest: int
    changes: int


def _chart(changes: list[segments_service.Change], now: dt.datetime) -> Chart | None:
    if not changes:
        return None
    counts: list[tuple[dt.datetime, int]] = []
    count = 0
    for change in changes:
        count += 1 if change.change == "enter" else -1
        if counts and counts[-1][0] == change.at:
            counts[-1] = (change.at, count)
        else:
            counts.append((change.at, count))
    end = max(now, counts[-1][0])
    start = counts[0][0]
    span = max((end - start).total_seconds(), 1.0)
    peak = max(max(c for _, c in counts), 1)
    width, height, pad, left = 600, 160, 6, 44  # `left`: room for the axis labels

    def x(at: dt.datetime) -> float:
        return left + (width - left - pad) * (at - start).total_seconds() / span

    def y(c: int) -> float:
        return height - pad - (height - 2 * pad) * c / peak

    points: list[str] = [f"{x(start):.1f},{y(0):.1f}"]
    previous = 0
    for at, c in counts:
        points.append(f"{x(at):.1f},{y(previous):.1f}")
        points.append(f"{x(at):.1f},{y(c):.1f}")
        previous = c
    points.append(f"{x(end):.1f},{y(previous):.1f}")
    return Chart(
        width,
        height,
        left,
        y(peak),
        y(0),
        " ".join(points),
        _instant(start),
        _instant(end),
        max(c for _, c in counts),
        previous,
        len(changes),
    )


@router.get("/segments/{code}")
def detail(
    request: Request, code: str, store: StoreDep, now: NowDep, q: str = "", page: int = 1
) -> Response:
    session = _guard(request, store, now)
    if isinstance(session, Response):
        return session
    try:
        details = segments_service.show_segment(store, code, now)
    except NotFoundError as error:
        return _not_found(request, session, str(error))
    definition = details.record.definition
    materialized = definition.kind.materialized
    ids = segments_service.members(store, code) if materialized else []
    query = q.strip()
    if query:
        ids = [i for i in ids if i.startswith(query)]
    pages = max(1, -(-len(ids) // PAGE_SIZE))
    page = min(max(1, page), pages)
    shown = ids[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    chart = _chart(segments_service.history(store, code), now) if materialized else None
    return _render(
        request,
        "detail.html",
        session,
        d=details,
        definition=definition,
        rule=definition.effective_rule,
        ids=shown,
        matching=len(ids),
        q=query,
        page=page,
        pages=pages,
        chart=chart,
        freshness=_freshness(details.record, segments_service.last_changes(store)),
    )


def _not_found(request: Request, session: WebSession, message: str) -> HTMLResponse:
    return _render(
        request, "error.html", session, status_code=404, title="Not found", message=message
    )


# ---- edit --------------------------------------------------------------------------------


@router.get("/segments/{code}/edit")
def edit_form(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    session = _guard(request, store, now)
    if isinstance(session, Response):
        return session
    record = segments_service.find_segment(store, code)
    if record is None:
        return _not_found(request, session, f"segment {code!r} does not exist")
    return _builder(request, session, values=_form_values(record.definition), editing=code)


@router.post("/segments/{code}/edit")
def edit(request: Request, code: str, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    """First submit: the review page (who enters, who leaves). Confirmed: save."""
    session = _guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    record = segments_service.find_segment(store, code)
    if record is None:
        return _not_found(request, session, f"segment {code!r} does not exist")
    if form.get("confirm") == "back":  # from the review page, with the draft kept
        return _builder(request, session, values=_form_values(None, form), editing=code)
    try:
        definition = _definition(form, record.definition)
        if form.get("confirm") != "yes":
            result = (
                segments_service.preview_segment(store, definition, now, sample=SAMPLE_SIZE)
                if definition.kind.materialized
                else None
            )
            hidden = {k: v for k, v in form.fields.items() if k not in ("csrf_token", "confirm")}
            return _render(
                request,
                "review.html",
                session,
                code=code,
                definition=definition,
                result=result,
                hidden=hidden,
                listed=DIFF_LISTED,
            )
        saved = segments_service.update_segment(store, definition, now)
    except SegmintError as error:
        return _builder(
            request,
            session,
            values=_form_values(None, form),
            errors=_errors(error),
            editing=code,
            status_code=400,
        )
    if not saved.changed:
        flash = "Nothing changed: the definition is the same as the stored one."
    else:
        flash = (
            f"Segment updated (version {saved.version}); memberships recalculated: "
            f"+{saved.entered} / −{saved.exited}"
        )
        if saved.dependents:
            flash += f"; dependents refreshed: {', '.join(saved.dependents)}"
    return _redirect(_segment_url(code), flash)


# ---- delete ------------------------------------------------------------------------------


@router.get("/segments/{code}/delete")
def delete_confirm(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    session = _guard(request, store, now)
    if isinstance(session, Response):
        return session
    try:
        details = segments_service.show_segment(store, code, now)
    except NotFoundError as error:
        return _not_found(request, session, str(error))
    return _render(request, "delete.html", session, d=details, definition=details.record.definition)


@router.post("/segments/{code}/delete")
def delete(request: Request, code: str, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = _guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    try:
        exited = segments_service.delete_segment(store, code, now)
    except NotFoundError as error:
        return _not_found(request, session, str(error))
    except SegmintError as error:
        return _redirect(_segment_url(code) + "/delete", str(error))
    return _redirect("/segments", f"Segment deleted: {code}; {_n(exited, 'member')} left it")


# ---- manual members ----------------------------------------------------------------------


def _ids_from(form: Form) -> list[str]:
    ids = [line for line in form.get("ids").replace(",", "\n").splitlines() if line.strip()]
    upload = form.files.get("file")
    if upload is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ids.txt"
            path.write_bytes(upload[1])
            ids += segments_service.read_ids_file(path)
    return ids


@router.post("/segments/{code}/members/{action}")
def manual_members(
    request: Request, code: str, action: str, store: StoreDep, now: NowDep, form: FormDep
) -> Response:
    session = _guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    if action not in ("add", "remove"):
        return _not_found(request, session, f"no such action {action!r}")
    change = segments_service.add_members if action == "add" else segments_service.remove_members
    try:
        result = change(store, code, _ids_from(form), now)
    except NotFoundError as error:
        if segments_service.find_segment(store, code) is None:
            return _not_found(request, session, str(error))
        return _redirect(_segment_url(code), str(error))
    except SegmintError as error:
        return _redirect(_segment_url(code), str(error))
    verb = "added" if action == "add" else "removed"
    flash = (
        f"{result.requested} customer{'s' if result.requested != 1 else ''} {verb}; "
        f"memberships: +{result.entered} / −{result.exited}"
    )
    return _redirect(_segment_url(code), flash)


# ---- customers ---------------------------------------------------------------------------


@router.get("/customers")
def find_customer(request: Request, store: StoreDep, now: NowDep, id: str = "") -> Response:
    session = _guard(request, store, now)
    if isinstance(session, Response):
        return session
    if id.strip():
        return _redirect("/customers/" + quote(id.strip(), safe=""))
    return _render(request, "customer_search.html", session)


@router.get("/customers/{customer_id:path}")
def customer(request: Request, customer_id: str, store: StoreDep, now: NowDep) -> Response:
    session = _guard(request, store, now)
    if isinstance(session, Response):
        return session
    try:
        overview = groups_service.customer_overview(store, customer_id, now)
    except NotFoundError as error:
        return _not_found(request, session, str(error))
    profile = {k: v for k, v in overview.profile.items() if v not in (None, "", [])}
    return _render(request, "customer.html", session, c=overview, profile=profile)
