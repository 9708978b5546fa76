"""Atomicity of the load, typed sources (Parquet structs and lists), progress reporting."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmint.errors import ImportError_, StoreError
from segmint.importing import import_arrow, import_file
from segmint.importing.report import terminal_progress
from segmint.rules.schema import FieldType
from segmint.store.base import Store

ORDERS = pa.table(
    {
        "order_id": ["o1", "o1", "o2"],
        "customer_id": ["c1", "c1", "c2"],
        "placed_at": ["2024-01-05T10:00:00Z", "2024-01-05T10:00:00Z", "2024-02-01T00:00:00Z"],
        "sku": ["A", "B", "A"],
        "unit_price": pa.array([Decimal("1.5"), Decimal("2"), Decimal("1.5")], pa.decimal128(9, 2)),
    }
)


def test_a_failure_during_load_stores_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> tuple[int, int]:
        raise StoreError("error: simulated failure after orders were written")

    monkeypatch.setattr(store, "replace_lines", broken)
    with pytest.raises(StoreError, match="simulated"):
        import_arrow(store, "orders", ORDERS, source="test")
    monkeypatch.undo()
    assert store.stats()["orders"] == 0 and store.stats()["customers"] == 0
    report = import_arrow(store, "orders", ORDERS, source="test")  # the store is still usable
    assert (report.inserted, store.stats()["lines"]) == (2, 3)


def test_parquet_struct_attributes_and_list_tags(store: Store, tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["c1", "c2"],
            "tags": pa.array([["vip"], []], pa.list_(pa.string())),
            "created_at": pa.array([dt.datetime(2023, 5, 1, 8, 30), None], pa.timestamp("ms")),
            "attributes": pa.array(
                [{"kids": 2, "pet": "cat"}, {"kids": None, "pet": None}],
                pa.struct([("kids", pa.int32()), ("pet", pa.string())]),
            ),
        }
    )
    pq.write_table(table, tmp_path / "c.parquet")
    import_file(store, "customers", tmp_path / "c.parquet")
    assert store.rule_schema().attributes == {"kids": FieldType.NUMBER, "pet": FieldType.STRING}
    c1 = store.load_profiles(["c1"])["c1"]
    assert c1.fields["tags"] == ["vip"]
    assert c1.fields["created_at"] == dt.datetime(2023, 5, 1, 8, 30, tzinfo=dt.UTC)
    assert c1.attributes == {"kids": Decimal(2), "pet": "cat"}


def test_progress_steps_and_no_bar_when_piped(store: Store) -> None:
    seen: list[tuple[str, int, int]] = []
    import_arrow(store, "orders", ORDERS, source="test", progress=lambda *a: seen.append(a))
    assert seen == [("read", 1, 4), ("validate", 2, 4), ("build", 3, 4), ("load", 4, 4)]
    assert terminal_progress() is None  # pytest captures stderr: not a terminal


def test_malformed_files_are_refused_with_their_line(store: Store, tmp_path: Path) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("order_id,customer_id,placed_at\no1,c1,2024-01-01\no2,c2\n")
    with pytest.raises(ImportError_, match="row 2, column '\\(row\\)': 'o2,c2' — has 2 fields"):
        import_file(store, "orders", ragged)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"order_id": "o1"}\n{"order_id": \n')
    with pytest.raises(ImportError_, match="Malformed JSON"):
        import_file(store, "orders", broken)
    assert store.stats()["orders"] == 0
