"""The promotion form (TARGETING.md §4): a promotion, as the lever document writes it,
from the submitted fields; the fields from a stored promotion; where each problem's
JSON path goes in the form; and a benefit said in words for the list and the page.

The benefit has one field per document field (``allocation``, ``target``, ``buy``, …);
only those of the chosen ``benefit_type`` are sent, so a field of another type left
filled in never makes the reader refuse an "unknown field". The value is
``value_kind`` (percentage or amount), ``value`` and an optional ``currency``. Tiers are
a textarea of lines ``min, value`` where the value is ``5%``, ``5.00`` or ``5.00 EUR``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from segmint.targeting.document import RuleScope
from segmint.web._forms import Form
from segmint.web._lever_form import (
    LEVER_FIELDS,
    LeverErrors,
    field_head,
    integer,
    named,
    read_schedule,
    schedule_values,
    split_list,
)

__all__ = [
    "BENEFIT_TYPES",
    "RULE_FIELDS",
    "SubmittedPromotion",
    "benefit_words",
    "promotion_errors",
    "promotion_from_form",
    "stored_values",
    "submitted_values",
]

BENEFIT_TYPES = ("order", "items", "tiered", "buy_get", "shipping")
#: The fields each benefit type sends (besides its value, for those in VALUED).
BENEFIT_PARTS: dict[str, tuple[str, ...]] = {
    "order": (),
    "items": ("allocation", "target", "max_quantity"),
    "tiered": ("basis", "target"),
    "buy_get": ("buy", "buy_quantity", "get", "get_quantity", "selection", "max_applications"),
    "shipping": (),
}
VALUED = ("order", "items", "buy_get", "shipping")
_INTEGERS = ("max_quantity", "buy_quantity", "get_quantity", "max_applications")
#: Rule fields of the form -> the scope they are checked in (live and on save).
RULE_FIELDS: dict[str, RuleScope] = {
    "audience": "request",
    "condition": "request",
    "target": "line",
    "buy": "line",
    "get": "line",
}
_TOP = (
    *LEVER_FIELDS,
    "trigger",
    "condition",
    "exclusive",
    "stop_further",
    "best_of",
    "campaign",
    "usage_limit",
    "per_customer_limit",
    "release_on_cancel",
    "message",
)


def _field_of(path: str) -> str | None:
    """The form field a promotion's JSON path names."""
    name = field_head(path)
    if name is None:
        return None
    if name in _TOP:
        return name
    if name == "codes":
        return "codes"
    if name != "benefit":
        return None
    rest = path[len("benefit") :]
    if rest == "":
        return "value"  # 'needs a value: "percentage" or "amount"'
    part = re.match(r"^\.([A-Za-z_]+)", rest)
    if part is None:
        return "benefit_type"
    key = part.group(1)
    if key == "type":
        return "benefit_type"
    if key in ("percentage", "amount"):
        return "value"
    if key in ("currency", "tiers"):
        return key
    return key if any(key in parts for parts in BENEFIT_PARTS.values()) else "benefit_type"


def promotion_errors(tier_lines: list[int] | None = None) -> LeverErrors:
    return LeverErrors(_field_of, {"benefit.tiers": tier_lines or []})


# ---- from the form -----------------------------------------------------------------------


def _value(values: dict[str, str], into: dict[str, Any]) -> None:
    text = values.get("value", "").strip()
    if not text:
        return  # a buy_get defaults to 100 %; the others need one (the reader says so)
    if values.get("value_kind") == "amount":
        into["amount"] = text
        currency = values.get("currency", "").strip()
        if currency:
            into["currency"] = currency.upper()
    else:
        into["percentage"] = text.removesuffix("%").strip()


def _tier_value(text: str) -> dict[str, Any]:
    text = text.strip()
    if text.endswith("%"):
        return {"percentage": text.removesuffix("%").strip()}
    amount, _, currency = text.partition(" ")
    out: dict[str, Any] = {"amount": amount}
    if currency.strip():
        out["currency"] = currency.strip().upper()
    return out


def _tiers(text: str) -> tuple[list[Any], list[int], list[tuple[str, str]]]:
    """Tiers from ``min, value`` lines: the tiers, each one's line, the form's problems."""
    tiers: list[Any] = []
    lines: list[int] = []
    problems: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        index = len(tiers)
        lines.append(number)
        if len(parts) != 2 or not all(parts):
            problems.append(
                (f"benefit.tiers[{index}]", "write min, value (e.g. 100, 5% or 100, 5.00)")
            )
            tiers.append({})
            continue
        tiers.append({"min": parts[0], **_tier_value(parts[1])})
    return tiers, lines, problems


@dataclass(frozen=True)
class SubmittedPromotion:
    data: dict[str, Any]  # the promotion as the lever document writes it
    tier_lines: list[int]  # the textarea line of each tier
    problems: list[tuple[str, str]]  # the form's own, by JSON path


def promotion_from_form(form: Form, code: str | None = None) -> SubmittedPromotion:
    """The promotion the form describes (``code``: the one being edited)."""
    values = form.fields
    data = named(values, code)
    read_schedule(dict(values), data)
    for name in ("audience", "condition"):
        text = values.get(name, "")
        data[name] = text if text.strip() else None  # empty: GLOBAL / always
    trigger = values.get("trigger", "automatic").strip() or "automatic"
    data["trigger"] = trigger
    codes = split_list(values.get("codes", "")) if trigger == "code" else []  # hidden else
    if codes:
        data["codes"] = codes
    kind = values.get("benefit_type", "").strip()
    benefit: dict[str, Any] = {"type": kind or None}
    tier_lines: list[int] = []
    problems: list[tuple[str, str]] = []
    for part in BENEFIT_PARTS.get(kind, ()):
        text = values.get(part, "")
        if part in _INTEGERS:
            number = integer(text)
            if number is not None:
                benefit[part] = number
        elif text.strip():
            benefit[part] = text if part in RULE_FIELDS else text.strip()
    if kind in VALUED:
        _value(dict(values), benefit)
    if kind == "tiered":
        benefit["tiers"], tier_lines, problems = _tiers(values.get("tiers", ""))
    data["benefit"] = benefit
    for name in ("exclusive", "stop_further", "release_on_cancel"):
        data[name] = values.get(name) == "on"
    for name in ("best_of", "campaign", "message"):
        if values.get(name, "").strip():
            data[name] = values[name].strip()
    for name in ("usage_limit", "per_customer_limit"):
        number = integer(values.get(name, ""))
        if number is not None:
            data[name] = number
    return SubmittedPromotion(data, tier_lines, problems)


# ---- to the form -------------------------------------------------------------------------


def _value_text(value: dict[str, Any]) -> str:
    if value.get("percentage") is not None:
        return f"{value['percentage']}%"
    currency = f" {value['currency']}" if value.get("currency") else ""
    return f"{value.get('amount')}{currency}"


def stored_values(data: dict[str, Any] | None) -> dict[str, str]:
    """The form's values for a stored promotion, or a new one."""
    if data is None:
        return {
            "active": "on",
            "trigger": "automatic",
            "benefit_type": "order",
            "value_kind": "percentage",
            "allocation": "across",
            "basis": "subtotal",
            "selection": "cheapest",
            "release_on_cancel": "on",
        }
    benefit = dict(data.get("benefit") or {})
    values: dict[str, str] = {
        "code": data["code"],
        "name": data.get("name") or "",
        "description": data.get("description") or "",
        **schedule_values(data),
        "audience": data.get("audience") or "",
        "condition": data.get("condition") or "",
        "trigger": data.get("trigger") or "automatic",
        "codes": "\n".join(data.get("codes") or ()),
        "benefit_type": str(benefit.get("type") or ""),
        "value_kind": "amount" if benefit.get("amount") is not None else "percentage",
        "value": str(benefit.get("percentage") or benefit.get("amount") or ""),
        "currency": str(benefit.get("currency") or ""),
        "allocation": str(benefit.get("allocation") or "across"),
        "basis": str(benefit.get("basis") or "subtotal"),
        "selection": str(benefit.get("selection") or "cheapest"),
        "tiers": "\n".join(
            f"{t['min']}, {_value_text(t)}" for t in benefit.get("tiers") or () if "min" in t
        ),
    }
    for part in ("target", "buy", "get", *_INTEGERS):
        values[part] = "" if benefit.get(part) is None else str(benefit[part])
    for name in ("exclusive", "stop_further", "release_on_cancel"):
        values[name] = "on" if data.get(name, name == "release_on_cancel") else ""
    for name in ("best_of", "campaign", "message", "usage_limit", "per_customer_limit"):
        values[name] = "" if data.get(name) is None else str(data[name])
    return values


def submitted_values(form: Form) -> dict[str, str]:
    """The values as submitted (an unchecked box is absent: off)."""
    values = dict(form.fields)
    for name in ("active", "exclusive", "stop_further", "release_on_cancel"):
        values.setdefault(name, "")
    return values


# ---- in words ----------------------------------------------------------------------------


def _off(value: dict[str, Any]) -> str:
    if value.get("percentage") is not None:
        return f"{value['percentage']}%"
    if value.get("currency"):
        return f"{value.get('amount')} {value['currency']}"
    return str(value.get("amount"))


def _only(value: dict[str, Any]) -> str:
    return f" ({value['currency']} carts only)" if value.get("currency") else ""


def _lines(target: Any) -> str:
    return f"lines where {target}" if target else "every line"


def benefit_words(benefit: dict[str, Any]) -> str:
    """What a benefit gives, in a merchant's words (rules quoted as written)."""
    kind = benefit.get("type")
    off, only = _off(benefit), _only(benefit)
    if kind == "order":
        return f"{off} off the order{only}"
    if kind == "shipping":
        if benefit.get("percentage") is not None and Decimal(benefit["percentage"]) == 100:
            return "free shipping"
        return f"{off} off shipping{only}"
    if kind == "items":
        lines = _lines(benefit.get("target"))
        cap = benefit.get("max_quantity")
        if benefit.get("allocation") == "each":
            most = f" (at most {cap} per line)" if cap else ""
            return f"{off} off each unit of {lines}{most}{only}"
        if benefit.get("allocation") == "once":
            units = f"the {cap} cheapest units" if cap and cap > 1 else "the cheapest unit"
            return f"{off} off {units} among {lines}{only}"
        if benefit.get("percentage") is not None:
            return f"{off} off {lines}"
        return f"{off} shared over {lines}{only}"
    if kind == "tiered":
        basis = "quantity" if benefit.get("basis") == "quantity" else "subtotal"
        steps = "; ".join(f"from {t.get('min')}: {_off(t)} off" for t in benefit.get("tiers") or ())
        return f"buy more, save more on the {basis} of {_lines(benefit.get('target'))}: {steps}"
    if kind == "buy_get":
        times = benefit.get("max_applications")
        most = f", at most {times} times" if times else ""
        which = "most expensive" if benefit.get("selection") == "most_expensive" else "cheapest"
        return (
            f"buy {benefit.get('buy_quantity') or 1} of {benefit.get('buy')}, get "
            f"{benefit.get('get_quantity') or 1} of {benefit.get('get')} at {off} off "
            f"({which} first{most}){only}"
        )
    return str(kind)
