"""Value discovery: ``GET /v1/schema`` (every field a rule may read) and ``GET
/v1/values`` (the distinct values of one field, with counts) — what autocomplete and a
condition builder pick from (services/discovery.py) — and a segment's members as the
readable table, ``GET /v1/segments/{code}/members/export`` (services/member_table.py).
Roles in api/access.py."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from segmint.api import models as m
from segmint.api.deps import authorize, get_now, get_store
from segmint.services import discovery, member_table
from segmint.store.base import Store

StoreDep = Annotated[Store, Depends(get_store)]
NowDep = Annotated[dt.datetime, Depends(get_now)]

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(authorize)],
    responses={
        401: {"model": m.ErrorBody, "description": "no or an invalid API key"},
        403: {"model": m.ErrorBody, "description": "the key's role may not call this"},
        422: {"model": m.ErrorBody, "description": "invalid input"},
        503: {"model": m.ErrorBody, "description": "database unavailable; retry"},
    },
)


class FieldOut(BaseModel):
    name: str = Field(description="as a rule writes it: total_spent, attributes.tier, lines.brand")
    type: str = Field(description="string, number, integer, boolean, date, timestamp or list")
    scope: str = Field(
        description="customer, derived, attribute, segment, context, or the collection "
        "(orders, lines, events, wishlist, cart.lines) whose WHERE reads it"
    )
    realtime: bool = Field(description="read from the request: makes a rule real-time")
    values: bool = Field(description="GET /v1/values lists its values")
    customers: int | None = Field(description="custom attributes: customers with a value")


class SchemaOut(BaseModel):
    fields: list[FieldOut]
    timezone: str


class ValueOut(BaseModel):
    value: str | bool
    count: int
    label: str | None = Field(description="a SKU's product name, an account's or segment's name")


class ValuesOut(BaseModel):
    field: str
    type: str
    counts: str = Field(description="what count counts: customers, or products (cart.lines)")
    distinct: int = Field(description="distinct values of the field in the store")
    matched: int = Field(description="of which match the prefix")
    values: list[ValueOut] = Field(description="most frequent first")


@router.get("/schema", response_model=SchemaOut)
def schema(store: StoreDep) -> Any:
    """Every field a rule may read: customer fields, derived fields, custom attributes
    (with how many customers have one), segments, collection item fields, request context."""
    listed = discovery.fields(store)
    return {"fields": [f.to_dict() for f in listed], "timezone": store.timezone()}


@router.get("/values", response_model=ValuesOut)
def values(
    store: StoreDep,
    field: Annotated[str, Query(min_length=1, max_length=200, description="e.g. lines.brand")],
    prefix: Annotated[str, Query(max_length=200, description="case-insensitive")] = "",
    limit: Annotated[int, Query(ge=1, le=discovery.MAX_LIMIT)] = discovery.DEFAULT_LIMIT,
) -> Any:
    """The distinct values of ``field`` starting with ``prefix`` (a SKU's product name or
    an account's name matches too), most frequent first, with how many customers have
    each. Cached, and refreshed by an import of the table it reads."""
    return discovery.values(store, field, prefix=prefix, limit=limit).to_dict()


# ---- a segment's members as a table -----------------------------------------------------


class MemberRowOut(BaseModel):
    customer_id: str
    name: str
    email: str | None
    orders: int = Field(description="successful orders")
    total_spent: str = Field(description="exact decimal text")
    currency: str | None = Field(description="of the orders, when they are all in one")
    last_order_at: dt.datetime | None
    member_since: dt.datetime
    why: str = Field(description="matches the rule, or added by hand")


class MembersExportOut(BaseModel):
    code: str
    count: int
    rows: list[MemberRowOut]


SortQuery = Annotated[
    str,
    Query(
        max_length=40,
        description=f"one of {', '.join(member_table.SORTABLE)}; a leading - sorts descending",
    ),
]


@router.get(
    "/segments/{code}/members/export",
    response_model=MembersExportOut,
    responses={
        200: {"content": {"text/csv": {}}, "description": "the rows (JSON, or CSV)"},
        404: {"model": m.ErrorBody, "description": "no such segment"},
    },
)
def export_members(
    code: Annotated[str, Path(max_length=200)],
    store: StoreDep,
    fmt: Annotated[str, Query(alias="format", pattern="^(csv|json)$")] = "csv",
    sort: SortQuery = "customer_id",
    q: Annotated[str, Query(max_length=200, description="id, name or e-mail contains")] = "",
) -> Any:
    """Every member with name, e-mail, orders, total spent, last order, member since and
    why, ids in natural order (c2 before c10) unless ``sort`` says otherwise: CSV (the
    admin page's download, ``segmint segments members --format csv``) or JSON."""
    rows = member_table.member_rows(store, code, sort=sort, q=q)
    if fmt == "csv":
        return Response(member_table.to_csv(rows), media_type="text/csv; charset=utf-8")
    return {
        "code": code,
        "count": len(rows),
        "rows": [
            {**r.__dict__, "total_spent": member_table.money_text(r.total_spent)} for r in rows
        ],
    }
