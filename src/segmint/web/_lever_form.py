"""What the lever forms share: the code, name and description, the lever fields (active,
dates, stores, priority) read from and written to a form (the placement form's items
too), instants and integers passed on for the document reader to refuse, and (for the
promotion and price-list forms) :class:`LeverErrors`, which places each problem of the document
reader next to the form field its JSON path names, with that path
(``benefit.percentage: must be between 0 and 100``).

The lever paths are those of :func:`segmint.services.levers.put_lever` (a lever's own
fields: ``benefit.tiers[1].min``, ``prices[3].price``). A list written in a textarea
(tiers, prices) keeps, per list index, the textarea line it came from, so the message
can say which line is wrong.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from segmint.errors import RuleError
from segmint.web._forms import rule_error

__all__ = [
    "LEVER_FIELDS",
    "SCHEDULE_FIELDS",
    "LeverErrors",
    "field_head",
    "instant_text",
    "integer",
    "named",
    "read_schedule",
    "schedule_values",
    "split_list",
]

SCHEDULE_FIELDS = ("active", "starts_at", "ends_at", "stores", "priority")
#: The form fields of the promotion and price-list forms that are the lever's own.
LEVER_FIELDS = ("code", "name", "description", *SCHEDULE_FIELDS, "audience")
_HEAD = re.compile(r"^[A-Za-z_]+")

_INDEXED = re.compile(r"^(?P<list>[A-Za-z_.]+)\[(?P<index>\d+)\](?P<rest>.*)$")


def field_head(path: str) -> str | None:
    """The first name of a JSON path (``benefit`` of ``benefit.tiers[1]``), if any."""
    head = _HEAD.match(path)
    return head.group(0) if head else None


def named(values: dict[str, str], code: str | None) -> dict[str, Any]:
    """The code (``code``: the one being edited, else the form's), and the name and
    description when filled in."""
    data: dict[str, Any] = {"code": code if code is not None else values.get("code", "").strip()}
    for name in ("name", "description"):
        if values.get(name, "").strip():
            data[name] = values[name].strip()
    return data


def instant_text(text: str) -> str | None:
    """An instant typed in a form: as written when it has a zone; a date or a time
    without zone is read as UTC (the label says so). Text that is no instant at all is
    passed on for the document reader to refuse, naming the field."""
    text = text.strip()
    if not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def integer(text: str) -> int | str | None:
    """An integer field: absent when empty; other text is passed on (the reader refuses
    it, naming the field)."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def split_list(text: str) -> list[str]:
    """Commas or new lines between items (stores, promo codes)."""
    return [s.strip() for s in re.split(r"[,\n]", text) if s.strip()]


def read_schedule(values: dict[str, str], into: dict[str, Any]) -> None:
    """The lever fields from the form: an unchecked box is ``active: false``; an
    instant without a zone (or a date alone) is UTC."""
    into["active"] = values.get("active") == "on"
    for name in ("starts_at", "ends_at"):
        instant = instant_text(values.get(name, ""))
        if instant is not None:
            into[name] = instant
    stores = split_list(values.get("stores", ""))
    if stores:
        into["stores"] = stores
    priority = integer(values.get("priority", ""))
    if priority is not None:
        into["priority"] = priority


def schedule_values(data: dict[str, Any]) -> dict[str, str]:
    return {
        "active": "on" if data.get("active", True) else "",
        "starts_at": data.get("starts_at") or "",
        "ends_at": data.get("ends_at") or "",
        "stores": ", ".join(data.get("stores") or ()),
        "priority": "" if not data.get("priority") else str(data["priority"]),
    }


@dataclass
class LeverErrors:
    """Problems by form field (each message with its lever path), positioned rule errors
    by form field, and ``general`` for what no field names.

    ``field_of(path)`` names the form field of a lever path (None: general); ``lines``
    maps a list's path (``benefit.tiers``) to the textarea line of each of its items."""

    field_of: Callable[[str], str | None]
    lines: dict[str, list[int]] = field(default_factory=dict)
    fields: dict[str, list[str]] = field(default_factory=dict)
    rules: dict[str, dict[str, object]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.rules or self.general)

    def get(self, name: str) -> str:
        """The messages of one field, as one line (empty: none)."""
        return "; ".join(self.fields.get(name, ()))

    def _shown(self, path: str) -> str:
        found = _INDEXED.match(path)
        if found and found.group("list") in self.lines:
            lines = self.lines[found.group("list")]
            index = int(found.group("index"))
            if index < len(lines):
                return f"line {lines[index]}: {path}"
        return path

    def add(self, path: str, message: str) -> None:
        name = self.field_of(path)
        text = f"{self._shown(path)}: {message}" if path not in ("", "$") else message
        if name is None:
            self.general.append(text)
        else:
            self.fields.setdefault(name, []).append(text)

    def add_rule(self, path: str, error: RuleError) -> None:
        name = self.field_of(path)
        if name is not None:
            self.rules[name] = {**rule_error(error), "path": path}

    def add_all(self, errors: list[tuple[str, str]], rule_errors: dict[str, RuleError]) -> None:
        """A :class:`~segmint.targeting.document.DocumentError`'s problems. A rule error
        is shown positioned (line, column, caret) instead of its one-line message."""
        for path, message in errors:
            if path in rule_errors and self.field_of(path) is not None:
                continue
            self.add(path, message)
        for path, error in rule_errors.items():
            self.add_rule(path, error)
