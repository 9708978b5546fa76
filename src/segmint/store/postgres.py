"""PostgreSQL store via psycopg 3 (autocommit connection; explicit transactions)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg.conninfo import conninfo_to_dict

from segmint.errors import StoreError
from segmint.store.base import Row, Store, dollar_to_pyformat
from segmint.store.sqltext import Fragment, fixed, ident, idents, render

if TYPE_CHECKING:
    from collections.abc import Iterator

_BATCH_ROWS = 200_000
#: The advisory lock key of the membership writer lock (Store.writer_lock); init's is 736567.
WRITER_LOCK = 736568


def safe_target(url: str) -> str:
    """user@host:port/db for messages — never the password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:
        return "(unparseable URL)"
    user = f"{info['user']}@" if info.get("user") else ""
    return (
        f"{user}{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
    )


def pg_type(arrow_type: pa.DataType) -> str:
    """The staging column type for an Arrow column produced by the importer."""
    if (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
    ):
        return "TEXT"
    if pa.types.is_decimal(arrow_type):
        return f"NUMERIC({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    if pa.types.is_date(arrow_type):
        return "DATE"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_int64(arrow_type):
        return "BIGINT"
    if pa.types.is_integer(arrow_type):
        return "INTEGER"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return "TEXT[]"
    if pa.types.is_null(arrow_type):
        return "TEXT"
    raise StoreError(f"error: cannot stage an Arrow column of type {arrow_type}")


class PostgresStore(Store):
    dialect: ClassVar[str] = "postgres"
    #: A batch of at most this many staged ids is probed through the B-trees; a larger
    #: one is scanned. (20,000 ids made the bitmap lossy under the default work_mem, and
    #: its recheck searched the 20,000-element array for every row of every lossy page:
    #: 571 s, where the scan takes ~10 s.)
    probe_ids: ClassVar[int] = 5_000

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.target = safe_target(url)
        self._staged: set[str] = set()
        self._timeout_ms = 0
        try:
            self._conn: psycopg.Connection[Any] | None = psycopg.connect(
                url, autocommit=True, connect_timeout=10
            )
        except psycopg.Error as error:
            raise StoreError(
                f"error: cannot connect to PostgreSQL at {self.target}: {_first_line(error)}"
            ) from None
        self._run("SET TIME ZONE 'UTC'", {})

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            raise StoreError("error: the PostgreSQL store is closed")
        if self._conn.closed or self._conn.broken:
            raise StoreError(
                f"error: the connection to PostgreSQL at {self.target} was lost; "
                "check that the server is running and retry"
            )
        return self._conn

    def _error(self, error: psycopg.Error) -> StoreError:
        if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)) and (
            self._conn is None or self._conn.closed or self._conn.broken
        ):
            return StoreError(
                f"error: the connection to PostgreSQL at {self.target} was lost "
                f"({_first_line(error)}); check that the server is running and retry"
            )
        return StoreError(f"error: PostgreSQL refused a statement: {_first_line(error)}")

    def _run(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Row]]:
        self._check_time(sql)
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, params or None)
                if cur.description is None:
                    return [], []
                return [d.name for d in cur.description], cur.fetchall()
        except psycopg.Error as error:
            canceled = isinstance(error, psycopg.errors.QueryCanceled)
            if self._past_deadline() or (canceled and self.deadline is not None):
                raise self._time_error() from None
            raise self._error(error) from None

    def _run_arrow(self, sql: str, params: dict[str, Any]) -> pa.Table:
        # psycopg hands rows; each column becomes one Arrow array (types inferred: text,
        # NUMERIC as decimal, TIMESTAMP naive as stored, integers, booleans).
        names, rows = self._run(sql, params)
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        return pa.table([pa.array(list(c)) for c in columns], names=names)

    def limit_time(self, seconds: float | None) -> None:
        # The server bounds each statement too (statement_timeout), set only when the
        # bound changes: a pool lending connections with one limit sets it once each.
        super().limit_time(seconds)
        if seconds is None:  # lifted after a request: the next one sets its own
            return
        ms = 0 if seconds == float("inf") else max(1, int(seconds * 1000))
        if ms != self._timeout_ms and self._conn is not None and not self._conn.broken:
            self._run("SELECT set_config('statement_timeout', %(v)s, false)", {"v": str(ms)})
            self._timeout_ms = ms

    def interrupt(self) -> None:
        conn = self._conn
        if conn is not None and not conn.closed:
            conn.cancel_safe(timeout=5.0)

    def _placeholders(self, sql: str) -> str:
        return dollar_to_pyformat(sql)

    def _begin(self) -> None:
        self._run("BEGIN", {})

    def _commit(self) -> None:
        self._run("COMMIT", {})

    def _rollback(self) -> None:
        self._run("ROLLBACK", {})

    def _acquire_writer(self) -> None:
        # A session-level advisory lock: held across the transactions of a refresh, and
        # released by the server when a killed writer's connection goes away.
        self._run("SELECT pg_advisory_lock(%(k)s)", {"k": WRITER_LOCK})

    def lock_keys(self, space: int, keys: Sequence[str]) -> None:
        # Transaction-scoped advisory locks: released at commit or rollback, and by the
        # server when the connection dies. hashtext collisions only serialize a little more.
        for key in keys:
            self._run(
                "SELECT pg_advisory_xact_lock(%(s)s, hashtext(%(k)s))", {"s": space, "k": key}
            )

    def _release_writer(self) -> None:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            self._run("SELECT pg_advisory_unlock(%(k)s)", {"k": WRITER_LOCK})

    def _lock_for_init(self) -> None:
        # Two `segmint init` at once would both try to create the same tables.
        self._run("SELECT pg_advisory_xact_lock(736567)", {})

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def stage(self, name: str, table: pa.Table, *, json_columns: Sequence[str] = ()) -> str:
        """COPY the Arrow table into a temporary table (CSV stream: the fastest path that
        psycopg offers without per-row Python work)."""
        view = ident(f"stage_{name}")
        columns = []
        for field in table.schema:
            sql_type = "JSONB" if field.name in json_columns else pg_type(field.type)
            columns.append(f"{ident(field.name)} {sql_type}")
        self._run(render("DROP TABLE IF EXISTS {v}", v=view), {})
        self._run(render("CREATE TEMP TABLE {v} ({c})", v=view, c=fixed(", ".join(columns))), {})
        self._staged.add(view)
        copy_sql = render(
            "COPY {v} ({c}) FROM STDIN (FORMAT csv)", v=view, c=idents(table.column_names)
        )
        try:
            with self.conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for chunk in _csv_chunks(table):
                    copy.write(chunk)
        except psycopg.Error as error:
            raise self._error(error) from None
        self._run(render("ANALYZE {v}", v=view), {})
        return str(view)

    def unstage(self, name: str) -> None:
        view = ident(f"stage_{name}")
        if view in self._staged and self._conn is not None and not self._conn.broken:
            self._run(render("DROP TABLE IF EXISTS {v}", v=view), {})
            self._staged.discard(view)

    def _in_list(self, column: Fragment, param: str) -> Fragment:
        ident(param)
        return fixed(render("{c} = ANY(${p})", c=column, p=fixed(param)))

    def column_slots(self, table: str) -> int:
        # A dropped column keeps its slot (attisdropped) until the table is rebuilt.
        return self._count(
            "SELECT COUNT(*) FROM pg_attribute WHERE attnum > 0 AND attrelid = "
            "(SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = $t)",
            {"t": table},
        )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _csv_chunks(table: pa.Table) -> Iterator[bytes]:
    """The table as PostgreSQL CSV, in batches. Lists become array literals (quoted,
    backslash-escaped elements); everything else is written by Arrow's CSV writer, whose
    ``all_valid`` quoting keeps NULL (unquoted empty) apart from an empty string."""
    exprs = []
    for field in table.schema:
        col = ident(field.name)
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            element = (
                "coalesce('\"' || replace(replace(x, '\\', '\\\\'), '\"', '\\\"') || '\"', 'NULL')"
            )
            exprs.append(
                f"CASE WHEN {col} IS NULL THEN NULL ELSE '{{' || array_to_string("
                f"list_transform({col}, lambda x: {element}), ',') || '}}' END AS {col}"
            )
        else:
            exprs.append(str(col))
    con = duckdb.connect()
    try:
        con.register("t", table)
        reader = con.sql(render("SELECT {e} FROM t", e=fixed(", ".join(exprs)))).to_arrow_reader(
            _BATCH_ROWS
        )
        options = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
        for batch in reader:
            buf = io.BytesIO()
            pa_csv.write_csv(batch, buf, write_options=options)
            yield buf.getvalue()
    finally:
        con.close()
