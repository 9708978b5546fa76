"""Column specifications per import kind, and vectorised typing/validation in DuckDB.

Every value is checked as text against a strict pattern before it is cast, because
DuckDB's casts are lenient where segmint must not be (``CAST('1.5' AS INTEGER)`` is 2,
``CAST('1.23456' AS DECIMAL(18,4))`` rounds). Typed sources (Parquet, Arrow) are turned
into text first (DuckDB prints a DOUBLE as its shortest exact repr), so one set of rules
decides for every format.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import duckdb

from segmint.errors import BadRow
from segmint.importing.reader import RawColumn
from segmint.rules.schema import FieldType


class T(enum.Enum):
    STRING = "string"
    MONEY = "money"  # DECIMAL(18,4), at most 4 significant decimals
    NUMBER = "number"  # DECIMAL(38,10), custom numeric attributes
    INT = "integer"
    BOOL = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    LIST = "list"


@dataclass(frozen=True)
class Col:
    type: T
    required: bool = False


_S, _R = Col(T.STRING), Col(T.STRING, required=True)
_TS = Col(T.TIMESTAMP)

SPECS: dict[str, dict[str, Col]] = {
    "customers": {
        "id": _R,
        "email": _S,
        "first_name": _S,
        "last_name": _S,
        "phone": _S,
        "birth_date": Col(T.DATE),
        "created_at": _TS,
        "postal_code": _S,
        "city": _S,
        "region": _S,
        "country": _S,
        "business_account": _S,
        "store": _S,
        "newsletter_subscribed": Col(T.BOOL),
        "tags": Col(T.LIST),
        "user_groups": Col(T.LIST),
    },
    "orders": {
        "order_id": _R,
        "customer_id": _R,
        "placed_at": Col(T.TIMESTAMP, required=True),
        "status": _S,
        "total": Col(T.MONEY),
        "currency": _S,
        "store": _S,
        "item_count": Col(T.INT),
        "sku": _S,
        "product_name": _S,
        "brand": _S,
        "category": _S,
        "quantity": Col(T.INT),
        "unit_price": Col(T.MONEY),
        "amount": Col(T.MONEY),
    },
    "events": {
        "id": _S,
        "customer_id": _R,
        "type": _R,
        "at": Col(T.TIMESTAMP, required=True),
        "sku": _S,
    },
    "products": {
        "sku": _R,
        "product_name": _S,
        "brand": _S,
        "category": _S,
        "unit_price": Col(T.MONEY),
        "min_price": Col(T.MONEY),
    },
    "accounts": {"id": _R, "name": _S, "created_at": _TS},
}
KINDS = tuple(SPECS)
#: Columns holding an id or a reference to one: a string or an integer, never a
#: boolean, a fraction or a JSON object (``{"id": true}`` must not become customer "true").
ID_COLUMNS = frozenset({"id", "order_id", "customer_id", "sku", "business_account"})
_INTEGER_SOURCE = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                   "USMALLINT", "UINTEGER", "UBIGINT")  # fmt: skip
#: Checks per validating query: DuckDB's common-subexpression pass is quadratic in the
#: expressions of one projection (800 checks in one query: 27 s; in chunks of 32: 0.3 s).
CHECKS_PER_QUERY = 32
#: Open-ended ``PREFIX.NAME`` columns a kind accepts.
OPEN_PREFIX = {"customers": "attributes", "events": "properties"}

FIELD_TO_T = {
    FieldType.STRING: T.STRING,
    FieldType.NUMBER: T.NUMBER,
    FieldType.INTEGER: T.INT,
    FieldType.BOOLEAN: T.BOOL,
    FieldType.DATE: T.DATE,
    FieldType.TIMESTAMP: T.TIMESTAMP,
    FieldType.STRING_LIST: T.LIST,
}

_MONEY_RE = r"[+-]?([0-9]{1,14}(\.[0-9]{0,4}0*)?|\.[0-9]{1,4}0*)"
_NUMBER_RE = r"[+-]?([0-9]{1,28}(\.[0-9]{0,10}0*)?|\.[0-9]{1,10}0*)"
_INT_RE = r"[+-]?[0-9]{1,9}(\.0*)?"
_DATE_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TS_RE = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?)?"
    r" ?(Z|z|UTC|[+-][0-9]{2}(:?[0-9]{2})?)?"
)
_TRUE = "('true', 't', 'yes', 'y', '1')"
_FALSE = "('false', 'f', 'no', 'n', '0')"

REASONS = {
    T.MONEY: "not an amount (a decimal number with at most 4 decimals)",
    T.NUMBER: "not a number (at most 28 digits before and 10 after the point)",
    T.INT: "not a whole number",
    T.BOOL: "not a boolean (true or false)",
    T.DATE: "not a valid date (expected YYYY-MM-DD)",
    T.TIMESTAMP: "not a valid timestamp (expected ISO 8601, e.g. 2024-05-01T10:00:00Z)",
    T.LIST: "not a list",
    T.STRING: "a list where a single value is expected",
}


def typed_expr(raw: RawColumn, t: T, date_format: bool) -> str:
    """SQL giving the typed value of ``raw`` (NULL when missing or invalid).

    With ``date_format``, dates and timestamps are tried with ``$date_format`` first,
    then as ISO 8601."""
    c = raw.sql
    if t is T.LIST:
        if raw.is_list:
            return f"list_filter({c}, lambda x: x IS NOT NULL)"
        return (
            f"CASE WHEN nullif(trim({c}), '') IS NULL THEN NULL ELSE list_filter("
            f"list_transform(string_split({c}, '|'), lambda x: trim(x)), lambda x: x <> '') END"
        )
    if raw.is_list:
        return "NULL"
    if t is T.STRING:
        return f"nullif({c}, '')"
    v = f"nullif(trim({c}), '')"
    if t is T.MONEY:
        return (
            f"CASE WHEN regexp_full_match({v}, '{_MONEY_RE}') THEN CAST({v} AS DECIMAL(18,4)) END"
        )
    if t is T.NUMBER:
        return (
            f"CASE WHEN regexp_full_match({v}, '{_NUMBER_RE}') THEN CAST({v} AS DECIMAL(38,10)) END"
        )
    if t is T.INT:
        return (
            f"CASE WHEN regexp_full_match({v}, '{_INT_RE}') "
            f"THEN CAST(regexp_extract({v}, '^[+-]?[0-9]+') AS INTEGER) END"
        )
    if t is T.BOOL:
        return (
            f"CASE WHEN lower({v}) IN {_TRUE} THEN TRUE WHEN lower({v}) IN {_FALSE} THEN FALSE END"
        )
    if t is T.DATE:
        iso = f"CASE WHEN regexp_full_match({v}, '{_DATE_RE}') THEN try_cast({v} AS DATE) END"
        if date_format:
            return f"coalesce(CAST(try_strptime({v}, $date_format) AS DATE), {iso})"
        return iso
    # TIMESTAMP: naive text is UTC (the session time zone); stored naive UTC.
    iso = (
        f"CASE WHEN regexp_full_match({v}, '{_TS_RE}') "
        f"THEN timezone('UTC', try_cast({v} AS TIMESTAMPTZ)) END"
    )
    if date_format:
        return (
            f"coalesce(timezone('UTC', CAST(try_strptime({v}, $date_format) AS TIMESTAMPTZ)), "
            f"{iso})"
        )
    return iso


def _used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    # Only the parameters this statement uses: DuckDB refuses unused ones (a bad number
    # in a file imported with --date-format failed with a binder error).
    return {k: v for k, v in params.items() if f"${k}" in sql}


def bad_rows(
    con: duckdb.DuckDBPyConnection,
    checks: list[tuple[str, str, str, str]],
    params: dict[str, Any],
    limit: int = 20,
) -> tuple[list[BadRow], int]:
    """Run ``checks`` (column name, raw SQL, condition that marks a row bad, reason) over
    ``raw``, :data:`CHECKS_PER_QUERY` at a time (linear in the number of checks);
    returns up to ``limit`` bad rows (by row, then column order) and the number of rows
    with at least one bad value."""
    if not checks:
        return [], 0
    counts: list[int] = []
    for start in range(0, len(checks), CHECKS_PER_QUERY):
        part = checks[start : start + CHECKS_PER_QUERY]
        counts_sql = (
            "SELECT "  # noqa: S608 - generated conditions, values are parameters
            + ", ".join(f"count(*) FILTER (WHERE {cond})" for _, _, cond, _ in part)
            + " FROM raw"
        )
        row: Any = con.execute(counts_sql, _used(counts_sql, params)).fetchone()
        counts += [int(n) for n in row]
    if not any(counts):
        return [], 0
    # Rows with at least one bad value, over the chunks that found any.
    bad_chunks = [
        checks[start : start + CHECKS_PER_QUERY]
        for start in range(0, len(checks), CHECKS_PER_QUERY)
        if any(counts[start : start + CHECKS_PER_QUERY])
    ]
    unions = " UNION ".join(
        "SELECT __row FROM raw WHERE "  # noqa: S608
        + " OR ".join(f"coalesce({cond}, FALSE)" for _, _, cond, _ in part)
        for part in bad_chunks
    )
    total_sql = f"SELECT count(*) FROM ({unions})"  # noqa: S608
    total_row: Any = con.execute(total_sql, _used(total_sql, params)).fetchone()
    total = int(total_row[0])
    found: list[tuple[int, int, BadRow]] = []
    for index, ((name, raw, cond, reason), n) in enumerate(zip(checks, counts, strict=True)):
        if not n:
            continue
        # NUL shown as \0, and a long value cut (the row and column say where it is).
        shown = f"left(replace(CAST({raw} AS VARCHAR), chr(0), '\\0'), 200)"
        listing = (
            f"SELECT __row, {shown} FROM raw WHERE {cond} "  # noqa: S608
            f"ORDER BY __row LIMIT {int(limit)}"
        )
        rows = con.execute(listing, _used(listing, params)).fetchall()
        found += [(int(r), index, BadRow(int(r), name, v, reason)) for r, v in rows]
    found.sort(key=lambda item: (item[0], item[1]))
    return [b for _, _, b in found[:limit]], total


def type_checks(
    columns: list[tuple[RawColumn, Col]], date_format: str | None
) -> list[tuple[str, str, str, str]]:
    """One check per column: a present value that does not type, or a missing required."""
    checks = []
    for raw, col in columns:
        typed = typed_expr(raw, col.type, date_format is not None)
        present = (
            f"{raw.sql} IS NOT NULL" if raw.is_list else f"nullif(trim({raw.sql}), '') IS NOT NULL"
        )
        reason = REASONS[col.type] if not raw.is_list or col.type is T.LIST else REASONS[T.STRING]
        if date_format and col.type in (T.DATE, T.TIMESTAMP):
            reason = reason.replace("(expected ", f"(expected {date_format} or ")
        checks.append((raw.name, raw.sql, f"{present} AND ({typed}) IS NULL", reason))
        if col.required:
            checks.append((raw.name, raw.sql, f"NOT ({present})", "required value is missing"))
        checks.append((raw.name, raw.sql, _has(raw, "strpos({v}, chr(0)) > 0"), _NUL))
    return checks


_NUL = "contains a NUL byte (\\0), which no text value may hold"


def _has(raw: RawColumn, condition: str) -> str:
    """SQL: the value (or, for a list, one of its items) meets ``condition``, a template
    over ``{v}``."""
    if raw.is_list:
        inner = condition.format(v="x")
        return f"coalesce(list_bool_or(list_transform({raw.sql}, lambda x: {inner})), FALSE)"
    return f"coalesce({condition.format(v=raw.sql)}, FALSE)"


def id_checks(columns: list[RawColumn]) -> list[tuple[str, str, str, str]]:
    """Ids are strings or integers: a JSON boolean, fraction or object, or a typed column
    of another type, is refused on the rows that have a value."""
    checks = []
    for raw in columns:
        if raw.name not in ID_COLUMNS:
            continue
        if raw.json_type is not None:
            cond = f"{raw.json_type} NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'NULL')"
            reason = "not an id (an id is a string or an integer)"
            checks.append((raw.name, raw.sql, cond, reason))
        elif raw.source_type is not None and not (
            raw.source_type == "VARCHAR" or raw.source_type.startswith(_INTEGER_SOURCE)
        ):
            reason = f"not an id (an id is a string or an integer; the column is {raw.source_type})"
            checks.append((raw.name, raw.sql, f"{raw.sql} IS NOT NULL", reason))
    return checks


def length_checks(columns: list[RawColumn], limit: int) -> list[tuple[str, str, str, str]]:
    """Values (or list items) longer than ``limit`` characters."""
    reason = f"longer than {limit} characters"
    condition = f"length({{v}}) > {int(limit)}"
    return [(raw.name, raw.sql, _has(raw, condition), reason) for raw in columns]


def infer_types(con: duckdb.DuckDBPyConnection, columns: list[RawColumn]) -> dict[str, FieldType]:
    """Infer a new attribute's type: from the column's own type in a typed source (Parquet,
    Arrow), else from all its values: boolean, number, date, timestamp, else string;
    arrays are lists. Patterns, not casts, decide, so one impossible date in a date
    column is reported as a bad value rather than turning the column into text."""
    if not columns:
        return {}
    parts = []
    for raw in columns:
        v = f"nullif(trim({raw.sql}), '')" if not raw.is_list else "NULL"
        parts += [
            f"bool_and(lower({v}) IN ('true', 'false'))",
            f"bool_and(regexp_full_match({v}, '[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)'))",
            f"bool_and(regexp_full_match({v}, '{_DATE_RE}'))",
            f"bool_and(regexp_full_match({v}, '{_TS_RE}'))",
        ]
    row: Any = con.execute("SELECT " + ", ".join(parts) + " FROM raw").fetchone()  # noqa: S608
    result: dict[str, FieldType] = {}
    for i, raw in enumerate(columns):
        is_bool, is_num, is_date, is_ts = row[4 * i : 4 * i + 4]
        declared = _declared_type(raw.source_type)
        if declared is not None:
            result[raw.name] = declared
        elif raw.is_list:
            result[raw.name] = FieldType.STRING_LIST
        elif is_bool:
            result[raw.name] = FieldType.BOOLEAN
        elif is_num:
            result[raw.name] = FieldType.NUMBER
        elif is_date:
            result[raw.name] = FieldType.DATE
        elif is_ts:
            result[raw.name] = FieldType.TIMESTAMP
        else:  # also a column with no value at all
            result[raw.name] = FieldType.STRING
    return result


_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                  "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")  # fmt: skip


def _declared_type(source_type: str | None) -> FieldType | None:
    """The attribute type a typed source declares (so an all-null BOOLEAN column is still
    boolean); None when the values must decide (text sources)."""
    if source_type is None:
        return None
    if source_type.endswith("[]"):
        return FieldType.STRING_LIST
    if source_type == "BOOLEAN":
        return FieldType.BOOLEAN
    if source_type.startswith(_NUMERIC_TYPES):
        return FieldType.NUMBER
    if source_type == "DATE":
        return FieldType.DATE
    if source_type.startswith("TIMESTAMP"):
        return FieldType.TIMESTAMP
    if source_type == "VARCHAR":
        return FieldType.STRING
    return None
