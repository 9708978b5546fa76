"""Store + importer, one suite run against both stores (the ``store`` fixture)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmint.errors import ImportError_, SchemaError, StoreError
from segmint.importing import import_arrow, import_file
from segmint.rules.schema import FieldType
from segmint.store import migrations
from segmint.store.base import Store

UTC = dt.UTC
EMPTY = {
    "customers": 0,
    "orders": 0,
    "lines": 0,
    "events": 0,
    "products": 0,
    "accounts": 0,
    "wishlist_items": 0,
    "attributes": 0,
}


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


ORDERS = [
    {"order_id": "o1", "customer_id": "c1", "placed_at": "2024-01-05T10:00:00Z",
     "sku": "SKU-1", "quantity": "2", "unit_price": "10.10", "brand": "", "amount": ""},
    {"order_id": "o1", "customer_id": "c1", "placed_at": "2024-01-05T10:00:00Z",
     "sku": "SKU-2", "quantity": "1", "unit_price": "0.2", "brand": "Own", "amount": ""},
    {"order_id": "o2", "customer_id": "c2", "placed_at": "2024-02-01 12:30:00",
     "sku": "SKU-1", "quantity": "1", "unit_price": "10.10", "brand": "", "amount": "9.99"},
    {"order_id": "o3", "customer_id": "c1", "placed_at": "2024-03-01T00:00:00+02:00",
     "sku": "SKU-3", "quantity": "3", "unit_price": "1.0001", "brand": "", "amount": ""},
]  # fmt: skip


def orders_file(tmp_path: Path, name: str = "orders.csv") -> Path:
    return write_csv(tmp_path / name, ORDERS)


# ---- schema ---------------------------------------------------------------------------


LATEST = migrations.latest_version()


def test_init_is_idempotent(store: Store) -> None:
    assert store.schema_version() == LATEST
    assert store.init() == LATEST
    store.require_schema()
    assert store.stats() == EMPTY
    assert store.rule_schema().timezone == "UTC"


def test_uninitialised_store_asks_for_init(store: Store, make_store: Callable[..., Store]) -> None:
    fresh = make_store(store.dialect, init=False)
    assert fresh.schema_version() is None
    with pytest.raises(SchemaError, match="segmint init"):
        fresh.require_schema()
    assert fresh.init() == LATEST


def test_init_upgrades_a_version_1_database_in_place(
    store: Store,
    make_store: Callable[..., Store],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    every = list(migrations.MIGRATIONS)
    monkeypatch.setattr(migrations, "MIGRATIONS", every[:1])
    old = make_store(store.dialect)  # as an older segmint left it
    assert old.schema_version() == 1
    import_file(old, "orders", orders_file(tmp_path))
    before = (old.stats(), old.load_profiles(["c1", "c2"]))
    probe = migrations.Migration(
        LATEST + 1, "test", lambda d: ["CREATE TABLE probe_upgrade (code TEXT PRIMARY KEY)"]
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", [*every, probe])
    with pytest.raises(SchemaError, match="older"):
        old.require_schema()
    assert old.init() == LATEST + 1
    assert old.schema_version() == LATEST + 1
    assert old.table_exists("probe_upgrade")
    assert (old.stats(), old.load_profiles(["c1", "c2"])) == before
    assert old.init() == LATEST + 1  # idempotent at the new version too


def test_newer_schema_is_refused(store: Store) -> None:
    store.execute("UPDATE segmint_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SchemaError, match="newer"):
        store.require_schema()
    with pytest.raises(SchemaError, match="newer"):
        store.init()


def test_register_attributes(store: Store) -> None:
    added = store.register_attributes({"married": FieldType.BOOLEAN, "score": FieldType.NUMBER})
    assert added == ["married", "score"]
    assert store.register_attributes({"married": FieldType.BOOLEAN}) == []
    assert store.rule_schema().attributes == {
        "married": FieldType.BOOLEAN,
        "score": FieldType.NUMBER,
    }
    with pytest.raises(StoreError, match="registered as boolean"):
        store.register_attributes({"married": FieldType.STRING})
    with pytest.raises(StoreError, match="invalid attribute name"):
        store.register_attributes({'x"; DROP TABLE customers; --': FieldType.STRING})
    assert "attr_married" in store.column_names("customers")


def test_query_converts_datetimes(store: Store, tmp_path: Path) -> None:
    import_file(store, "orders", orders_file(tmp_path))
    ph = "$p1" if store.dialect == "duckdb" else "%(p1)s"
    since = dt.datetime(2024, 1, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-2)))
    sql = f"SELECT id, placed_at, total FROM orders WHERE placed_at > {ph} ORDER BY id"
    rows = store.query(sql, {"p1": since})
    assert rows == [
        ("o2", dt.datetime(2024, 2, 1, 12, 30, tzinfo=UTC), Decimal("9.99")),
        ("o3", dt.datetime(2024, 2, 29, 22, 0, tzinfo=UTC), Decimal("3.0003")),
    ]


# ---- orders ---------------------------------------------------------------------------


def test_orders_counts_defaults_and_reimport(store: Store, tmp_path: Path) -> None:
    path = orders_file(tmp_path)
    report = import_file(store, "orders", path)
    assert (report.rows_read, report.inserted, report.updated) == (4, 3, 0)
    assert report.tables["order_lines"].inserted == 4
    assert report.tables["customers"].inserted == 2  # unknown customers are created
    stats = store.stats()
    assert stats | {} == EMPTY | {"customers": 2, "orders": 3, "lines": 4}
    profiles = store.load_profiles(["c1", "c2"])
    c1 = profiles["c1"]
    assert c1.fields["email"] is None
    o1, o3 = c1.orders
    assert o1.status == "completed"  # default
    assert o1.total == Decimal("20.4000")  # 2 x 10.10 + 0.2, exact
    assert o1.item_count == 3
    assert o3.placed_at == dt.datetime(2024, 2, 29, 22, 0, tzinfo=UTC)
    assert [(ln.sku, ln.amount, ln.brand) for ln in c1.lines[:2]] == [
        ("SKU-1", Decimal("20.2000"), None),
        ("SKU-2", Decimal("0.2000"), "Own"),
    ]
    assert all(ln.status == "completed" and ln.placed_at == o1.placed_at for ln in c1.lines[:2])
    assert profiles["c2"].orders[0].total == Decimal("9.99")  # given amount is kept

    again = import_file(store, "orders", path)
    assert (again.inserted, again.updated) == (0, 3)
    assert again.tables["order_lines"].deleted == 4
    assert store.stats() == stats
    assert store.load_profiles(["c1", "c2"]) == profiles


def test_reimport_replaces_an_orders_lines(store: Store, tmp_path: Path) -> None:
    import_file(store, "orders", orders_file(tmp_path))
    changed = [dict(ORDERS[0], quantity="5", status="refunded")]
    new = [dict(ORDERS[2], order_id="o9", customer_id="c3")]
    report = import_file(store, "orders", write_csv(tmp_path / "o1.csv", changed + new))
    # one known order, one new (PostgreSQL counts the known ones through the key's index)
    assert (report.inserted, report.updated) == (1, 1)
    c1 = store.load_profiles(["c1"])["c1"]
    o1 = next(o for o in c1.orders if o.id == "o1")
    assert (o1.status, o1.total, o1.item_count) == ("refunded", Decimal("50.5000"), 5)
    assert [ln.sku for ln in c1.lines if ln.order_id == "o1"] == ["SKU-1"]
    assert store.stats()["lines"] == 4


def test_catalog_fills_lines_imported_after_it_only(store: Store, tmp_path: Path) -> None:
    products = [{"sku": "SKU-1", "product_name": "Widget", "brand": "Acme", "category": "tools"}]
    import_file(store, "products", write_csv(tmp_path / "p.csv", products))
    import_file(store, "orders", orders_file(tmp_path))
    later = [{"sku": "SKU-3", "product_name": "Gadget", "brand": "Globex", "category": "toys"}]
    import_file(store, "products", write_csv(tmp_path / "p2.csv", later))
    lines = {ln.sku: ln for ln in store.load_profiles(["c1"])["c1"].lines}
    assert (lines["SKU-1"].product_name, lines["SKU-1"].brand) == ("Widget", "Acme")
    assert lines["SKU-2"].brand == "Own"  # the file's own value wins
    assert lines["SKU-3"].brand is None  # a later products import does not rewrite lines
    assert store.stats()["products"] == 2


def test_bad_rows_refuse_the_whole_file(store: Store, tmp_path: Path) -> None:
    rows = [*ORDERS, dict(ORDERS[0], order_id="o9", placed_at="2024-02-30")]
    with pytest.raises(ImportError_) as caught:
        import_file(store, "orders", write_csv(tmp_path / "bad.csv", rows))
    error = caught.value
    assert error.total_bad == 1
    bad = error.bad_rows[0]
    assert (bad.row, bad.column, bad.value) == (5, "placed_at", "2024-02-30")
    assert "row 5, column 'placed_at': '2024-02-30'" in str(error)
    assert store.stats() == EMPTY


@pytest.mark.parametrize(
    ("column", "value"),
    [("unit_price", "10.12345"), ("amount", "ten"), ("quantity", "1.5"), ("placed_at", "")],
)
def test_each_bad_value_is_named(store: Store, tmp_path: Path, column: str, value: str) -> None:
    rows = [dict(ORDERS[0]), dict(ORDERS[1], **{column: value})]
    with pytest.raises(ImportError_) as caught:
        import_file(store, "orders", write_csv(tmp_path / "bad.csv", rows))
    assert [(b.row, b.column) for b in caught.value.bad_rows] == [(2, column)]
    assert store.stats() == EMPTY


def test_many_bad_rows_list_twenty_and_count_all(store: Store, tmp_path: Path) -> None:
    rows = [dict(ORDERS[0], order_id=f"o{i}", quantity="x") for i in range(30)]
    with pytest.raises(ImportError_) as caught:
        import_file(store, "orders", write_csv(tmp_path / "bad.csv", rows))
    assert caught.value.total_bad == 30
    assert len(caught.value.bad_rows) == 20
    assert "… and 10 more" in str(caught.value)


def test_missing_or_unknown_columns_refuse(store: Store, tmp_path: Path) -> None:
    rows = [{k: v for k, v in ORDERS[0].items() if k != "customer_id"}]
    with pytest.raises(ImportError_, match="missing required column 'customer_id'"):
        import_file(store, "orders", write_csv(tmp_path / "a.csv", rows))
    with pytest.raises(ImportError_, match="unknown column 'colour'"):
        import_file(store, "orders", write_csv(tmp_path / "b.csv", [dict(ORDERS[0], colour="red")]))
    assert store.stats() == EMPTY


def test_rows_of_one_order_must_agree(store: Store, tmp_path: Path) -> None:
    rows = [ORDERS[0], dict(ORDERS[1], customer_id="c9")]
    with pytest.raises(ImportError_, match="differs from row 1 of the same order"):
        import_file(store, "orders", write_csv(tmp_path / "a.csv", rows))


def test_map_and_date_format(store: Store, tmp_path: Path) -> None:
    rows = [
        {"OrderNo": "o1", "Customer": "c1", "Date": "05/01/2024", "sku": "A", "unit_price": "1"},
        {"OrderNo": "o2", "Customer": "c1", "Date": "2024-01-07T08:00:00Z", "sku": "B",
         "unit_price": "2"},
    ]  # fmt: skip
    path = write_csv(tmp_path / "m.csv", rows)
    mapping = {"OrderNo": "order_id", "Customer": "customer_id", "Date": "placed_at"}
    with pytest.raises(ImportError_, match="unknown column 'OrderNo'"):
        import_file(store, "orders", path)
    with pytest.raises(ImportError_, match="'05/01/2024'"):
        import_file(store, "orders", path, mapping=mapping)
    import_file(store, "orders", path, mapping=mapping, date_format="%d/%m/%Y")
    orders = store.load_profiles(["c1"])["c1"].orders
    assert [o.placed_at for o in orders] == [
        dt.datetime(2024, 1, 5, tzinfo=UTC),
        dt.datetime(2024, 1, 7, 8, tzinfo=UTC),
    ]
    assert [o.total for o in orders] == [Decimal("1"), Decimal("2")]
    with pytest.raises(ImportError_, match="--map: no column 'Nope'"):
        import_file(store, "orders", path, mapping={"Nope": "x"})


# ---- formats --------------------------------------------------------------------------


def _typed_orders() -> pa.Table:
    return pa.table(
        {
            "order_id": ["o1", "o1", "o2"],
            "customer_id": ["c1", "c1", "c2"],
            "placed_at": pa.array(
                [dt.datetime(2024, 1, 5, 10, tzinfo=UTC)] * 2
                + [dt.datetime(2024, 2, 1, 12, 30, tzinfo=UTC)],
                pa.timestamp("us", tz="UTC"),
            ),
            "sku": ["SKU-1", "SKU-2", "SKU-1"],
            "quantity": pa.array([2, 1, 1], pa.int64()),
            "unit_price": pa.array([10.1, 0.2, 10.1], pa.float64()),
            "status": [None, None, "cancelled"],
        }
    )


def test_csv_jsonl_parquet_and_arrow_agree(
    store: Store, make_store: Callable[..., Store], tmp_path: Path
) -> None:
    table = _typed_orders()
    pq.write_table(table, tmp_path / "o.parquet")
    rows = [
        {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()}
        for r in table.to_pylist()
    ]
    write_jsonl(tmp_path / "o.jsonl", rows)
    write_csv(tmp_path / "o.csv", [{k: ("" if v is None else v) for k, v in r.items()}
                                   for r in rows])  # fmt: skip
    results = []
    for name in ("o.csv", "o.jsonl", "o.parquet", "arrow"):
        target = make_store(store.dialect)
        if name == "arrow":
            import_arrow(target, "orders", table, source="generated")
        else:
            import_file(target, "orders", tmp_path / name)
        results.append(target.load_profiles(["c1", "c2"]))
    assert all(r == results[0] for r in results)
    c1 = results[0]["c1"]
    assert c1.orders[0].total == Decimal("20.4")
    assert results[0]["c2"].orders[0].status == "cancelled"


def test_float_money_must_be_exact_to_four_places(store: Store, tmp_path: Path) -> None:
    table = _typed_orders().set_column(
        5, "unit_price", pa.array([10.1, 0.12345, 10.1], pa.float64())
    )
    pq.write_table(table, tmp_path / "o.parquet")
    with pytest.raises(ImportError_, match=r"'0\.12345'"):
        import_file(store, "orders", tmp_path / "o.parquet")
    assert store.stats() == EMPTY


def test_format_option_and_unknown_extension(store: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.txt", ORDERS)
    with pytest.raises(ImportError_, match="--format"):
        import_file(store, "orders", path)
    assert import_file(store, "orders", path, fmt="csv").inserted == 3


# ---- customers ------------------------------------------------------------------------


CUSTOMERS = [
    {"id": "c1", "email": "a@example.com", "first_name": "Ann", "tags": "vip|new",
     "birth_date": "1990-04-01", "newsletter_subscribed": "true",
     "attributes.married": "true", "attributes.score": "1.25", "attributes.since": "2020-01-01",
     "attributes.seen": "2024-01-01T10:00:00Z", "attributes.occupation": "Boat builder"},
    {"id": "c2", "email": "b@example.com", "first_name": "Bob", "tags": "",
     "birth_date": "", "newsletter_subscribed": "false",
     "attributes.married": "FALSE", "attributes.score": "7", "attributes.since": "",
     "attributes.seen": "", "attributes.occupation": "12"},
]  # fmt: skip


def test_customers_attributes_are_typed_and_registered(store: Store, tmp_path: Path) -> None:
    report = import_file(store, "customers", write_csv(tmp_path / "c.csv", CUSTOMERS))
    assert sorted(report.attributes_registered) == [
        "married", "occupation", "score", "seen", "since"
    ]  # fmt: skip
    assert store.rule_schema().attributes == {
        "married": FieldType.BOOLEAN,
        "score": FieldType.NUMBER,
        "since": FieldType.DATE,
        "seen": FieldType.TIMESTAMP,
        "occupation": FieldType.STRING,
    }
    c1, c2 = (store.load_profiles(["c1", "c2"])[c] for c in ("c1", "c2"))
    assert c1.fields["tags"] == ["vip", "new"] and c2.fields["tags"] is None
    assert c1.fields["birth_date"] == dt.date(1990, 4, 1)
    assert c1.fields["newsletter_subscribed"] is True
    assert c1.attributes == {
        "married": True,
        "score": Decimal("1.25"),
        "since": dt.date(2020, 1, 1),
        "seen": dt.datetime(2024, 1, 1, 10, tzinfo=UTC),
        "occupation": "Boat builder",
    }
    assert c2.attributes["married"] is False and c2.attributes["occupation"] == "12"


def test_registered_attribute_type_validates_later_files(store: Store, tmp_path: Path) -> None:
    import_file(store, "customers", write_csv(tmp_path / "c.csv", CUSTOMERS))
    bad = [{"id": "c3", "attributes.score": "high"}]
    with pytest.raises(ImportError_, match="'high'"):
        import_file(store, "customers", write_csv(tmp_path / "bad.csv", bad))
    assert store.stats()["customers"] == 2


def test_customers_jsonl_nested_attributes_and_lists(store: Store, tmp_path: Path) -> None:
    rows = [
        {"id": "c1", "tags": ["a", "b"], "attributes": {"hobbies": ["sailing"], "kids": 2}},
        {"id": "c2", "user_groups": ["staff"], "attributes": {"vip": True}},
    ]
    import_file(store, "customers", write_jsonl(tmp_path / "c.jsonl", rows))
    assert store.rule_schema().attributes == {
        "hobbies": FieldType.STRING_LIST,
        "kids": FieldType.NUMBER,
        "vip": FieldType.BOOLEAN,
    }
    c1, c2 = (store.load_profiles(["c1", "c2"])[c] for c in ("c1", "c2"))
    assert c1.fields["tags"] == ["a", "b"] and c2.fields["user_groups"] == ["staff"]
    assert c1.attributes == {"hobbies": ["sailing"], "kids": Decimal(2), "vip": None}


def test_customer_reimport_updates_only_present_columns(store: Store, tmp_path: Path) -> None:
    import_file(store, "customers", write_csv(tmp_path / "c.csv", CUSTOMERS))
    report = import_file(
        store, "customers", write_csv(tmp_path / "u.csv", [{"id": "c1", "email": "new@x.org"}])
    )
    assert (report.inserted, report.updated) == (0, 1)
    c1 = store.load_profiles(["c1"])["c1"]
    assert c1.fields["email"] == "new@x.org"
    assert c1.fields["first_name"] == "Ann" and c1.attributes["married"] is True
    assert store.stats()["customers"] == 2


def test_duplicate_ids_in_one_file_are_refused(store: Store, tmp_path: Path) -> None:
    rows = [{"id": "c1"}, {"id": "c2"}, {"id": "c1"}]
    with pytest.raises(
        ImportError_, match=r"row 3, column 'id': 'c1' — duplicate id \(first on row 1\)"
    ):
        import_file(store, "customers", write_csv(tmp_path / "c.csv", rows))


def test_accounts_and_products(store: Store, tmp_path: Path) -> None:
    accounts = [{"id": "acme", "name": "Acme Inc", "created_at": "2023-01-01"}]
    import_file(store, "accounts", write_csv(tmp_path / "a.csv", accounts))
    import_file(store, "accounts", write_csv(tmp_path / "a.csv", accounts))
    products = [{"sku": "S1", "unit_price": "9.5", "brand": "X"}]
    import_file(store, "products", write_csv(tmp_path / "p.csv", products))
    import_file(store, "products", write_csv(tmp_path / "p2.csv", [{"sku": "S1", "brand": "Y"}]))
    assert store.stats() | {} == EMPTY | {"accounts": 1, "products": 1}
    ph = "$s" if store.dialect == "duckdb" else "%(s)s"
    assert store.query(f"SELECT brand, unit_price FROM products WHERE sku = {ph}", {"s": "S1"}) == [
        ("Y", Decimal("9.5"))
    ]


# ---- events and wishlist --------------------------------------------------------------

EVENTS = [
    {"customer_id": "c1", "type": "product_view", "at": "2024-03-01T10:00:00Z", "sku": "S1",
     "properties": {"source": "app", "position": 3}},
    {"customer_id": "c1", "type": "product_view", "at": "2024-03-01T10:00:00Z", "sku": "S1",
     "properties": {"source": "web"}},
    {"id": "e-1", "customer_id": "c2", "type": "search", "at": "2024-03-02T10:00:00Z"},
]  # fmt: skip


def test_events_get_stable_ids_and_never_duplicate(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", EVENTS)
    first = import_file(store, "events", path)
    assert (first.inserted, first.updated) == (3, 0)
    again = import_file(store, "events", path)
    assert (again.inserted, again.updated) == (0, 3)
    assert store.stats()["events"] == 3 and store.stats()["customers"] == 2
    events = store.load_profiles(["c1", "c2"])
    props = sorted(json.dumps(e.properties, sort_keys=True) for e in events["c1"].events)
    assert props == ['{"position": "3", "source": "app"}', '{"source": "web"}']
    assert events["c2"].events[0].id == "e-1"
    flat = [{"customer_id": "c1", "type": "product_view", "at": "2024-03-01 10:00:00",
             "sku": "S1", "properties.source": "web"}]  # fmt: skip
    assert import_file(store, "events", write_csv(tmp_path / "e.csv", flat)).inserted == 0


def test_wishlist_follows_the_latest_event(store: Store, tmp_path: Path) -> None:
    def ev(kind: str, day: int, sku: str = "S9") -> dict[str, str]:
        return {"customer_id": "c1", "type": kind, "at": f"2024-03-0{day}T00:00:00Z", "sku": sku}

    # imported out of order: the later remove first, then the earlier add
    import_file(store, "events", write_csv(tmp_path / "1.csv", [ev("wishlist_remove", 5)]))
    later = [ev("wishlist_add", 2), ev("wishlist_add", 3, "S8")]
    import_file(store, "events", write_csv(tmp_path / "2.csv", later))
    wishlist = store.load_profiles(["c1"])["c1"].wishlist
    assert [(w.sku, w.added_at) for w in wishlist] == [("S8", dt.datetime(2024, 3, 3, tzinfo=UTC))]
    import_file(store, "events", write_csv(tmp_path / "3.csv", [ev("wishlist_add", 7)]))
    wishlist = store.load_profiles(["c1"])["c1"].wishlist
    assert [w.sku for w in wishlist] == ["S8", "S9"]
    assert store.stats()["wishlist_items"] == 2


# ---- reading --------------------------------------------------------------------------


def test_load_profiles_many_and_unknown(store: Store, tmp_path: Path) -> None:
    rows = [dict(ORDERS[0], order_id=f"o{i}", customer_id=f"c{i % 50:03d}") for i in range(200)]
    import_file(store, "orders", write_csv(tmp_path / "o.csv", rows))
    ids = store.customer_ids()
    assert ids == sorted(ids) and len(ids) == 50
    profiles = store.load_profiles([*ids, "nobody"])
    assert set(profiles) == set(ids)
    assert all(len(p.orders) == 4 and len(p.lines) == 4 for p in profiles.values())
    assert store.load_profiles([]) == {}


def test_dead_postgres_connection_is_a_store_error(make_store: Callable[..., Store]) -> None:
    store = make_store("postgres")  # a server connection can die; a DuckDB file cannot
    pid = store.query("SELECT pg_backend_pid()")[0][0]
    import psycopg

    with psycopg.connect(store.url, autocommit=True) as other:  # type: ignore[attr-defined]
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StoreError, match=r"connection to PostgreSQL .* was lost"):
        store.stats()
    with pytest.raises(StoreError, match="was lost"):
        store.stats()
