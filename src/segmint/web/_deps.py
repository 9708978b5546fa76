"""What every page handler starts from: the store, the clock, the submitted form, and
:func:`guard` (a logged-in session, and for a POST the session's CSRF token)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import Response

from segmint.api.deps import get_now, get_store
from segmint.store.base import Store
from segmint.web._forms import Form, read_form
from segmint.web._session import WebSession, csrf_ok, current_session
from segmint.web._templates import forbidden, redirect

StoreDep = Annotated[Store, Depends(get_store)]
NowDep = Annotated[dt.datetime, Depends(get_now)]
FormDep = Annotated[Form, Depends(read_form)]


def to_login(request: Request) -> Response:
    if request.headers.get("HX-Request"):
        # An htmx call after the session expired: have the page itself go to the login.
        return Response(status_code=401, headers={"HX-Redirect": "/login"})
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if request.method != "GET":
        target = "/segments"
    return redirect("/login?" + urlencode({"next": target}))


def guard(
    request: Request, store: Store, now: dt.datetime, form: Form | None = None
) -> WebSession | Response:
    """The logged-in session, or the response to send instead (login redirect, 403)."""
    session = current_session(request, store, now)
    if session is None:
        # Nothing happens without a session, so an expired one just leads to the login.
        return to_login(request)
    if form is not None and not csrf_ok(request, session, form.fields):
        return forbidden(request, session)
    return session
