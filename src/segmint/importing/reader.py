"""Reading a file (or an Arrow table) into a scratch DuckDB table of raw values.

The result is ``raw(__row, c0, c1, …)``: ``__row`` is the 1-based data row, each ``cN``
is VARCHAR (or VARCHAR[] for arrays), and :class:`RawColumn` keeps the user's column
name in Python. Column names never enter SQL text: files are renamed positionally
(``AS t(c0, c1, …)``) and JSON keys are bound parameters.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from segmint.errors import BadRow, ImportError_
from segmint.importing import limits

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("csv", "jsonl", "parquet")
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
#: Nested objects flattened into ``NAME.KEY`` columns.
NESTED = ("attributes", "properties")


@dataclass
class RawColumn:
    name: str  # after --map
    sql: str  # position-named column in ``raw`` (c0, c1, …)
    is_list: bool
    source_type: str | None = None  # DuckDB type of a typed source (Parquet, Arrow) column
    #: SQL over ``raw`` giving each row's JSON type (JSON Lines), kept only for a key
    #: whose values are not all text, integers or null (an id must be one of those).
    json_type: str | None = None


def detect_format(path: str, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise ImportError_(path, [], 0, note=f"unknown format {fmt!r} (csv, jsonl, parquet)")
        return fmt
    found = EXTENSIONS.get(Path(path).suffix.lower())
    if found is None:
        raise ImportError_(
            path,
            [],
            0,
            note="cannot tell the format from the extension "
            "(.csv, .jsonl, .ndjson, .parquet); pass --format",
        )
    return found


#: Columns per file: the kind's own plus its open-ended ones (limits.py); checked before
#: any work per column.
MAX_COLUMNS = limits.PROPERTY_NAMES_PER_CALL + 100
_ID_JSON_TYPES = "('VARCHAR', 'BIGINT', 'UBIGINT', 'NULL')"


def _check_width(source: str, count: int) -> None:
    if count > MAX_COLUMNS:
        raise ImportError_(
            source, [], 0, note=f"{count} columns, at most {MAX_COLUMNS} per file (split it)"
        )


def _check_parquet(source: str, path: str) -> None:
    """A Parquet file starts and ends with the magic bytes ``PAR1``: say so plainly
    rather than pass DuckDB's reader error on."""
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 4))
        tail = f.read(4)
    if size < 12 or head != b"PAR1" or tail != b"PAR1":
        raise ImportError_(
            source,
            [],
            0,
            note="not a Parquet file (it lacks Parquet's PAR1 markers); for CSV or JSON "
            "Lines, name it .csv/.jsonl or pass --format",
        )


def _refuse(source: str, error: Exception) -> ImportError_:
    text = str(error).strip()
    return ImportError_(source, [], 0, note=f"cannot read the file: {text}")


def _positional(n: int) -> str:
    return ", ".join(f"c{i}" for i in range(n))


def _is_list_type(type_text: str) -> bool:
    return type_text.endswith("[]")


def _is_nested_type(type_text: str) -> bool:
    return type_text.startswith(("STRUCT", "MAP", "JSON"))


def read_source(
    con: duckdb.DuckDBPyConnection,
    source: str,
    fmt: str,
    *,
    path: str | None = None,
    table: pa.Table | None = None,
) -> list[RawColumn]:
    """Create ``raw`` in ``con`` from a file (``path``) or an Arrow ``table``."""
    try:
        if fmt == "jsonl":
            assert path is not None
            return _read_jsonl(con, source, path)
        if table is not None:
            con.register("arrow_source", table)
            scan, params = "arrow_source", {}
        elif fmt == "csv":
            # RFC 4180 quoting, strictly: without a fixed quote character the sniffer
            # reads an unterminated quote as text ('"abc') or the file as one column.
            scan = (
                "read_csv($path, all_varchar = true, header = true, quote = '\"', "
                "escape = '\"', strict_mode = true)"
            )
            params = {"path": path}
        else:
            if path is not None:
                _check_parquet(source, path)
            scan, params = "read_parquet($path)", {"path": path}
        cursor = con.execute(f"SELECT * FROM {scan} LIMIT 0", params)  # noqa: S608 - fixed text
        described = [(d[0], str(d[1])) for d in cursor.description or []]
        if fmt == "csv" and path is not None and len(described) == 1:
            diagnose_csv(source, path)
        _check_width(source, len(described))
        names = [d[0] for d in described]
        exprs = []
        nested: list[tuple[int, str]] = []
        for i, (name, type_text) in enumerate(described):
            if _is_list_type(type_text):
                exprs.append(f"CAST(c{i} AS VARCHAR[]) AS c{i}")
            elif _is_nested_type(type_text) and name in NESTED:
                exprs.append(f"CAST(to_json(c{i}) AS VARCHAR) AS c{i}")
                nested.append((i, name))
            else:
                exprs.append(f"CAST(c{i} AS VARCHAR) AS c{i}")
        con.execute(
            "CREATE TEMP TABLE raw0 AS SELECT row_number() OVER () AS __row, "  # noqa: S608
            + ", ".join(exprs)
            + f" FROM {scan} AS t({_positional(len(names))})",
            params,
        )
        typed_source = fmt != "csv"
        columns = [
            RawColumn(name, f"c{i}", _is_list_type(t), t if typed_source else None)
            for i, (name, t) in enumerate(described)
            if name not in dict((n, i) for i, n in nested)
        ]
        return columns + _finish(con, source, nested, len(names))
    except duckdb.Error as error:
        if fmt == "csv" and path is not None:
            diagnose_csv(source, path)  # raises naming the row, when Python's reader can
        raise _refuse(source, error) from None
    finally:
        if table is not None:
            con.unregister("arrow_source")


def _csv_reason(error: csv.Error, line: int) -> str:
    text = str(error)
    if "unexpected end of data" in text or "EOF" in text:
        return f'unterminated quoted value (the " opened on line {line} is never closed)'
    if "expected after" in text:
        return 'text after a closing quote (a " inside a quoted value is written "")'
    return f"not valid CSV ({text})"


def diagnose_csv(source: str, path: str) -> None:
    """What DuckDB's reader could not say: the first row that is not valid CSV (an
    unterminated quote, text after a closing quote) or has another number of fields than
    the header — raised as a bad row naming it and its line. Returns when Python's strict
    reader finds nothing wrong. Only run once DuckDB has failed (or fell back to reading
    the file as one column), so a good file pays nothing."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        header = f.readline()
        delimiter = next((d for d in ",;\t|" if d in header), ",")
        f.seek(0)
        reader = csv.reader(f, delimiter=delimiter, strict=True)
        width: int | None = None
        row = 0
        while True:
            line = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                where = BadRow(row + 1 if width is not None else 0, "(row)",
                               _line_text(path, line), _csv_reason(error, line))  # fmt: skip
                raise ImportError_(source, [where], 1) from None
            if width is None:
                width = len(fields)
                continue
            row += 1
            if fields and len(fields) != width:
                reason = f"has {len(fields)} fields, the header has {width}"
                shown = delimiter.join(fields)[:80]
                raise ImportError_(source, [BadRow(row, "(row)", shown, reason)], 1)


def _line_text(path: str, number: int) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        for index, text in enumerate(f, start=1):
            if index == number:
                return text.rstrip("\r\n")[:80]
    return ""


def _check_nested(
    con: duckdb.DuckDBPyConnection, source: str, table: str, i: int, name: str, keys: int
) -> None:
    """The bounds on a JSON object column (limits.py), before a column per key is made:
    properties per event, then distinct names per file."""
    if name == "properties":
        widest = con.execute(
            f"SELECT __row, len(json_keys(c{i}::JSON)) AS n FROM {table} "  # noqa: S608
            f"WHERE json_type(c{i}::JSON) = 'OBJECT' ORDER BY n DESC, __row LIMIT 1"
        ).fetchone()
        if widest is not None and int(widest[1]) > limits.PROPERTIES_PER_EVENT:
            raise ImportError_(
                source, [limits.too_many_properties(int(widest[0]), int(widest[1]))], 1
            )
        if keys > limits.PROPERTY_NAMES_PER_CALL:
            raise limits.too_many_property_names(source, keys)
    elif keys > limits.ATTRIBUTES_PER_CALL:
        raise limits.too_many_attributes(source, keys)


def _flatten(
    con: duckdb.DuckDBPyConnection,
    source: str,
    table: str,
    nested: list[tuple[int, str]],
    start: int,
) -> tuple[list[str], dict[str, str], list[RawColumn]]:
    """Columns ``NAME.KEY`` for each key of the JSON-text object columns in ``nested``:
    (select expressions, their bound key parameters, the new columns)."""
    exprs: list[str] = []
    params: dict[str, str] = {}
    columns: list[RawColumn] = []
    position = start
    for i, name in nested:
        keys = con.execute(
            f"SELECT k FROM (SELECT unnest(json_keys(c{i}::JSON)) AS k, "  # noqa: S608
            f"unnest(range(len(json_keys(c{i}::JSON)))) AS o, __row FROM {table} "
            f"WHERE json_type(c{i}::JSON) = 'OBJECT') GROUP BY k ORDER BY min(__row), min(o)"
        ).fetchall()
        _check_nested(con, source, table, i, name, len(keys))
        for (key,) in keys:
            row: Any = con.execute(
                f"SELECT bool_or(json_type(c{i}::JSON -> $k) = 'ARRAY') FROM {table}",  # noqa: S608
                {"k": key},
            ).fetchone()
            is_list = bool(row[0])
            param = f"k{position}"
            params[param] = str(key)
            exprs.append(f"{_json_value(f'c{i}::JSON', param, is_list)} AS c{position}")
            columns.append(RawColumn(f"{name}.{key}", f"c{position}", is_list))
            position += 1
    return exprs, params, columns


def _json_value(container: str, param: str, is_list: bool) -> str:
    """The value of key ``$param`` of a JSON object (the key is a bound parameter)."""
    value = f"({container} -> ${param})"
    if is_list:
        return (
            f"CASE json_type({value}) WHEN 'ARRAY' THEN CAST({value} AS VARCHAR[]) "
            f"WHEN 'NULL' THEN NULL ELSE string_split({container} ->> ${param}, '|') END"
        )
    return f"({container} ->> ${param})"


def _finish(
    con: duckdb.DuckDBPyConnection, source: str, nested: list[tuple[int, str]], start: int
) -> list[RawColumn]:
    exprs, params, columns = _flatten(con, source, "raw0", nested, start)
    con.execute(
        "CREATE TEMP TABLE raw AS SELECT *"  # noqa: S608 - generated names only
        + "".join(f", {e}" for e in exprs)
        + " FROM raw0",
        params,
    )
    return columns


def _read_jsonl(con: duckdb.DuckDBPyConnection, source: str, path: str) -> list[RawColumn]:
    con.execute(
        "CREATE TEMP TABLE j AS SELECT row_number() OVER () AS __row, json "
        "FROM read_json_objects($path, format = 'newline_delimited')",
        {"path": path},
    )
    bad = con.execute(
        "SELECT __row FROM j WHERE json_type(json) <> 'OBJECT' ORDER BY __row LIMIT 1"
    ).fetchone()
    if bad is not None:
        raise ImportError_(source, [], 0, note=f"line {bad[0]} is not a JSON object")
    keys = [
        str(k)
        for (k,) in con.execute(
            "SELECT k FROM (SELECT unnest(json_keys(json)) AS k, "
            "unnest(range(len(json_keys(json)))) AS o, __row FROM j) "
            "GROUP BY k ORDER BY min(__row), min(o)"
        ).fetchall()
    ]
    _check_width(source, len(keys))
    columns: list[RawColumn] = []
    exprs: list[str] = []
    params: dict[str, str] = {}
    nested: list[tuple[int, str]] = []
    for i, key in enumerate(keys):
        params[f"k{i}"] = key
        kinds_sql = (
            "SELECT bool_or(json_type(json -> $k) = 'ARRAY'), "  # noqa: S608 - fixed text
            "bool_or(json_type(json -> $k) = 'OBJECT'), "
            f"bool_or(json_type(json -> $k) NOT IN {_ID_JSON_TYPES}) FROM j"
        )
        kinds = con.execute(
            kinds_sql,
            {"k": key},
        ).fetchone()
        is_list, is_object = bool(kinds and kinds[0]), bool(kinds and kinds[1])
        if is_object and key in NESTED:
            exprs.append(f"CAST(json -> $k{i} AS VARCHAR) AS c{i}")
            nested.append((i, key))
            continue
        exprs.append(f"{_json_value('json', f'k{i}', is_list)} AS c{i}")
        json_type = None
        if kinds and kinds[2]:
            exprs.append(f"json_type(json -> $k{i}) AS t{i}")
            json_type = f"t{i}"
        columns.append(RawColumn(key, f"c{i}", is_list, json_type=json_type))
    con.execute(
        "CREATE TEMP TABLE raw0 AS SELECT __row"  # noqa: S608 - keys are bound parameters
        + "".join(f", {e}" for e in exprs)
        + " FROM j",
        params,
    )
    return columns + _finish(con, path, nested, len(keys))


def apply_mapping(
    source: str, columns: list[RawColumn], mapping: Mapping[str, str] | None
) -> list[RawColumn]:
    """``--map SRC=DST``: rename before anything else; refuse unknown or clashing names."""
    mapping = dict(mapping or {})
    names = {c.name for c in columns}
    missing = [src for src in mapping if src not in names]
    if missing:
        raise ImportError_(
            source,
            [],
            0,
            note=f"--map: no column {missing[0]!r} in the file (it has: "
            + ", ".join(sorted(names))
            + ")",
        )
    renamed = [
        RawColumn(mapping.get(c.name, c.name), c.sql, c.is_list, c.source_type, c.json_type)
        for c in columns
    ]
    seen: dict[str, int] = {}
    for c in renamed:
        seen[c.name] = seen.get(c.name, 0) + 1
    dupes = sorted(n for n, k in seen.items() if k > 1)
    if dupes:
        raise ImportError_(source, [], 0, note=f"column {dupes[0]!r} appears more than once")
    return renamed


def row_count(con: duckdb.DuckDBPyConnection) -> int:
    row: Any = con.execute("SELECT COUNT(*) FROM raw").fetchone()
    return int(row[0])
