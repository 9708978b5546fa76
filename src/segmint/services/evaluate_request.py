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
from segmint.model.profile import CartLine, RequestContext

Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=1000)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
Money = Annotated[Decimal, Field(allow_inf_nan=False, max_digits=18, decimal_places=4)]
Quantity = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CartLineIn(Strict):
    """A cart line: the fields of an order line (RULES.md §1, ``cart.lines``)."""

    sku: Text | None = None
    product_name: Text | None = None
    brand: Text | None = None
    category: Text | None = None
    quantity: Quantity | None = None
    unit_price: Money | None = None
    amount: Money | None = None


class CartIn(Strict):
    subtotal: Money | None = Field(
        default=None, description="default: the sum of the lines' amounts"
    )
    quantity: Quantity | None = Field(default=None, description="default: the lines' quantities")
    lines: list[CartLineIn] = Field(default_factory=list, max_length=1000)


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
    placements: list[Code] | None = Field(
        default=None, max_length=500, description="the placements to answer; absent: every one"
    )
    explain: bool = Field(
        default=False, description="also list every placement item that did not show, and why"
    )


@dataclass(frozen=True)
class TargetingRequest:
    customer_id: str | None
    context: RequestContext
    as_of: dt.datetime | None = None
    placements: tuple[str, ...] | None = None
    explain: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _context(body: EvaluateIn) -> RequestContext:
    c, cart = body.context, body.cart
    lines = [CartLine(**line.model_dump()) for line in cart.lines]
    subtotal = cart.subtotal
    if subtotal is None and lines:
        subtotal = sum(
            (
                ln.amount
                if ln.amount is not None
                else (ln.unit_price or Decimal(0)) * (ln.quantity or 0)
                for ln in lines
            ),
            Decimal(0),
        )
    quantity = cart.quantity
    if quantity is None and lines:
        quantity = sum(ln.quantity or 0 for ln in lines)
    return RequestContext(
        logged_in=c.logged_in,
        view=c.view,
        store=c.store,
        channel=c.channel,
        path=c.path,
        query=dict(c.query),
        cart_subtotal=subtotal,
        cart_quantity=quantity,
        cart_lines=lines,
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
