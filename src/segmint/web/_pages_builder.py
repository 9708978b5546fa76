"""What the visual condition builder (``static/builder.js``) asks of the server, as JSON.

The builder edits a rule's JSON tree (RULES.md §5) and never parses or prints rule text
itself: switching from text to the builder asks ``POST /builder/tree`` for the tree of
the text, and every change in the builder asks ``POST /builder/text`` for the canonical
text of the tree, so the two forms always hold the same rule. Its pickers read
``GET /builder/fields`` (every field a rule may read, from the store's schema) and its
value inputs autocomplete from ``GET /builder/values`` (the store's distinct values,
:mod:`segmint.services.discovery`).

Every route needs a session (any web user: the pages are for people who build segments
and audiences); the two POSTs read nothing but their body and write nothing, yet check
the session's CSRF token (``X-CSRF-Token``) like every POST of the pages. Answers are
data (``application/json``), never markup.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from segmint.errors import ConfigError, RuleError
from segmint.services import discovery
from segmint.services.rules import rule_tree, tree_text
from segmint.web._deps import NowDep, StoreDep, guard
from segmint.web._session import WebSession, csrf_ok

router = APIRouter(include_in_schema=False)

#: The most a builder request body may hold (a rule's text is at most 10,000 characters).
MAX_BODY = 200_000


def _problem(status: int, message: str, **more: Any) -> JSONResponse:
    return JSONResponse({"error": message, **more}, status_code=status)


async def _body(request: Request, session: WebSession) -> dict[str, Any] | JSONResponse:
    if not csrf_ok(request, session, {}):
        return _problem(403, "the page's CSRF token is missing or wrong: reload the page")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _problem(413, f"the body is larger than {MAX_BODY:,} bytes")
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        return _problem(400, "the body is not JSON")
    if not isinstance(data, dict):
        return _problem(400, "the body must be a JSON object")
    return data


@router.get("/builder/fields")
def builder_fields(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    return JSONResponse({"fields": [f.to_dict() for f in discovery.fields(store)]})


@router.get("/builder/values")
def builder_values(
    request: Request,
    store: StoreDep,
    now: NowDep,
    field: str = "",
    prefix: str = "",
    limit: int = 20,
) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    try:
        page = discovery.values(store, field, prefix=prefix, limit=limit)
    except ConfigError as error:
        return _problem(422, str(error).removeprefix("error: "))
    return JSONResponse(page.to_dict())


@router.post("/builder/tree")
async def builder_tree(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    data = await _body(request, session)
    if isinstance(data, JSONResponse):
        return data
    text = data.get("text")
    if not isinstance(text, str):
        return _problem(422, "'text' must be the rule's text")
    if not text.strip():
        return JSONResponse({"tree": None})
    try:
        return JSONResponse({"tree": rule_tree(text)})
    except RuleError as error:
        return _problem(422, error.message, start=error.start, end=error.end, shown=str(error))


@router.post("/builder/text")
async def builder_text(request: Request, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    data = await _body(request, session)
    if isinstance(data, JSONResponse):
        return data
    if data.get("tree") is None:
        return JSONResponse({"text": ""})
    try:
        return JSONResponse({"text": tree_text(data["tree"])})
    except RuleError as error:
        return _problem(422, f"{error.message} at {error.text}")
