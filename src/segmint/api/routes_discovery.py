"""Value discovery: ``GET /v1/schema`` (every field a rule may read) and ``GET
/v1/values`` (the distinct values of one field, with counts) — what autocomplete and a
condition builder pick from. services/discovery.py answers both; roles in api/access.py."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from segmint.api import models as m
from segmint.api.deps import authorize, get_now, get_store
from segmint.services import discovery
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
