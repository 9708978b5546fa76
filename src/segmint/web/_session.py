"""Sessions, CSRF tokens, login redirects and flash messages: the cookies of the pages.

Sessions, passwords and CSRF tokens themselves come from :mod:`segmint.services.auth`;
this module only reads and writes the cookies that carry them. See docs/web.md, Security.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import Response

from segmint.api import access
from segmint.services import auth
from segmint.store.base import Store

SESSION_COOKIE = "segmint_session"
LOGIN_CSRF_COOKIE = "segmint_login_csrf"
FLASH_COOKIE = "segmint_flash"


@dataclass(frozen=True)
class WebSession:
    token: str
    csrf: str
    username: str
    role: str


def current_session(request: Request, store: Store, now: dt.datetime) -> WebSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = auth.session_user(store, token, now)
    if found is None:
        return None
    user, csrf = found
    return WebSession(token, csrf, user.username, user.role)


def csrf_ok(request: Request, session: WebSession, form: Mapping[str, Any]) -> bool:
    sent = form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), session.csrf.encode())


def login_csrf_ok(request: Request, sent: str) -> bool:
    """Before a session exists, CSRF is a double-submit token: the login form carries the
    value of a cookie that only this site could have set."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), sent.encode())


def cookie_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def safe_next(target: str) -> str:
    # Only a local path: never redirect a logged-in user to another site (browsers
    # drop tabs and newlines, so "/\t/evil.example" would be "//evil.example").
    local = target.startswith("/") and not target.startswith("//")
    if local and "\\" not in target and not any(c.isspace() or ord(c) < 32 for c in target):
        return target
    return "/segments"


# ---- flash messages: a short-lived cookie across the 303 redirect --------------------------


def read_flash(request: Request) -> str | None:
    flash = request.cookies.get(FLASH_COOKIE)
    return unquote(flash) if flash else None


def set_flash(response: Response, flash: str) -> None:
    if len(flash) > 1000:  # a cookie holds about 4 kB (after percent-encoding)
        flash = flash[:999] + "…"
    response.set_cookie(FLASH_COOKIE, quote(flash), path="/", httponly=True, samesite="lax")


def clear_flash(response: Response) -> None:
    response.delete_cookie(FLASH_COOKIE, path="/")


#: Web roles that may write levers: those the API lets write them (api/access.py).
LEVER_WRITERS = access.MARKETER
