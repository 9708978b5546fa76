"""What a rule can see (RULES.md §1): field types, collections, derived fields, context.

This is pure data. The type checker resolves paths against a :class:`Schema`; the
store supplies the registered custom attributes with :meth:`Schema.with_attributes`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class FieldType(enum.Enum):
    STRING = "string"
    NUMBER = "number"  # exact decimal (money, custom numbers)
    INTEGER = "integer"  # counts and quantities; compares with NUMBER freely
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    STRING_LIST = "list"  # list of strings (tags, user_groups, list attributes)

    @property
    def is_numeric(self) -> bool:
        return self in (FieldType.NUMBER, FieldType.INTEGER)

    @property
    def is_temporal(self) -> bool:
        return self in (FieldType.DATE, FieldType.TIMESTAMP)


S, N, I, B, D, T, L = (  # noqa: E741 - short aliases keep the tables readable
    FieldType.STRING,
    FieldType.NUMBER,
    FieldType.INTEGER,
    FieldType.BOOLEAN,
    FieldType.DATE,
    FieldType.TIMESTAMP,
    FieldType.STRING_LIST,
)

CUSTOMER_FIELDS: Mapping[str, FieldType] = MappingProxyType(
    {
        "id": S,
        "email": S,
        "first_name": S,
        "last_name": S,
        "phone": S,
        "birth_date": D,
        "created_at": T,
        "postal_code": S,
        "city": S,
        "region": S,
        "country": S,
        "business_account": S,
        "store": S,
        "newsletter_subscribed": B,
        "tags": L,
        "user_groups": L,
    }
)

#: Successful orders are those whose status is not one of these (RULES.md §1).
UNSUCCESSFUL_STATUSES: tuple[str, ...] = ("cancelled", "refunded", "failed")

#: Derived customer fields and their result types; ``rules.derived`` gives their
#: definitions as aggregates, which is what every engine evaluates.
DERIVED_FIELDS: Mapping[str, FieldType] = MappingProxyType(
    {
        "orders_count": I,
        "total_spent": N,
        "first_order_at": T,
        "last_order_at": T,
        "average_order_value": N,
    }
)

COLLECTIONS: Mapping[str, Mapping[str, FieldType]] = MappingProxyType(
    {
        "orders": MappingProxyType(
            {
                "id": S,
                "placed_at": T,
                "status": S,
                "total": N,
                "currency": S,
                "store": S,
                "item_count": I,
            }
        ),
        "lines": MappingProxyType(
            {
                "order_id": S,
                "sku": S,
                "product_name": S,
                "brand": S,
                "category": S,
                "quantity": I,
                "unit_price": N,
                "amount": N,
                "placed_at": T,
                "status": S,
                "store": S,
            }
        ),
        "events": MappingProxyType({"id": S, "type": S, "at": T, "sku": S}),
        "wishlist": MappingProxyType({"sku": S, "added_at": T}),
        "cart.lines": MappingProxyType(
            {
                "sku": S,
                "product_name": S,
                "brand": S,
                "category": S,
                "quantity": I,
                "unit_price": N,
                "amount": N,
            }
        ),
    }
)

#: Collections whose items carry open-ended ``properties.NAME`` string fields.
PROPERTY_COLLECTIONS: frozenset[str] = frozenset({"events"})

#: Collections that exist only at request time (reading one makes a rule real-time).
REALTIME_COLLECTIONS: frozenset[str] = frozenset({"cart.lines"})

CONTEXT_FIELDS: Mapping[str, FieldType] = MappingProxyType(
    {
        "context.logged_in": B,
        "context.view": S,
        "context.store": S,
        "context.channel": S,
        "context.path": S,
        "cart.subtotal": N,
        "cart.quantity": I,
    }
)

#: ``context.query.NAME`` is an open-ended string field.
CONTEXT_QUERY_PREFIX: tuple[str, ...] = ("context", "query")

ATTRIBUTE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Schema:
    """The fields a rule may read: built-ins plus the store's registered attributes."""

    attributes: Mapping[str, FieldType] = field(default_factory=dict)
    timezone: str = "UTC"

    def with_attributes(self, attributes: Mapping[str, FieldType]) -> Schema:
        return Schema(attributes=dict(attributes), timezone=self.timezone)

    def customer_field_names(self) -> list[str]:
        """Every readable top-level name, for "did you mean" suggestions."""
        names = list(CUSTOMER_FIELDS) + list(DERIVED_FIELDS)
        names += [f"attributes.{a}" for a in self.attributes]
        names += list(CONTEXT_FIELDS)
        return names


DEFAULT_SCHEMA = Schema()


def field_type(schema: Schema, parts: tuple[str, ...], collection: str | None) -> FieldType | None:
    """The type of a path, or None if no such field exists.

    ``collection`` is None at customer scope, or a collection name (``"orders"``,
    ``"cart.lines"``…) inside that collection's ``WHERE`` where only item fields are seen.
    """
    if collection is not None:
        if len(parts) == 2 and parts[0] == "properties" and collection in PROPERTY_COLLECTIONS:
            return FieldType.STRING
        if len(parts) != 1:
            return None
        return COLLECTIONS.get(collection, {}).get(parts[0])
    dotted = ".".join(parts)
    if len(parts) == 1:
        return CUSTOMER_FIELDS.get(parts[0]) or DERIVED_FIELDS.get(parts[0])
    if len(parts) == 2 and parts[0] == "attributes":
        return schema.attributes.get(parts[1])
    if len(parts) == 3 and parts[:2] == CONTEXT_QUERY_PREFIX:
        return FieldType.STRING
    return CONTEXT_FIELDS.get(dotted)


def is_realtime_path(parts: tuple[str, ...]) -> bool:
    """Whether a customer-scope path reads request context (``context.*`` or ``cart.*``)."""
    return parts[0] in ("context", "cart")
