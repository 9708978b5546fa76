"""The cart as it comes in and as it is priced (TARGETING.md §3): pure, no I/O.

A :class:`Cart` is validated when built — a positive whole quantity, amounts that are not
negative and have at most the currency's minor digits, unique line ids — and a bad one
raises :class:`CartError` naming the field as the request does (``cart.lines[1].
unit_price``). The answer (:class:`PricedCart`) keeps ``Decimal`` amounts with exactly the
currency's digits, lines in request order, and serializes to §3's JSON with
:meth:`PricedCart.to_dict`.

Pricing itself works on :class:`Working`: the current amount of every line in whole minor
units, its floor (``min_price`` × quantity) and the request context that conditions read,
kept current as promotions apply (``cart.subtotal`` and ``cart.lines.amount`` are the
amounts after the discounts so far; ``cart.lines.unit_price`` is the price-list price).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from segmint.model.profile import CartLine, RequestContext
from segmint.targeting import money
from segmint.targeting.money import MoneyError


class CartError(MoneyError):
    """A cart that cannot be priced; the message names the field (``cart.lines[0].…``)."""


class Reason:
    """Why a promotion or price list did not apply: the API's ``reason`` strings (§4)."""

    INACTIVE = "inactive"
    NOT_STARTED = "not_started"
    ENDED = "ended"
    STORE = "store"
    LOGIN_REQUIRED = "login_required"
    AUDIENCE = "audience"
    CONDITION = "condition"
    UNKNOWN_CODE = "unknown_code"
    CODE_REQUIRED = "code_required"
    USAGE_LIMIT = "usage_limit"
    CODE_USED = "code_used"
    CUSTOMER_LIMIT = "customer_limit"
    CODE_RECIPIENT = "code_recipient"
    BUDGET = "budget"
    ACCOUNT_NOT_ELIGIBLE = "account_not_eligible"
    CURRENCY = "currency"
    NO_ITEMS = "no_items"
    EXCLUSIVE = "exclusive"
    STOPPED = "stopped"
    BETTER_OFFER = "better_offer"


# ---- the cart as it comes in -------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """A cart line with its price known (the caller fills what the request omits from the
    product catalog). ``id`` None: its position, ``"1"``, ``"2"``, …"""

    sku: str
    quantity: int
    unit_price: Decimal
    id: str | None = None
    product_name: str | None = None
    brand: str | None = None
    category: str | None = None
    min_price: Decimal | None = None  # per unit; None: 0


@dataclass(frozen=True)
class Shipping:
    amount: Decimal
    method: str | None = None


@dataclass(frozen=True)
class Cart:
    currency: str
    lines: tuple[Line, ...] = ()
    shipping: Shipping | None = None

    def __post_init__(self) -> None:
        try:
            money.check_currency(self.currency)
        except MoneyError as error:
            raise CartError(f"cart.currency: {error}") from None
        ids: dict[str, int] = {}
        for i, line in enumerate(self.lines):
            where = f"cart.lines[{i}]"
            if not isinstance(line.quantity, int) or isinstance(line.quantity, bool):
                raise CartError(f"{where}.quantity: must be a whole number, not {line.quantity!r}")
            if line.quantity <= 0:
                raise CartError(f"{where}.quantity: must be positive, not {line.quantity}")
            if not line.sku:
                raise CartError(f"{where}.sku: is required")
            self._amount(line.unit_price, f"{where}.unit_price")
            if line.min_price is not None:
                self._amount(line.min_price, f"{where}.min_price")
            line_id = line.id if line.id is not None else str(i + 1)
            if line_id in ids:
                raise CartError(f"{where}.id: {line_id!r} is also line {ids[line_id]}'s id")
            ids[line_id] = i
        if self.shipping is not None:
            self._amount(self.shipping.amount, "cart.shipping.amount")

    def _amount(self, amount: Decimal, where: str) -> None:
        if not isinstance(amount, Decimal) or not amount.is_finite():
            raise CartError(f"{where}: expected a decimal amount, not {amount!r}")
        if amount < 0:
            raise CartError(f"{where}: {amount} is negative")
        if not money.fits(amount, self.currency):
            raise CartError(
                f"{where}: {amount} has more digits than {self.currency} allows "
                f"({money.digits(self.currency)} after the point)"
            )

    def line_id(self, i: int) -> str:
        line = self.lines[i]
        return line.id if line.id is not None else str(i + 1)


# ---- the answer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LineDiscount:
    promotion: str
    amount: Decimal


@dataclass(frozen=True)
class PricedLine:
    id: str
    sku: str
    quantity: int
    list_unit_price: Decimal  # before price lists
    unit_price: Decimal  # after price lists
    price_list: str | None  # the list that priced it
    subtotal: Decimal  # unit_price × quantity
    discounts: tuple[LineDiscount, ...]  # in the order the promotions applied
    discount: Decimal
    total: Decimal
    product_name: str | None = None
    brand: str | None = None
    category: str | None = None
    min_price: Decimal | None = None


@dataclass(frozen=True)
class PricedShipping:
    method: str | None
    amount: Decimal
    discount: Decimal
    total: Decimal


@dataclass(frozen=True)
class AppliedPromotion:
    code: str  # the promotion's code (``account:<id>`` for a portal's auto discount)
    name: str
    amount: Decimal  # off the lines
    shipping: Decimal  # off shipping
    via_code: str | None  # the code entered that triggered it, as entered (trimmed)
    message: str | None
    campaign: str | None = None


@dataclass(frozen=True)
class Rejection:
    """A promotion (or an entered code) that did not apply. ``seen`` is the request
    context as the promotion saw it, for ``condition`` (to explain its false parts)."""

    promotion: str | None  # None: an entered code no promotion has
    code: str | None  # the code entered, when it came through one
    reason: str
    detail: str
    seen: RequestContext | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "promotion": self.promotion,
            "code": self.code,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class PriceListRejection:
    price_list: str
    reason: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"price_list": self.price_list, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class NearMiss:
    """An automatic promotion only a cart threshold keeps away: what is missing, by path
    (``cart.subtotal`` an amount, ``cart.quantity`` a count)."""

    promotion: str
    missing: dict[str, Decimal | int]

    def to_dict(self, currency: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for path, value in self.missing.items():
            # the subtotal is an amount; a quantity is a count
            out[path] = (
                money.format_amount(value, currency) if isinstance(value, Decimal) else value
            )
        return {"promotion": self.promotion, "missing": out}


@dataclass(frozen=True)
class PricedCart:
    currency: str
    lines: tuple[PricedLine, ...]
    subtotal: Decimal
    discount: Decimal
    shipping: PricedShipping | None
    total: Decimal
    promotions: tuple[AppliedPromotion, ...]
    rejected: tuple[Rejection, ...]
    near: tuple[NearMiss, ...]
    price_lists_rejected: tuple[PriceListRejection, ...] = ()

    def cart_dict(self) -> dict[str, Any]:
        """The answer's ``cart`` object (§3): every amount with the currency's digits."""
        f = self._format
        shipping = None
        if self.shipping is not None:
            s = self.shipping
            shipping = {
                "method": s.method,
                "amount": f(s.amount),
                "discount": f(s.discount),
                "total": f(s.total),
            }
        return {
            "currency": self.currency,
            "lines": [
                {
                    "id": ln.id,
                    "sku": ln.sku,
                    "quantity": ln.quantity,
                    "list_unit_price": f(ln.list_unit_price),
                    "unit_price": f(ln.unit_price),
                    "price_list": ln.price_list,
                    "subtotal": f(ln.subtotal),
                    "discounts": [
                        {"promotion": d.promotion, "amount": f(d.amount)} for d in ln.discounts
                    ],
                    "discount": f(ln.discount),
                    "total": f(ln.total),
                }
                for ln in self.lines
            ],
            "subtotal": f(self.subtotal),
            "discount": f(self.discount),
            "shipping": shipping,
            "total": f(self.total),
        }

    def to_dict(self) -> dict[str, Any]:
        """``cart``, ``promotions``, ``rejected`` (promotions and codes, then price lists)
        and ``near``, as §3's answer carries them."""
        f = self._format
        return {
            "cart": self.cart_dict(),
            "promotions": [
                {
                    "code": p.code,
                    "name": p.name,
                    "amount": f(p.amount),
                    "shipping": f(p.shipping),
                    "via_code": p.via_code,
                    "message": p.message,
                }
                for p in self.promotions
            ],
            "rejected": [r.to_dict() for r in self.rejected]
            + [r.to_dict() for r in self.price_lists_rejected],
            "near": [n.to_dict(self.currency) for n in self.near],
        }

    def _format(self, amount: Decimal) -> str:
        return money.format_amount(amount, self.currency)


# ---- the cart while it is priced ----------------------------------------------------------


#: Amounts as Decimals by minor units, per exponent: pricing makes the same ones over and
#: over (every line's amount, every subtotal, on every cart), and a Decimal is immutable, so
#: one object serves every cart; emptied when it grows past the bound.
_DECIMALS: dict[int, dict[int, Decimal]] = {}
_DECIMALS_KEPT = 1 << 16


class Working:
    """Line amounts in minor units as promotions apply, and the context conditions read.

    The context handed to callbacks is this object's own and changes as promotions apply:
    a callback must not keep it (:meth:`snapshot` gives a copy that stays)."""

    def __init__(
        self,
        cart: Cart,
        unit_prices: Sequence[Decimal],
        base: RequestContext,
    ) -> None:
        self.currency = cart.currency
        self.scale = 10 ** money.digits(cart.currency)
        self.quantities = [ln.quantity for ln in cart.lines]
        self.quantity = sum(self.quantities)
        self._exponent = -money.digits(cart.currency)
        self._decimals = _DECIMALS.setdefault(self._exponent, {})
        self.subtotals = [
            money.to_minor(price * ln.quantity, cart.currency)
            for price, ln in zip(unit_prices, cart.lines, strict=True)
        ]
        self.amounts = list(self.subtotals)
        self.floors = [
            money.to_minor(ln.min_price * ln.quantity, cart.currency) if ln.min_price else 0
            for ln in cart.lines
        ]
        self.shipping = (
            money.to_minor(cart.shipping.amount, cart.currency) if cart.shipping is not None else 0
        )
        self.shipping_amount = self.shipping
        self.discounts: list[list[tuple[str, int]]] = [[] for _ in cart.lines]
        self.shipping_discounts: list[tuple[str, int]] = []
        self.cart_lines = [
            CartLine(
                sku=ln.sku,
                product_name=ln.product_name,
                brand=ln.brand,
                category=ln.category,
                quantity=ln.quantity,
                unit_price=price,
                amount=self.decimal(amount),
            )
            for ln, price, amount in zip(cart.lines, unit_prices, self.amounts, strict=True)
        ]
        self._snapshot: RequestContext | None = None
        # what depends only on the cart's current state, dropped when a promotion applies
        self.matched: dict[str, list[int]] = {}  # line rule -> the lines it matches
        self._room: int | None = None
        self._subtotal: int | None = None
        self.context = replace(
            base,
            cart_subtotal=self.decimal(sum(self.amounts)),
            cart_quantity=self.quantity,
            cart_lines=self.cart_lines,
        )

    def decimal(self, minor: int) -> Decimal:
        """Minor units as an amount with exactly the currency's digits."""
        found = self._decimals.get(minor)
        if found is None:
            if len(self._decimals) >= _DECIMALS_KEPT:
                self._decimals.clear()
            found = self._decimals[minor] = Decimal(minor).scaleb(self._exponent)
        return found

    def capacity(self, i: int) -> int:
        """What line ``i`` can still take before its floor."""
        return max(self.amounts[i] - self.floors[i], 0)

    def subtotal(self) -> int:
        if self._subtotal is None:
            self._subtotal = sum(self.amounts)
        return self._subtotal

    def apply(self, promotion: str, shares: dict[int, int], shipping: int) -> None:
        for i, share in sorted(shares.items()):
            if share <= 0:
                continue
            self.amounts[i] -= share
            self.discounts[i].append((promotion, share))
            self.cart_lines[i].amount = self.decimal(self.amounts[i])
        if shipping > 0:
            self.shipping -= shipping
            self.shipping_discounts.append((promotion, shipping))
        self.context.cart_subtotal = self.decimal(sum(self.amounts))
        self._snapshot = None
        self.matched.clear()
        self._room = None
        self._subtotal = None

    def room(self) -> int:
        """What all lines together can still take before their floors."""
        if self._room is None:
            self._room = sum(max(a - f, 0) for a, f in zip(self.amounts, self.floors, strict=True))
        return self._room

    def snapshot(self) -> RequestContext:
        """A copy of the context as it is now (one per state of the cart: rejections
        seen at the same state share it)."""
        if self._snapshot is None:
            lines = [
                CartLine(
                    ln.sku,
                    ln.product_name,
                    ln.brand,
                    ln.category,
                    ln.quantity,
                    ln.unit_price,
                    ln.amount,
                )
                for ln in self.cart_lines
            ]
            self._snapshot = replace(self.context, cart_lines=lines)
        return self._snapshot

    def holds_with(
        self, subtotal: int, quantity: int, condition: Callable[[RequestContext], bool]
    ) -> bool:
        """``condition`` over the context with ``cart.subtotal`` and ``cart.quantity`` as
        given (the lines as they are)."""
        context = self.context
        saved = context.cart_subtotal, context.cart_quantity
        context.cart_subtotal, context.cart_quantity = self.decimal(subtotal), quantity
        try:
            return condition(context)
        finally:
            context.cart_subtotal, context.cart_quantity = saved
