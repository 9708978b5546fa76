"""The lever catalog over HTTP (TARGETING.md §1): the whole document (``/v1/levers``) and
one resource per kind. Marketers write levers; storefront keys only evaluate.

Bodies are the document's own JSON (amounts as strings, instants with a zone): the
validation is the document reader's, so a bad lever gets 422 with every problem and its
JSON path in ``details``. Versions are ETags, as for segments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from segmint.api import models as m
from segmint.api.deps import app_state, authorize, get_now, get_store
from segmint.api.problems import ApiProblem
from segmint.services import auth, codes
from segmint.services import levers as service
from segmint.store.base import Store
from segmint.targeting.model import LeverKind

StoreDep = Annotated[Store, Depends(get_store)]
NowDep = Annotated[Any, Depends(get_now)]
KeyDep = Annotated[auth.ApiKey, Depends(authorize)]
Code = Annotated[str, Path(min_length=1, max_length=64)]
Document = Annotated[dict[str, Any], Body(description="a targeting document (TARGETING.md §1)")]
LeverBody = Annotated[dict[str, Any], Body(description="one lever, as in the document")]

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(authorize)],
    responses={
        401: {"model": m.ErrorBody, "description": "no or an invalid API key"},
        403: {"model": m.ErrorBody, "description": "the key's role may not call this"},
        404: {"model": m.ErrorBody, "description": "no such lever"},
        409: {"model": m.ErrorBody, "description": "If-Match names a version no longer current"},
        422: {"model": m.ErrorBody, "description": "invalid lever: every problem with its path"},
        503: {"model": m.ErrorBody, "description": "database unavailable; retry"},
    },
)

#: URL path segment -> lever kind.
RESOURCES: dict[str, LeverKind] = {
    "campaigns": LeverKind.CAMPAIGN,
    "promotions": LeverKind.PROMOTION,
    "price-lists": LeverKind.PRICE_LIST,
    "placements": LeverKind.PLACEMENT,
    "account-portals": LeverKind.ACCOUNT,
}


def who(key: auth.ApiKey) -> str:
    return f"key:{key.name or key.id}"


def _invalidate(request: Request) -> None:
    app_state(request).targeting.invalidate()


def _if_match(request: Request) -> int | None:
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise ApiProblem(400, "MalformedRequest", 'If-Match: expected a version ETag like "3"')
    return int(tag)


@router.get("/levers")
def get_levers(store: StoreDep) -> dict[str, Any]:
    """The whole catalog as one targeting document (applying it changes nothing)."""
    return service.export_document(store)


@router.put("/levers")
def put_levers(
    body: Document,
    request: Request,
    store: StoreDep,
    now: NowDep,
    key: KeyDep,
    dry_run: Annotated[bool, Query(description="validate and report; write nothing")] = False,
    prune: Annotated[bool, Query(description="delete the levers the document omits")] = False,
) -> dict[str, Any]:
    """Apply a targeting document: validated whole, then written in one transaction."""
    report = service.apply_document(store, body, now, who=who(key), dry_run=dry_run, prune=prune)
    if not dry_run and report.changes:
        _invalidate(request)
    return report.to_dict()


def _resource(kind: LeverKind, path: str) -> None:
    """Register GET/PUT/DELETE /v1/{path}/{code} for one kind."""
    singular = kind.singular

    def read(code: Code, response: Response, store: StoreDep) -> dict[str, Any]:
        row = service.show_lever(store, kind.value, code)
        response.headers["ETag"] = f'"{row.version}"'
        return {
            "version": row.version,
            "updated_at": row.updated_at,
            "updated_by": row.updated_by,
            "lever": row.data,
        }

    def write(
        code: Code,
        body: LeverBody,
        request: Request,
        response: Response,
        store: StoreDep,
        now: NowDep,
        key: KeyDep,
    ) -> dict[str, Any]:
        _, change = service.put_lever(
            store, kind.value, code, body, now, who=who(key), expected_version=_if_match(request)
        )
        if change is not None:
            _invalidate(request)
        row = service.show_lever(store, kind.value, code)
        response.headers["ETag"] = f'"{row.version}"'
        return {"changed": change is not None, "version": row.version, "lever": row.data}

    def remove(
        code: Code, request: Request, store: StoreDep, now: NowDep, key: KeyDep
    ) -> dict[str, Any]:
        change = service.delete_lever(
            store, kind.value, code, now, who=who(key), expected_version=_if_match(request)
        )
        _invalidate(request)
        return {"deleted": code, "version": change.version}

    def history(code: Code, store: StoreDep) -> list[dict[str, Any]]:
        return [
            {
                "version": v.version,
                "change": v.change,
                "changed_at": v.changed_at,
                "changed_by": v.changed_by,
                "lever": v.data,
            }
            for v in service.lever_history(store, kind.value, code)
        ]

    def listing(store: StoreDep) -> list[dict[str, Any]]:
        return [
            {
                "code": s.code,
                "name": s.name,
                "active": s.active,
                "version": s.version,
                "updated_at": s.updated_at,
                "updated_by": s.updated_by,
            }
            for s in service.list_levers(store, kind.value)
        ]

    router.add_api_route(f"/{path}", listing, methods=["GET"], summary=f"List {path}")
    router.add_api_route(f"/{path}/{{code}}", read, methods=["GET"], summary=f"Read one {singular}")
    router.add_api_route(
        f"/{path}/{{code}}", write, methods=["PUT"], summary=f"Create or replace a {singular}"
    )
    router.add_api_route(
        f"/{path}/{{code}}", remove, methods=["DELETE"], summary=f"Delete a {singular}"
    )
    router.add_api_route(
        f"/{path}/{{code}}/history",
        history,
        methods=["GET"],
        summary=f"Every version of a {singular}",
    )


for _path, _kind in RESOURCES.items():
    _resource(_kind, _path)


# ---- promo codes ---------------------------------------------------------------------------


class CodesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int | None = Field(default=None, ge=1, le=codes.MAX_COUNT)
    prefix: str = Field(default="", max_length=20)
    length: int = Field(default=10, ge=6, le=32)
    uses: int | None = Field(default=1, ge=1, description="null: no limit per code")
    segment: str | None = Field(default=None, description="one code per member, bound to them")


@router.get("/promotions/{code}/codes")
def list_codes(code: Code, store: StoreDep) -> list[dict[str, Any]]:
    """The promotion's codes (listed and generated) with their uses so far."""
    return [
        {
            "code": c.code,
            "origin": "listed" if c.listed else "generated",
            "uses": c.uses,
            "used": c.used,
            "customer_id": c.customer_id,
        }
        for c in codes.list_codes(store, code)
    ]


@router.post("/promotions/{code}/codes", status_code=201)
def generate_codes(code: Code, body: CodesIn, store: StoreDep, now: NowDep) -> list[dict[str, Any]]:
    """Generate unique codes for a code promotion (or one per member of ``segment``)."""
    made = codes.generate_codes(
        store,
        code,
        now,
        count=body.count,
        prefix=body.prefix,
        length=body.length,
        uses=body.uses,
        segment=body.segment,
    )
    return [{"code": c.code, "uses": c.uses, "customer_id": c.customer_id} for c in made]
