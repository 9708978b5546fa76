"""``create_app``: the ASGI application served by ``segmint serve`` (docs/api.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from segmint import runtime
from segmint.api import problems
from segmint.api.deps import REQUEST_TIME_LIMIT, AppState, StorePool
from segmint.api.problems import ApiProblem
from segmint.api.worker import InProcessWorker, WorkerSettings
from segmint.clock import parse_instant

#: A request body may take at most this long to arrive in full (a slow client gets 408).
BODY_TIMEOUT_SECONDS = 30.0
#: File imports (``POST /v1/{kind}/import``) take whole files: up to this size, within
#: this time (their bodies go to a temporary file before a store is taken).
UPLOAD_MAX_BYTES = 4 * 1024**3
UPLOAD_TIMEOUT_SECONDS = 3600.0


#: An ``X-Request-Id`` a client (or its proxy) sends is kept when it looks like an id.
_GOOD_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_REQUEST_ID = problems.REQUEST_ID_HEADER.lower().encode()


def is_upload(path: str) -> bool:
    return path.startswith("/v1/") and path.endswith("/import")


@dataclass(frozen=True)
class ServeInfo:
    """What ``segmint serve`` tells the app about itself, for the runtime file: the URL a
    local client reaches it at, and its fixed evaluation instant (None: the current time)."""

    url: str
    as_of: dt.datetime | None = None


def env_clock() -> Callable[[], dt.datetime]:
    """``SEGMINT_NOW`` as a fixed clock if set (the demo data ends in 2017), else now."""
    fixed = os.environ.get("SEGMINT_NOW")
    if fixed:
        instant = parse_instant(fixed, what="SEGMINT_NOW")
        return lambda: instant
    return lambda: dt.datetime.now(dt.UTC)


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413: at once when ``Content-Length`` says so,
    else as soon as the streamed bytes exceed it (chunked uploads); and bodies that take
    longer than ``timeout`` seconds to arrive with 408."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        timeout: float,
        upload_max_bytes: int = UPLOAD_MAX_BYTES,
        upload_timeout: float = UPLOAD_TIMEOUT_SECONDS,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.upload_max_bytes = upload_max_bytes
        self.upload_timeout = upload_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = is_upload(scope.get("path", ""))
        max_bytes = self.upload_max_bytes if upload else self.max_bytes
        timeout = self.upload_timeout if upload else self.timeout
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_error(scope, send, 400, "MalformedRequest", "bad Content-Length")
                    return
                if declared > max_bytes:
                    await _send_error(
                        scope, send, 413, "PayloadTooLarge", self._too_large(max_bytes)
                    )
                    return
        received = 0
        done = False
        deadline = time.monotonic() + timeout

        async def limited() -> Message:
            nonlocal received, done
            if done:
                return await receive()
            try:
                with anyio.fail_after(max(deadline - time.monotonic(), 0.0)):
                    message = await receive()
            except TimeoutError:
                raise ApiProblem(
                    408, "RequestTimeout", "the body took too long to arrive"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise ApiProblem(413, "PayloadTooLarge", self._too_large(max_bytes))
                done = not message.get("more_body", False)
            return message

        await self.app(scope, limited, send)

    @staticmethod
    def _too_large(max_bytes: int) -> str:
        return f"the body is larger than {max_bytes} bytes"


class RequestId:
    """Give every HTTP request an id: the client's ``X-Request-Id`` if it sent a well-formed
    one (a proxy's id then names the request in both logs), else 16 random hex digits. It
    is ``request.state.request_id``, the ``X-Request-Id`` header of the response, and in
    every error body; the log lines of an error carry it (api/problems.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = (
            next(
                (
                    value.decode()
                    for name, value in scope.get("headers", [])
                    if name == _REQUEST_ID and _GOOD_REQUEST_ID.fullmatch(value)
                ),
                None,
            )
            or problems.new_request_id()
        )
        scope.setdefault("state", {})["request_id"] = rid
        header = (_REQUEST_ID, rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if all(name.lower() != _REQUEST_ID for name, _ in headers):
                    message = {**message, "headers": [*headers, header]}
            await send(message)

        await self.app(scope, receive, send_with_id)


class InvalidateAfterPageWrites:
    """The admin pages change segments and levers through the services directly: after
    any of their non-GET requests, drop the evaluate caches and the compiled lever
    catalog (the JSON API invalidates precisely)."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in ("GET", "HEAD", "OPTIONS")
            or scope["path"].startswith("/v1/")
        ):
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.state.evaluator.invalidate_catalog()
            self.state.targeting.invalidate()


async def _send_error(scope: Scope, send: Send, status: int, type_: str, message: str) -> None:
    rid = scope.get("state", {}).get("request_id")
    body = json.dumps(problems.error_body(type_, message, None, rid)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(
    db_url: str,
    *,
    clock: Callable[[], dt.datetime] | None = None,
    max_body_bytes: int = 1_048_576,
    pool_size: int = 4,
    body_timeout: float = BODY_TIMEOUT_SECONDS,
    upload_max_bytes: int = UPLOAD_MAX_BYTES,
    worker: WorkerSettings | None = None,
    serve: ServeInfo | None = None,
    freeze_heap: bool | None = None,
    time_limit: float = REQUEST_TIME_LIMIT,
) -> FastAPI:
    """The app over the database at ``db_url``: the JSON API under ``/v1``, the admin
    pages at ``/``, OpenAPI at ``/openapi.json``. ``clock`` gives the evaluation instant
    (default: ``SEGMINT_NOW`` if set, else the current time). ``worker`` runs the
    worker's schedule in-process while the app runs (api/worker.py; default: only on
    demand, ``POST /v1/admin/worker/run``). ``serve`` (given by ``segmint serve``) makes
    the app hold a DuckDB file from startup and write its runtime file next to it
    (segmint/runtime.py) until shutdown. ``freeze_heap`` (default: under ``segmint
    serve``) freezes the heap after each lever catalog is built (services/targeting.py);
    ``time_limit``: how long one request may hold a store (whole-file imports: an hour)."""
    pool = StorePool(db_url, size=pool_size, time_limit=time_limit)
    state = AppState(pool=pool, clock=clock or env_clock())
    state.targeting.freeze_heap = serve is not None if freeze_heap is None else freeze_heap
    state.worker = InProcessWorker(state, worker or WorkerSettings())
    runtime_file = runtime.runtime_path(db_url) if serve is not None else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        if serve is not None:
            # Hold the database from the start: with DuckDB, no other process can then
            # take the file between startup and the first request.
            await anyio.to_thread.run_sync(lambda: state.pool.release(state.pool.acquire()))
        if runtime_file is not None and serve is not None:
            _write_runtime(state, runtime_file, serve, db_url)
        assert state.worker is not None
        state.worker.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(state.worker.stop)
            if runtime_file is not None:
                runtime.remove(runtime_file, os.getpid())
                state.local_key_hash = None
            # Release the connections; the pool reopens them if the app is started again
            # (test clients run the lifespan once per client).
            state.pool.discard_idle()

    app = FastAPI(
        title="segmint",
        version="1",
        summary="Customer segmentation and targeting: segments, ingestion, real-time evaluate.",
        lifespan=lifespan,
        docs_url=None,  # served from the package, not a CDN: api/docs_offline.py
        redoc_url=None,  # FastAPI's ReDoc page loads its script from a CDN; /docs covers it
    )
    app.state.segmint = state
    problems.install(app)

    from segmint.api.routes import router
    from segmint.api.routes_admin import router as admin_router
    from segmint.api.routes_backtest import router as backtest_router
    from segmint.api.routes_checkout import router as checkout_router
    from segmint.api.routes_discovery import router as discovery_router
    from segmint.api.routes_import import router as import_router
    from segmint.api.routes_levers import router as levers_router

    app.include_router(router)
    app.include_router(import_router)
    app.include_router(admin_router)
    app.include_router(backtest_router)
    app.include_router(levers_router)
    app.include_router(checkout_router)
    app.include_router(discovery_router)
    from segmint.api import docs_offline

    docs_offline.install(app)
    from segmint.web import routes as web_routes

    app.include_router(web_routes.router)
    app.add_middleware(InvalidateAfterPageWrites, state=state)
    app.add_middleware(
        BodyLimit,
        max_bytes=max_body_bytes,
        timeout=body_timeout,
        upload_max_bytes=upload_max_bytes,
    )
    app.add_middleware(RequestId)  # outermost: every answer below carries the id
    return app


def _write_runtime(state: AppState, path: Path, serve: ServeInfo, db_url: str) -> None:
    token, digest = runtime.new_token()
    state.local_key_hash = digest
    every = state.worker.settings if state.worker is not None else WorkerSettings()
    as_of = serve.as_of.isoformat().replace("+00:00", "Z") if serve.as_of else None
    info = runtime.ServeRuntime(
        pid=os.getpid(),
        url=serve.url,
        token=token,
        database=str(path)[: -len(runtime.SUFFIX)],
        started_at=runtime.now_text(),
        as_of=as_of,
        worker=every.enabled,
        worker_interval=every.interval,
    )
    # Any file already there is stale (its pid gone, or not the holder of the database,
    # which this process now holds): replaced.
    runtime.write(path, info)
