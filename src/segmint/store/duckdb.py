"""DuckDB store: one file (default ``./segmint.duckdb``) or ``:memory:``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import duckdb

from segmint.errors import StoreError, StoreLocked
from segmint.store.base import Row, Store
from segmint.store.sqltext import Fragment, fixed, ident, render

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_PATH = "segmint.duckdb"
#: Up to this many ids, per-customer reads are index lookups (see ``_in_ids``): DuckDB
#: 2.0 plans ``= ANY(list)`` as an ART lookup up to 50 values and as a full scan above
#: (memberships at 1 M customers: 50 ids ~19 ms, 51 ids ~117 ms).
FEW_IDS = 50
#: Up to this many chunks of FEW_IDS, per-customer reads are chunked index lookups; more
#: ids are read in one scan (200 ids: four lookups ~51 ms against one scan ~160 ms).
FEW_CHUNKS = 8
#: bulk_write suspends a table's secondary indexes for a write of this share of its rows…
BULK_SHARE = 0.25
#: …and at least this many rows.
BULK_MIN = 50_000


_SECONDARY = (
    "SELECT sql FROM duckdb_indexes() WHERE table_name = $t AND schema_name = current_schema() "
    "AND sql IS NOT NULL ORDER BY index_name"
)
_INDEX_NAME = re.compile(r"CREATE INDEX ([A-Za-z_][A-Za-z0-9_]*) ON ")
#: The holder named by DuckDB's refusal when another process has the file: "Could not set
#: lock on file "x.duckdb": Conflicting lock is held in /usr/bin/python3 (PID 123)".
_LOCK_PID = re.compile(r"\(PID (\d+)\)")


def _index_name(sql: str) -> str:
    found = _INDEX_NAME.match(sql)
    if found is None:
        raise StoreError(f"error: unexpected index definition {sql[:80]!r}")
    return found.group(1)


class DuckDBStore(Store):
    dialect: ClassVar[str] = "duckdb"
    row_address: ClassVar[str | None] = "rowid"

    def __init__(self, path: str | Path = DEFAULT_PATH) -> None:
        super().__init__()
        self.path = str(path)
        self._staged: set[str] = set()
        # A clean close checkpoints and removes the WAL; one left behind is a killed
        # writer's. DuckDB replays it on open but checkpoints on close only after a write,
        # so every read-only open (a CLI command) would replay it again: ~3.4 s for a
        # 214 MB WAL at 1 M customers. Checkpoint it once, here.
        left_wal = self.path != ":memory:" and Path(self.path + ".wal").exists()
        try:
            self._con: duckdb.DuckDBPyConnection | None = duckdb.connect(self.path)
            if left_wal:
                self._con.execute("CHECKPOINT")
            # Timestamps are stored naive UTC; keep any TIMESTAMPTZ arithmetic in UTC too.
            self._con.execute("SET TimeZone = 'UTC'")
            # The default 16 MB WAL threshold checkpoints (rewrites changed row groups and
            # indexes) every few small import batches: ~0.35 s per 5,000-order batch. A
            # larger WAL is checkpointed on close or once it reaches this size.
            self._con.execute("SET checkpoint_threshold = '256MB'")
        except duckdb.Error as error:
            message = f"error: cannot open DuckDB database {self.path!r}: {error}"
            if "Could not set lock on file" in str(error):
                pid = _LOCK_PID.search(str(error))
                raise StoreLocked(message, self.path, int(pid.group(1)) if pid else None) from None
            raise StoreError(message) from None
        # A bulk import killed after suspending indexes: build them again now.
        self._restore_indexes()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise StoreError("error: the DuckDB store is closed")
        return self._con

    def _run(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Row]]:
        self._check_time(sql)
        try:
            cursor = self.con.execute(sql, params) if params else self.con.execute(sql)
            if cursor.description is None:
                return [], []
            names = [d[0] for d in cursor.description]
            return names, cursor.fetchall()
        except duckdb.Error as error:
            if self._past_deadline():  # interrupted by limit_time's watchdog
                raise self._time_error() from None
            raise StoreError(f"error: DuckDB refused a statement: {error}") from None

    def _run_arrow(self, sql: str, params: dict[str, Any]) -> pa.Table:
        self._check_time(sql)
        try:
            # con.sql, not execute: a DB-API result copies the rows once more into Arrow.
            table: pa.Table = self.con.sql(sql, params=params or None).to_arrow_table()
            return table
        except duckdb.Error as error:
            if self._past_deadline():
                raise self._time_error() from None
            raise StoreError(f"error: DuckDB refused a statement: {error}") from None

    def interrupt(self) -> None:
        if self._con is not None:
            self._con.interrupt()

    def _begin(self) -> None:
        self._run("BEGIN TRANSACTION", {})

    def _commit(self) -> None:
        self._run("COMMIT", {})

    def _rollback(self) -> None:
        self._run("ROLLBACK", {})

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def stage(self, name: str, table: pa.Table, *, json_columns: Sequence[str] = ()) -> str:
        # Zero-copy: DuckDB scans the Arrow table in place. JSON columns are plain text
        # here; INSERT into a JSON column casts them.
        view = f"stage_{name}"
        ident(view)
        try:
            self.con.register(view, table)
        except duckdb.Error as error:
            raise StoreError(f"error: DuckDB could not stage {name}: {error}") from None
        self._staged.add(view)
        return str(ident(view))

    def unstage(self, name: str) -> None:
        view = f"stage_{name}"
        if view in self._staged and self._con is not None:
            self._con.unregister(view)
            self._staged.discard(view)

    def _in_list(self, column: Fragment, param: str) -> Fragment:
        ident(param)
        return fixed(render("{c} IN (SELECT UNNEST(${p}))", c=column, p=fixed(param)))

    @contextmanager
    def bulk_write(self, rows: Mapping[str, int]) -> Iterator[None]:
        # A secondary ART index is cheap to extend by appends but costly under mass
        # deletes and updates: re-importing 1.5 M lines took 67 s with the customer_id
        # indexes against 7.5 s with them dropped first. A write of at least a quarter of
        # a table (and BULK_MIN rows) drops that table's secondary indexes BEFORE its
        # transaction (dropped inside it, DuckDB still maintains them at commit) and
        # builds them again after (~0.5 s per million rows). Their definitions are kept in
        # segmint_meta until then, so a process killed in between has them rebuilt when
        # the store is next opened.
        if self._tx_depth:
            yield
            return
        suspended: list[str] = []
        for table, count in sorted(rows.items()):
            if count < BULK_MIN:
                continue
            total = self.query(render("SELECT COUNT(*) FROM {t}", t=ident(table)))[0][0]
            if count >= BULK_SHARE * int(total):
                suspended += [str(sql) for (sql,) in self.query(_SECONDARY, {"t": table})]
        if not suspended:
            yield
            return
        with self.transaction():
            self._set_suspended(suspended)
            for sql in suspended:
                self._run(render("DROP INDEX IF EXISTS {i}", i=ident(_index_name(sql))), {})
        try:
            yield
        finally:
            self._restore_indexes()

    def _set_suspended(self, statements: list[str]) -> None:
        self._run("DELETE FROM segmint_meta WHERE key = 'suspended_indexes'", {})
        if statements:
            self._run(
                "INSERT INTO segmint_meta (key, value) VALUES ('suspended_indexes', $v)",
                {"v": json.dumps(statements)},
            )

    def _restore_indexes(self) -> None:
        """Build again the indexes a bulk write suspended (also after a kill)."""
        if not self.table_exists("segmint_meta"):
            return
        rows = self.query("SELECT value FROM segmint_meta WHERE key = 'suspended_indexes'")
        if not rows:
            return
        with self.transaction():
            for sql in json.loads(str(rows[0][0])):
                name = _index_name(sql)
                self._run(
                    str(sql).replace(
                        f"CREATE INDEX {name} ", f"CREATE INDEX IF NOT EXISTS {name} ", 1
                    ),
                    {},
                )
            self._set_suspended([])

    def id_chunks(self, ids: Sequence[str]) -> list[Sequence[str]]:
        if FEW_IDS < len(ids) <= FEW_IDS * FEW_CHUNKS:
            return [ids[i : i + FEW_IDS] for i in range(0, len(ids), FEW_IDS)]
        return [ids]

    def _in_ids(self, column: Fragment, param: str, count: int) -> Fragment:
        # A few ids: `= ANY(list)` is an ART index lookup (~2 ms for one customer's lines
        # at 20 M rows); the semi-join form plans a join first (~6 ms, and slower tails).
        # One id (a checkout): `= list[1]` is a plain equality, ~20% faster (one
        # customer's lines 1.63 -> 1.29 ms, memberships 1.90 -> 1.51 ms at p50, warm).
        # Many ids: the semi-join scans once instead of probing the index per id.
        if count > FEW_IDS:
            return self._in_list(column, param)
        ident(param)
        if count == 1:
            return fixed(render("{c} = ${p}[1]", c=column, p=fixed(param)))
        return fixed(render("{c} = ANY(${p})", c=column, p=fixed(param)))
