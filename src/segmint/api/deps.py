"""FastAPI dependencies shared by the JSON API and the web pages.

- :func:`get_store`: a store for the duration of one request, from the app's
  :class:`StorePool` (a store is one connection and never used by two requests at once);
- :func:`get_now`: the app's clock (``SEGMINT_NOW`` or the clock given to ``create_app``);
- :func:`authorize`: the API key check driven by :data:`segmint.api.access.ACCESS`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from segmint.api.access import allowed_roles
from segmint.api.problems import ApiProblem, DatabaseUnavailable
from segmint.bootstrap import open_store
from segmint.errors import StoreError
from segmint.services import auth
from segmint.services.evaluate import Evaluator
from segmint.services.login import LoginThrottle
from segmint.services.targeting import Targeting
from segmint.store.base import Store

if TYPE_CHECKING:
    from segmint.api.worker import InProcessWorker

#: How long a verified API key is trusted without asking the database again. A key
#: revoked through the API is dropped at once; one revoked by the CLI in another process
#: stops working within this many seconds.
KEY_CACHE_SECONDS = 5.0
#: Seconds one request may hold a store (StorePool.time_limit; docs/api.md, Limits).
REQUEST_TIME_LIMIT = 60.0
#: Seconds a whole-file import may (a file of millions of rows takes minutes).
IMPORT_TIME_LIMIT = 3600.0


def is_broken(store: Store) -> bool:
    """Whether a store's connection is gone (it is then closed and replaced)."""
    from segmint.store.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        conn = store._conn
        return conn is None or conn.closed or conn.broken
    return False


def is_connection_error(error: StoreError) -> bool:
    """A lost or refused connection, as opposed to a statement the database refused."""
    text = str(error)
    return isinstance(error, DatabaseUnavailable) or any(
        marker in text for marker in ("was lost", "cannot connect", "is closed")
    )


class StorePool:
    """Up to ``size`` open stores of one URL, lent to one request at a time.

    DuckDB is embedded and single-writer: its pool holds one store, so requests that use
    the database are serialised (reads that the caches answer are not). PostgreSQL gets
    ``size`` connections. A store whose connection broke is closed on return and a new
    one is opened by the next request, so the app recovers by itself when the database
    is back; while it cannot connect, requests fail with :class:`DatabaseUnavailable`."""

    def __init__(
        self,
        url: str,
        size: int = 4,
        wait_seconds: float = 10.0,
        time_limit: float = REQUEST_TIME_LIMIT,
    ) -> None:
        self.url = url
        self.size = 1 if not url.startswith(("postgresql://", "postgres://")) else size
        self.wait_seconds = wait_seconds
        #: How long one borrower may hold a store (Store.limit_time): past it, its
        #: statement is interrupted and the rest refused, so no request holds DuckDB's
        #: one connection for long. ``acquire(time_limit=)`` overrides it.
        self.time_limit = time_limit
        self._idle: list[Store] = []
        self._open = 0
        self._cond = threading.Condition()
        self._closed = False

    def acquire(self, time_limit: float | None = None) -> Store:
        """A store for one borrower, bounded by ``time_limit`` seconds (default the
        pool's; ``math.inf``: unbounded, for the worker's passes)."""
        store = self._acquire()
        try:
            store.limit_time(self.time_limit if time_limit is None else time_limit)
        except BaseException:
            self.release(store)
            raise
        return store

    def _acquire(self) -> Store:
        deadline = time.monotonic() + self.wait_seconds
        with self._cond:
            while True:
                if self._closed:
                    raise DatabaseUnavailable("error: the service is shutting down")
                if self._idle:
                    return self._idle.pop()
                if self._open < self.size:
                    self._open += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DatabaseUnavailable(
                        "error: every database connection is busy; retry shortly"
                    )
                self._cond.wait(remaining)
        try:
            return open_store(self.url)
        except BaseException as error:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            if isinstance(error, StoreError):
                raise DatabaseUnavailable(str(error)) from None
            raise

    def release(self, store: Store) -> None:
        with suppress(Exception):
            store.limit_time(None)
        broken = is_broken(store) or store._tx_depth != 0
        if broken:
            with suppress(Exception):  # a broken connection may fail to close
                store.close()
        with self._cond:
            if broken or self._closed:
                self._open -= 1
                if self._closed and not broken:
                    store.close()
            else:
                self._idle.append(store)
            self._cond.notify()

    def discard_idle(self) -> None:
        """Close idle stores (used after the database came back, and by tests)."""
        with self._cond:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for store in idle:
            with suppress(Exception):
                store.close()

    def close(self) -> None:
        with self._cond:
            self._closed = True
        self.discard_idle()

    def run(self, fn: Callable[[Store], object]) -> object:
        store = self.acquire()
        try:
            return fn(store)
        finally:
            self.release(store)


@dataclass
class AppState:
    """Everything the app keeps between requests (``app.state.segmint``)."""

    pool: StorePool
    clock: Callable[[], dt.datetime]
    evaluator: Evaluator = field(default_factory=Evaluator)
    targeting: Targeting = field(init=False)
    key_cache: dict[str, tuple[auth.ApiKey, float]] = field(default_factory=dict)
    #: The worker's schedule run in-process (api/worker.py), set by create_app.
    worker: InProcessWorker | None = None
    #: SHA-256 of the local admin token written to the runtime file (segmint/runtime.py)
    #: while ``segmint serve`` runs; None otherwise.
    local_key_hash: str | None = None
    #: Web logins: counts in the store, blocks seen remembered here (services/login.py).
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    #: Bounds the argon2 checks running at once (web/_session.py); made in the event loop.
    login_limiter: anyio.CapacityLimiter | None = None

    def local_key(self, digest: str) -> auth.ApiKey | None:
        """The admin identity of the runtime file's token, if ``digest`` is its hash."""
        expected = self.local_key_hash
        if expected is not None and hmac.compare_digest(digest, expected):
            return LOCAL_KEY
        return None

    def __post_init__(self) -> None:
        self.targeting = Targeting(self.evaluator)

    def forget_key(self, key_id: str) -> None:
        for digest, (key, _) in list(self.key_cache.items()):
            if key.id == key_id:
                self.key_cache.pop(digest, None)


#: Who the runtime file's token is: an admin, for the CLI of the same machine and user.
LOCAL_KEY = auth.ApiKey(id="local", name="cli", role="admin")


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.segmint
    return state


def get_store(request: Request) -> Iterator[Store]:
    """A store for this request (FastAPI dependency with ``yield``): exclusively this
    request's until the response is done."""
    pool = app_state(request).pool
    store = pool.acquire()
    try:
        yield store
    finally:
        pool.release(store)


def get_now(request: Request) -> dt.datetime:
    """The evaluation instant of this request (aware UTC)."""
    return app_state(request).clock()


def get_evaluator(request: Request) -> Evaluator:
    return app_state(request).evaluator


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


_BEARER = HTTPBearer(auto_error=False, description="an API key: `Bearer sk_…`")
_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")


async def authorize(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
    _header: Annotated[str | None, Depends(_HEADER)] = None,
) -> auth.ApiKey:
    """The caller's API key, checked against the route's allowed roles: no or an
    invalid key -> 401, a key whose role is not allowed -> 403."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    roles = allowed_roles(request.method, path) if path else None
    token = bearer_token(request)
    if token is None:
        raise ApiProblem(401, "Unauthorized", "an API key is required (Authorization: Bearer …)")
    state = app_state(request)
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    cached = state.key_cache.get(digest)
    key: auth.ApiKey | None = state.local_key(digest)
    if key is not None:
        pass
    elif cached is not None and time.monotonic() - cached[1] < KEY_CACHE_SECONDS:
        key = cached[0]
    else:
        now = state.clock()

        def verify() -> auth.ApiKey | None:
            if auth.parse_token(token) is None:
                return None
            store = state.pool.acquire()
            try:
                return auth.verify_api_key(store, token, now)
            finally:
                state.pool.release(store)

        key = await anyio.to_thread.run_sync(verify)
        if key is not None:
            if len(state.key_cache) > 1000:
                state.key_cache.clear()
            state.key_cache[digest] = (key, time.monotonic())
    if key is None:
        raise ApiProblem(401, "Unauthorized", "the API key is invalid or revoked")
    if roles is None or key.role not in roles:
        raise ApiProblem(
            403, "Forbidden", f"a {key.role} key may not call {request.method} {path or ''}"
        )
    return key
