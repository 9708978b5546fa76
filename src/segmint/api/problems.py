"""Errors as HTTP answers: every error body is ``{"error": {"type", "message", "details"}}``.

One status per class of :mod:`segmint.errors` (:data:`STATUS`); a lost or refused
database connection is 503 with ``Retry-After``; anything else escaping is a bug (500).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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
    (StoreError, 400),
    (SegmintError, 400),
)


def error_body(type_: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message, "details": details}}


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
    if isinstance(error, StoreError) and (
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


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the JSON error body."""

    @app.exception_handler(SegmintError)
    async def segmint_error(request: Request, error: SegmintError) -> JSONResponse:
        status, body, headers = problem_for(error)
        if status == 503:
            log.warning("database unavailable: %s", error)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if isinstance(error, ApiProblem):
            body = error_body(error.type, error.message, error.details)
        else:
            names = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}
            body = error_body(names.get(error.status_code, "HTTPError"), str(error.detail), None)
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
        if malformed:
            return JSONResponse(
                error_body("MalformedBody", "the body is not valid JSON", problems),
                status_code=400,
            )
        first = problems[0] if problems else {"loc": [], "message": "invalid request"}
        where = ".".join(p for p in first["loc"] if p != "body") or "request"
        return JSONResponse(
            error_body("ValidationError", f"{where}: {first['message']}", problems),
            status_code=422,
        )
