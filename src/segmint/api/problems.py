"""Errors as HTTP answers: every error body is
``{"error": {"type", "message", "details", "request_id"}}``.

One status per class of :mod:`segmint.errors` (:data:`STATUS`); a lost or refused
database connection is 503 with ``Retry-After``; anything else escaping is a bug (500).

Every request has an id (``X-Request-Id``, set by ``api.app.RequestId``), in every
error body and response. What only an operator should read — the database's user, host,
port and name, its own error text, a traceback — never goes to the client: a 5xx, and a
statement the database refused, answer a generic message with the request id, and the
details go to the log (logger ``segmint.api``) under that id.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from segmint.errors import (
    CompileError,
    ConfigError,
    ConflictError,
    ImportError_,
    NotFoundError,
    RuleError,
    SchemaError,
    SegmintError,
    StoreError,
    TimeLimitExceeded,
)
from segmint.targeting.document import DocumentError

log = logging.getLogger("segmint.api")

RETRY_AFTER_SECONDS = 5


class DatabaseUnavailable(StoreError):
    """The database cannot be reached (connect failed, connection lost, pool exhausted)."""


class ApiProblem(StarletteHTTPException):
    """An HTTP error raised by the API itself (auth, body size, …)."""

    def __init__(self, status: int, type_: str, message: str, details: Any = None) -> None:
        super().__init__(status_code=status, detail=message)
        self.type = type_
        self.message = message
        self.details = details


#: The status of each error class (the first matching class in this order wins).
STATUS: tuple[tuple[type[SegmintError], int], ...] = (
    (RuleError, 422),
    (NotFoundError, 404),
    (ImportError_, 422),
    (CompileError, 422),
    (ConflictError, 409),
    (ConfigError, 422),
    (DatabaseUnavailable, 503),
    (SchemaError, 503),
    (TimeLimitExceeded, 503),
    (StoreError, 400),
    (SegmintError, 400),
)


#: The response header (and body field) that carries a request's id.
REQUEST_ID_HEADER = "X-Request-Id"

#: What a client is told instead of the details, by error type.
GENERIC = {
    "DatabaseUnavailable": "the service is temporarily unavailable; retry in a few seconds",
    "SchemaError": "the service is not ready: its database needs an operator",
    "StoreError": "the database refused the request",
    "TimeLimitExceeded": "the request ran past its time limit and was stopped; nothing of it "
    "was written",
    "InternalError": "an unexpected error occurred",
}


def new_request_id() -> str:
    return secrets.token_hex(8)


def request_id(request: Request) -> str:
    """The request's id (given by the ``RequestId`` middleware; made here without it)."""
    rid = getattr(request.state, "request_id", None)
    if not isinstance(rid, str):
        rid = new_request_id()
        request.state.request_id = rid
    return rid


def error_body(
    type_: str, message: str, details: Any = None, request_id: str | None = None
) -> dict[str, Any]:
    return {
        "error": {"type": type_, "message": message, "details": details, "request_id": request_id}
    }


def is_database_text(error: SegmintError) -> bool:
    """A store error that carries the database's own words (a statement it refused, a file
    it could not open), not a message segmint wrote for the caller."""
    text = str(error)
    return isinstance(error, StoreError) and any(
        marker in text
        for marker in ("refused a statement", "could not stage", "cannot open DuckDB")
    )


def _message(error: SegmintError) -> str:
    text = str(error).strip()
    if isinstance(error, RuleError):
        text = error.message
    return text.removeprefix("error: ")


def problem_for(error: SegmintError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) for a segmint error."""
    from segmint.api.deps import is_connection_error

    status = next(code for cls, code in STATUS if isinstance(error, cls))
    headers: dict[str, str] = {}
    details: Any = None
    type_ = type(error).__name__
    if isinstance(error, TimeLimitExceeded):
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    elif isinstance(error, StoreError) and (
        isinstance(error, SchemaError) or is_connection_error(error)
    ):
        status = 503
        type_ = "DatabaseUnavailable" if not isinstance(error, SchemaError) else type_
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if isinstance(error, RuleError):
        details = error.to_dict()
    elif isinstance(error, ImportError_):
        type_ = "ImportError"
        details = {
            "source": error.file,
            "total_bad": error.total_bad,
            "note": error.note or None,
            "bad_rows": [
                {"row": r.row, "column": r.column, "value": r.value, "reason": r.reason}
                for r in error.bad_rows
            ],
        }
    elif isinstance(error, DocumentError):
        details = [
            {"path": path, "message": message}
            | ({"rule": error.rule_errors[path].to_dict()} if path in error.rule_errors else {})
            for path, message in error.errors
        ]
    elif hasattr(error, "field"):
        details = {"field": error.field}
    return status, error_body(type_, _message(error), details), headers


def is_page(request: Request) -> bool:
    """A request for an admin page (answered with an HTML error page), not the JSON API."""
    path = request.url.path
    return not (path.startswith("/v1/") or path in ("/openapi.json", "/docs", "/redoc"))


def _withheld(request: Request, status: int, type_: str, headers: dict[str, str]) -> Response:
    """The generic answer for an error whose details only the log gets."""
    rid = request_id(request)
    message = f"{GENERIC[type_]} (request id {rid})"
    headers = {**headers, REQUEST_ID_HEADER: rid}
    if is_page(request):
        from segmint.web._templates import render

        title = "Service unavailable" if status == 503 else "Something went wrong"
        page = render(request, "error.html", None, status, title=title, message=message)
        page.headers.update(headers)
        return page
    return JSONResponse(error_body(type_, message, None, rid), status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the JSON error body."""

    @app.exception_handler(SegmintError)
    async def segmint_error(request: Request, error: SegmintError) -> Response:
        status, body, headers = problem_for(error)
        type_ = body["error"]["type"]
        if status >= 500 or (status == 400 and is_database_text(error)):
            log.warning(
                "request %s %s %s: %s %s: %s",
                request_id(request),
                request.method,
                request.url.path,
                status,
                type_,
                error,
            )
            shown = type_ if type_ in GENERIC else "StoreError"
            return _withheld(request, status, shown, headers)
        body["error"]["request_id"] = request_id(request)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> Response:
        # Starlette's last resort: it answers this, then re-raises the error to the server.
        log.error(
            "request %s %s %s: unexpected %s",
            request_id(request),
            request.method,
            request.url.path,
            type(error).__name__,
            exc_info=error,
        )
        return _withheld(request, 500, "InternalError", {})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        rid = request_id(request)
        if isinstance(error, ApiProblem):
            body = error_body(error.type, error.message, error.details, rid)
        else:
            names = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}
            body = error_body(
                names.get(error.status_code, "HTTPError"), str(error.detail), None, rid
            )
        headers = dict(error.headers or {})
        if error.status_code == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        return JSONResponse(body, status_code=error.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "message": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in error.errors()
        ]
        malformed = any(p["type"] == "json_invalid" for p in problems)
        rid = request_id(request)
        if malformed:
            return JSONResponse(
                error_body("MalformedBody", "the body is not valid JSON", problems, rid),
                status_code=400,
            )
        first = problems[0] if problems else {"loc": [], "message": "invalid request"}
        where = ".".join(p for p in first["loc"] if p != "body") or "request"
        return JSONResponse(
            error_body("ValidationError", f"{where}: {first['message']}", problems, rid),
            status_code=422,
        )
