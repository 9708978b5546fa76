"""Customers through the service: list, upsert and ingest records given as JSON-like
dicts, and delete with anonymised history.

Records are converted to the importer's Arrow form (every value as text, lists as
lists, ``attributes.NAME`` / ``properties.NAME`` columns) and go through
:func:`segmint.services.ingest.import_and_update`, so the very same validation,
idempotency (by id) and incremental membership update apply as for files.

Deleting a customer erases the profile and everything personal (orders, lines, events,
wishlist); memberships, manual includes/excludes and history stay with the customer id
replaced by a stable pseudonym ``anon-<HMAC-SHA256(database key, id)[:24]>``: the
same id always gives the same pseudonym in one database (counts and the change feed stay
consistent), and without the database's key the id cannot be recovered from it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

from segmint.errors import ConfigError, NotFoundError
from segmint.importing.limits import check_records
from segmint.importing.report import ImportReport
from segmint.services.ingest import import_and_update
from segmint.services.membership import UpdateReport
from segmint.store.base import Store

ANON_PREFIX = "anon-"
#: The most records one ingestion call takes (bigger loads: files and `segmint import`).
MAX_BATCH = 10_000


def _text(value: Any) -> str | None:
    """A scalar as the importer's text (it validates and types it)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        moment: dt.datetime = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def records_table(
    records: Sequence[Mapping[str, Any]], *, lists: Sequence[str] = (), nested: str | None = None
) -> pa.Table:
    """Rows as an Arrow table of text columns (``lists`` as list<string>; the dict under
    ``nested`` flattened into ``nested.KEY`` columns)."""
    if not records:
        raise ConfigError("error: no records given")
    if len(records) > MAX_BATCH:
        raise ConfigError(f"error: at most {MAX_BATCH} records per call")
    names: dict[str, None] = {}
    rows: list[dict[str, Any]] = []
    for record in records:
        row: dict[str, Any] = {}
        for key, value in record.items():
            if key == nested and isinstance(value, Mapping):
                for sub, inner in value.items():
                    row[f"{nested}.{sub}"] = inner
            else:
                row[key] = value  # an explicit null clears the field
        rows.append(row)
        names.update(dict.fromkeys(row))
    columns: dict[str, pa.Array[Any]] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        is_list = name in lists or any(isinstance(v, list) for v in values)
        if is_list:
            columns[name] = pa.array(
                [
                    None if v is None else [_text(x) for x in (v if isinstance(v, list) else [v])]
                    for v in values
                ],
                type=pa.list_(pa.string()),
            )
        else:
            columns[name] = pa.array([_text(v) for v in values], type=pa.string())
    return pa.table(columns)


def ingest(
    store: Store, kind: str, records: Sequence[Mapping[str, Any]], now: dt.datetime
) -> tuple[ImportReport, UpdateReport]:
    """Import ``records`` of ``kind`` (customers, orders, events, products, accounts) all
    or nothing, then update the touched customers' memberships at ``now``."""
    lists = ("tags", "user_groups") if kind == "customers" else ()
    nested = {"customers": "attributes", "events": "properties"}.get(kind)
    check_records(f"api:{kind}", kind, records)  # before a column per key is built
    table = records_table(records, lists=lists, nested=nested)
    return import_and_update(store, kind, table, now, source=f"api:{kind}", progress=None)


def list_customers(store: Store, *, limit: int, after: str | None = None) -> list[str]:
    """Customer ids in order, ``limit`` of them after the cursor ``after``."""
    store.require_schema()
    if after is None:
        rows = store._q("SELECT id FROM customers ORDER BY id LIMIT $n", {"n": limit})
    else:
        rows = store._q(
            "SELECT id FROM customers WHERE id > $a ORDER BY id LIMIT $n", {"a": after, "n": limit}
        )
    return [str(r[0]) for r in rows]


def customer_exists(store: Store, customer_id: str) -> bool:
    return bool(store._q("SELECT 1 FROM customers WHERE id = $id", {"id": customer_id}))


def pseudonym(store: Store, customer_id: str) -> str:
    """The stable pseudonym of a customer id in this database."""
    rows = store._q("SELECT value FROM segmint_meta WHERE key = 'anonymisation_key'")
    key = str(rows[0][0]) if rows else ""
    digest = hmac.new(key.encode(), customer_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return ANON_PREFIX + digest[:24]


@dataclass(frozen=True)
class DeleteResult:
    pseudonym: str
    orders: int
    events: int
    memberships: int
    history: int


_ERASE = ("order_lines", "orders", "events", "wishlist_items")


def delete_customer(store: Store, customer_id: str) -> DeleteResult:
    """Erase the customer's profile and personal data; keep memberships and history
    under the pseudonym (all in one transaction)."""
    store.require_schema()
    if customer_id.startswith(ANON_PREFIX) or not customer_exists(store, customer_id):
        raise NotFoundError(f"error: customer {customer_id!r} does not exist")
    anon = pseudonym(store, customer_id)
    p = {"id": customer_id, "anon": anon}

    def count(table: str, column: str = "customer_id") -> int:
        return store._count(
            f"SELECT COUNT(*) FROM {table} WHERE {column} = $id",  # noqa: S608 - fixed names
            {"id": customer_id},
        )

    with store.transaction():
        orders, events = count("orders"), count("events")
        members, history = count("memberships"), count("membership_history")
        for table in ("memberships", "segment_manual"):
            # The same id deleted before (then re-created) left rows under this pseudonym.
            store._x(
                f"DELETE FROM {table} WHERE customer_id = $anon AND segment_code IN "  # noqa: S608
                f"(SELECT segment_code FROM {table} WHERE customer_id = $id)",
                p,
            )
            store._x(f"UPDATE {table} SET customer_id = $anon WHERE customer_id = $id", p)  # noqa: S608
        store._x("UPDATE membership_history SET customer_id = $anon WHERE customer_id = $id", p)
        store._x("DELETE FROM customer_due WHERE customer_id = $id", {"id": customer_id})
        for table in _ERASE:
            store._x(f"DELETE FROM {table} WHERE customer_id = $id", {"id": customer_id})  # noqa: S608
        store._x("DELETE FROM customers WHERE id = $id", {"id": customer_id})
    return DeleteResult(anon, orders, events, members, history)
