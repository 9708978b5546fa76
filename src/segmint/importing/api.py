"""``import_file`` and ``import_arrow``: read, validate whole, build, load in one transaction.

1. read the source into a scratch in-memory DuckDB as text (``reader``);
2. ``--map`` renames; unknown and missing required columns refuse the file;
3. every value is type-checked in one vectorised pass (``columns``), then business rules
   (duplicate keys, orders whose rows disagree) — any bad value refuses the whole file
   with up to 20 (row, column, value, reason) and the total count;
4. typed Arrow tables are built (``build``) and merged into the store in ONE transaction
   with bulk paths only (Arrow scan in DuckDB, COPY in PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from segmint.errors import BadRow, ImportError_, StoreError
from segmint.importing import build, limits
from segmint.importing.columns import (
    FIELD_TO_T,
    KINDS,
    OPEN_PREFIX,
    SPECS,
    Col,
    T,
    bad_rows,
    id_checks,
    infer_types,
    length_checks,
    type_checks,
)
from segmint.importing.reader import RawColumn, apply_mapping, detect_format, read_source, row_count
from segmint.importing.report import STEPS, ImportReport, Progress, TableCounts, terminal_progress
from segmint.rules.schema import ATTRIBUTE_NAME, FieldType
from segmint.store import outbox, time_limit
from segmint.store.outbox import Work

if TYPE_CHECKING:
    import pyarrow as pa

    from segmint.store.base import Store


def import_file(
    store: Store,
    kind: str,
    path: str | Path,
    *,
    fmt: str | None = None,
    mapping: Mapping[str, str] | None = None,
    date_format: str | None = None,
    progress: Progress | None = None,
    queue: Work | None = None,
    source: str | None = None,
) -> ImportReport:
    """Import a CSV, JSON Lines or Parquet file of ``kind`` (customers, orders, events,
    products, accounts). All or nothing: raises :class:`ImportError_` and stores nothing
    if any row is bad. With ``queue``, the touched customers are put in the membership
    outbox in the same transaction (``ImportReport.outbox_batch``). ``source`` names the
    file in reports and errors (default: ``path``; an upload names the client's file)."""
    file = str(path)
    shown = source or file
    if not Path(file).is_file():
        raise ImportError_(shown, [], 0, note="no such file")
    detected = detect_format(shown, fmt)
    return _run(store, kind, shown, detected, file, None, mapping, date_format, progress, queue)


def import_arrow(
    store: Store,
    kind: str,
    table: pa.Table,
    *,
    source: str,
    progress: Progress | None = None,
    queue: Work | None = None,
) -> ImportReport:
    """Import an in-memory Arrow table with the same columns, rules and guarantees as a
    file (``source`` names it in reports and errors); ``queue`` as for a file."""
    return _run(store, kind, source, "arrow", None, table, None, None, progress, queue)


def _run(
    store: Store,
    kind: str,
    source: str,
    fmt: str,
    path: str | None,
    table: pa.Table | None,
    mapping: Mapping[str, str] | None,
    date_format: str | None,
    progress: Progress | None,
    queue: Work | None = None,
) -> ImportReport:
    started = time.perf_counter()
    if kind not in KINDS:
        raise ImportError_(source, [], 0, note=f"unknown kind {kind!r} ({', '.join(KINDS)})")
    store.require_schema()
    show = progress if progress is not None else terminal_progress()

    def step(name: str) -> None:
        if show is not None:
            show(name, STEPS.index(name) + 1, len(STEPS))

    report = ImportReport(kind=kind, source=source)
    con = duckdb.connect()
    # The store's time limit (a request's) bounds the validation in the scratch database
    # too: it is interrupted with the store.
    token = time_limit.arm(store.deadline, con.interrupt) if store.deadline else None
    try:
        con.execute("SET TimeZone = 'UTC'")
        # Large files: let the scratch database spill to disk instead of running out of RAM.
        con.execute("SET temp_directory = $dir", {"dir": _scratch_dir()})
        columns = read_source(con, source, fmt, path=path, table=table)
        report.rows_read = row_count(con)
        step("read")
        columns = apply_mapping(source, columns, mapping)
        built, new_attrs = _validate_and_build(
            store, con, kind, source, columns, date_format, lambda: step("validate")
        )
        step("build")
    except (duckdb.Error, ImportError_) as error:
        if store.deadline is not None and time.monotonic() >= store.deadline - 0.001:
            raise store._time_error() from None  # interrupted (the reader says "cannot read")
        if isinstance(error, ImportError_):
            raise
        raise ImportError_(source, [], 0, note=str(error).strip()) from None
    finally:
        if token is not None:
            time_limit.disarm(token)
        con.close()
    _load(store, kind, built, new_attrs, report, queue)
    step("load")
    report.seconds = time.perf_counter() - started
    return report


def _scratch_dir() -> str:
    return str(Path(tempfile.gettempdir()) / f"segmint_import_{os.getpid()}")


def _refuse(source: str, bad: list[BadRow], total: int) -> None:
    if total:
        raise ImportError_(source, bad, total)


def _validate_and_build(
    store: Store,
    con: duckdb.DuckDBPyConnection,
    kind: str,
    source: str,
    columns: list[RawColumn],
    date_format: str | None,
    validated: Callable[[], None],
) -> tuple[build.Built, dict[str, FieldType]]:
    spec = SPECS[kind]
    prefix = OPEN_PREFIX.get(kind)
    known = {c.name: c for c in columns if c.name in spec}
    opened = [c for c in columns if prefix and c.name.startswith(prefix + ".")]
    unknown = [c.name for c in columns if c.name not in spec and c not in opened]
    if unknown:
        allowed = ", ".join(spec) + (f", {prefix}.NAME" if prefix else "")
        raise ImportError_(
            source,
            [],
            0,
            note=f"unknown column {unknown[0]!r} (a {kind} file has: {allowed}; "
            "rename with --map SRC=DST)",
        )
    missing = [name for name, col in spec.items() if col.required and name not in known]
    if missing:
        raise ImportError_(source, [], 0, note=f"missing required column {missing[0]!r}")

    _check_open_columns(con, source, kind, opened)
    typed_cols: list[tuple[str, RawColumn | None, T]] = [
        (name, known.get(name), col.type) for name, col in spec.items()
    ]
    checked: list[tuple[RawColumn, Col]] = [(known[name], spec[name]) for name in known]
    extra = id_checks(list(known.values()))
    new_attrs: dict[str, FieldType] = {}
    attr_names: list[str] = []
    if kind == "customers" and opened:
        registered = store.attributes()
        by_name = {c.name.removeprefix("attributes."): c for c in opened}
        for name in by_name:
            if not ATTRIBUTE_NAME.match(name) or len(name) > limits.ATTRIBUTE_NAME_CHARS:
                raise ImportError_(
                    source,
                    [],
                    0,
                    note=f"invalid attribute name {name!r} (up to 58 lower-case letters, "
                    "digits and _, not starting with a digit; rename with --map)",
                )
        fresh = [c for a, c in by_name.items() if a not in registered]
        _check_new_attributes(store, source, len(registered), [c.name for c in fresh])
        new_attrs = infer_types(con, fresh)
        new_attrs = {k.removeprefix("attributes."): v for k, v in new_attrs.items()}
        types = {**registered, **new_attrs}
        texts = []
        for name, raw in by_name.items():
            t = FIELD_TO_T[types[name]]
            typed_cols.append((f"attr_{name}", raw, t))
            checked.append((raw, Col(t)))
            attr_names.append(name)
            if t in (T.STRING, T.LIST):
                texts.append(raw)
        extra += length_checks(texts, limits.VALUE_CHARS)
    if kind == "events":
        for i, raw in enumerate(opened):
            typed_cols.append((f"p{i}", raw, T.STRING))
            checked.append((raw, Col(T.STRING)))
        extra += length_checks(opened, limits.VALUE_CHARS)

    params = {"date_format": date_format} if date_format else {}
    _refuse(source, *bad_rows(con, extra + type_checks(checked, date_format), params))
    validated()
    build.create_typed(con, kind, typed_cols, params)
    present = list(known)
    if kind == "orders":
        _refuse(source, *build.order_conflicts(con, present))
        return build.build_orders(con, present), new_attrs
    if kind == "events":
        _refuse(source, *build.duplicate_keys(con, "id", where='"id" IS NOT NULL'))
        props = [c.name.removeprefix("properties.") for c in opened]
        return build.build_events(con, props), new_attrs
    key = "sku" if kind == "products" else "id"
    _refuse(source, *build.duplicate_keys(con, key))
    if kind == "customers":
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return build.build_customers(con, present, attr_names, now), new_attrs
    return build.build_simple(con, kind, present), new_attrs


def _check_open_columns(
    con: duckdb.DuckDBPyConnection, source: str, kind: str, opened: list[RawColumn]
) -> None:
    """The bounds on ``attributes.NAME`` / ``properties.NAME`` columns (limits.py), before
    anything is done per column: how many, name lengths, properties per event."""
    if kind == "customers" and len(opened) > limits.ATTRIBUTES_PER_CALL:
        raise limits.too_many_attributes(source, len(opened))
    if kind != "events" or not opened:
        return
    if len(opened) > limits.PROPERTY_NAMES_PER_CALL:
        raise limits.too_many_property_names(source, len(opened))
    for raw in opened:
        name = raw.name.removeprefix("properties.")
        if len(name) > limits.PROPERTY_NAME_CHARS:
            raise limits.property_name_too_long(source, name)
    scalars = [c.sql for c in opened if not c.is_list]
    if not scalars:
        return
    # One list per row, not one expression per column: linear in the columns.
    given = f"len(list_filter([{', '.join(scalars)}], lambda x: nullif(x, '') IS NOT NULL))"
    widest: Any = con.execute(
        f"SELECT __row, {given} AS n FROM raw ORDER BY n DESC, __row LIMIT 1"  # noqa: S608
    ).fetchone()
    if widest is not None and int(widest[1]) > limits.PROPERTIES_PER_EVENT:
        raise ImportError_(source, [limits.too_many_properties(int(widest[0]), int(widest[1]))], 1)


def _check_new_attributes(store: Store, source: str, registered: int, new: list[str]) -> None:
    """New attributes are columns of ``customers``: a bounded number per call and in
    all; on PostgreSQL also within the table's column slots (a dropped column keeps its
    slot, and the table has at most 1,600)."""
    if not new:
        return
    names = [n.removeprefix("attributes.") for n in new]
    if len(names) > limits.NEW_ATTRIBUTES_PER_CALL:
        raise limits.too_many_new_attributes(source, names)
    if registered + len(names) > limits.ATTRIBUTES_TOTAL:
        raise limits.too_many_attributes_total(source, registered, len(names))
    slots = store.column_slots("customers")
    if slots + len(names) > limits.POSTGRES_COLUMN_SLOTS:
        raise ImportError_(
            source,
            [],
            0,
            note=f"{len(names)} new attributes would make the customers table "
            f"{slots + len(names)} column slots, at most {limits.POSTGRES_COLUMN_SLOTS} "
            "(PostgreSQL keeps the slots of dropped columns: see docs/api.md, Limits)",
        )


_TABLE = {"products": "products", "accounts": "business_accounts", "customers": "customers"}
_KEY = {"products": ["sku"], "accounts": ["id"], "customers": ["id"]}


def _load(
    store: Store,
    kind: str,
    built: build.Built,
    new_attrs: dict[str, FieldType],
    report: ImportReport,
    queue: Work | None = None,
) -> None:
    """Merge into the store: one transaction for the whole file (and, with ``queue``, the
    outbox batch of the customers it touched)."""
    now = dt.datetime.now(dt.UTC)
    staged: list[str] = []

    def stage(name: str, json_columns: tuple[str, ...] = ()) -> str:
        staged.append(name)
        return store.stage(name, built.tables[name], json_columns=json_columns)

    # What the import writes per table, for the store to prepare a bulk write.
    sizes = {
        {**_TABLE, "lines": "order_lines"}.get(name, name): t.num_rows
        for name, t in built.tables.items()
    }
    try:
        with store.bulk_write(sizes), store.transaction():
            if new_attrs:
                report.attributes_registered = store.register_attributes(new_attrs)
            if kind in _TABLE:
                columns = built.present + (["updated_at"] if kind == "customers" else [])
                staged_rows = stage(kind)
                ins, upd = store.upsert(_TABLE[kind], _KEY[kind], staged_rows, columns)
                report.tables[_TABLE[kind]] = TableCounts(ins, upd)
                if queue is not None and kind == "customers":
                    report.outbox_batch = outbox.queue_staged(store, staged_rows, "id", queue)
            elif kind == "orders":
                orders = stage("orders")
                created = store.ensure_customers(orders, now)
                ins, upd = store.upsert("orders", ["id"], orders, built.present)
                report.tables["orders"] = TableCounts(ins, upd)
                if built.has_lines:
                    li, ld = store.replace_lines(stage("lines"), orders)
                    report.tables["order_lines"] = TableCounts(li, 0, ld)
                report.tables["customers"] = TableCounts(created)
                if queue is not None:
                    report.outbox_batch = outbox.queue_staged(store, orders, "customer_id", queue)
            else:
                events = stage("events", ("properties",))
                created = store.ensure_customers(events, now)
                ins, upd = store.upsert("events", ["id"], events, built.present)
                report.tables["events"] = TableCounts(ins, upd)
                present, removed = store.refresh_wishlist(events)
                report.tables["wishlist_items"] = TableCounts(present, 0, removed)
                report.tables["customers"] = TableCounts(created)
                if queue is not None:
                    report.outbox_batch = outbox.queue_staged(store, events, "customer_id", queue)
    finally:
        for name in staged:
            with suppress(StoreError):  # a failed transaction already discarded it
                store.unstage(name)
    main = report.tables[_TABLE.get(kind, kind)]
    report.inserted, report.updated = main.inserted, main.updated
    touched = {"customers": ("customers", "id"), "orders": ("orders", "customer_id")}
    table, column = touched.get(kind, ("events", "customer_id"))
    if kind in ("customers", "orders", "events"):
        ids = built.tables[table].column(column).unique().to_pylist()
        report.customer_ids = sorted(str(i) for i in ids if i is not None)
