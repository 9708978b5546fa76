"""The administration pages (admin users only): API keys (list, create — the token is
shown once —, revoke), admin-page users (list with their failed logins, create, disable,
enable, delete, reset the password — a generated password is shown once —) and the
in-process worker's status. What ``segmint keys`` and ``segmint users``
do, for when the CLI cannot open the database (DuckDB while it is served) or is not at
hand."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from segmint.api.deps import app_state
from segmint.errors import NotFoundError, SegmintError
from segmint.services import auth, login
from segmint.store.base import Store
from segmint.web._deps import FormDep, NowDep, StoreDep, guard
from segmint.web._forms import Form
from segmint.web._session import WebSession
from segmint.web._templates import redirect, render

router = APIRouter(include_in_schema=False)


def _admin_only(request: Request, session: WebSession) -> Response | None:
    if session.role == "admin":
        return None
    return render(
        request,
        "error.html",
        session,
        status_code=403,
        title="Forbidden",
        message="Only admin users can manage API keys and users.",
    )


def _admin(
    request: Request, store: Store, now: dt.datetime, form: Form | None = None
) -> WebSession | Response:
    session = guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    return _admin_only(request, session) or session


@router.get("/admin")
def admin_home(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = _admin(request, store, now)
    if isinstance(session, Response):
        return session
    worker = app_state(request).worker
    status = worker.status() if worker is not None else None
    return render(request, "admin.html", session, worker=status)


# ---- keys ------------------------------------------------------------------------------


def _keys_page(
    request: Request,
    session: WebSession,
    store: Store,
    *,
    created: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin_keys.html",
        session,
        status_code=status_code,
        keys=auth.list_api_keys(store),
        roles=auth.ROLES,
        created=created,
        error=error,
    )


@router.get("/admin/keys")
def keys_page(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = _admin(request, store, now)
    if isinstance(session, Response):
        return session
    return _keys_page(request, session, store)


@router.post("/admin/keys")
def create_key(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = _admin(request, store, now, form)
    if isinstance(session, Response):
        return session
    name = form.get("name").strip() or None
    try:
        key_id, token = auth.create_api_key(store, form.get("role"), now, name)
    except SegmintError as error:
        message = str(error).removeprefix("error: ")
        return _keys_page(request, session, store, error=message, status_code=400)
    # Shown in this answer only (never in a cookie or a later page): only its hash is kept.
    created = {"id": key_id, "role": form.get("role"), "token": token}
    return _keys_page(request, session, store, created=created)


@router.post("/admin/keys/{key_id}/revoke")
def revoke_key(
    request: Request, key_id: str, store: StoreDep, now: NowDep, form: FormDep
) -> Response:
    session = _admin(request, store, now, form)
    if isinstance(session, Response):
        return session
    try:
        revoked = auth.revoke_api_key(store, key_id, now)
    except SegmintError as error:
        message = str(error).removeprefix("error: ")
        return _keys_page(request, session, store, error=message, status_code=404)
    app_state(request).forget_key(key_id)  # refused at once, not after the key cache's TTL
    flash = f"Key {key_id} revoked." if revoked else f"Key {key_id} was already revoked."
    return redirect("/admin/keys", flash)


# ---- users -----------------------------------------------------------------------------


def _users_page(
    request: Request,
    session: WebSession,
    store: Store,
    *,
    created: dict[str, str] | None = None,
    error: str | None = None,
    username: str = "",
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin_users.html",
        session,
        status_code=status_code,
        users=login.accounts(store),
        roles=auth.USER_ROLES,
        created=created,
        error=error,
        username=username,
    )


@router.get("/admin/users")
def users_page(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = _admin(request, store, now)
    if isinstance(session, Response):
        return session
    return _users_page(request, session, store)


@router.post("/admin/users")
def create_user(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = _admin(request, store, now, form)
    if isinstance(session, Response):
        return session
    username = form.get("username").strip()
    typed = form.get("password")
    password = typed or secrets.token_urlsafe(12)
    try:
        user = auth.create_user(store, username, password, now, role=form.get("role"))
    except SegmintError as error:
        message = str(error).removeprefix("error: ")
        return _users_page(
            request, session, store, error=message, username=username, status_code=400
        )
    created = {"username": user.username, "role": user.role}
    if not typed:
        created["password"] = password  # generated: shown in this answer only
    return _users_page(request, session, store, created=created)


# The user an action is for travels in the form (a username may hold any character).


def _user_action(
    request: Request,
    store: Store,
    now: dt.datetime,
    form: Form,
    act: Callable[[str], str],
) -> Response:
    session = _admin(request, store, now, form)
    if isinstance(session, Response):
        return session
    username = form.get("username").strip()
    try:
        flash = act(username)
    except SegmintError as error:
        message = str(error).removeprefix("error: ")
        status = 404 if isinstance(error, NotFoundError) else 409
        return _users_page(request, session, store, error=message, status_code=status)
    return redirect("/admin/users", flash)


@router.post("/admin/users/disable")
def disable_user(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    def act(username: str) -> str:
        if not auth.disable_user(store, username, now):
            return f"User {username} was already disabled."
        return f"User {username} disabled; their sessions ended."

    return _user_action(request, store, now, form, act)


@router.post("/admin/users/enable")
def enable_user(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    def act(username: str) -> str:
        changed = auth.enable_user(store, username)
        app_state(request).login_throttle.forget(username)
        return f"User {username} {'enabled' if changed else 'was already enabled'}."

    return _user_action(request, store, now, form, act)


@router.post("/admin/users/delete")
def delete_user(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    def act(username: str) -> str:
        auth.delete_user(store, username)
        return f"User {username} deleted; their sessions ended."

    return _user_action(request, store, now, form, act)


@router.post("/admin/users/password")
def reset_password(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = _admin(request, store, now, form)
    if isinstance(session, Response):
        return session
    username = form.get("username").strip()
    typed = form.get("password") or None
    try:
        user, generated = auth.reset_password(store, username, typed)
    except SegmintError as error:
        message = str(error).removeprefix("error: ")
        status = 404 if isinstance(error, NotFoundError) else 400
        return _users_page(request, session, store, error=message, status_code=status)
    app_state(request).login_throttle.forget(username)
    if generated is None:
        return redirect("/admin/users", f"Password of {user.username} replaced.")
    # Shown in this answer only, like a created user's generated password.
    reset = {"username": user.username, "role": user.role, "password": generated, "reset": "1"}
    return _users_page(request, session, store, created=reset)
