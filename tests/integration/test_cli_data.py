"""``segmint init``, ``import`` and ``stats`` end to end, against both stores."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from cli_run import run_cli as run
from cli_run import url_of
from segmint.store import migrations
from segmint.store.base import Store

ORDERS_CSV = (
    "OrderNo,customer_id,placed_at,sku,quantity,unit_price\n"
    "o1,c1,2024-01-05T10:00:00Z,SKU-1,2,10.50\n"
    "o1,c1,2024-01-05T10:00:00Z,SKU-2,1,5\n"
    "o2,c2,2024-02-01T12:00:00Z,SKU-1,1,10.5\n"
)


def test_init_import_stats(
    store: Store,
    make_store: Callable[..., Store],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fresh = make_store(store.dialect, init=False)
    db = url_of(fresh)
    code, _, err = run(capsys, "--db", db, "stats")
    assert code == 1 and "segmint init" in err
    latest = migrations.latest_version()
    assert run(capsys, "--db", db, "init")[:2] == (0, f"created schema version {latest}\n")
    assert run(capsys, "--db", db, "init")[:2] == (0, f"schema version {latest} is up to date\n")

    path = tmp_path / "orders.csv"
    path.write_text(ORDERS_CSV)
    code, out, err = run(
        capsys, "--db", db, "import", "orders", str(path), "--map", "OrderNo=order_id"
    )
    assert code == 0, err
    assert "3 rows read, orders: 2 inserted, 0 updated" in out
    code, out, _ = run(capsys, "--db", db, "stats", "--format", "json")
    stats = json.loads(out)
    assert code == 0
    assert stats == {
        "customers": 2,
        "orders": 2,
        "lines": 3,
        "events": 0,
        "products": 0,
        "accounts": 0,
        "wishlist_items": 0,
        "attributes": 0,
    }
    code, out, _ = run(capsys, "--db", db, "stats", "--format", "csv")
    assert out.splitlines()[:2] == ["name,value", "customers,2"]


def test_import_refusal_exits_non_zero_and_stores_nothing(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = url_of(store)
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS_CSV.replace("2024-02-01T12:00:00Z", "2024-02-30"))
    code, out, err = run(
        capsys, "--db", db, "import", "orders", str(path), "--map", "OrderNo=order_id"
    )
    assert code == 1 and out == ""
    assert "refused, nothing was imported (1 bad row)" in err
    assert "row 3, column 'placed_at': '2024-02-30'" in err
    assert store.stats()["orders"] == 0
    code, _, err = run(capsys, "--db", db, "import", "orders", str(path), "--map", "broken")
    assert code == 1 and "SRC=DST" in err


def test_import_json_report_and_date_format(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("id,created_at,attributes.vip\nc1,05/01/2024,true\n")
    code, out, err = run(
        capsys, "--db", url_of(store), "import", "customers", str(path),
        "--date-format", "%d/%m/%Y", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["inserted"] == 1 and report["attributes_registered"] == ["vip"]
    assert store.load_profiles(["c1"])["c1"].fields["created_at"].isoformat() == (
        "2024-01-05T00:00:00+00:00"
    )
