"""Administration endpoints: the in-process worker (status, one pass now), web users,
row counts and the rule schema — what the CLI needs to send its work to a running
server (cli/forward.py) and the admin pages show. Roles in api/access.py."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from segmint.api import models as m
from segmint.api import models_admin as ma
from segmint.api.deps import app_state, authorize, get_now, get_store
from segmint.api.worker import InProcessWorker
from segmint.services import auth, login
from segmint.store.base import Store

StoreDep = Annotated[Store, Depends(get_store)]
NowDep = Annotated[dt.datetime, Depends(get_now)]

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(authorize)],
    responses={
        401: {"model": m.ErrorBody, "description": "no or an invalid API key"},
        403: {"model": m.ErrorBody, "description": "the key's role may not call this"},
        422: {"model": m.ErrorBody, "description": "invalid input"},
        503: {"model": m.ErrorBody, "description": "database unavailable; retry"},
    },
)


def _worker(request: Request) -> InProcessWorker:
    worker = app_state(request).worker
    assert worker is not None  # create_app always sets one
    return worker


@router.get("/admin/worker", response_model=ma.WorkerStatus)
def worker_status(request: Request) -> Any:
    """The in-process worker: whether it runs on a schedule, when its last pass ran, at
    which instant, what it did, and the last error (a failed pass is retried at the
    next interval)."""
    return _worker(request).status()


@router.post("/admin/worker/run", response_model=ma.WorkerRunOut)
def worker_run(request: Request, body: ma.WorkerRunIn | None = None) -> Any:
    """Run one worker pass now, at the server's clock (``segmint worker --once`` sent to a
    running server): the outbox, an unfinished refresh, due window exits and entries,
    segment boundaries, and the reconciling refresh if ``reconcile_every_seconds`` has
    passed since the last one. Waits for a scheduled pass under way."""
    seconds = body.reconcile_every_seconds if body else None
    every = dt.timedelta(seconds=seconds) if seconds else None
    as_of, report = _worker(request).run_pass(reconcile_every=every)
    return {"as_of": as_of.isoformat().replace("+00:00", "Z"), "report": report.to_dict()}


@router.get("/users", response_model=list[ma.UserOut])
def list_users(store: StoreDep) -> Any:
    """The admin-page users (never their password hashes): disabled or not, and their
    recent failed logins with the block they caused (docs/web.md, Login throttling)."""
    return [a.__dict__ for a in login.accounts(store)]


@router.post("/users", response_model=ma.UserOut, status_code=201)
def create_user(body: ma.UserCreate, store: StoreDep, now: NowDep) -> Any:
    """A user who can log in to the admin pages; a taken username is refused (422)."""
    user = auth.create_user(store, body.username, body.password, now, role=body.role)
    return {"username": user.username, "role": user.role, "created_at": now}


Username = Annotated[str, Path(min_length=1, max_length=100)]


@router.post("/users/{username}/disable", response_model=ma.UserChanged)
def disable_user(username: Username, store: StoreDep, now: NowDep) -> Any:
    """The user cannot log in any more and their sessions end now (their next page is
    the login). The last enabled admin is refused (409)."""
    return {"username": username, "changed": auth.disable_user(store, username, now)}


@router.post("/users/{username}/enable", response_model=ma.UserChanged)
def enable_user(username: Username, request: Request, store: StoreDep) -> Any:
    """A disabled user may log in again (their failed logins are forgotten)."""
    changed = auth.enable_user(store, username)
    app_state(request).login_throttle.forget(username)
    return {"username": username, "changed": changed}


@router.delete("/users/{username}", response_model=ma.UserDeleted)
def delete_user(username: Username, store: StoreDep) -> Any:
    """Delete a user and their sessions. The last enabled admin is refused (409)."""
    auth.delete_user(store, username)
    return {"username": username, "deleted": True}


@router.post("/users/{username}/password", response_model=ma.PasswordResetOut)
def reset_password(
    username: Username, request: Request, store: StoreDep, body: ma.PasswordReset | None = None
) -> Any:
    """A new password (the one given, or a generated one returned this once); the
    user's sessions end and their failed logins are forgotten."""
    _user, generated = auth.reset_password(store, username, body.password if body else None)
    app_state(request).login_throttle.forget(username)
    return {"username": username, "password": generated}


@router.get("/stats", response_model=ma.StatsOut)
def stats(store: StoreDep) -> Any:
    """The schema version and the row count of each table."""
    store.require_schema()
    return {"schema_version": store.schema_version(), "counts": store.stats()}


@router.get("/rules/schema", response_model=ma.RuleSchemaOut)
def rule_schema(store: StoreDep) -> Any:
    """What rules can read besides the built-in fields: the registered custom attributes
    with their types, and the store's time zone (for calendar windows)."""
    store.require_schema()
    schema = store.rule_schema()
    return {
        "attributes": {name: t.value for name, t in schema.attributes.items()},
        "timezone": schema.timezone,
    }
