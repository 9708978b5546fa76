"""Error bodies tell a stranger nothing about the server: with a dead PostgreSQL store, a
503 to an unauthenticated request (API and admin page) names no user, host, port or
database, only a generic message and the request id, which the ``X-Request-Id`` header
repeats and which names the log line holding the details. A statement the database
refused and an unexpected exception are answered the same way (api/problems.py)."""

from __future__ import annotations

import logging
import re
import uuid
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from segmint.api.app import create_app
from segmint.errors import StoreError

#: A random id, so only this answer can name this database.
_REQUEST_ID = re.compile(r"[0-9a-f]{16}")


def _dead_url(pg_url: str) -> tuple[str, str]:
    """A URL on the test server naming a database that does not exist (connect fails)."""
    name = f"segmint_gone_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(pg_url)
    return parts._replace(path="/" + name).geturl(), name


def _secrets(url: str, name: str) -> list[str]:
    parts = urlsplit(url)
    assert parts.username and parts.hostname and parts.port
    return [name, parts.username, parts.hostname, str(parts.port), "PostgreSQL", "FATAL"]


def _logged(caplog: pytest.LogCaptureFixture, rid: str) -> str:
    lines = [r.getMessage() for r in caplog.records if rid in r.getMessage()]
    assert len(lines) == 1, lines
    return lines[0]


def test_a_dead_database_is_not_described_to_strangers(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url, name = _dead_url(pg_url)
    caplog.set_level(logging.WARNING, logger="segmint.api")
    with TestClient(create_app(url), follow_redirects=False) as client:
        # an API key not verified yet must be looked up: 503, with nothing about the server
        api = client.get("/v1/health", headers={"X-API-Key": "sk_abc_def"})
        page = client.get("/login")
        form = client.post("/login", data={"username": "ada", "password": "x"})
        # a client's own well-formed id is kept; a malformed one is replaced
        own = client.get("/v1/segments", headers={"X-API-Key": "sk_a_b", "X-Request-Id": "lb-7.1"})
        odd = client.get("/v1/segments", headers={"X-API-Key": "sk_a_b", "X-Request-Id": "a b"})
    assert api.status_code == 503 and api.headers["Retry-After"]
    body = api.json()["error"]
    rid = api.headers["X-Request-Id"]
    assert _REQUEST_ID.fullmatch(rid) and body["request_id"] == rid
    assert body["type"] == "DatabaseUnavailable" and body["details"] is None
    assert body["message"] == (
        f"the service is temporarily unavailable; retry in a few seconds (request id {rid})"
    )
    assert form.status_code == 403  # the login form's CSRF is checked before the database
    for response in (api, page, own, odd):
        assert response.status_code == 503
        shown = response.text.replace(response.headers["X-Request-Id"], "<id>")
        assert not [s for s in _secrets(url, name) if s in shown], response.text
        assert "<id>" in shown
        # the operator finds the details under the id
        assert name in _logged(caplog, response.headers["X-Request-Id"])
    assert page.headers["content-type"].startswith("text/html")
    assert "Service unavailable" in page.text and "temporarily unavailable" in page.text
    assert own.headers["X-Request-Id"] == "lb-7.1"
    assert _REQUEST_ID.fullmatch(odd.headers["X-Request-Id"])
    assert len({r.headers["X-Request-Id"] for r in (api, page, form, odd)}) == 4
    assert not [s for s in _secrets(url, name) if s in form.text]


def test_database_text_and_bugs_stay_in_the_log(
    tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(f"{tmp_path}/segmint.duckdb")
    refused = 'PostgreSQL refused a statement: relation "secret_table" does not exist'

    def database_refused() -> None:
        raise StoreError(f"error: {refused}")

    def segmint_message() -> None:
        raise StoreError("error: the promotions at stake kept changing; retry the checkout")

    def bug() -> None:
        raise RuntimeError("secret internal state")

    for path, handler in (("/v1/t1", database_refused), ("/v1/t2", segmint_message)):
        app.add_api_route(path, handler)
    app.add_api_route("/v1/t3", bug)
    app.add_api_route("/t3", bug)
    caplog.set_level(logging.WARNING, logger="segmint.api")
    with TestClient(app, raise_server_exceptions=False) as client:
        store = client.get("/v1/t1")
        mine = client.get("/v1/t2")
        api_bug = client.get("/v1/t3")
        page_bug = client.get("/t3")
        health = client.get("/v1/health")  # 401 without a key: the id in the body too
    assert store.status_code == 400 and "secret_table" not in store.text
    rid = store.headers["X-Request-Id"]
    assert store.json()["error"] == {
        "type": "StoreError",
        "message": f"the database refused the request (request id {rid})",
        "details": None,
        "request_id": rid,
    }
    assert refused in _logged(caplog, rid)
    # a message segmint wrote for the caller is still shown
    assert mine.status_code == 400 and "kept changing" in mine.json()["error"]["message"]
    for response in (api_bug, page_bug):
        rid = response.headers["X-Request-Id"]
        assert response.status_code == 500 and "secret" not in response.text
        assert f"an unexpected error occurred (request id {rid})" in response.text
        assert "RuntimeError" in _logged(caplog, rid)
        record = next(r for r in caplog.records if rid in r.getMessage())
        assert record.exc_info and "secret internal state" in str(record.exc_info[1])
    assert api_bug.json()["error"]["type"] == "InternalError"
    assert page_bug.headers["content-type"].startswith("text/html")
    assert health.status_code == 401
    assert health.json()["error"]["request_id"] == health.headers["X-Request-Id"]


def test_a_request_past_its_time_limit_is_a_503_to_retry() -> None:
    from segmint.api.problems import problem_for
    from segmint.errors import TimeLimitExceeded

    status, body, headers = problem_for(TimeLimitExceeded("stopped after its time limit of 60 s"))
    assert (status, body["error"]["type"], headers) == (
        503,
        "TimeLimitExceeded",
        {"Retry-After": "5"},
    )
