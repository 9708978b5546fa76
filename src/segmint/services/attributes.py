"""Custom attributes: list them, and drop one that nothing reads any more.

An attribute is a typed ``attr_NAME`` column of ``customers`` registered in
``attribute_defs`` (store/base.py). Dropping one removes both in one transaction; it is
refused while a segment's rule or a lever's audience or condition reads it, naming each
reader (as deleting a segment is refused while something reads it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from segmint.errors import ConfigError, NotFoundError, RuleError
from segmint.importing import limits
from segmint.rules import parse
from segmint.rules.checker import check
from segmint.rules.schema import Schema
from segmint.services.levers import _parse_rows, request_rules
from segmint.store.base import ATTR_PREFIX, Store
from segmint.store.levers import LeverRepository
from segmint.store.segments import SegmentRepository
from segmint.store.sqltext import ident, render


@dataclass(frozen=True)
class AttributeInfo:
    name: str
    type: str
    declared: bool
    #: Customers with a value.
    customers: int


def list_attributes(store: Store) -> list[AttributeInfo]:
    """Every registered attribute with its type and how many customers have a value."""
    store.require_schema()
    rows = store._q("SELECT name, type, declared FROM attribute_defs ORDER BY name")
    found = []
    for name, type_, declared in rows:
        column = ident(ATTR_PREFIX + str(name))
        count = store._count(
            render("SELECT COUNT(*) FROM customers WHERE {c} IS NOT NULL", c=column)
        )
        found.append(AttributeInfo(str(name), str(type_), bool(declared), count))
    return found


def _reads(text: str, name: str, schema: Schema) -> bool:
    try:
        return name in check(parse(text), schema).attributes
    except RuleError:
        # A rule that no longer checks still names what it meant to read.
        return re.search(rf"\battributes\.{re.escape(name)}\b", text) is not None


def attribute_readers(store: Store, name: str) -> list[str]:
    """Where ``attributes.NAME`` is read: segments' rules, levers' audiences and
    conditions (and placement items' audiences)."""
    schema = store.rule_schema()
    found = [
        f"segment {record.definition.code!r}"
        for record in SegmentRepository(store).all()
        if (rule := record.definition.effective_rule) and _reads(rule, name, schema)
    ]
    for lever in _parse_rows(store, LeverRepository(store).all()):
        found += [where for where, text in request_rules(lever) if _reads(text, name, schema)]
    return found


def drop_attribute(store: Store, name: str) -> None:
    """Drop attribute ``name`` and its values: refused (ConfigError, naming them) while
    anything reads it."""
    store.require_schema()
    if name not in store.attributes():
        raise NotFoundError(f"error: no attribute {name!r} (segmint attributes list)")
    with store.writer_lock():
        readers = attribute_readers(store, name)
        if readers:
            raise ConfigError(
                f"error: attribute {name!r} is read by {', '.join(readers)}; "
                "change or delete them first"
            )
        with store.transaction():
            store._x("DELETE FROM attribute_defs WHERE name = $n", {"n": name})
            store._x(render("ALTER TABLE customers DROP COLUMN {c}", c=ident(ATTR_PREFIX + name)))


def column_slots_note(store: Store) -> str | None:
    """On PostgreSQL, how many of the customers table's column slots are used (a dropped
    attribute keeps its slot): shown after a drop."""
    if store.dialect != "postgres":
        return None
    slots = store.column_slots("customers")
    return (
        f"customers uses {slots} of the {limits.POSTGRES_COLUMN_SLOTS} column slots "
        "segmint allows on PostgreSQL (dropped columns keep theirs)"
    )
