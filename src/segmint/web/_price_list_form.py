"""The price-list form (TARGETING.md §3.2): a price list from the submitted fields, the
fields from a stored one, and where each problem's JSON path goes.

Prices are a textarea of CSV lines ``sku,price,min_quantity`` (read with the csv module,
so a sku may be quoted; ``min_quantity`` may be left out: 1). A first line
``sku,price,min_quantity`` is a header and skipped; empty lines are skipped. A problem
with ``prices[3]`` is shown with the textarea line it came from.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from segmint.web._forms import Form
from segmint.web._lever_form import (
    LEVER_FIELDS,
    LeverErrors,
    field_head,
    integer,
    named,
    read_schedule,
    schedule_values,
)

__all__ = [
    "SubmittedPriceList",
    "price_list_errors",
    "price_list_from_form",
    "stored_values",
    "submitted_values",
]

_TOP = (*LEVER_FIELDS, "currency", "prices")
HEADER = ["sku", "price", "min_quantity"]


def _field_of(path: str) -> str | None:
    head = field_head(path)
    return head if head in _TOP else None


def price_list_errors(lines: list[int] | None = None) -> LeverErrors:
    return LeverErrors(_field_of, {"prices": lines or []})


@dataclass(frozen=True)
class SubmittedPriceList:
    data: dict[str, Any]
    lines: list[int]  # the textarea line of each price
    problems: list[tuple[str, str]]


def _prices(text: str) -> tuple[list[dict[str, Any]], list[int], list[tuple[str, str]]]:
    prices: list[dict[str, Any]] = []
    lines: list[int] = []
    problems: list[tuple[str, str]] = []
    rows = csv.reader(io.StringIO(text))
    for row in rows:
        number = rows.line_num
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if not prices and [c.lower() for c in cells] == HEADER:
            continue
        index = len(prices)
        lines.append(number)
        if not 2 <= len(cells) <= 3:
            problems.append(
                (f"prices[{index}]", f"write sku,price,min_quantity (got {len(cells)} values)")
            )
            prices.append({})
            continue
        entry: dict[str, Any] = {"sku": cells[0] or None, "price": cells[1] or None}
        quantity = integer(cells[2]) if len(cells) == 3 else None
        if quantity is not None:
            entry["min_quantity"] = quantity
        prices.append(entry)
    return prices, lines, problems


def price_list_from_form(form: Form, code: str | None = None) -> SubmittedPriceList:
    values = form.fields
    data = named(values, code)
    read_schedule(dict(values), data)
    audience = values.get("audience", "")
    data["audience"] = audience if audience.strip() else None
    currency = values.get("currency", "").strip().upper()
    data["currency"] = currency or None
    data["prices"], lines, problems = _prices(values.get("prices", ""))
    return SubmittedPriceList(data, lines, problems)


def _csv_text(prices: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for entry in prices:
        writer.writerow([entry["sku"], entry["price"], entry.get("min_quantity", 1)])
    return out.getvalue()


def stored_values(data: dict[str, Any] | None) -> dict[str, str]:
    if data is None:
        return {"active": "on", "currency": "", "prices": ""}
    return {
        "code": data["code"],
        "name": data.get("name") or "",
        "description": data.get("description") or "",
        **schedule_values(data),
        "audience": data.get("audience") or "",
        "currency": data.get("currency") or "",
        "prices": _csv_text(list(data.get("prices") or ())),
    }


def submitted_values(form: Form) -> dict[str, str]:
    values = dict(form.fields)
    values.setdefault("active", "")
    return values
