"""Sessions, CSRF tokens, login redirects and flash messages: the cookies of the pages.

Sessions, passwords and CSRF tokens themselves come from :mod:`segmint.services.auth`;
this module only reads and writes the cookies that carry them. See docs/web.md, Security.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import anyio
import anyio.to_thread
from fastapi import Request
from fastapi.responses import Response

from segmint.api import access
from segmint.api.deps import app_state
from segmint.services import auth
from segmint.services.login import LoginOutcome
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


# ---- logging in: throttled, and the password checked without holding a store ---------------

#: argon2 checks run at once (each takes ~0.5 s of CPU on 2 cores with argon2-cffi's
#: defaults); the others wait in the event loop, not in a thread.
LOGIN_CHECKS = 1
#: A login that waits longer than this for its turn is answered 429 (Retry-After: 1).
LOGIN_QUEUE_SECONDS = 10.0
#: A blocked login's 429 is sent after this long (or its Retry-After, if sooner): a client
#: that retries at once gets one refusal a second per connection, instead of thousands of
#: instant 429s crowding the other requests out of the server's one event loop (measured:
#: bench/bench_login_flood.py). Waiting costs the server a sleeping task, not a thread.
REFUSED_LOGIN_DELAY = 1.0


def client_address(request: Request) -> str:
    """The client's address as the server saw it (behind a proxy, uvicorn takes it from
    ``X-Forwarded-For`` when the proxy is trusted: ``--forwarded-allow-ips``)."""
    return request.client.host if request.client else "unknown"


async def log_in(request: Request, username: str, password: str) -> LoginOutcome:
    """A login through :class:`segmint.services.login.LoginThrottle`: refused at once
    when this process knows the username or address is blocked; else, in its turn, the
    throttle's check, which borrows the app's store only around its reads and writes."""
    state = app_state(request)
    throttle = state.login_throttle
    address = client_address(request)
    wait = throttle.blocked(username, address)
    if wait is not None:
        await anyio.sleep(min(wait, REFUSED_LOGIN_DELAY))
        return LoginOutcome(retry_after=wait)
    if state.login_limiter is None:
        state.login_limiter = anyio.CapacityLimiter(LOGIN_CHECKS)
    limiter = state.login_limiter
    now = state.clock()
    pool = state.pool

    @contextmanager
    def borrow() -> Iterator[Store]:
        store = pool.acquire()
        try:
            yield store
        finally:
            pool.release(store)

    turn = False
    with anyio.move_on_after(LOGIN_QUEUE_SECONDS):
        await limiter.acquire()
        turn = True
    if not turn:
        return LoginOutcome(retry_after=1)
    try:
        outcome = await anyio.to_thread.run_sync(
            lambda: throttle.log_in(borrow, username, password, address, now)
        )
    finally:
        limiter.release()
    if outcome.retry_after is not None:  # blocked, as the store says: after its turn
        await anyio.sleep(min(outcome.retry_after, REFUSED_LOGIN_DELAY))
    return outcome


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
