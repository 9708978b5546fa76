"""The ``Store`` interface: one database holding customers, orders, lines, events, catalog.

All SQL text lives here once (written with ``$name`` placeholders); a concrete store
implements only the primitives that differ: running a statement, transactions, staging
an Arrow table for a bulk merge, and how a list of ids is matched.

Boundary conventions (architecture.md): parameters that are aware datetimes are bound as
naive UTC; naive datetimes in results come back as aware UTC; Decimals stay Decimals.
"""

from __future__ import annotations

import abc
import datetime as dt
import re
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, ClassVar

from segmint.errors import SchemaError, StoreError, TimeLimitExceeded
from segmint.model.profile import Profile
from segmint.rules.schema import ATTRIBUTE_NAME, CUSTOMER_FIELDS, FieldType, Schema
from segmint.store import migrations
from segmint.store.arrow_profiles import collection_items, customer_profiles
from segmint.store.profile_reads import COLLECTIONS, PROFILE_READS, PRUNABLE, pruned
from segmint.store.sqltext import Fragment, fixed, ident, idents, in_staged, render

if TYPE_CHECKING:
    import pyarrow as pa

Row = tuple[Any, ...]

#: Tables counted by :meth:`Store.stats`, by the name they are reported under.
STAT_TABLES: dict[str, str] = {
    "customers": "customers",
    "orders": "orders",
    "lines": "order_lines",
    "events": "events",
    "products": "products",
    "accounts": "business_accounts",
    "wishlist_items": "wishlist_items",
    "attributes": "attribute_defs",
}

#: How long a successful :meth:`Store.require_schema` holds for this connection.
SCHEMA_RECHECK_SECONDS = 5.0

WISHLIST_ADD = "wishlist_add"
WISHLIST_REMOVE = "wishlist_remove"
ATTR_PREFIX = "attr_"


def to_db_value(value: Any) -> Any:
    """A parameter as the database wants it: aware datetimes become naive UTC."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, (list, tuple)):
        return [to_db_value(v) for v in value]
    return value


def from_db_value(value: Any) -> Any:
    """A result value as Python wants it: naive datetimes are UTC and become aware."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    return value


def convert_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: to_db_value(v) for k, v in (params or {}).items()}


def convert_rows(rows: Sequence[Sequence[Any]]) -> list[Row]:
    """Rows with :func:`from_db_value` applied. A result column is typed, so only the
    columns whose first non-null value is a datetime are converted (a worker batch
    reads millions of values; converting each one cost more than the queries)."""
    if not rows:
        return []
    timed: list[int] = []
    for index in range(len(rows[0])):
        for row in rows:
            value = row[index]
            if value is not None:
                if isinstance(value, dt.datetime):
                    timed.append(index)
                break
    if not timed:
        return [tuple(row) for row in rows]
    converted: list[Row] = []
    for row in rows:
        values = list(row)
        for index in timed:
            if values[index] is not None:
                values[index] = from_db_value(values[index])
        converted.append(tuple(values))
    return converted


class Store(abc.ABC):
    """A segmint database. Open with a concrete class, then :meth:`init` once."""

    dialect: ClassVar[str]
    #: A pseudo-column addressing a row for the rest of a transaction (DuckDB's
    #: ``rowid``), or None. A set-based write that has just read the rows it deletes
    #: deletes them by address instead of joining the whole table again on their keys.
    row_address: ClassVar[str | None] = None
    #: A staged batch of at most this many keys is probed through the indexed column's
    #: B-tree (``= ANY(ARRAY(SELECT …))``, :func:`sqltext.in_staged`) rather than joined
    #: to it; 0: never (a store whose planner has no such path, or needs none).
    probe_ids: ClassVar[int] = 0

    def __init__(self) -> None:
        self._tx_depth = 0
        self._lock_depth = 0
        self._schema_checked: tuple[int, float] = (-1, 0.0)  # (latest version, when)
        #: Monotonic instant past which statements are refused (limit_time), and the
        #: watchdog's token that interrupts the running one then.
        self.deadline: float | None = None
        self._limit_token: int | None = None
        self._limit_seconds: float | None = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- time limits --------------------------------------------------------------

    def limit_time(self, seconds: float | None) -> None:
        """Bound the work done through this store from now: after ``seconds`` the running
        statement is interrupted and every further one (but a rollback) refused with
        :class:`TimeLimitExceeded`. None lifts the bound."""
        from segmint.store import time_limit

        if self._limit_token is not None:
            time_limit.disarm(self._limit_token)
            self._limit_token = None
        self._limit_seconds = seconds
        if seconds is None or seconds == float("inf"):
            self.deadline = None
            return
        self.deadline = time.monotonic() + seconds
        deadline = self.deadline
        self._limit_token = time_limit.arm(deadline, lambda: self._on_deadline(deadline))

    def _on_deadline(self, deadline: float) -> None:
        # Only the limit still in force stops anything: a watchdog call racing a release
        # (or a later limit) must not interrupt the next borrower's work.
        if self.deadline == deadline and self._past_deadline():
            self.interrupt()

    def interrupt(self) -> None:  # noqa: B027 - a store that cannot be interrupted
        """Stop the statement running now (from another thread)."""

    def _check_time(self, sql: str) -> None:
        past = self.deadline is not None and time.monotonic() >= self.deadline
        if past and sql.strip().upper() != "ROLLBACK":
            raise self._time_error()

    def _time_error(self) -> TimeLimitExceeded:
        return TimeLimitExceeded(
            f"error: stopped after its time limit of {self._limit_seconds:g} s; nothing of "
            "it was written (a smaller request, or a file through segmint import, fits)"
        )

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline - 0.001

    # ---- primitives each store implements -------------------------------------------

    @abc.abstractmethod
    def _run(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Row]]:
        """Run one statement in the dialect's placeholder style; (column names, raw rows)."""

    @abc.abstractmethod
    def _begin(self) -> None: ...

    @abc.abstractmethod
    def _commit(self) -> None: ...

    @abc.abstractmethod
    def _rollback(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection; the store cannot be used afterwards."""

    @abc.abstractmethod
    def stage(self, name: str, table: pa.Table, *, json_columns: Sequence[str] = ()) -> str:
        """Make an Arrow table readable as a (temporary) table for bulk merges; returns its
        quoted name. Must be called inside :meth:`transaction`; :meth:`unstage` removes it.
        ``json_columns`` hold JSON text that the store types as its JSON type."""

    @abc.abstractmethod
    def unstage(self, name: str) -> None: ...

    @abc.abstractmethod
    def _run_arrow(self, sql: str, params: dict[str, Any]) -> pa.Table:
        """Like :meth:`_run`, the result as an Arrow table (timestamps naive UTC)."""

    @abc.abstractmethod
    def _in_list(self, column: Fragment, param: str) -> Fragment:
        """SQL testing ``column`` against a list-of-strings parameter ``$param``."""

    @contextmanager
    def bulk_write(self, rows: Mapping[str, int]) -> Iterator[None]:
        """Around a write of about ``rows[table]`` rows per table, made by the caller's
        transaction(s) inside it: a store may suspend a table's secondary indexes for a
        large one and build them again after (also after a kill: on the next open). Inside
        a transaction it does nothing."""
        yield

    def _in_ids(self, column: Fragment, param: str, count: int) -> Fragment:
        """Like :meth:`_in_list` for a list of ``count`` ids known in advance: a store may
        pick another form for a handful (an index lookup rather than a join)."""
        return self._in_list(column, param)

    def id_chunks(self, ids: Sequence[str]) -> list[Sequence[str]]:
        """How to split a read of these customers' rows into reads by :meth:`_in_ids`
        (each customer in exactly one chunk): one read here; a store whose index lookup
        takes only a few ids may read a few hundred in chunks of a few."""
        return [ids]

    def _placeholders(self, sql: str) -> str:
        """Shared SQL is written with ``$name``; a store rewrites it to its own style."""
        return sql

    # ---- running SQL --------------------------------------------------------------

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run SQL in this dialect's placeholder style (DuckDB ``$p1``, psycopg ``%(p1)s``)
        with named parameters; returns all rows with datetimes as aware UTC."""
        return convert_rows(self._run(sql, convert_params(params))[1])

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement whose result is not needed."""
        self._run(sql, convert_params(params))

    def _q(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Shared SQL (``$name`` placeholders)."""
        return self.query(self._placeholders(sql), params)

    def _q_named(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[Row]]:
        names, rows = self._run(self._placeholders(sql), convert_params(params))
        return names, convert_rows(rows)

    def _x(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.execute(self._placeholders(sql), params)

    def _count(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return int(self._q(sql, params)[0][0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside commit together or not at all (nesting joins the outer)."""
        if self._tx_depth:
            self._tx_depth += 1
            try:
                yield
            finally:
                self._tx_depth -= 1
            return
        self._begin()
        self._tx_depth = 1
        try:
            yield
        except BaseException:
            self._tx_depth = 0
            with suppress(StoreError):  # the original error matters more than the rollback's
                self._rollback()
            raise
        self._tx_depth = 0
        self._commit()

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the membership writer lock: every read-compute-write of memberships, due
        instants and segment definitions runs inside it, so two writers (processes, or
        connections of one server) never diff against the same rows at once. Reentrant;
        held across transactions (a refresh commits many). A store with one writing
        connection per database needs no lock (DuckDB: one process holds the file, and
        the service lends its one store to one request at a time)."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        self._acquire_writer()
        self._lock_depth = 1
        try:
            yield
        finally:
            self._lock_depth = 0
            self._release_writer()

    def lock_keys(self, space: int, keys: Sequence[str]) -> None:  # noqa: B027
        """Hold a lock on each key (in this order) until the transaction ends; a no-op where
        one connection writes (DuckDB)."""

    def _acquire_writer(self) -> None:  # noqa: B027 - a no-op unless the store has writers
        """Block until this connection holds the writer lock."""

    def _release_writer(self) -> None:  # noqa: B027
        """Release it (also released by the database if the connection dies)."""

    # ---- schema -------------------------------------------------------------------

    def table_exists(self, name: str) -> bool:
        return bool(
            self._count(
                "SELECT COUNT(*) FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_name = $name",
                {"name": name},
            )
        )

    def column_names(self, table: str) -> list[str]:
        rows = self._q(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $t ORDER BY ordinal_position",
            {"t": table},
        )
        return [str(r[0]) for r in rows]

    def column_slots(self, table: str) -> int:
        """How many of the table's column slots are used (PostgreSQL counts dropped
        columns too, and allows 1,600)."""
        return len(self.column_names(table))

    def schema_version(self) -> int | None:
        """The applied schema version, or None if this database was never initialised."""
        if not self.table_exists("segmint_meta"):
            return None
        rows = self._q("SELECT value FROM segmint_meta WHERE key = 'schema_version'")
        return int(rows[0][0]) if rows else None

    def require_schema(self) -> None:
        """Raise :class:`SchemaError` unless the schema is initialised and current."""
        # Checked at most every few seconds per connection: the per-order incremental
        # path calls this for every update (two queries, ~2 ms of a 50 ms budget).
        latest = migrations.latest_version()
        checked_for, checked_at = self._schema_checked
        if checked_for == latest and time.monotonic() - checked_at < SCHEMA_RECHECK_SECONDS:
            return
        version = self.schema_version()
        if version is None:
            raise SchemaError("error: the database has no segmint schema; run `segmint init`")
        if version > latest:
            raise SchemaError(
                f"error: the database schema is version {version}, newer than this segmint "
                f"understands ({latest}); upgrade segmint"
            )
        if version < latest:
            raise SchemaError(
                f"error: the database schema is version {version}, older than {latest}; "
                "run `segmint init` to upgrade it in place"
            )
        self._schema_checked = (latest, time.monotonic())

    def _lock_for_init(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Serialise concurrent ``init`` calls (PostgreSQL takes an advisory lock)."""

    def init(self) -> int:
        """Create the schema, or upgrade it in place to the latest version; idempotent.

        Each pending migration runs in one transaction with its version bump, so an
        interrupted upgrade leaves the database at the last completed version."""
        latest = migrations.latest_version()
        with self.transaction():
            self._lock_for_init()
            self._x(migrations.META_DDL)
            current = self.schema_version() or 0
            if current > latest:
                raise SchemaError(
                    f"error: the database schema is version {current}, newer than this "
                    f"segmint understands ({latest}); upgrade segmint"
                )
            if current == 0:
                self._x("INSERT INTO segmint_meta (key, value) VALUES ('timezone', 'UTC')")
                self._x("INSERT INTO segmint_meta (key, value) VALUES ('schema_version', '0')")
        for migration in sorted(migrations.MIGRATIONS, key=lambda m: m.version):
            if migration.version <= current:
                continue
            with self.transaction():
                for statement in migration.build(self.dialect):
                    self._x(statement)
                self._x(
                    "UPDATE segmint_meta SET value = $v WHERE key = 'schema_version'",
                    {"v": str(migration.version)},
                )
            current = migration.version
        return current

    def timezone(self) -> str:
        rows = self._q("SELECT value FROM segmint_meta WHERE key = 'timezone'")
        return str(rows[0][0]) if rows else "UTC"

    def attributes(self) -> dict[str, FieldType]:
        """Registered custom attributes and their types, by name."""
        rows = self._q("SELECT name, type FROM attribute_defs ORDER BY name")
        return {str(n): FieldType(t) for n, t in rows}

    def rule_schema(self) -> Schema:
        """What rules can read on this store: built-ins plus registered attributes."""
        return Schema(attributes=self.attributes(), timezone=self.timezone())

    def register_attributes(
        self, attributes: Mapping[str, FieldType], *, declared: bool = False
    ) -> list[str]:
        """Register custom attributes (adds typed ``attr_<name>`` columns); returns the
        names that were new. Re-registering with the same type is a no-op; a different
        type is refused (the column's values would no longer fit)."""
        existing = self.attributes()
        added: list[str] = []
        with self.transaction():
            for name, ftype in attributes.items():
                # attr_ + name must fit PostgreSQL's 63-byte identifiers (no truncation).
                if not ATTRIBUTE_NAME.match(name) or len(name) > 58:
                    raise StoreError(
                        f"error: invalid attribute name {name!r} "
                        "(up to 58 lower-case letters, digits and _, not starting with a digit)"
                    )
                if name in existing:
                    if existing[name] != ftype:
                        raise StoreError(
                            f"error: attribute {name!r} is registered as "
                            f"{existing[name].value}, not {ftype.value}"
                        )
                    continue
                column = ident(ATTR_PREFIX + name)
                sql_type = fixed(migrations.attribute_sql_type(ftype))
                self._x(render("ALTER TABLE customers ADD COLUMN {c} {t}", c=column, t=sql_type))
                self._x(
                    "INSERT INTO attribute_defs (name, type, declared, registered_at) "
                    "VALUES ($n, $t, $d, $at)",
                    {"n": name, "t": ftype.value, "d": declared, "at": dt.datetime.now(dt.UTC)},
                )
                added.append(name)
        return added

    # ---- reading --------------------------------------------------------------------

    def customer_ids(self) -> list[str]:
        return [str(r[0]) for r in self._q("SELECT id FROM customers ORDER BY id")]

    def stats(self) -> dict[str, int]:
        """Row counts per table, by name (customers, orders, lines, events, …)."""
        parts = [
            render("SELECT {n}, COUNT(*) FROM {t}", n=fixed(f"'{name}'"), t=ident(table))
            for name, table in STAT_TABLES.items()
        ]
        rows = self._q(" UNION ALL ".join(parts))
        counts = {str(n): int(c) for n, c in rows}
        return {name: counts[name] for name in STAT_TABLES}

    def load_profiles(
        self,
        customer_ids: Sequence[str],
        collections: Collection[str] | None = None,
        item_fields: Mapping[str, Collection[str]] | None = None,
    ) -> dict[str, Profile]:
        """Everything rules read about these customers: one query per table (per chunk of
        :meth:`id_chunks`), not per customer. Unknown ids are absent from the result.
        ``collections`` (``orders``, ``lines``, ``events``, ``wishlist``) limits which
        collections are read — the others stay empty — and ``item_fields`` which columns
        of the ``orders`` and ``lines`` items (the others are None), for a caller that
        knows what its rules read (:func:`segmint.rules.items.item_fields`)."""
        wanted = set(COLLECTIONS if collections is None else collections)
        ids = sorted(set(customer_ids))
        if not ids:
            return {}
        chunks = self.id_chunks(ids)
        profiles: dict[str, Profile] = {}
        for chunk in chunks:
            sql = render(
                "SELECT * FROM customers WHERE {f}",
                f=self._in_ids(fixed("customers.id"), "ids", len(chunk)),
            )
            result = self._run_arrow(self._placeholders(sql), convert_params({"ids": list(chunk)}))
            profiles.update(customer_profiles(result, CUSTOMER_FIELDS, ATTR_PREFIX))
        if not profiles:
            return {}

        for name in sorted(wanted & PROFILE_READS.keys()):
            table, columns, order, _ = PROFILE_READS[name]
            ordered = f"customer_id, {order}"
            kept: list[str] | None = None
            if item_fields is not None and name in PRUNABLE:
                # An engine's read: what rules compute of a collection does not depend on
                # the items' order, and sorting made DuckDB fetch (placed_at, order_id,
                # line_no) for every line though no rule read them (~8 of ~20 ms for a
                # customer with 240 lines, the tail of a one-order update).
                kept = pruned(name, item_fields.get(name, ()))[0]
                columns, ordered = ", ".join(kept), "customer_id"
            for chunk in chunks:
                # Columnar: the items are built per column (store/arrow_profiles.py).
                sql = render(
                    "SELECT customer_id{c} FROM {t} WHERE {w} ORDER BY {o}",
                    c=fixed(f", {columns}" if columns else ""),
                    t=ident(table),
                    w=self._in_ids(fixed("customer_id"), "ids", len(chunk)),
                    o=fixed(ordered),
                )
                result = self._run_arrow(
                    self._placeholders(sql), convert_params({"ids": list(chunk)})
                )
                for customer, items in collection_items(name, result, kept):
                    getattr(profiles[customer], name).extend(items)
        return profiles

    # ---- bulk merges used by the importer (inside one transaction) --------------------

    def upsert(
        self, table: str, key: Sequence[str], stage: str, columns: Sequence[str]
    ) -> tuple[int, int]:
        """Merge a staged table into ``table`` by ``key``: new keys are inserted, existing
        ones get exactly ``columns`` updated (other columns keep their values). Returns
        (inserted, updated)."""
        stage_t = fixed(stage)
        on = fixed(" AND ".join(f"s.{ident(k)} = t.{ident(k)}" for k in key))
        total = self._count(render("SELECT COUNT(*) FROM {s}", s=stage_t))
        if len(key) == 1 and total <= self.probe_ids:
            # The staged keys (unique: the importer refuses duplicates) probed through the
            # key's B-tree; PostgreSQL plans the EXISTS form as a hash join over a scan of
            # the whole table (5,000 orders against 5 M: a scan per import).
            existing = self._count(
                render(
                    "SELECT COUNT(*) FROM {t} AS t WHERE {probe}",
                    t=ident(table),
                    probe=in_staged(f"t.{ident(key[0])}", stage.strip('"'), probe=True, key=key[0]),
                )
            )
        else:
            existing = self._count(
                render(
                    "SELECT COUNT(*) FROM {s} AS s WHERE EXISTS "
                    "(SELECT 1 FROM {t} AS t WHERE {on})",
                    s=stage_t,
                    t=ident(table),
                    on=on,
                )
            )
        cols = list(columns)
        updates = [c for c in cols if c not in key]
        if existing == 0:
            # Fast path (first load): a plain bulk insert, no conflict handling needed.
            conflict = fixed("")
        elif updates:
            conflict = fixed(
                f" ON CONFLICT ({idents(key)}) DO UPDATE SET "
                + ", ".join(f"{ident(c)} = excluded.{ident(c)}" for c in updates)
            )
        else:
            conflict = fixed(f" ON CONFLICT ({idents(key)}) DO NOTHING")
        self._x(
            render(
                "INSERT INTO {t} ({c}) SELECT {c} FROM {s}{conflict}",
                t=ident(table),
                c=idents(cols),
                s=stage_t,
                conflict=conflict,
            )
        )
        return total - existing, existing

    def ensure_customers(self, stage: str, now: dt.datetime) -> int:
        """Create (id only) the customers a staged table's ``customer_id`` names that do not
        exist yet; returns how many were created."""
        # Counted as (distinct ids) - (ids that exist): the second is a semi-join that an
        # index serves for a small import (one order), where an anti-join scans customers.
        staged = self._count(
            render("SELECT COUNT(DISTINCT s.customer_id) FROM {s} AS s", s=fixed(stage))
        )
        existing = self._count(
            render(
                "SELECT COUNT(*) FROM customers AS c WHERE c.id IN "
                "(SELECT s.customer_id FROM {s} AS s)",
                s=fixed(stage),
            )
        )
        created = staged - existing
        missing = render(
            "SELECT DISTINCT s.customer_id FROM {s} AS s WHERE NOT EXISTS "
            "(SELECT 1 FROM customers AS c WHERE c.id = s.customer_id)",
            s=fixed(stage),
        )
        if created:
            self._x(
                render(
                    "INSERT INTO customers (id, updated_at) SELECT m.customer_id, $now "
                    "FROM ({m}) AS m",
                    m=fixed(missing),
                ),
                {"now": now},
            )
        return created

    def replace_lines(self, lines_stage: str, orders_stage: str) -> tuple[int, int]:
        """Replace the lines of every staged order with the staged lines. A line without
        product_name/brand/category takes them from ``products`` as it is now (a later
        products import does not rewrite lines). Returns (inserted, deleted)."""
        deleted = self._count(
            render(
                "SELECT COUNT(*) FROM order_lines WHERE order_lines.order_id IN "
                "(SELECT o.id FROM {o} AS o)",
                o=fixed(orders_stage),
            )
        )
        if deleted:
            self._x(
                render(
                    "DELETE FROM order_lines WHERE order_lines.order_id IN "
                    "(SELECT o.id FROM {o} AS o)",
                    o=fixed(orders_stage),
                )
            )
        self._x(
            render(
                "INSERT INTO order_lines (order_id, line_no, customer_id, sku, product_name, "
                "brand, category, quantity, unit_price, amount, placed_at, status, store) "
                "SELECT l.order_id, l.line_no, l.customer_id, l.sku, "
                "COALESCE(l.product_name, p.product_name), COALESCE(l.brand, p.brand), "
                "COALESCE(l.category, p.category), l.quantity, l.unit_price, l.amount, "
                "l.placed_at, l.status, l.store "
                "FROM {l} AS l LEFT JOIN products AS p ON p.sku = l.sku",
                l=fixed(lines_stage),
            )
        )
        inserted = self._count(render("SELECT COUNT(*) FROM {l}", l=fixed(lines_stage)))
        return inserted, deleted

    def refresh_wishlist(self, events_stage: str) -> tuple[int, int]:
        """Recompute ``wishlist_items`` for every (customer, sku) a staged wishlist event
        touches, from all stored events: the item is present iff the latest
        wishlist_add/wishlist_remove is an add (``added_at`` = that add). Order-independent
        and idempotent. Returns (present after, removed before re-adding)."""
        pairs = render(
            "SELECT DISTINCT s.customer_id, s.sku FROM {s} AS s "
            "WHERE lower(s.type) IN ($add, $remove) AND s.sku IS NOT NULL",
            s=fixed(events_stage),
        )
        params = {"add": WISHLIST_ADD, "remove": WISHLIST_REMOVE}
        if not self._count(render("SELECT COUNT(*) FROM ({p}) AS p", p=fixed(pairs)), params):
            return 0, 0
        removed = self._count(
            render(
                "SELECT COUNT(*) FROM wishlist_items AS w WHERE EXISTS (SELECT 1 FROM ({p}) AS p "
                "WHERE p.customer_id = w.customer_id AND p.sku = w.sku)",
                p=fixed(pairs),
            ),
            params,
        )
        self._x(
            render(
                "DELETE FROM wishlist_items WHERE EXISTS (SELECT 1 FROM ({p}) AS p "
                "WHERE p.customer_id = wishlist_items.customer_id "
                "AND p.sku = wishlist_items.sku)",
                p=fixed(pairs),
            ),
            params,
        )
        self._x(
            render(
                "INSERT INTO wishlist_items (customer_id, sku, added_at) "
                'SELECT customer_id, sku, "at" FROM ('
                '  SELECT e.customer_id, e.sku, e."at", lower(e.type) AS t, row_number() OVER ('
                '    PARTITION BY e.customer_id, e.sku ORDER BY e."at" DESC, e.id DESC) AS rn'
                "  FROM events AS e JOIN ({p}) AS p "
                "    ON p.customer_id = e.customer_id AND p.sku = e.sku"
                "  WHERE lower(e.type) IN ($add, $remove)) AS latest "
                "WHERE rn = 1 AND t = $add",
                p=fixed(pairs),
            ),
            params,
        )
        present = self._count(
            render(
                "SELECT COUNT(*) FROM wishlist_items AS w WHERE EXISTS (SELECT 1 FROM ({p}) AS p "
                "WHERE p.customer_id = w.customer_id AND p.sku = w.sku)",
                p=fixed(pairs),
            ),
            params,
        )
        return present, removed


_PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def dollar_to_pyformat(sql: str) -> str:
    """``$name`` -> ``%(name)s`` (and a literal ``%`` doubled), for psycopg."""
    return _PLACEHOLDER.sub(r"%(\1)s", sql.replace("%", "%%"))
