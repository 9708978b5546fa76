"""The evaluate request (TARGETING.md §3) as the API and the CLI accept it.

One pydantic model validates a request for both entry points (the API's 422 and the
CLI's positioned errors name the same paths); :func:`to_request` turns it into the
:class:`TargetingRequest` the targeting service answers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from segmint.errors import ConfigError
from segmint.model.profile import RequestContext

Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=1000)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
Money = Annotated[Decimal, Field(allow_inf_nan=False, max_digits=18, decimal_places=4)]
Quantity = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CartLineIn(Strict):
    """A cart line (TARGETING.md §3): ``sku`` and ``quantity``; the fields it omits are
    taken from the product catalog."""

    id: Id | None = Field(default=None, description='default: its position, "1", "2", …')
    sku: Id
    quantity: Annotated[int, Field(ge=1, le=1_000_000)]
    unit_price: Money | None = Field(default=None, description="default: the catalog's")
    min_price: Money | None = Field(default=None, description="default: the catalog's, or 0")
    product_name: Text | None = None
    brand: Text | None = None
    category: Text | None = None


class ShippingIn(Strict):
    method: Text | None = None
    amount: Money = Field(ge=0)


class CartIn(Strict):
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] | None = Field(
        default=None, description="ISO 4217; default the store's default currency"
    )
    lines: list[CartLineIn] = Field(default_factory=list, max_length=1000)
    shipping: ShippingIn | None = None


class ContextIn(Strict):
    logged_in: bool | None = None
    view: Text | None = None
    store: Text | None = None
    channel: Text | None = None
    path: Text | None = None
    query: dict[str, Text] = Field(default_factory=dict, max_length=100)


class EvaluateIn(Strict):
    customer_id: Id | None = Field(default=None, description="None: an anonymous visitor")
    as_of: dt.datetime | None = Field(
        default=None,
        description="the evaluation instant (schedules, real-time rules); default now. "
        "Stored memberships are those stored now.",
    )
    context: ContextIn = Field(default_factory=ContextIn)
    cart: CartIn = Field(default_factory=CartIn)
    codes: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=20, description="promo codes entered"
    )
    placements: list[Code] | None = Field(
        default=None, max_length=500, description="the placements to answer; absent: every one"
    )
    explain: bool = Field(
        default=False,
        description="also list every promotion, price list and placement item that did "
        "not apply, and why",
    )


class CheckoutIn(EvaluateIn):
    """The checkout request: evaluate's, plus the order it redeems for (TARGETING.md §4)."""

    order_id: Id = Field(description="the order: a repeat answers the recorded checkout")


@dataclass(frozen=True)
class RequestLine:
    """A cart line as requested: what it omits the product catalog fills in."""

    sku: str
    quantity: int
    id: str | None = None
    unit_price: Decimal | None = None
    min_price: Decimal | None = None
    product_name: str | None = None
    brand: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class RequestCart:
    currency: str | None = None  # None: the store's default
    lines: tuple[RequestLine, ...] = ()
    shipping_amount: Decimal | None = None  # None: no shipping
    shipping_method: str | None = None


@dataclass(frozen=True)
class TargetingRequest:
    """A request to answer. ``context`` carries no cart: the service fills the lines from
    the catalog, prices them and sets the cart fields the rules read."""

    customer_id: str | None
    context: RequestContext = field(default_factory=RequestContext)
    as_of: dt.datetime | None = None
    placements: tuple[str, ...] | None = None
    explain: bool = False
    cart: RequestCart = RequestCart()
    codes: tuple[str, ...] = ()


def _context(body: EvaluateIn) -> RequestContext:
    c = body.context
    return RequestContext(
        logged_in=c.logged_in,
        view=c.view,
        store=c.store,
        channel=c.channel,
        path=c.path,
        query=dict(c.query),
    )


def _cart(cart: CartIn) -> RequestCart:
    lines = tuple(
        RequestLine(
            line.sku,
            line.quantity,
            line.id,
            line.unit_price,
            line.min_price,
            line.product_name,
            line.brand,
            line.category,
        )
        for line in cart.lines
    )
    shipping = cart.shipping
    return RequestCart(
        currency=cart.currency.upper() if cart.currency is not None else None,
        lines=lines,
        shipping_amount=shipping.amount if shipping is not None else None,
        shipping_method=shipping.method if shipping is not None else None,
    )


def _aware(instant: dt.datetime | None) -> dt.datetime | None:
    if instant is None:
        return None
    if instant.tzinfo is None:
        return instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(dt.UTC)


def to_request(body: EvaluateIn) -> TargetingRequest:
    return TargetingRequest(
        customer_id=body.customer_id,
        context=_context(body),
        as_of=_aware(body.as_of),
        placements=tuple(body.placements) if body.placements is not None else None,
        explain=body.explain,
        cart=_cart(body.cart),
        codes=tuple(body.codes),
    )


class RequestError(ConfigError):
    """A request that does not validate; the message lists each error with its path."""


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(request)"


def read_request(data: Any, where: str = "request") -> TargetingRequest:
    """Validate one request document (as the API does) or raise :class:`RequestError`."""
    try:
        return to_request(EvaluateIn.model_validate(data))
    except ValidationError as exc:
        problems = "; ".join(f"{_path(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise RequestError(f"{where}: {problems}") from None


def read_checkout(data: Any, where: str = "request") -> tuple[TargetingRequest, str]:
    """Validate one checkout document (as the API does) or raise :class:`RequestError`."""
    try:
        body = CheckoutIn.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{_path(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise RequestError(f"{where}: {problems}") from None
    return to_request(body), body.order_id
