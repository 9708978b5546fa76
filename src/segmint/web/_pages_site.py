"""The site around the pages: ``/`` (to the login or the segments), the login and logout,
and the static files (the vendored htmx and the CSS)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from segmint.services import auth
from segmint.web._deps import FormDep, NowDep, StoreDep, guard
from segmint.web._session import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    cookie_secure,
    current_session,
    log_in,
    login_csrf_ok,
    safe_next,
)
from segmint.web._templates import HERE, forbidden, plural, redirect, render

STATIC_FILES = {
    "builder.js": "text/javascript",
    "htmx.min.js": "text/javascript",
    "segmint.css": "text/css",
    "simulator.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, store: StoreDep, now: NowDep) -> Response:
    if current_session(request, store, now) is None:
        return redirect("/login")
    return redirect("/segments")


def _login_page(
    request: Request,
    next_url: str,
    error: str | None = None,
    username: str = "",
    status_code: int | None = None,
) -> HTMLResponse:
    # One token per browser (kept if already set), so two open login tabs both work.
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        None,
        status_code=status_code or (401 if error else 200),
        login_csrf=token,
        next_url=safe_next(next_url),
        error=error,
        username=username,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
    )
    return response


@router.get("/login")
def login_form(request: Request, store: StoreDep, now: NowDep, next: str = "") -> Response:
    if current_session(request, store, now) is not None:
        return redirect(safe_next(next))
    return _login_page(request, next)


@router.post("/login")
async def login(request: Request, form: FormDep) -> Response:
    # No StoreDep: the store is borrowed only around the login's reads and writes, never
    # during the argon2 check (services/login.py).
    if not login_csrf_ok(request, form.get("login_csrf")):
        return forbidden(request, None)
    username = form.get("username").strip()
    outcome = await log_in(request, username, form.get("password"))
    if outcome.retry_after is not None:
        wait = outcome.retry_after
        message = f"Too many failed logins: try again in {plural(wait, 'second')}."
        page = _login_page(request, form.get("next"), message, username, status_code=429)
        page.headers["Retry-After"] = str(wait)
        return page
    token = outcome.token
    if outcome.user is None or token is None:
        return _login_page(request, form.get("next"), "Wrong username or password.", username)
    response = redirect(safe_next(form.get("next")))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    auth.end_session(store, session.token)
    response = redirect("/login", "You are logged out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page links: the same SVG icon."""
    return static("favicon.svg")


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC_FILES:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(
        HERE / "static" / name,
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "public, max-age=3600"},
    )
