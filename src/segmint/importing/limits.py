"""The bounds of every ingest: one place for the numbers and their messages.

A file (``segmint import``, ``POST /v1/{kind}/import``) and a JSON call (``POST
/v1/events`` …) are refused with the same :class:`ImportError_` (422 over HTTP), naming
what is over which bound and where (row, column). Every check is linear in the input and
runs before the work it protects (an event with 5,000 properties is refused before a
column per property is built).

The numbers follow Stripe's metadata limits (50 keys, 40-character keys, 500-character
values) where a record carries open-ended keys, and keep the ``customers`` table well
below PostgreSQL's 1,600 columns (docs/api.md, "Limits").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from segmint.errors import BadRow, ImportError_

#: Properties with a value on one event.
PROPERTIES_PER_EVENT = 50
#: Characters of a property name.
PROPERTY_NAME_CHARS = 40
#: Distinct property names in one call or file (each is a column while it is validated).
PROPERTY_NAMES_PER_CALL = 1_000
#: Characters of a property value, of a text attribute value and of each list item.
VALUE_CHARS = 500
#: Distinct attributes named in one call or file (every row of a file has every column,
#: so this is also the most attributes one record can set).
ATTRIBUTES_PER_CALL = 100
#: Attributes one call or file may register (add as new columns).
NEW_ATTRIBUTES_PER_CALL = 50
#: Attributes registered in a database.
ATTRIBUTES_TOTAL = 500
#: Characters of an attribute name (``attr_`` + name fits PostgreSQL's 63-byte names).
ATTRIBUTE_NAME_CHARS = 58
#: PostgreSQL never reuses the column slot of a dropped column: a customers table past
#: this many slots (of PostgreSQL's 1,600) registers no more attributes.
POSTGRES_COLUMN_SLOTS = 1_400


def too_many_properties(row: int, count: int) -> BadRow:
    return BadRow(
        row,
        "properties",
        f"{count} properties",
        f"more than {PROPERTIES_PER_EVENT} properties on one event",
    )


def property_name_too_long(source: str, name: str) -> ImportError_:
    return ImportError_(
        source,
        [],
        0,
        note=f"property name {name[:60]!r}… is longer than {PROPERTY_NAME_CHARS} characters"
        if len(name) > 60
        else f"property name {name!r} is longer than {PROPERTY_NAME_CHARS} characters",
    )


def too_many_property_names(source: str, count: int) -> ImportError_:
    return ImportError_(
        source,
        [],
        0,
        note=f"{count} distinct property names, at most {PROPERTY_NAMES_PER_CALL} per call "
        "or file (split it)",
    )


def too_many_attributes(source: str, count: int) -> ImportError_:
    return ImportError_(
        source,
        [],
        0,
        note=f"{count} attributes, at most {ATTRIBUTES_PER_CALL} per call or file (split it)",
    )


def too_many_new_attributes(source: str, names: Sequence[str]) -> ImportError_:
    return ImportError_(
        source,
        [],
        0,
        note=f"{len(names)} new attributes ({', '.join(names[:5])}"
        f"{', …' if len(names) > 5 else ''}), at most {NEW_ATTRIBUTES_PER_CALL} "
        "registered per call or file",
    )


def too_many_attributes_total(source: str, registered: int, new: int) -> ImportError_:
    return ImportError_(
        source,
        [],
        0,
        note=f"{new} new attributes would make {registered + new} registered, at most "
        f"{ATTRIBUTES_TOTAL} (drop unused ones: segmint attributes drop NAME)",
    )


def too_long(row: int, column: str, value: str) -> BadRow:
    return BadRow(row, column, value[:80] + "…", f"{len(value)} characters, at most {VALUE_CHARS}")


def check_records(source: str, kind: str, records: Sequence[Mapping[str, Any]]) -> None:
    """The bounds on the open-ended keys of JSON records, checked before they become
    columns (the importer checks the same bounds again on the columns, with the same
    messages)."""
    nested = {"events": "properties", "customers": "attributes"}.get(kind)
    if nested is None:
        return
    names: set[str] = set()
    for row, record in enumerate(records, start=1):
        values = record.get(nested)
        if not isinstance(values, Mapping):
            continue
        if kind == "events":
            count = sum(1 for v in values.values() if v is not None and v != "")
            if count > PROPERTIES_PER_EVENT:
                raise ImportError_(source, [too_many_properties(row, count)], 1)
        names.update(values)
    if kind == "events" and len(names) > PROPERTY_NAMES_PER_CALL:
        raise too_many_property_names(source, len(names))
    if kind == "customers" and len(names) > ATTRIBUTES_PER_CALL:
        raise too_many_attributes(source, len(names))
