"""Submitted forms: reading them, the segment definition the builder form describes, the
builder's field values, and what is wrong with a submitted definition."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from segmint.errors import RuleError, SegmintError
from segmint.model.segment import DefinitionError, PurchaseRequirements, SegmentDefinition


@dataclass(frozen=True)
class Form:
    """A submitted form: text fields and uploaded files' contents."""

    fields: dict[str, str]
    files: dict[str, tuple[str, bytes]]

    def get(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default)


async def read_form(request: Request) -> Form:
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    if request.method == "POST":
        data = await request.form()
        for key, value in data.multi_items():
            if isinstance(value, UploadFile):
                content = await value.read()
                if content:
                    files[key] = (value.filename or "", content)
            else:
                fields.setdefault(key, value)
    return Form(fields, files)


# ---- builder: definition from a form -----------------------------------------------------


@dataclass
class FormErrors:
    """What is wrong with a submitted definition: per field, and a positioned rule error."""

    fields: dict[str, str]
    rule: dict[str, object] | None = None
    general: str | None = None

    def __bool__(self) -> bool:
        return bool(self.fields or self.rule or self.general)


def _opt(form: Form, key: str) -> str | None:
    value = form.get(key).strip()
    return value or None


def _purchase(form: Form) -> PurchaseRequirements:
    raw_spend = form.get("min_spend").strip() or "0"
    try:
        spend = Decimal(raw_spend)
    except InvalidOperation:
        raise DefinitionError("min_spend", f"{raw_spend!r} is not a number") from None
    window = form.get("window", "last_days")
    last_days: int | None = None
    date_from = date_to = None
    if window == "last_days":
        raw_days = form.get("last_days").strip()
        try:
            last_days = int(raw_days) if raw_days else None
        except ValueError:
            raise DefinitionError("last_days", f"{raw_days!r} is not a whole number") from None
    else:
        for key in ("date_from", "date_to"):
            raw = form.get(key).strip()
            try:
                value = dt.date.fromisoformat(raw) if raw else None
            except ValueError:
                raise DefinitionError(key, f"{raw!r} is not a date (YYYY-MM-DD)") from None
            if key == "date_from":
                date_from = value
            else:
                date_to = value
    item_field = _opt(form, "item_field")
    item_value = _opt(form, "item_value")
    items = _opt(form, "items")
    if item_value is None:
        item_field = None
    return PurchaseRequirements(
        min_spend=spend,
        last_days=last_days,
        date_from=date_from,
        date_to=date_to,
        item_field=item_field,
        item_value=item_value,
        items=items,
    )


def definition_from_form(form: Form, base: SegmentDefinition | None = None) -> SegmentDefinition:
    """A definition from the builder form (raises DefinitionError naming the field).
    For an edit, fields the form does not show (dates, stores) keep their values."""
    kind = form.get("kind", "rule")
    rule_text = form.get("rule_text") if kind in ("rule", "realtime") else None
    purchase = _purchase(form) if kind == "purchase" else None
    fields: dict[str, Any] = {
        "code": base.code if base else form.get("code").strip(),
        "name": form.get("name"),
        "kind": kind,
        "description": _opt(form, "description"),
        "user_group": _opt(form, "user_group"),
        "active": form.get("active", "") == "on" if "active_shown" in form.fields else True,
        "rule_text": rule_text if rule_text is None or rule_text.strip() else None,
        "purchase": purchase,
    }
    if base is not None:
        return base.with_changes(**fields)
    return SegmentDefinition(**fields)


def form_values(definition: SegmentDefinition | None, form: Form | None = None) -> dict[str, str]:
    """The builder's field values: the submitted form, else a stored definition."""
    if form is not None:
        values = dict(form.fields)
        values.setdefault("active", "")
        return values
    if definition is None:
        return {"kind": "rule", "window": "last_days", "last_days": "90", "active": "on"}
    p = definition.purchase
    values = {
        "code": definition.code,
        "name": definition.name,
        "kind": definition.kind.value,
        "description": definition.description or "",
        "user_group": definition.user_group or "",
        "active": "on" if definition.active else "",
        "rule_text": definition.rule_text or "",
        "window": "last_days",
    }
    if p is not None:
        values.update(
            min_spend=format(p.min_spend, "f"),
            window="last_days" if p.last_days is not None else "dates",
            last_days=str(p.last_days or ""),
            date_from=p.date_from.isoformat() if p.date_from else "",
            date_to=p.date_to.isoformat() if p.date_to else "",
            item_field=p.item_field or "",
            item_value=p.item_value or "",
            items=p.items or "",
        )
    return values


def form_errors(error: SegmintError) -> FormErrors:
    if isinstance(error, RuleError):
        return FormErrors({}, rule_error(error))
    if isinstance(error, DefinitionError):
        return FormErrors({error.field: str(error)})
    return FormErrors({}, None, str(error))


def rule_error(error: RuleError) -> dict[str, object]:
    """A positioned rule error for the templates: its fields and the caret excerpt."""
    data = error.to_dict()
    rendered = str(data["rendered"])
    data["excerpt"] = "\n".join(rendered.splitlines()[1:])
    return data
