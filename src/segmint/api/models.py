"""Request and response bodies of the JSON API (they make the OpenAPI document)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

# The evaluate request, and the field types it shares with every body, are the CLI's too
# (services/evaluate_request.py).
from segmint.services.evaluate_request import (
    CartIn,
    CartLineIn,
    ContextIn,
    EvaluateIn,
    Id,
    Money,
    Quantity,
    Strict,
    Text,
)

Scalar = str | bool | int | float | None
AttributeValue = Scalar | list[str]
__all__ = [
    "CartIn",
    "CartLineIn",
    "ContextIn",
    "EvaluateIn",
    "Id",
    "Money",
    "Quantity",
    "Strict",
    "Text",
]

KIND = Literal["manual", "rule", "purchase", "realtime"]


class ErrorDetail(BaseModel):
    type: str
    message: str
    details: Any = None
    request_id: str | None = None  # also the X-Request-Id header; names the log lines


class ErrorBody(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]


# ---- keys ----------------------------------------------------------------------------------


class KeyCreate(Strict):
    role: Literal["admin", "marketer", "ingest", "storefront"]
    name: Text | None = None


class KeyCreated(BaseModel):
    id: str
    role: str
    name: str | None
    token: str = Field(description="shown once; only a hash is stored")


class KeyInfo(BaseModel):
    id: str
    name: str | None
    role: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class Revoked(BaseModel):
    id: str
    revoked: bool


# ---- customers and ingestion -------------------------------------------------------------


class CustomerFields(Strict):
    email: Text | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    phone: Text | None = None
    birth_date: dt.date | None = None
    created_at: dt.datetime | None = None
    postal_code: Text | None = None
    city: Text | None = None
    region: Text | None = None
    country: Text | None = None
    business_account: Text | None = None
    store: Text | None = None
    newsletter_subscribed: bool | None = None
    tags: list[Text] | None = Field(default=None, max_length=1000)
    user_groups: list[Text] | None = Field(default=None, max_length=1000)
    attributes: dict[str, AttributeValue] | None = Field(
        default=None, description="custom attributes by name (registered on first use)"
    )


class CustomerIn(CustomerFields):
    id: Id


class OrderLineIn(Strict):
    """An order line (RULES.md §1, ``lines``)."""

    sku: Text | None = None
    product_name: Text | None = None
    brand: Text | None = None
    category: Text | None = None
    quantity: Quantity | None = None
    unit_price: Money | None = None
    amount: Money | None = None


class OrderIn(Strict):
    id: Id = Field(description="the order id: posting it again replaces the order")
    customer_id: Id
    placed_at: dt.datetime
    status: Text | None = None
    total: Money | None = None
    currency: Text | None = None
    store: Text | None = None
    item_count: Quantity | None = None
    lines: list[OrderLineIn] = Field(default_factory=list, max_length=1000)


class EventIn(Strict):
    id: Id | None = Field(
        default=None, description="without an id, a hash of the content makes one"
    )
    customer_id: Id
    type: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    at: dt.datetime
    sku: Text | None = None
    properties: dict[str, Scalar] | None = None


class ProductIn(Strict):
    sku: Id
    product_name: Text | None = None
    brand: Text | None = None
    category: Text | None = None
    unit_price: Money | None = None
    min_price: Money | None = Field(
        default=None, description="the lowest unit price discounts may reach"
    )


class AccountIn(Strict):
    id: Id
    name: Text | None = None
    created_at: dt.datetime | None = None


class IngestResult(BaseModel):
    kind: str
    received: int
    inserted: int
    updated: int
    customers_reevaluated: int
    memberships_entered: int
    memberships_exited: int


class CustomerPage(BaseModel):
    items: list[str]
    next_cursor: str | None


class SegmentMembership(BaseModel):
    code: str
    name: str
    since: dt.datetime
    reason: str
    status: str
    targetable: bool
    user_group: str


class UserGroupOut(BaseModel):
    group: str
    sources: list[str]


class CustomerOut(BaseModel):
    id: str
    profile: dict[str, Any]
    attributes: dict[str, Any]
    derived: dict[str, Any]
    segments: list[SegmentMembership]
    user_groups: list[UserGroupOut]


class CustomerSegments(BaseModel):
    customer_id: str
    at: dt.datetime | None
    segments: list[str]


class CustomerDeleted(BaseModel):
    id: str
    pseudonym: str = Field(description="replaces the id in memberships and history")
    orders_erased: int
    events_erased: int
    memberships_kept: int
    history_kept: int


class GroupChange(BaseModel):
    customer_id: str
    group: str
    changed: bool


# ---- segments ---------------------------------------------------------------------------


class PurchaseIn(Strict):
    min_spend: Annotated[Decimal, Field(allow_inf_nan=False, ge=0, max_digits=18, decimal_places=4)]
    last_days: Annotated[int, Field(ge=1, le=36_500)] | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    item_field: Literal["sku", "brand", "category"] | None = None
    item_value: Text | None = None
    items: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class SegmentIn(Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    kind: KIND
    description: Text | None = None
    user_group: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] | None = (
        None
    )
    active: bool = True
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    stores: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100
    )
    rule: Annotated[str, StringConstraints(max_length=10_000)] | None = Field(
        default=None, description="the rule (kinds rule and realtime)"
    )
    purchase: PurchaseIn | None = None


class SegmentUpdate(SegmentIn):
    """The whole new definition; ``code`` must be the one in the path."""


class PurchaseOut(BaseModel):
    min_spend: str
    last_days: int | None
    date_from: str | None
    date_to: str | None
    item_field: str | None
    item_value: str | None
    items: str | None


class SegmentOut(BaseModel):
    code: str
    name: str
    kind: str
    description: str | None
    user_group: str | None
    active: bool
    starts_at: str | None
    ends_at: str | None
    stores: list[str]
    rule: str | None
    purchase: PurchaseOut | None
    effective_rule: str | None
    version: int
    status: str
    members: int
    created_at: dt.datetime
    updated_at: dt.datetime


class SegmentVersionOut(BaseModel):
    version: int
    created_at: dt.datetime
    definition: dict[str, Any]


class SegmentDetail(SegmentOut):
    includes: int
    excludes: int
    references: list[str]
    referrers: list[str]
    versions: list[SegmentVersionOut]


class RuleWarningOut(BaseModel):
    """A valid rule that reads a value the data does not have (services/discovery.py)."""

    message: str = Field(description="e.g. no line has category 'BEER/ALE' — did you mean …?")
    start: int = Field(description="offset of the value in the rule text")
    end: int
    line: int
    column: int
    suggestion: str | None = Field(description="the closest value the data has")


class SaveOut(BaseModel):
    segment: SegmentOut
    changed: bool
    entered: int
    exited: int
    dependents: list[str]
    warnings: list[RuleWarningOut] = Field(
        default=[], description="values in the rule no customer or line has"
    )


class DeletedSegment(BaseModel):
    code: str
    exited: int


class PreviewIn(Strict):
    segment: SegmentIn
    sample: Annotated[int, Field(ge=0, le=1000)] = 10


class PreviewOut(BaseModel):
    count: int
    sample: list[str]
    current_count: int
    entering_count: int
    leaving_count: int
    entering: list[str] = Field(description="at most 1000 ids")
    leaving: list[str] = Field(description="at most 1000 ids")


class MembersPage(BaseModel):
    code: str
    total: int
    items: list[str]
    next_cursor: str | None = Field(description="pass as `after` for the next page")


class IdsIn(Strict):
    ids: list[Id] = Field(min_length=1, max_length=100_000)


class ManualOut(BaseModel):
    code: str
    requested: int
    entered: int
    exited: int


class RefreshIn(Strict):
    codes: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=1000, description="None or empty: every materialized segment"
    )


class RefreshOut(BaseModel):
    report: dict[str, Any]


class ChangeOut(BaseModel):
    seq: int
    segment_code: str
    customer_id: str
    change: str
    at: dt.datetime
    reason: str
    trigger: str
    run_id: int | None


class HistoryOut(BaseModel):
    code: str
    changes: list[ChangeOut]


class ChangesOut(BaseModel):
    changes: list[ChangeOut]
    cursor: int = Field(description="pass as `since` to continue")


# ---- rules --------------------------------------------------------------------------------


class RuleIn(Strict):
    rule: Annotated[str, StringConstraints(max_length=10_000)]
    realtime: bool = Field(default=True, description="accept context.* and cart.* fields")


class RuleChecked(BaseModel):
    ok: Literal[True]
    realtime: bool
    segments: list[str]
    collections: list[str]
    customer_fields: list[str]
    attributes: list[str]
    text: str = Field(description="the rule printed back in canonical form")
    warnings: list[RuleWarningOut] = Field(
        default=[], description="values in the rule no customer or line has"
    )


class MatchIn(Strict):
    rule: Annotated[str, StringConstraints(max_length=10_000)]
    limit: Annotated[int, Field(ge=0, le=100_000)] = 1000
    offset: Annotated[int, Field(ge=0, le=100_000_000)] = Field(
        default=0, description="skip this many of the sorted ids (pages of a large answer)"
    )
    engine: Literal["sql", "python"] = Field(
        default="sql", description="the SQL engine, or the Python engine (its oracle)"
    )


class MatchOut(BaseModel):
    count: int
    customers: list[str]


class ExplainIn(Strict):
    customer_id: Id
    rule: Annotated[str, StringConstraints(max_length=10_000)]


class ExplainStep(BaseModel):
    depth: int
    text: str
    value: bool
    sentence: str


class ExplainOut(BaseModel):
    customer_id: str
    as_of: str
    rule: str
    result: bool
    steps: list[ExplainStep]
    rendered: str


# ---- evaluate -------------------------------------------------------------------------------


class EvaluatedSegment(BaseModel):
    code: str
    name: str
    kind: str
    user_group: str
    since: dt.datetime | None


class EvaluatedCustomer(BaseModel):
    id: str | None
    known: bool


class ShownItem(BaseModel):
    item: str
    content: dict[str, Any] = Field(description="the item's content, {{path}} substituted")


class FalsePart(BaseModel):
    text: str
    sentence: str


class RejectedItem(BaseModel):
    """A promotion or entered code (``promotion``, ``code``), a price list
    (``price_list``) or a placement item (``placement``, ``item``) that did not apply."""

    promotion: str | None = None
    code: str | None = None
    price_list: str | None = None
    placement: str | None = None
    item: str | None = None
    reason: str
    detail: str
    false: list[FalsePart] | None = Field(
        default=None,
        description="with explain, for 'audience' and 'condition': the parts that were false",
    )


class LineDiscountOut(BaseModel):
    promotion: str
    amount: str


class PricedLineOut(BaseModel):
    id: str
    sku: str
    quantity: int
    list_unit_price: str = Field(description="before price lists")
    unit_price: str = Field(description="after price lists")
    price_list: str | None = Field(description="the price list that priced it")
    subtotal: str
    discounts: list[LineDiscountOut]
    discount: str
    total: str


class PricedShippingOut(BaseModel):
    method: str | None
    amount: str
    discount: str
    total: str


class PricedCartOut(BaseModel):
    currency: str
    lines: list[PricedLineOut]
    subtotal: str = Field(description="the lines after price lists, before discounts")
    discount: str
    shipping: PricedShippingOut | None
    total: str


class AppliedPromotionOut(BaseModel):
    code: str = Field(description="the promotion (account:<id> for an account's discount)")
    name: str
    amount: str = Field(description="off the lines")
    shipping: str = Field(description="off shipping")
    via_code: str | None
    message: str | None


class NearMissOut(BaseModel):
    promotion: str
    missing: dict[str, str | int] = Field(
        description="by path: cart.subtotal an amount, cart.quantity a count"
    )


class EvaluateOut(BaseModel):
    customer_id: str | None
    known: bool = Field(description="false for an anonymous or unknown visitor")
    segments: list[EvaluatedSegment]
    user_groups: list[UserGroupOut]
    as_of: dt.datetime = Field(description="the evaluation instant")
    customer: EvaluatedCustomer
    cart: PricedCartOut = Field(description="the cart priced to the cent (lines in order)")
    promotions: list[AppliedPromotionOut] = Field(description="the promotions applied, in order")
    rejected: list[RejectedItem] = Field(
        description="every entered code that did not apply; with explain, every promotion, "
        "price list and placement item that did not, and why"
    )
    near: list[NearMissOut] = Field(
        description="automatic promotions only a cart threshold keeps away"
    )
    placements: dict[str, list[ShownItem]] = Field(
        description="each placement asked for (or every one) with the items it shows, in order"
    )


class CheckoutOut(EvaluateOut):
    order_id: str = Field(description="the order the redemptions were recorded for")
