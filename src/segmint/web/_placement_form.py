"""The placement form: a placement and its items from the submitted fields (as the lever
document writes them), the form's values from a stored placement, and every problem —
the form's own (content that is not JSON) and the document reader's, whose JSON paths
(``items[2].audience``) are placed next to the field they name.

Item fields are named ``item-<row>-<field>``; ``item_count`` says how many rows the form
has. A row left entirely empty, or marked for removal, is not part of the placement.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from segmint.errors import RuleError
from segmint.web._forms import Form, rule_error
from segmint.web._lever_form import (
    SCHEDULE_FIELDS,
    integer,
    named,
    read_schedule,
    schedule_values,
)

PLACEMENT_FIELDS = ("code", "name", "description", "type", "mode", "max_items")
ITEM_FIELDS = ("code", "name", "description", "audience", "when_near", "content")
#: What a new row of the form holds.
BLANK_ITEM = {"active": "on", "content": ""}
#: Most rows one form takes (a placement with more items is edited as a document).
MAX_ROWS = 200

_ITEM_PATH = re.compile(r"^items\[(\d+)\](?:\.([A-Za-z_]+))?")
_TOP_PATH = re.compile(r"^([A-Za-z_]+)")


@dataclass
class PlacementErrors:
    """Problems by field: ``fields`` for the placement's own, ``items[row][field]`` for an
    item's, ``rules[row]`` a positioned audience error; ``general`` the rest."""

    fields: dict[str, str] = field(default_factory=dict)
    items: dict[int, dict[str, str]] = field(default_factory=dict)
    rules: dict[int, dict[str, object]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.items or self.rules or self.general)

    def item(self, row: int, name: str) -> str | None:
        return self.items.get(row, {}).get(name)

    def add(self, path: str, message: str, rows: list[int]) -> None:
        """Place a problem by its JSON path; ``rows[i]`` is the form row of ``items[i]``."""
        found = _ITEM_PATH.match(path)
        if found:
            index, name = int(found.group(1)), found.group(2) or "code"
            if index < len(rows):
                own = self.items.setdefault(rows[index], {})
                detail = path[found.end() :].lstrip(".")
                text = f"{detail}: {message}" if detail and name == "content" else message
                own[name] = f"{own[name]}; {text}" if name in own else text
                return
        top = _TOP_PATH.match(path)
        if top and top.group(1) in (*PLACEMENT_FIELDS, *SCHEDULE_FIELDS):
            name = top.group(1)
            text = message if path == name else f"{path}: {message}"
            self.fields[name] = f"{self.fields[name]}; {text}" if name in self.fields else text
            return
        self.general.append(f"{path}: {message}" if path not in ("", "$") else message)

    def add_rule(self, path: str, error: RuleError, rows: list[int]) -> None:
        found = _ITEM_PATH.match(path)
        if found and found.group(2) == "audience" and int(found.group(1)) < len(rows):
            self.rules[rows[int(found.group(1))]] = rule_error(error)


# ---- from the form -----------------------------------------------------------------------


def row_count(form: Form) -> int:
    """How many item rows the form says it has (more than :data:`MAX_ROWS` is refused
    by the page before reading them)."""
    raw = form.get("item_count")
    return min(int(raw), MAX_ROWS + 1) if raw.isdigit() else 0


def form_rows(form: Form) -> list[dict[str, str]]:
    """The item rows as submitted (every row, empty and removed ones too)."""
    rows = []
    for row in range(row_count(form)):
        prefix = f"item-{row}-"
        rows.append(
            {k.removeprefix(prefix): v for k, v in form.fields.items() if k.startswith(prefix)}
        )
    return rows


def _blank(values: dict[str, str]) -> bool:
    return not any(
        values.get(name, "").strip()
        for name in (*ITEM_FIELDS, "starts_at", "ends_at", "stores", "priority")
    )


def _content(text: str) -> tuple[Any, str | None]:
    """The content textarea: a JSON object, or the problem with it."""
    if not text.strip():
        return None, None  # the reader says it is required
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return {}, f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
    if not isinstance(value, dict):
        kind = "a list" if isinstance(value, list) else "not an object"
        return {}, f'must be a JSON object ({{"title": "…"}}), not {kind}'
    return value, None


@dataclass(frozen=True)
class SubmittedPlacement:
    data: dict[str, Any]  # the placement as the lever document writes it
    rows: list[int]  # rows[i]: the form row of data["items"][i]
    problems: list[tuple[str, str]]  # the form's own, by JSON path


def placement_from_form(form: Form, code: str | None = None) -> SubmittedPlacement:
    """The placement the form describes (``code``: the one being edited)."""
    values = form.fields
    data = named(values, code)
    data["type"] = values.get("type", "").strip() or None
    if values.get("mode", "").strip():
        data["mode"] = values["mode"].strip()
    max_items = integer(values.get("max_items", ""))
    if max_items is not None:
        data["max_items"] = max_items
    read_schedule(dict(values), data)
    items: list[dict[str, Any]] = []
    rows: list[int] = []
    problems: list[tuple[str, str]] = []
    for row, item_values in enumerate(form_rows(form)):
        if item_values.get("remove") == "on" or _blank(item_values):
            continue
        item = named(item_values, None)
        audience = item_values.get("audience", "")
        item["audience"] = audience if audience.strip() else None  # empty: GLOBAL
        if item_values.get("when_near", "").strip():
            item["when_near"] = item_values["when_near"].strip()
        read_schedule(item_values, item)
        content, problem = _content(item_values.get("content", ""))
        item["content"] = content
        if problem:
            problems.append((f"items[{len(items)}].content", problem))
        items.append(item)
        rows.append(row)
    data["items"] = items
    return SubmittedPlacement(data, rows, problems)


# ---- to the form -------------------------------------------------------------------------


def stored_values(data: dict[str, Any] | None) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The form's values (placement, item rows) for a stored placement, or a new one."""
    if data is None:
        return {"active": "on", "type": "news_feed"}, [dict(BLANK_ITEM)]
    values = {
        "code": data["code"],
        "name": data.get("name") or "",
        "description": data.get("description") or "",
        "type": data.get("type") or "",
        "mode": data.get("mode") or "",
        "max_items": "" if data.get("max_items") is None else str(data["max_items"]),
        **schedule_values(data),
    }
    rows = []
    for item in data.get("items") or ():
        rows.append(
            {
                "code": item["code"],
                "name": item.get("name") or "",
                "description": item.get("description") or "",
                "audience": item.get("audience") or "",
                "when_near": item.get("when_near") or "",
                "content": json.dumps(item.get("content", {}), indent=2, ensure_ascii=False),
                **schedule_values(item),
            }
        )
    return values, rows


def submitted_values(form: Form) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The form's values as submitted (an unchecked box is absent: not active)."""
    values = {k: v for k, v in form.fields.items() if not k.startswith("item-")}
    values.setdefault("active", "")
    rows = []
    for row in form_rows(form):
        row.setdefault("active", "")
        rows.append(row)
    return values, rows
