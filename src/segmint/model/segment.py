"""Segment definitions (pure: no I/O, no rule parsing).

A segment is one of four kinds (:class:`SegmentKind`). Its definition is a
:class:`SegmentDefinition`, stored as JSON in ``segments.definition`` and in every
``segment_versions`` row. The purchase-requirements kind keeps its structured form
(:class:`PurchaseRequirements`) and compiles it to rule text with ``to_rule_text``;
type-checking that text against a store's schema is the service layer's job (the model
may not import the rule package, see architecture.md).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from segmint.errors import ConfigError

#: URL-safe, stable, lower-case: it appears in URLs, files and ``IN SEGMENT 'code'``.
CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

#: Copy of ``rules.schema.UNSUCCESSFUL_STATUSES`` (a unit test keeps them equal): the model
#: may not import the rule package.
UNSUCCESSFUL_STATUSES: tuple[str, ...] = ("cancelled", "refunded", "failed")

ITEM_FIELDS: tuple[str, ...] = ("sku", "brand", "category")

#: A rolling window longer than a century is certainly a typo.
MAX_LAST_DAYS = 36_500


class DefinitionError(ConfigError):
    """A segment definition with a bad field; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        super().__init__(f"error: segment {field_name}: {message}")


class SegmentKind(enum.StrEnum):
    MANUAL = "manual"
    RULE = "rule"
    PURCHASE = "purchase"
    REALTIME = "realtime"

    @property
    def materialized(self) -> bool:
        """Whether memberships are stored (everything but real-time)."""
        return self is not SegmentKind.REALTIME

    @property
    def has_rule(self) -> bool:
        return self is not SegmentKind.MANUAL


def _quote(text: str) -> str:
    """A rule-language string literal (a quote inside is doubled, RULES.md §2)."""
    return "'" + text.replace("'", "''") + "'"


def _decimal_text(value: Decimal) -> str:
    # format "f": never exponent notation, which the rule language does not read.
    return format(value, "f")


@dataclass(frozen=True)
class PurchaseRequirements:
    """ "Spent at least ``min_spend`` [on matching items] within a window".

    Compilation (``to_rule_text``):

    - with an item condition (``item_field``/``item_value`` or the ``items`` fragment over
      order lines), min spend counts the **line amounts** of matching items;
    - without one, it counts the **totals of orders**;
    - in both cases only successful orders/lines count (status not cancelled, refunded or
      failed — the same test as the derived ``total_spent``);
    - the window is required: ``last_days`` (rolling, ``placed_at WITHIN Nd``) or a date
      range ``date_from``/``date_to`` (whole calendar days in the store's time zone, either
      end may be open but not both);
    - ``min_spend`` 0 means "bought at least once" and compiles to ``EXISTS(...)``.
    """

    min_spend: Decimal
    last_days: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    item_field: str | None = None
    item_value: str | None = None
    items: str | None = None

    def __post_init__(self) -> None:
        spend = self.min_spend
        if not isinstance(spend, Decimal):
            try:
                spend = Decimal(str(spend))
            except InvalidOperation:
                raise DefinitionError("min_spend", f"{self.min_spend!r} is not a number") from None
            object.__setattr__(self, "min_spend", spend)
        if not spend.is_finite() or spend < 0:
            raise DefinitionError("min_spend", f"{self.min_spend} must be a number >= 0")
        if self.last_days is not None and (self.date_from or self.date_to):
            raise DefinitionError(
                "window", "give either last_days or a date range (date_from/date_to), not both"
            )
        if self.last_days is None and self.date_from is None and self.date_to is None:
            raise DefinitionError(
                "window", "a window is required: last_days, or date_from and/or date_to"
            )
        if self.last_days is not None and not 1 <= self.last_days <= MAX_LAST_DAYS:
            raise DefinitionError(
                "last_days", f"{self.last_days} must be between 1 and {MAX_LAST_DAYS}"
            )
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise DefinitionError("date_from", f"{self.date_from} is after date_to {self.date_to}")
        if (self.item_field is None) != (self.item_value is None):
            raise DefinitionError("item_field", "item_field and item_value go together")
        if self.item_field is not None and self.item_field not in ITEM_FIELDS:
            raise DefinitionError(
                "item_field", f"{self.item_field!r} is not one of {', '.join(ITEM_FIELDS)}"
            )
        if self.item_field is not None and self.items is not None:
            raise DefinitionError("items", "give item_field/item_value or items, not both")
        if self.items is not None and not self.items.strip():
            raise DefinitionError("items", "an empty item condition")

    @property
    def item_condition(self) -> str | None:
        """The condition on order lines, as rule text, or None."""
        if self.item_field is not None and self.item_value is not None:
            return f"{self.item_field} = {_quote(self.item_value)}"
        return self.items

    def window_text(self) -> str:
        if self.last_days is not None:
            return f"placed_at WITHIN {self.last_days}d"
        if self.date_from and self.date_to:
            return f"placed_at BETWEEN {self.date_from.isoformat()} AND {self.date_to.isoformat()}"
        if self.date_from:
            return f"placed_at >= {self.date_from.isoformat()}"
        assert self.date_to is not None
        return f"placed_at <= {self.date_to.isoformat()}"

    def to_rule_text(self) -> str:
        """The rule this form stands for, e.g.
        ``SUM(lines.amount WHERE (brand = 'Acme') AND status NOT IN (...) AND placed_at
        WITHIN 7d) >= 100``. An ``items`` fragment is wrapped in parentheses; callers
        must pass it in canonical form (one parsed rule) so it cannot escape them."""
        statuses = ", ".join(_quote(s) for s in UNSUCCESSFUL_STATUSES)
        conditions = [f"status NOT IN ({statuses})", self.window_text()]
        item = self.item_condition
        if item is not None:
            conditions.insert(0, f"({item})")
        where = " AND ".join(conditions)
        collection, amount = ("lines", "lines.amount") if item else ("orders", "orders.total")
        if self.min_spend == 0:
            return f"EXISTS({collection} WHERE {where})"
        return f"SUM({amount} WHERE {where}) >= {_decimal_text(self.min_spend)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "min_spend": _decimal_text(self.min_spend),
            "last_days": self.last_days,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "item_field": self.item_field,
            "item_value": self.item_value,
            "items": self.items,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PurchaseRequirements:
        def day(key: str) -> dt.date | None:
            raw = data.get(key)
            return dt.date.fromisoformat(raw) if raw else None

        return cls(
            min_spend=Decimal(str(data["min_spend"])),
            last_days=data.get("last_days"),
            date_from=day("date_from"),
            date_to=day("date_to"),
            item_field=data.get("item_field"),
            item_value=data.get("item_value"),
            items=data.get("items"),
        )


def _instant(value: dt.datetime | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise DefinitionError(name, "a timestamp needs a time zone (UTC is assumed nowhere)")
    return value.astimezone(dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _parse_iso(raw: str | None) -> dt.datetime | None:
    if not raw:
        return None
    return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(dt.UTC)


@dataclass(frozen=True)
class SegmentDefinition:
    """Everything a merchant defines about a segment (validated on construction).

    ``user_group`` None means "the code" (:attr:`group`). ``ends_at`` is exclusive:
    a segment is targetable in ``[starts_at, ends_at)``. ``rule_text`` is the rule of the
    rule and real-time kinds; the purchase kind compiles ``purchase`` instead."""

    code: str
    name: str
    kind: SegmentKind
    description: str | None = None
    user_group: str | None = None
    active: bool = True
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    stores: tuple[str, ...] = field(default=())
    rule_text: str | None = None
    purchase: PurchaseRequirements | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not CODE_PATTERN.match(self.code):
            raise DefinitionError(
                "code",
                f"{self.code!r} is not a valid code (1-64 of a-z, 0-9, _ and -, "
                "starting with a letter or digit)",
            )
        if not isinstance(self.name, str) or not self.name.strip():
            raise DefinitionError("name", "a name is required")
        object.__setattr__(self, "name", self.name.strip())
        try:
            object.__setattr__(self, "kind", SegmentKind(self.kind))
        except ValueError:
            kinds = ", ".join(k.value for k in SegmentKind)
            raise DefinitionError("kind", f"{self.kind!r} is not one of {kinds}") from None
        if self.description is not None and not self.description.strip():
            object.__setattr__(self, "description", None)
        if self.user_group is not None and not CODE_PATTERN.match(self.user_group):
            raise DefinitionError(
                "user_group",
                f"{self.user_group!r} is not a valid group (same form as a code: a-z, 0-9, _, -)",
            )
        starts = _instant(self.starts_at, "starts_at")
        ends = _instant(self.ends_at, "ends_at")
        if starts and ends and starts >= ends:
            raise DefinitionError("ends_at", f"{_iso(ends)} is not after starts_at {_iso(starts)}")
        object.__setattr__(self, "starts_at", starts)
        object.__setattr__(self, "ends_at", ends)
        stores: list[str] = []
        for store in self.stores:
            if not isinstance(store, str) or not store.strip():
                raise DefinitionError("stores", f"{store!r} is not a store code")
            if store.strip() not in stores:
                stores.append(store.strip())
        object.__setattr__(self, "stores", tuple(stores))
        self._check_kind_fields()

    def _check_kind_fields(self) -> None:
        kind = self.kind
        has_rule = self.rule_text is not None and bool(self.rule_text.strip())
        if kind in (SegmentKind.RULE, SegmentKind.REALTIME) and not has_rule:
            raise DefinitionError("rule", f"a {kind.value} segment needs a rule")
        if kind in (SegmentKind.MANUAL, SegmentKind.PURCHASE) and self.rule_text is not None:
            raise DefinitionError("rule", f"a {kind.value} segment takes no rule text")
        if kind is SegmentKind.PURCHASE and self.purchase is None:
            raise DefinitionError("purchase", "a purchase segment needs its requirements")
        if kind is not SegmentKind.PURCHASE and self.purchase is not None:
            raise DefinitionError("purchase", f"a {kind.value} segment takes no requirements")

    @property
    def group(self) -> str:
        """The user group this segment gives its members (default: the code)."""
        return self.user_group or self.code

    @property
    def effective_rule(self) -> str | None:
        """The rule text that decides membership: the rule, the compiled purchase
        requirements, or None for a manual segment."""
        if self.purchase is not None:
            return self.purchase.to_rule_text()
        return self.rule_text

    def is_targetable(self, now: dt.datetime, store: str | None = None) -> bool:
        """Active, within ``[starts_at, ends_at)``, and (when a store is given and the
        segment is limited to stores) in one of its stores (case-insensitive)."""
        if not self.active:
            return False
        if self.starts_at is not None and now < self.starts_at:
            return False
        if self.ends_at is not None and now >= self.ends_at:
            return False
        if store is not None and self.stores:
            return store.lower() in {s.lower() for s in self.stores}
        return True

    def status(self, now: dt.datetime) -> str:
        """``active``, ``inactive``, ``scheduled`` (before starts_at) or ``ended``."""
        if not self.active:
            return "inactive"
        if self.starts_at is not None and now < self.starts_at:
            return "scheduled"
        if self.ends_at is not None and now >= self.ends_at:
            return "ended"
        return "active"

    def with_changes(self, **changes: Any) -> SegmentDefinition:
        """A copy with some fields replaced (validated again)."""
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind.value,
            "description": self.description,
            "user_group": self.user_group,
            "active": self.active,
            "starts_at": _iso(self.starts_at),
            "ends_at": _iso(self.ends_at),
            "stores": list(self.stores),
            "rule_text": self.rule_text,
            "purchase": self.purchase.to_json() if self.purchase else None,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SegmentDefinition:
        purchase = data.get("purchase")
        return cls(
            code=data["code"],
            name=data["name"],
            kind=SegmentKind(data["kind"]),
            description=data.get("description"),
            user_group=data.get("user_group"),
            active=bool(data.get("active", True)),
            starts_at=_parse_iso(data.get("starts_at")),
            ends_at=_parse_iso(data.get("ends_at")),
            stores=tuple(data.get("stores") or ()),
            rule_text=data.get("rule_text"),
            purchase=PurchaseRequirements.from_json(purchase) if purchase else None,
        )

    @classmethod
    def loads(cls, text: str) -> SegmentDefinition:
        return cls.from_json(json.loads(text))
