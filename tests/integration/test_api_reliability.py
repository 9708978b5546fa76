"""Reliability: malformed and too-large bodies, a slow client against a real uvicorn
server, and the database going away and coming back (PostgreSQL) without restarting."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from segmint.api.app import create_app
from segmint.services import auth
from segmint.store.base import Store

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def _app(store: Store, url: str, **options: object) -> tuple[FastAPI, str]:
    _, token = auth.create_api_key(store, "admin", NOW)
    return create_app(url, clock=lambda: NOW, **options), token  # type: ignore[arg-type]


@pytest.fixture()
def duck(make_store: Callable[..., Store]) -> Store:
    return make_store("duckdb")


def _duck_url(store: Store) -> str:
    return str(store.path)  # type: ignore[attr-defined]


def test_malformed_and_too_large_bodies(duck: Store) -> None:
    app, token = _app(duck, _duck_url(duck), max_body_bytes=1000)
    client = TestClient(app)
    h = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    malformed = client.post("/v1/evaluate", content=b'{"customer_id": ', headers=h)
    assert malformed.status_code == 400
    assert malformed.json()["error"]["type"] == "MalformedBody"
    wrong = client.post("/v1/evaluate", content=b'{"customer_id": 5, "extra": 1}', headers=h)
    assert wrong.status_code == 422 and wrong.json()["error"]["type"] == "ValidationError"
    not_utf8 = client.post("/v1/evaluate", content=b'{"customer_id": "\xff"}', headers=h)
    assert 400 <= not_utf8.status_code < 500
    # declared too large: refused before reading
    big = client.post("/v1/evaluate", content=b"{" + b" " * 2000 + b"}", headers=h)
    assert big.status_code == 413 and big.json()["error"]["type"] == "PayloadTooLarge"

    # streamed (chunked, no Content-Length): refused once the count passes the limit
    def chunks() -> Iterator[bytes]:
        yield b'{"customer_id": "'
        for _ in range(50):
            yield b"x" * 100

    streamed = client.post("/v1/evaluate", content=chunks(), headers=h)
    assert streamed.status_code == 413
    # the app still answers
    assert client.get("/v1/health", headers=h).status_code == 200


class Server:
    """A real uvicorn server on a free loopback port, in a thread."""

    def __init__(self, app: FastAPI) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _raw_request(port: int, token: str, body: bytes) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = (
        "POST /v1/evaluate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode())
    return sock, body


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_slow_client_does_not_block_others(duck: Store) -> None:
    app, token = _app(duck, _duck_url(duck), body_timeout=3.0)
    with Server(app) as server, httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as http:
        h = {"Authorization": f"Bearer {token}"}
        assert http.get("/v1/health", headers=h).status_code == 200
        # 1. a body dribbled over ~1 s: others are served meanwhile; it ends with 200
        sock, body = _raw_request(server.port, token, b'{"context": {"view": "business"}}')
        latencies = []
        for i in range(0, len(body), 4):
            sock.sendall(body[i : i + 4])
            started = time.perf_counter()
            assert http.get("/v1/health", headers=h).status_code == 200
            latencies.append(time.perf_counter() - started)
            time.sleep(0.1)
        # A server blocked on the dribbled body would answer only at its 3 s body timeout.
        assert max(latencies) < 2.0
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
        sock.close()
        # 2. a client that stops sending: 408 after the body timeout, connection closed
        sock, body = _raw_request(server.port, token, b'{"context": {"view": "x"}}')
        sock.sendall(body[:5])
        started = time.perf_counter()
        assert http.get("/v1/health", headers=h).status_code == 200
        response = _read_response(sock)
        assert response.startswith(b"HTTP/1.1 408"), response
        assert time.perf_counter() - started < 5
        sock.close()
        assert http.get("/v1/health", headers=h).status_code == 200


def _admin_url() -> str:
    return os.environ.get("SEGMINT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _db_url(admin: str, name: str) -> str:
    parts = urlsplit(admin)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def test_database_restart_gives_503_then_recovers(pg_url: str) -> None:
    """The app's database goes away (its connections are terminated and it cannot be
    connected to) and comes back; the shared server itself is never stopped."""
    from segmint.store.postgres import PostgresStore

    admin = _admin_url()
    name = f"segmint_rel_{uuid.uuid4().hex[:10]}"
    down = name + "_down"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = _db_url(admin, name)
        store = PostgresStore(url)
        store.init()
        app, token = _app(store, url)
        store.close()
        client = TestClient(app)
        h = {"Authorization": f"Bearer {token}"}
        assert client.put("/v1/customers/c1", json={"city": "Oslo"}, headers=h).status_code == 200
        assert client.get("/v1/segments", headers=h).status_code == 200

        def terminate(conn: psycopg.Connection[object], db: str) -> None:
            others = "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
            conn.execute(f"SELECT pg_terminate_backend(pid) {others}", (db,))
            deadline = time.monotonic() + 10
            while conn.execute(f"SELECT COUNT(*) {others}", (db,)).fetchone() != (0,):
                assert time.monotonic() < deadline, "backends did not end"
                time.sleep(0.02)

        with psycopg.connect(admin, autocommit=True) as conn:
            # 1. connections killed, database still there: one 503, then a reconnect
            terminate(conn, name)
            first = client.get("/v1/segments", headers=h)
            assert first.status_code == 503 and first.headers["Retry-After"]
            assert first.json()["error"]["type"] == "DatabaseUnavailable"
            assert client.get("/v1/segments", headers=h).status_code == 200
            # 2. the database is down (cannot be connected to) for a while
            terminate(conn, name)
            conn.execute(f'ALTER DATABASE "{name}" RENAME TO "{down}"')
            try:
                for _ in range(3):
                    r = client.get("/v1/segments", headers=h)
                    assert r.status_code == 503 and "Retry-After" in r.headers
                r = client.post("/v1/evaluate", json={"customer_id": "c1"}, headers=h)
                assert r.status_code == 503
                # a key not verified yet cannot be checked either: 503, not 401
                unknown = {"X-API-Key": "sk_abc_def"}
                assert client.get("/v1/health", headers=unknown).status_code == 503
            finally:
                conn.execute(f'ALTER DATABASE "{down}" RENAME TO "{name}"')
        # 3. back: served again without restarting anything
        assert client.get("/v1/segments", headers=h).status_code == 200
        evaluated = client.post("/v1/evaluate", json={"customer_id": "c1"}, headers=h)
        assert evaluated.status_code == 200 and evaluated.json()["known"] is True
        client.close()
        app.state.segmint.pool.close()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for db in (name, down):
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
