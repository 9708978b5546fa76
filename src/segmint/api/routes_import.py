"""File imports over HTTP: ``POST /v1/{customers,orders,events,products,accounts}/import``.

The body is a whole CSV, JSON Lines or Parquet file, imported exactly as ``segmint
import`` imports it (services.ingest.import_and_update): validated whole, stored in one
transaction with the outbox of the customers it touched, all or nothing, then the
incremental membership update. It is what ``segmint import`` sends to a running server
that holds the DuckDB file (cli/forward.py), and a way to load big files without
splitting them into 1,000-record batches.

The body streams to a temporary file before any store is taken (a slow upload holds no
connection); its size and time limits are the app's upload limits (api/app.py).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request

from segmint.api import models as m
from segmint.api.deps import IMPORT_TIME_LIMIT, app_state, authorize, get_store
from segmint.api.models_admin import ImportOut
from segmint.errors import ConfigError, ImportError_
from segmint.importing import FORMATS
from segmint.importing.reader import detect_format
from segmint.services import attributes as attributes_service
from segmint.services.ingest import import_and_update
from segmint.store.base import Store

StoreDep = Annotated[Store, Depends(get_store)]

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(authorize)],
    responses={
        401: {"model": m.ErrorBody, "description": "no or an invalid API key"},
        403: {"model": m.ErrorBody, "description": "the key's role may not call this"},
        408: {"model": m.ErrorBody, "description": "the file did not arrive in time"},
        413: {"model": m.ErrorBody, "description": "the file is larger than the limit"},
        422: {"model": m.ErrorBody, "description": "the file is refused (bad rows listed)"},
        503: {"model": m.ErrorBody, "description": "database unavailable; retry"},
    },
)

_BODY = {
    "requestBody": {
        "required": True,
        "description": "the file's bytes (CSV with a header row, JSON Lines, or Parquet)",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}

FormatQuery = Annotated[
    str | None,
    Query(
        alias="format",
        description=f"{', '.join(FORMATS)}; default: from the extension of `source`",
        max_length=20,
    ),
]
SourceQuery = Annotated[
    str | None,
    Query(max_length=500, description="the file's name, shown in the report and errors"),
]
MapQuery = Annotated[
    list[str],
    Query(
        alias="map",
        max_length=200,
        description="SRC=DST: rename a column of the file before importing (repeatable)",
    ),
]
DateFormatQuery = Annotated[
    str | None,
    Query(max_length=100, description="strptime format of dates and timestamps"),
]


def _mapping(items: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            raise ConfigError(f"error: map: {item!r} is not SRC=DST")
        if src in mapping:
            raise ConfigError(f"error: map: column {src!r} is mapped twice")
        mapping[src] = dst
    return mapping


async def _import(
    request: Request,
    kind: str,
    fmt: str | None,
    source: str | None,
    maps: list[str],
    date_format: str | None,
) -> dict[str, Any]:
    shown = source or f"upload.{fmt or 'csv'}"
    detected = detect_format(shown, fmt)
    mapping = _mapping(maps)
    state = app_state(request)
    fd, path = tempfile.mkstemp(prefix="segmint_upload_", suffix="." + detected)
    try:
        with os.fdopen(fd, "wb") as file:
            async for chunk in request.stream():
                if chunk:
                    await anyio.to_thread.run_sync(file.write, chunk)
        if os.path.getsize(path) == 0:
            raise ImportError_(shown, [], 0, note="the file is empty")
        now = state.clock()

        def run() -> dict[str, Any]:
            store = state.pool.acquire(time_limit=IMPORT_TIME_LIMIT)
            try:
                report, update = import_and_update(
                    store,
                    kind,
                    path,
                    now,
                    fmt=detected,
                    mapping=mapping,
                    date_format=date_format,
                    source=shown,
                    progress=None,
                )
            finally:
                state.pool.release(store)
            if report.customer_ids:
                state.evaluator.invalidate_customers(report.customer_ids)
            if kind == "products":
                state.targeting.invalidate_products()
            return {
                "report": report.to_dict(),
                "memberships": update.to_dict(),
                "summary": report.summary(),
            }

        return await anyio.to_thread.run_sync(run)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(path)


def _route(kind: str, what: str) -> None:
    async def handler(
        request: Request,
        fmt: FormatQuery = None,
        source: SourceQuery = None,
        maps: MapQuery = [],  # noqa: B006 - FastAPI copies query defaults
        date_format: DateFormatQuery = None,
    ) -> dict[str, Any]:
        return await _import(request, kind, fmt, source, maps, date_format)

    handler.__name__ = f"import_{kind}"
    handler.__doc__ = (
        f"Import a whole file of {what}, as `segmint import {kind}` does: validated whole "
        "(any bad row refuses the file, 422 listing the rows), stored in one transaction, "
        "then the touched customers' memberships are updated."
    )
    router.post(f"/{kind}/import", response_model=ImportOut, openapi_extra=_BODY)(handler)


for _kind, _what in (
    ("customers", "customers"),
    ("orders", "orders (one row per line)"),
    ("events", "events"),
    ("products", "products"),
    ("accounts", "business accounts"),
):
    _route(_kind, _what)


# ---- custom attributes --------------------------------------------------------------------


@router.get("/attributes")
def list_attributes(store: StoreDep) -> list[dict[str, Any]]:
    """The registered custom attributes: name, type, declared, customers with a value."""
    return [vars(a) for a in attributes_service.list_attributes(store)]


@router.delete("/attributes/{name}")
def drop_attribute(name: str, request: Request, store: StoreDep) -> dict[str, Any]:
    """Drop an attribute and its values; 422 naming the segments and levers that read it."""
    attributes_service.drop_attribute(store, name)
    state = app_state(request)
    state.evaluator.invalidate_catalog()
    state.evaluator.invalidate_customers()
    return {"dropped": name, "note": attributes_service.column_slots_note(store)}
