"""Writing levers back as the document's JSON (the export, TARGETING.md §1).

Every field is written, defaults included (``null`` for what is absent), in a fixed key
order, so an export is self-describing and two equal levers write the same bytes.
Amounts are decimal strings as read (a read amount carries exactly its currency's
digits), instants UTC with ``Z``, rules the text as written.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

from segmint.targeting.model import (
    AccountPortal,
    Benefit,
    Budget,
    BuyGetBenefit,
    Campaign,
    ItemsBenefit,
    Lever,
    LeverKind,
    OrderBenefit,
    Percentage,
    Placement,
    PlacementItem,
    PriceList,
    Promotion,
    Schedule,
    ShippingBenefit,
    TargetingDocument,
    TieredBenefit,
    Value,
    key_of,
)


def write_document(doc: TargetingDocument) -> dict[str, Any]:
    """The whole catalog as one JSON-able document, every kind listed (sorted by code)."""
    return {
        LeverKind.CAMPAIGN.value: _sorted(doc.campaigns),
        LeverKind.PROMOTION.value: _sorted(doc.promotions),
        LeverKind.PRICE_LIST.value: _sorted(doc.price_lists),
        LeverKind.PLACEMENT.value: _sorted(doc.placements),
        LeverKind.ACCOUNT.value: _sorted(doc.accounts),
    }


def _sorted(levers: tuple[Lever, ...]) -> list[dict[str, Any]]:
    return [lever_to_data(lever) for lever in sorted(levers, key=key_of)]


def lever_to_data(lever: Lever) -> dict[str, Any]:
    """One lever as the document writes it (what ``GET /v1/promotions/{code}`` returns)."""
    match lever:
        case Campaign():
            return {
                **_head(lever.code, lever.name, lever.description, lever.schedule),
                "budget": _budget(lever.budget),
            }
        case Promotion():
            return _promotion(lever)
        case PriceList():
            return {
                **_head(lever.code, lever.name, lever.description, lever.schedule),
                "audience": lever.audience,
                "currency": lever.currency,
                "prices": [
                    {"sku": e.sku, "price": decimal_text(e.price), "min_quantity": e.min_quantity}
                    for e in lever.prices
                ],
            }
        case Placement():
            return {
                **_head(lever.code, lever.name, lever.description, lever.schedule),
                "type": lever.type.value,
                "mode": lever.mode.value if lever.mode is not None else None,
                "max_items": lever.max_items,
                "items": [_item(item) for item in lever.items],
            }
        case AccountPortal():
            auto = lever.auto_discount
            return {
                "id": lever.id,
                "portal": {
                    "global_promotions": lever.global_promotions,
                    "auto_discount": (
                        {**_value(auto.value), "priority": auto.priority} if auto else None
                    ),
                },
            }
    raise TypeError(f"not a lever: {type(lever).__name__}")


def decimal_text(value: Decimal) -> str:
    """A decimal as JSON carries it: plain digits, never an exponent."""
    return format(value, "f")


def instant_text(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _head(code: str, name: str, description: str, schedule: Schedule) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "description": description,
        "active": schedule.active,
        "starts_at": instant_text(schedule.starts_at),
        "ends_at": instant_text(schedule.ends_at),
        "stores": list(schedule.stores),
        "priority": schedule.priority,
    }


def _budget(budget: Budget | None) -> dict[str, Any] | None:
    if budget is None:
        return None
    return {
        "spend": decimal_text(budget.spend) if budget.spend is not None else None,
        "currency": budget.currency,
        "usage": budget.usage,
    }


def _promotion(lever: Promotion) -> dict[str, Any]:
    return {
        **_head(lever.code, lever.name, lever.description, lever.schedule),
        "audience": lever.audience,
        "trigger": lever.trigger.value,
        "codes": list(lever.codes),
        "condition": lever.condition,
        "benefit": benefit_to_data(lever.benefit),
        "exclusive": lever.exclusive,
        "stop_further": lever.stop_further,
        "best_of": lever.best_of,
        "campaign": lever.campaign,
        "usage_limit": lever.usage_limit,
        "per_customer_limit": lever.per_customer_limit,
        "release_on_cancel": lever.release_on_cancel,
        "message": lever.message,
    }


def _value(value: Value) -> dict[str, Any]:
    if isinstance(value, Percentage):
        return {"percentage": decimal_text(value.percentage)}
    return {"amount": decimal_text(value.amount), "currency": value.currency}


def benefit_to_data(benefit: Benefit) -> dict[str, Any]:
    match benefit:
        case OrderBenefit() | ShippingBenefit():
            return {"type": benefit.type, **_value(benefit.value)}
        case ItemsBenefit():
            return {
                "type": benefit.type,
                "allocation": benefit.allocation.value,
                "target": benefit.target,
                "max_quantity": benefit.max_quantity,
                **_value(benefit.value),
            }
        case TieredBenefit():
            return {
                "type": benefit.type,
                "basis": benefit.basis.value,
                "target": benefit.target,
                "tiers": [{"min": decimal_text(t.min), **_value(t.value)} for t in benefit.tiers],
            }
        case BuyGetBenefit():
            return {
                "type": benefit.type,
                "buy": benefit.buy,
                "buy_quantity": benefit.buy_quantity,
                "get": benefit.get,
                "get_quantity": benefit.get_quantity,
                "selection": benefit.selection.value,
                "max_applications": benefit.max_applications,
                **_value(benefit.value),
            }
    raise TypeError(f"not a benefit: {type(benefit).__name__}")


def _item(item: PlacementItem) -> dict[str, Any]:
    return {
        **_head(item.code, item.name, item.description, item.schedule),
        "audience": item.audience,
        "when_near": item.when_near,
        "content": copy.deepcopy(item.content),
    }
