"""Reading the lever kinds of a targeting document (TARGETING.md §1, §4, §5, §6).

Each ``read_*`` takes one JSON object and returns the lever, or None if it had any
problem (every problem recorded in :class:`~segmint.targeting._doc_fields.Problems`).
Cross-references (a promotion's campaign, an item's ``when_near``) are resolved against
:class:`References`: the document's own codes plus those the store already has.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from segmint.rules.text import lower
from segmint.targeting._doc_fields import (
    PROMO_CODE_MAX,
    Fields,
    Problems,
    at,
    close,
    shown,
)
from segmint.targeting.model import (
    AccountPortal,
    Allocation,
    Amount,
    AutoDiscount,
    Basis,
    Benefit,
    Budget,
    BuyGetBenefit,
    Campaign,
    ItemsBenefit,
    LeverKind,
    Mode,
    OrderBenefit,
    Percentage,
    Placement,
    PlacementItem,
    PlacementType,
    PriceEntry,
    PriceList,
    Promotion,
    Schedule,
    Selection,
    ShippingBenefit,
    Tier,
    TieredBenefit,
    Trigger,
    Value,
)

SCHEDULE_FIELDS = ("active", "starts_at", "ends_at", "stores", "priority")
LEVER_FIELDS = ("code", "name", "description", *SCHEDULE_FIELDS)
VALUE_FIELDS = ("percentage", "amount", "currency")

CAMPAIGN_FIELDS = (*LEVER_FIELDS, "budget")
BUDGET_FIELDS = ("spend", "usage", "currency")
PROMOTION_FIELDS = (
    *LEVER_FIELDS,
    "audience",
    "trigger",
    "codes",
    "condition",
    "benefit",
    "exclusive",
    "stop_further",
    "best_of",
    "campaign",
    "usage_limit",
    "per_customer_limit",
    "release_on_cancel",
    "message",
)
BENEFIT_FIELDS: dict[str, tuple[str, ...]] = {
    "order": ("type", *VALUE_FIELDS),
    "items": ("type", "allocation", "target", "max_quantity", *VALUE_FIELDS),
    "tiered": ("type", "basis", "target", "tiers"),
    "buy_get": (
        "type",
        "buy",
        "buy_quantity",
        "get",
        "get_quantity",
        "selection",
        "max_applications",
        *VALUE_FIELDS,
    ),
    "shipping": ("type", *VALUE_FIELDS),
}
TIER_FIELDS = ("min", *VALUE_FIELDS)
PRICE_LIST_FIELDS = (*LEVER_FIELDS, "audience", "currency", "prices")
PRICE_FIELDS = ("sku", "price", "min_quantity")
PLACEMENT_FIELDS = (*LEVER_FIELDS, "type", "mode", "max_items", "items")
ITEM_FIELDS = (*LEVER_FIELDS, "audience", "when_near", "content")
ACCOUNT_FIELDS = ("id", "portal")
PORTAL_FIELDS = ("global_promotions", "auto_discount")
AUTO_DISCOUNT_FIELDS = (*VALUE_FIELDS, "priority")

GLOBAL = "GLOBAL (everyone)"


@dataclass
class References:
    """The codes other levers may name: the document's own (whatever their other
    problems: a typo elsewhere in a lever should not make every reference to it fail
    too) and the store's (``known``). ``triggers`` holds the document's promotions."""

    campaigns: set[str] = field(default_factory=set)
    promotions: set[str] = field(default_factory=set)
    triggers: dict[str, str | None] = field(default_factory=dict)
    #: every promo code seen so far (lower-cased) -> the path that gave it
    promo_codes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, data: Mapping[str, Any], known: Mapping[LeverKind, Any]) -> References:
        refs = cls(
            campaigns=set(known.get(LeverKind.CAMPAIGN, ())),
            promotions=set(known.get(LeverKind.PROMOTION, ())),
        )
        for item in _objects(data.get(LeverKind.CAMPAIGN.value)):
            if isinstance(item.get("code"), str):
                refs.campaigns.add(item["code"])
        for item in _objects(data.get(LeverKind.PROMOTION.value)):
            code = item.get("code")
            if isinstance(code, str):
                refs.promotions.add(code)
                trigger = item.get("trigger")
                refs.triggers[code] = trigger if isinstance(trigger, str) else None
        return refs


def _objects(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, (list, tuple)):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def object_fields(
    p: Problems, value: Any, path: str, allowed: tuple[str, ...], what: str
) -> Fields | None:
    if not isinstance(value, Mapping):
        p.add(path, f"must be an object ({what}), not {shown(value)}")
        return None
    return Fields(p, value, path, allowed)


# --- shared parts -----------------------------------------------------------------------


def read_schedule(f: Fields) -> Schedule:
    starts = f.instant("starts_at")
    ends = f.instant("ends_at")
    if starts is not None and ends is not None and not starts < ends:
        f.bad("ends_at", f"must be after starts_at ({iso(starts)})")
    stores: list[str] = []
    seen: set[str] = set()
    for where, store in f.strings("stores"):
        name = store.strip()
        if not name:
            f.p.add(where, "must not be empty")
        elif name.lower() in seen:
            f.p.add(where, f"duplicate store {shown(name)}")
        else:
            seen.add(name.lower())
            stores.append(name)
    return Schedule(
        active=f.boolean("active", True),
        starts_at=starts,
        ends_at=ends,
        stores=tuple(stores),
        priority=f.integer("priority", 0),
    )


def iso(instant: dt.datetime) -> str:
    """An instant as the document writes it: UTC with ``Z``."""
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def read_value(f: Fields, *, default: Value | None = None) -> Value | None:
    """``percentage`` or ``amount`` (with an optional ``currency``) on the object itself."""
    has_percentage, has_amount = f.has("percentage"), f.has("amount")
    if has_percentage and has_amount:
        f.bad("amount", "give either percentage or amount, not both")
        return None
    if has_percentage:
        if f.has("currency"):
            f.bad("currency", "goes with an amount, not a percentage")
        percentage = f.percentage("percentage")
        return Percentage(percentage) if percentage is not None else None
    if has_amount:
        currency = f.currency("currency")
        amount = f.amount("amount", currency or f.p.default_currency)
        return Amount(amount, currency) if amount is not None else None
    if f.has("currency"):
        f.bad("currency", "goes with an amount")
    if default is not None:
        return default
    f.p.add(f.path, 'needs a value: "percentage" or "amount"')
    return None


def _reference(f: Fields, key: str, codes: set[str], what: str) -> str | None:
    code = f.code(key, required=False)
    if code is not None and code not in codes:
        hint = close(code, codes)
        extra = f" (did you mean '{hint}'?)" if hint else ""
        f.bad(key, f"no {what} '{code}' in the document or the store{extra}")
    return code


# --- campaigns --------------------------------------------------------------------------


def read_campaign(p: Problems, value: Any, path: str) -> Campaign | None:
    mark = p.mark()
    f = object_fields(p, value, path, CAMPAIGN_FIELDS, "a campaign")
    if f is None:
        return None
    code = f.code()
    name, description = f.string("name"), f.string("description")
    schedule = read_schedule(f)
    budget = None
    raw = f.object("budget")
    if raw is not None:
        budget = _read_budget(Fields(p, raw, f.where("budget"), BUDGET_FIELDS))
    if code is None or not p.clean_since(mark):
        return None
    return Campaign(code, name, description, schedule, budget)


def _read_budget(f: Fields) -> Budget | None:
    currency = f.currency("currency")
    if currency is not None and not f.has("spend"):
        f.bad("currency", "goes with spend")
    spend = f.amount("spend", currency or f.p.default_currency, required=False)
    usage = f.optional_integer("usage", positive=True)
    if not f.has("spend") and not f.has("usage"):
        f.p.add(f.path, 'needs "spend" (discount granted), "usage" (orders) or both')
        return None
    return Budget(spend=spend, usage=usage, currency=currency)


# --- promotions -------------------------------------------------------------------------


def read_promotion(p: Problems, value: Any, path: str, refs: References) -> Promotion | None:
    mark = p.mark()
    f = object_fields(p, value, path, PROMOTION_FIELDS, "a promotion")
    if f is None:
        return None
    code = f.code()
    name, description = f.string("name"), f.string("description")
    schedule = read_schedule(f)
    audience = f.rule("audience", "request", GLOBAL)
    trigger = f.choice("trigger", Trigger, Trigger.AUTOMATIC)
    codes = _read_codes(f, trigger, refs)
    condition = f.rule("condition", "request", "always")
    benefit = None
    raw = f.object("benefit", required=True)
    if raw is not None:
        benefit = read_benefit(p, raw, f.where("benefit"))
    promotion = Promotion(
        code=code or "",
        benefit=benefit or OrderBenefit(Percentage(Decimal(100))),
        name=name,
        description=description,
        schedule=schedule,
        audience=audience,
        trigger=trigger,
        codes=codes,
        condition=condition,
        exclusive=f.boolean("exclusive", False),
        stop_further=f.boolean("stop_further", False),
        best_of=f.name("best_of"),
        campaign=_reference(f, "campaign", refs.campaigns, "campaign"),
        usage_limit=f.optional_integer("usage_limit", positive=True),
        per_customer_limit=f.optional_integer("per_customer_limit", positive=True),
        release_on_cancel=f.boolean("release_on_cancel", True),
        message=f.optional_string("message"),
    )
    if code is None or benefit is None or not p.clean_since(mark):
        return None
    return promotion


def _read_codes(f: Fields, trigger: Trigger, refs: References) -> tuple[str, ...]:
    """Trimmed codes, unique ignoring case across every promotion of the document. A
    ``code`` promotion may list none: its codes are generated later (``codes generate``)."""
    items = f.strings("codes")
    if items and trigger is not Trigger.CODE:
        f.bad("codes", 'codes need "trigger": "code"')
        return ()
    out: list[str] = []
    for where, raw in items:
        text = raw.strip()
        if not text:
            f.p.add(where, "must not be empty")
        elif any(c.isspace() for c in text):
            f.p.add(where, f"{shown(text)}: a code cannot contain spaces")
        elif len(text) > PROMO_CODE_MAX:
            f.p.add(where, f"must be at most {PROMO_CODE_MAX} characters")
        elif lower(text) in refs.promo_codes:
            f.p.add(where, f"duplicate code {shown(text)} (also {refs.promo_codes[lower(text)]})")
        else:
            refs.promo_codes[lower(text)] = where
            out.append(text)
    return tuple(out)


def read_benefit(p: Problems, raw: Mapping[str, Any], path: str) -> Benefit | None:
    mark = p.mark()
    kind = raw.get("type")
    if kind not in BENEFIT_FIELDS:
        kinds = ", ".join(BENEFIT_FIELDS)
        if kind is None:
            p.add(at(path, "type"), f"is required (one of {kinds})")
        else:
            hint = close(kind, BENEFIT_FIELDS) if isinstance(kind, str) else None
            extra = f" (did you mean '{hint}'?)" if hint else ""
            p.add(at(path, "type"), f"must be one of {kinds}, not {shown(kind)}{extra}")
        return None
    f = Fields(p, raw, path, BENEFIT_FIELDS[kind])
    benefit: Benefit | None = None
    if kind == "order":
        value = read_value(f)
        benefit = OrderBenefit(value) if value is not None else None
    elif kind == "shipping":
        value = read_value(f)
        benefit = ShippingBenefit(value) if value is not None else None
    elif kind == "items":
        benefit = _read_items(f)
    elif kind == "tiered":
        benefit = _read_tiered(f)
    else:
        benefit = _read_buy_get(f)
    return benefit if p.clean_since(mark) else None


_EVERY_LINE = "every line"


def _read_items(f: Fields) -> ItemsBenefit | None:
    value = read_value(f)
    allocation = f.choice("allocation", Allocation, Allocation.ACROSS)
    target = f.rule("target", "line", _EVERY_LINE)
    max_quantity = f.optional_integer("max_quantity", positive=True)
    if max_quantity is not None and allocation is Allocation.ACROSS:
        f.bad("max_quantity", 'applies to allocation "each" and "once", not "across"')
    if value is None:
        return None
    return ItemsBenefit(value, allocation, target, max_quantity)


def _read_tiered(f: Fields) -> TieredBenefit | None:
    basis = f.choice("basis", Basis, Basis.SUBTOTAL)
    target = f.rule("target", "line", _EVERY_LINE)
    raw = f.array("tiers", required=True)
    if not raw and f.has("tiers"):
        f.bad("tiers", "needs at least one tier")
    tiers: list[Tier] = []
    previous: Decimal | None = None
    for i, item in enumerate(raw):
        where = at(f.where("tiers"), i)
        tf = object_fields(f.p, item, where, TIER_FIELDS, "a tier: min and a value")
        if tf is None:
            continue
        value = read_value(tf)
        currency = value.currency if isinstance(value, Amount) else None
        tier_min: Decimal | None
        if basis is Basis.QUANTITY:
            tier_min = tf.amount("min", None)
            if tier_min is not None and tier_min != tier_min.to_integral_value():
                tf.bad("min", f"a quantity tier's min is a whole number, not {tier_min}")
                tier_min = None
        else:
            tier_min = tf.amount("min", currency or f.p.default_currency)
        if tier_min is None:
            continue
        if previous is not None and tier_min <= previous:
            tf.bad("min", f"must be greater than the previous tier's min ({format(previous, 'f')})")
        previous = tier_min
        if value is not None:
            tiers.append(Tier(tier_min, value))
    return TieredBenefit(tuple(tiers), basis, target)


def _read_buy_get(f: Fields) -> BuyGetBenefit | None:
    buy = f.rule("buy", "line", "")
    get = f.rule("get", "line", "")
    for key in ("buy", "get"):
        if not f.has(key):
            f.bad(key, "is required: a rule over one cart line, e.g. \"category = 'wine'\"")
    value = read_value(f, default=Percentage(Decimal(100)))
    benefit = BuyGetBenefit(
        buy=buy,
        get=get,
        buy_quantity=f.integer("buy_quantity", 1, positive=True),
        get_quantity=f.integer("get_quantity", 1, positive=True),
        selection=f.choice("selection", Selection, Selection.CHEAPEST),
        max_applications=f.optional_integer("max_applications", positive=True),
        value=value or Percentage(Decimal(100)),
    )
    return benefit if value is not None else None


# --- price lists ------------------------------------------------------------------------


def read_price_list(p: Problems, value: Any, path: str) -> PriceList | None:
    mark = p.mark()
    f = object_fields(p, value, path, PRICE_LIST_FIELDS, "a price list")
    if f is None:
        return None
    code = f.code()
    name, description = f.string("name"), f.string("description")
    schedule = read_schedule(f)
    audience = f.rule("audience", "request", GLOBAL)
    currency = f.currency("currency")
    if not f.has("currency"):
        f.bad("currency", 'is required (an ISO 4217 code, e.g. "USD")')
    prices: list[PriceEntry] = []
    seen: dict[tuple[str, int], str] = {}
    for i, item in enumerate(f.array("prices", required=True)):
        where = at(f.where("prices"), i)
        pf = object_fields(p, item, where, PRICE_FIELDS, "a price: sku, price, min_quantity")
        if pf is None:
            continue
        sku = pf.name("sku")
        if sku is None and not pf.has("sku"):
            pf.bad("sku", "is required")
        price = pf.amount("price", currency) if currency is not None else None
        if currency is None:
            pf.required("price")
        min_quantity = pf.integer("min_quantity", 1, positive=True)
        if sku is None or price is None:
            continue
        if (sku, min_quantity) in seen:
            pf.bad(
                "sku",
                f"duplicate price for {shown(sku)} from quantity {min_quantity} "
                f"(also {seen[sku, min_quantity]})",
            )
        seen[sku, min_quantity] = where
        prices.append(PriceEntry(sku, price, min_quantity))
    if code is None or currency is None or not p.clean_since(mark):
        return None
    # entries are a set keyed by (sku, min_quantity): their order means nothing
    prices.sort(key=lambda e: (e.sku, e.min_quantity))
    return PriceList(code, currency, tuple(prices), name, description, schedule, audience)


# --- placements -------------------------------------------------------------------------


def read_placement(p: Problems, value: Any, path: str, refs: References) -> Placement | None:
    mark = p.mark()
    f = object_fields(p, value, path, PLACEMENT_FIELDS, "a placement")
    if f is None:
        return None
    code = f.code()
    name, description = f.string("name"), f.string("description")
    schedule = read_schedule(f)
    kind = f.required_choice("type", PlacementType)
    mode = f.required_choice("mode", Mode, missing_ok=True)
    max_items = f.optional_integer("max_items", positive=True)
    effective = mode if mode is not None else kind.default_mode if kind is not None else None
    if max_items is not None and effective is Mode.SINGLE:
        f.bad("max_items", "applies to multi placements only (a single placement shows one item)")
    items: list[PlacementItem] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(f.array("items")):
        where = at(f.where("items"), i)
        item = _read_item(p, raw, where, refs)
        if item is None:
            continue
        if item.code in seen:
            p.add(at(where, "code"), f"duplicate item code '{item.code}' (also {seen[item.code]})")
        seen[item.code] = at(where, "code")
        items.append(item)
    if code is None or kind is None or not p.clean_since(mark):
        return None
    # items keep their document order (the order they are shown in is priority, then code)
    return Placement(code, kind, tuple(items), name, description, mode, max_items, schedule)


def _read_item(p: Problems, value: Any, path: str, refs: References) -> PlacementItem | None:
    mark = p.mark()
    f = object_fields(p, value, path, ITEM_FIELDS, "a placement item")
    if f is None:
        return None
    code = f.code()
    name, description = f.string("name"), f.string("description")
    schedule = read_schedule(f)
    audience = f.rule("audience", "request", GLOBAL)
    when_near = _reference(f, "when_near", refs.promotions, "promotion")
    if when_near is not None and refs.triggers.get(when_near) == Trigger.CODE.value:
        f.bad(
            "when_near",
            f"promotion '{when_near}' is triggered by codes; only automatic promotions are "
            "near misses",
        )
    content: dict[str, Any] = {}
    raw = f.object("content", required=True)
    if raw is not None:
        content = read_content(p, raw, f.where("content"))
    if code is None or not p.clean_since(mark):
        return None
    return PlacementItem(
        code=code,
        content=content,
        name=name,
        description=description,
        schedule=schedule,
        audience=audience,
        when_near=when_near,
    )


def read_content(p: Problems, raw: Mapping[str, Any], path: str) -> dict[str, Any]:
    """A copy of a JSON object, refusing what JSON cannot carry (YAML dates, NaN)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            p.add(path, f"keys must be strings, not {shown(key)}")
            continue
        out[key] = _content_value(p, value, at(path, key))
    return out


def _content_value(p: Problems, value: Any, path: str) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            p.add(path, f"{value} is not a JSON number")
        return value
    if isinstance(value, Mapping):
        return read_content(p, value, path)
    if isinstance(value, (list, tuple)):
        return [_content_value(p, v, at(path, i)) for i, v in enumerate(value)]
    if isinstance(value, (dt.date, dt.datetime)):
        p.add(path, f'write dates in content as strings, e.g. "{value.isoformat()}"')
        return None
    p.add(path, f"{shown(value)} is not a JSON value")
    return None


# --- accounts ---------------------------------------------------------------------------


def read_account(p: Problems, value: Any, path: str) -> AccountPortal | None:
    mark = p.mark()
    f = object_fields(p, value, path, ACCOUNT_FIELDS, "an account: id and portal")
    if f is None:
        return None
    account = f.name("id")
    if account is None and not f.has("id"):
        f.bad("id", "is required")
    global_promotions, auto = True, None
    raw = f.object("portal")
    if raw is not None:
        pf = Fields(p, raw, f.where("portal"), PORTAL_FIELDS)
        global_promotions = pf.boolean("global_promotions", True)
        discount = pf.object("auto_discount")
        if discount is not None:
            df = Fields(p, discount, pf.where("auto_discount"), AUTO_DISCOUNT_FIELDS)
            value_ = read_value(df)
            priority = df.integer("priority", 0)
            auto = AutoDiscount(value_, priority) if value_ is not None else None
    if account is None or not p.clean_since(mark):
        return None
    return AccountPortal(account, global_promotions, auto)
