"""From the validated ``raw`` table to the typed Arrow tables each kind loads.

Runs in the importer's scratch DuckDB. Everything is set-based SQL; the only Python
per row is none. Business rules that need typed values (duplicate keys, an order whose
rows disagree) are checked here and reported as bad rows like type errors.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from segmint.errors import BadRow
from segmint.importing.columns import SPECS, T, typed_expr
from segmint.importing.reader import RawColumn

SQL_TYPES = {
    T.STRING: "VARCHAR",
    T.MONEY: "DECIMAL(18,4)",
    T.NUMBER: "DECIMAL(38,10)",
    T.INT: "INTEGER",
    T.BOOL: "BOOLEAN",
    T.DATE: "DATE",
    T.TIMESTAMP: "TIMESTAMP",
    T.LIST: "VARCHAR[]",
}
LINE_COLUMNS = ("sku", "product_name", "brand", "category", "quantity", "unit_price", "amount")
#: Order fields that every row of one order must agree on (when given).
ORDER_FIELDS = ("customer_id", "placed_at", "status", "total", "currency", "store", "item_count")


@dataclass
class Built:
    """Arrow tables to load, by role, plus what the loader needs to know."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    present: list[str] = field(default_factory=list)  # columns to update on re-import
    has_lines: bool = False


def create_typed(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    typed_columns: list[tuple[str, RawColumn | None, T]],
    params: dict[str, Any],
) -> None:
    """``typed(__row, <name> …)``: every spec column (absent ones as typed NULL)."""
    exprs = ["__row"]
    for name, raw, t in typed_columns:
        value = typed_expr(raw, t, "date_format" in params) if raw is not None else "NULL"
        exprs.append(f'CAST({value} AS {SQL_TYPES[t]}) AS "{name}"')
    con.execute(
        "CREATE TEMP TABLE typed AS SELECT " + ", ".join(exprs) + " FROM raw",  # noqa: S608
        params,
    )
    # Only typed values are needed from here on; free the text copy of the file.
    con.execute("DROP TABLE raw")


def duplicate_keys(
    con: duckdb.DuckDBPyConnection, key: str, where: str = "TRUE", limit: int = 20
) -> tuple[list[BadRow], int]:
    """Rows whose ``key`` already appeared on an earlier row of the file."""
    sql = (
        f'SELECT __row, "{key}", first FROM (SELECT __row, "{key}", '  # noqa: S608
        f'min(__row) OVER (PARTITION BY "{key}") AS first FROM typed WHERE {where}) '
        "WHERE __row <> first"
    )
    total: Any = con.execute(f"SELECT COUNT(*) FROM ({sql})").fetchone()  # noqa: S608
    rows = con.execute(f"{sql} ORDER BY __row LIMIT {int(limit)}").fetchall()
    bad = [
        BadRow(int(r), key, str(v), f"duplicate {key} (first on row {first})")
        for r, v, first in rows
    ]
    return bad, int(total[0])


def order_conflicts(
    con: duckdb.DuckDBPyConnection, present: list[str], limit: int = 20
) -> tuple[list[BadRow], int]:
    """Rows of one order that disagree with its first row on an order-level field."""
    found: list[BadRow] = []
    total = 0
    for name in ORDER_FIELDS:
        if name not in present:
            continue
        col = f'"{name}"'
        sql = (
            f"WITH f AS (SELECT order_id, arg_min({col}, __row) AS v, min(__row) AS r "  # noqa: S608
            f"FROM typed WHERE {col} IS NOT NULL GROUP BY order_id) "
            f"SELECT t.__row, CAST(t.{col} AS VARCHAR), f.r FROM typed AS t JOIN f "
            f"ON f.order_id = t.order_id WHERE t.{col} IS NOT NULL AND t.{col} <> f.v"
        )
        count: Any = con.execute(f"SELECT COUNT(*) FROM ({sql})").fetchone()  # noqa: S608
        total += int(count[0])
        if count[0]:
            for r, v, first in con.execute(f"{sql} ORDER BY 1 LIMIT {int(limit)}").fetchall():
                found.append(BadRow(int(r), name, v, f"differs from row {first} of the same order"))
    found.sort(key=lambda b: b.row)
    return found[:limit], total


def _arrow(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> pa.Table:
    # A relation (not a DB-API cursor) hands Arrow its batches without an extra copy.
    table: pa.Table = con.sql(sql, params=params or None).to_arrow_table()
    return table


def build_customers(
    con: duckdb.DuckDBPyConnection, present: list[str], attributes: list[str], now: dt.datetime
) -> Built:
    cols = [c for c in SPECS["customers"] if c in present]
    exprs = [f'"{c}"' for c in cols] + [f'"attr_{a}"' for a in attributes]
    table = _arrow(
        con,
        "SELECT " + ", ".join(exprs) + ", CAST($now AS TIMESTAMP) AS updated_at FROM typed",  # noqa: S608
        {"now": now},
    )
    return Built({"customers": table}, present=[*cols, *(f"attr_{a}" for a in attributes)])


def build_simple(con: duckdb.DuckDBPyConnection, kind: str, present: list[str]) -> Built:
    """products and accounts: the present columns, one row per key."""
    cols = [c for c in SPECS[kind] if c in present]
    table = _arrow(con, "SELECT " + ", ".join(f'"{c}"' for c in cols) + " FROM typed")  # noqa: S608
    return Built({kind: table}, present=cols)


def build_orders(con: duckdb.DuckDBPyConnection, present: list[str]) -> Built:
    """orders (one per order_id) and their lines (one per row).

    A row's quantity defaults to 1 and its amount to quantity × unit_price; an order's
    status defaults to 'completed', its total to the exact sum of its lines' amounts and
    its item_count to the sum of quantities. Lines copy the order's customer_id,
    placed_at, status and store."""
    has_lines = any(c in present for c in LINE_COLUMNS)
    if has_lines:
        quantity = "coalesce(quantity, 1)"
        amount = "coalesce(amount, CAST(coalesce(quantity, 1) * unit_price AS DECIMAL(18,4)))"
    else:
        quantity, amount = "CAST(NULL AS INTEGER)", "CAST(NULL AS DECIMAL(18,4))"
    con.execute(
        f"CREATE TEMP VIEW eff AS SELECT *, {quantity} AS q_eff, {amount} AS a_eff FROM typed"  # noqa: S608
    )
    con.execute(
        "CREATE TEMP TABLE o AS SELECT order_id AS id, max(customer_id) AS customer_id, "
        "max(placed_at) AS placed_at, coalesce(max(status), 'completed') AS status, "
        "CAST(coalesce(max(total), sum(a_eff)) AS DECIMAL(18,4)) AS total, "
        "max(currency) AS currency, max(store) AS store, "
        "CAST(coalesce(max(item_count), sum(q_eff)) AS INTEGER) AS item_count "
        "FROM eff GROUP BY order_id"
    )
    tables = {"orders": _arrow(con, "SELECT * FROM o")}
    if has_lines:
        tables["lines"] = _arrow(
            con,
            "SELECT t.order_id, CAST(row_number() OVER (PARTITION BY t.order_id "
            "ORDER BY t.__row) AS INTEGER) AS line_no, o.customer_id, t.sku, t.product_name, "
            "t.brand, t.category, t.q_eff AS quantity, t.unit_price, t.a_eff AS amount, "
            "o.placed_at, o.status, o.store FROM eff AS t JOIN o ON o.id = t.order_id",
        )
    return Built(tables, present=list(tables["orders"].column_names), has_lines=has_lines)


def build_events(con: duckdb.DuckDBPyConnection, properties: list[str]) -> Built:
    """Events with their properties as a JSON object of strings (NULL values dropped) and
    an id: the given one, else a hash of the content (customer, type, at, sku,
    properties), so re-importing the same event never duplicates it."""
    params: dict[str, Any] = {f"pk{i}": name for i, name in enumerate(properties)}
    if properties:
        entries = ", ".join(f"{{'k': $pk{i}, 'v': \"p{i}\"}}" for i in range(len(properties)))
        kept = f"list_filter([{entries}], lambda e: e.v IS NOT NULL)"
        props = (
            f"CASE WHEN len({kept}) = 0 THEN NULL "
            f"ELSE CAST(to_json(map_from_entries({kept})) AS VARCHAR) END"
        )
    else:
        props = "CAST(NULL AS VARCHAR)"
    con.execute(
        f'CREATE TEMP TABLE ev AS SELECT __row, id AS given_id, customer_id, type, "at", sku, '  # noqa: S608
        f"{props} AS properties FROM typed",
        params,
    )
    table = _arrow(
        con,
        "SELECT coalesce(given_id, md5(concat_ws(chr(31), customer_id, type, "
        "strftime(\"at\", '%Y-%m-%dT%H:%M:%S.%f'), coalesce(sku, ''), coalesce(properties, '')))) "
        'AS id, customer_id, type, "at", sku, properties FROM ev '
        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY __row) = 1",
    )
    return Built({"events": table}, present=list(table.column_names))
