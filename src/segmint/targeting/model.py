"""The lever catalog as data (TARGETING.md §1, §4, §5, §6): pure, no I/O, no rule parsing.

Every lever kind is a frozen dataclass whose fields are exactly the document's fields,
already parsed: amounts are ``Decimal``, instants aware UTC ``datetime``, lists tuples
(so two levers compare equal iff their documents do — which is how ``levers apply``
decides whether a lever gets a new version). Rules (audiences, conditions, targets)
stay rule *text* here; :mod:`segmint.targeting.document` checks them against a store's
schema when a document is read, and the compiled form lives beside the compilers.

``audience`` None means GLOBAL (everyone, anonymous visitors too).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

#: Lever codes: as segment codes (they appear in URLs, files and answers).
CODE_MAX = 64


class LeverKind(enum.StrEnum):
    """The kinds of the catalog, by the document key that lists them."""

    CAMPAIGN = "campaigns"
    PROMOTION = "promotions"
    PRICE_LIST = "price_lists"
    PLACEMENT = "placements"
    ACCOUNT = "accounts"

    @property
    def singular(self) -> str:
        return {
            LeverKind.CAMPAIGN: "campaign",
            LeverKind.PROMOTION: "promotion",
            LeverKind.PRICE_LIST: "price list",
            LeverKind.PLACEMENT: "placement",
            LeverKind.ACCOUNT: "account",
        }[self]


@dataclass(frozen=True)
class Schedule:
    """What every lever (and placement item) shares (TARGETING.md §1)."""

    active: bool = True
    starts_at: dt.datetime | None = None  # inclusive
    ends_at: dt.datetime | None = None  # exclusive
    stores: tuple[str, ...] = ()  # empty: every store
    priority: int = 0  # higher first; ties by code

    def live(self, now: dt.datetime) -> bool:
        """Active and ``starts_at <= now < ends_at``."""
        return (
            self.active
            and (self.starts_at is None or self.starts_at <= now)
            and (self.ends_at is None or now < self.ends_at)
        )

    def in_store(self, store: str | None) -> bool:
        """No stores listed, or the request's store is one of them (case-insensitive)."""
        if not self.stores:
            return True
        return store is not None and store.lower() in {s.lower() for s in self.stores}


# ---- values and benefits (§4) ----------------------------------------------------------


@dataclass(frozen=True)
class Percentage:
    """``{"percentage": "10"}``: 0 < p <= 100."""

    percentage: Decimal


@dataclass(frozen=True)
class Amount:
    """``{"amount": "5.00"}``; with ``currency`` it applies only to carts in it."""

    amount: Decimal
    currency: str | None = None


Value = Percentage | Amount


class Allocation(enum.StrEnum):
    EACH = "each"
    ACROSS = "across"
    ONCE = "once"


class Basis(enum.StrEnum):
    SUBTOTAL = "subtotal"
    QUANTITY = "quantity"


class Selection(enum.StrEnum):
    CHEAPEST = "cheapest"
    MOST_EXPENSIVE = "most_expensive"


@dataclass(frozen=True)
class OrderBenefit:
    """Off the whole cart, allocated over all lines."""

    value: Value
    type: str = field(default="order", init=False)


@dataclass(frozen=True)
class ItemsBenefit:
    """Off the lines matching ``target`` (a rule over one cart line; None: every line)."""

    value: Value
    allocation: Allocation = Allocation.ACROSS
    target: str | None = None
    max_quantity: int | None = None
    type: str = field(default="items", init=False)


@dataclass(frozen=True)
class Tier:
    min: Decimal
    value: Value


@dataclass(frozen=True)
class TieredBenefit:
    """Buy more, save more: the highest tier whose ``min`` the matching lines reach."""

    tiers: tuple[Tier, ...]  # ascending by min
    basis: Basis = Basis.SUBTOTAL
    target: str | None = None
    type: str = field(default="tiered", init=False)


@dataclass(frozen=True)
class BuyGetBenefit:
    """Buy X (``buy``), get Y (``get``) discounted by ``value`` (default 100 %)."""

    buy: str | None
    get: str | None
    buy_quantity: int = 1
    get_quantity: int = 1
    selection: Selection = Selection.CHEAPEST
    max_applications: int | None = None
    value: Value = Percentage(Decimal(100))
    type: str = field(default="buy_get", init=False)


@dataclass(frozen=True)
class ShippingBenefit:
    """Off the shipping amount (100 % = free shipping)."""

    value: Value
    type: str = field(default="shipping", init=False)


Benefit = OrderBenefit | ItemsBenefit | TieredBenefit | BuyGetBenefit | ShippingBenefit


class Trigger(enum.StrEnum):
    AUTOMATIC = "automatic"
    CODE = "code"


# ---- the lever kinds ---------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """A campaign's budget: discount granted (``spend``, in ``currency``; None: the
    store's default currency) and/or orders (``usage``)."""

    spend: Decimal | None = None
    usage: int | None = None
    currency: str | None = None


@dataclass(frozen=True)
class Campaign:
    code: str
    name: str = ""
    description: str = ""
    schedule: Schedule = Schedule()
    budget: Budget | None = None


@dataclass(frozen=True)
class Promotion:
    code: str
    benefit: Benefit
    name: str = ""
    description: str = ""
    schedule: Schedule = Schedule()
    audience: str | None = None
    trigger: Trigger = Trigger.AUTOMATIC
    codes: tuple[str, ...] = ()  # as written; matched case-insensitively after trimming
    condition: str | None = None
    exclusive: bool = False
    stop_further: bool = False
    best_of: str | None = None
    campaign: str | None = None
    usage_limit: int | None = None
    per_customer_limit: int | None = None
    release_on_cancel: bool = True
    message: str | None = None


@dataclass(frozen=True)
class PriceEntry:
    sku: str
    price: Decimal
    min_quantity: int = 1


@dataclass(frozen=True)
class PriceList:
    code: str
    currency: str
    prices: tuple[PriceEntry, ...]
    name: str = ""
    description: str = ""
    schedule: Schedule = Schedule()
    audience: str | None = None


class PlacementType(enum.StrEnum):
    BANNER = "banner"
    HERO = "hero"
    PAGE = "page"
    NEWS_FEED = "news_feed"
    INTERSTITIAL = "interstitial"
    CART_MESSAGE = "cart_message"
    NAVIGATION = "navigation"
    CUSTOM = "custom"

    @property
    def default_mode(self) -> Mode:
        single = (PlacementType.BANNER, PlacementType.HERO, PlacementType.PAGE)
        return Mode.SINGLE if self in single else Mode.MULTI


class Mode(enum.StrEnum):
    SINGLE = "single"
    MULTI = "multi"


@dataclass(frozen=True)
class PlacementItem:
    code: str
    content: dict[str, Any]  # JSON object; strings may hold {{path}} and {{missing}}
    name: str = ""
    schedule: Schedule = Schedule()
    audience: str | None = None
    when_near: str | None = None  # a promotion code: shown only while it is a near miss
    description: str = ""  # last, so positional construction keeps its meaning

    def __hash__(self) -> int:  # content is a dict: hash by code (equality stays by value)
        return hash(self.code)


@dataclass(frozen=True)
class Placement:
    code: str
    type: PlacementType
    items: tuple[PlacementItem, ...] = ()
    name: str = ""
    description: str = ""
    mode: Mode | None = None  # None: the type's default
    max_items: int | None = None  # multi only; None: no limit
    schedule: Schedule = Schedule()

    @property
    def effective_mode(self) -> Mode:
        return self.mode if self.mode is not None else self.type.default_mode


@dataclass(frozen=True)
class AutoDiscount:
    """An account's automatic order discount, reported as promotion ``account:<id>``."""

    value: Value
    priority: int = 0


@dataclass(frozen=True)
class AccountPortal:
    """A business account's portal settings (TARGETING.md §5)."""

    id: str
    global_promotions: bool = True
    auto_discount: AutoDiscount | None = None


Lever = Campaign | Promotion | PriceList | Placement | AccountPortal


def kind_of(lever: Lever) -> LeverKind:
    match lever:
        case Campaign():
            return LeverKind.CAMPAIGN
        case Promotion():
            return LeverKind.PROMOTION
        case PriceList():
            return LeverKind.PRICE_LIST
        case Placement():
            return LeverKind.PLACEMENT
        case AccountPortal():
            return LeverKind.ACCOUNT
    raise TypeError(f"not a lever: {type(lever).__name__}")


def key_of(lever: Lever) -> str:
    """The lever's code (an account's id)."""
    return lever.id if isinstance(lever, AccountPortal) else lever.code


@dataclass(frozen=True)
class TargetingDocument:
    """The whole catalog as one document (TARGETING.md §1), each list sorted by code."""

    campaigns: tuple[Campaign, ...] = ()
    promotions: tuple[Promotion, ...] = ()
    price_lists: tuple[PriceList, ...] = ()
    placements: tuple[Placement, ...] = ()
    accounts: tuple[AccountPortal, ...] = ()

    def levers(self) -> list[Lever]:
        return [
            *self.campaigns,
            *self.promotions,
            *self.price_lists,
            *self.placements,
            *self.accounts,
        ]
