"""``create_app``: the ASGI application served by ``segmint serve`` (docs/api.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from segmint.api import problems
from segmint.api.deps import AppState, StorePool
from segmint.api.problems import ApiProblem
from segmint.clock import parse_instant

#: A request body may take at most this long to arrive in full (a slow client gets 408).
BODY_TIMEOUT_SECONDS = 30.0


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

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_error(send, 400, "MalformedRequest", "bad Content-Length")
                    return
                if declared > self.max_bytes:
                    await _send_error(send, 413, "PayloadTooLarge", self._too_large())
                    return
        received = 0
        done = False
        deadline = time.monotonic() + self.timeout

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
                if received > self.max_bytes:
                    raise ApiProblem(413, "PayloadTooLarge", self._too_large())
                done = not message.get("more_body", False)
            return message

        await self.app(scope, limited, send)

    def _too_large(self) -> str:
        return f"the body is larger than {self.max_bytes} bytes"


class InvalidateAfterPageWrites:
    """The admin pages change segments through the services directly: after any of their
    non-GET requests, drop the evaluate caches (the JSON API invalidates precisely)."""

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


async def _send_error(send: Send, status: int, type_: str, message: str) -> None:
    body = json.dumps(problems.error_body(type_, message)).encode()
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
) -> FastAPI:
    """The app over the database at ``db_url``: the JSON API under ``/v1``, the admin
    pages at ``/``, OpenAPI at ``/openapi.json``. ``clock`` gives the evaluation instant
    (default: ``SEGMINT_NOW`` if set, else the current time)."""
    state = AppState(pool=StorePool(db_url, size=pool_size), clock=clock or env_clock())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield
        # Release the connections; the pool reopens them if the app is started again
        # (test clients run the lifespan once per client).
        state.pool.discard_idle()

    app = FastAPI(
        title="segmint",
        version="1",
        summary="Customer segmentation and targeting: segments, ingestion, real-time evaluate.",
        lifespan=lifespan,
    )
    app.state.segmint = state
    problems.install(app)

    from segmint.api.routes import router
    from segmint.api.routes_checkout import router as checkout_router
    from segmint.api.routes_levers import router as levers_router

    app.include_router(router)
    app.include_router(levers_router)
    app.include_router(checkout_router)
    from segmint.web import routes as web_routes

    app.include_router(web_routes.router)
    app.add_middleware(InvalidateAfterPageWrites, state=state)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, timeout=body_timeout)
    return app
