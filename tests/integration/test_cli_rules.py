"""``segmint rules check|sql|json``, ``match`` and ``explain`` end to end, on both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_run import run_cli as run

CUSTOMERS = (
    "id,email,first_name,business_account,tags,attributes.tier\n"
    "c1,elodie@example.com,Élodie,acme,vip|newsletter,gold\n"
    "c2,JURGEN@example.com,JÜRGEN,globex,,silver\n"
    "c3,,Straße,,vip,\n"
)
ORDERS = (
    "order_id,customer_id,placed_at,status,sku,brand,category,quantity,unit_price\n"
    "o1,c1,2024-04-20T10:00:00Z,completed,SKU-1,Acme,wine,2,100.05\n"
    "o2,c1,2024-01-02T10:00:00Z,completed,SKU-2,Globex,beer,1,0.1\n"
    "o3,c2,2024-04-30T23:59:59Z,completed,SKU-1,ACME,wine,1,0.2\n"
    "o4,c2,2023-01-01T00:00:00Z,cancelled,SKU-3,Acme,coffee,10,99\n"
    "o5,c3,2024-03-31T12:00:00Z,refunded,SKU-1,Acme,wine,1,500\n"
)
NOW = "2024-05-01T00:00:00Z"


@pytest.fixture()
def loaded(store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    (tmp_path / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (tmp_path / "orders.csv").write_text(ORDERS, encoding="utf-8")
    for kind in ("customers", "orders"):
        code, _, err = run(capsys, "--db", store_url, "import", kind, str(tmp_path / f"{kind}.csv"))
        assert code == 0, err
    return store_url


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("EXISTS(lines WHERE brand = 'acme' AND placed_at WITHIN 30d)", ["c1", "c2"]),
        # every status counts here (no status filter), so c3's refunded order does too
        ("SUM(orders.total WHERE placed_at WITHIN 365d) > 200", ["c1", "c3"]),
        ("total_spent = 200.2", ["c1"]),  # 200.10 + 0.1 exactly; c2's order was cancelled
        ("business_account IS NOT NULL AND business_account NOT IN ('acme')", ["c2"]),
        ("tags CONTAINS 'VIP'", ["c1", "c3"]),
        ("first_name = 'élodie' OR first_name STARTS WITH 'jür'", ["c1", "c2"]),
        ("orders_count = 0", ["c3"]),
        ("attributes.tier IN ('GOLD', 'silver')", ["c1", "c2"]),
        ("EXISTS(orders WHERE placed_at <= 2024-04-30 AND placed_at >= 2024-04-30)", ["c2"]),
    ],
)
@pytest.mark.parametrize("engine", ["sql", "python"])
def test_match(loaded, capsys, rule, expected, engine):
    code, out, err = run(
        capsys,
        "--db",
        loaded,
        "--as-of",
        NOW,
        "match",
        rule,
        "--engine",
        engine,
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out) == {"count": len(expected), "customers": expected}


def test_match_formats_and_as_of_from_env(loaded, capsys, monkeypatch):
    monkeypatch.setenv("SEGMINT_NOW", "2024-06-01T00:00:00Z")
    rule = "EXISTS(lines WHERE placed_at WITHIN 30d)"
    code, out, _ = run(capsys, "--db", loaded, "match", rule, "--format", "csv")
    assert code == 0
    assert out.splitlines() == ["customer_id"]  # a month later nobody bought in 30 days
    code, out, _ = run(capsys, "--db", loaded, "--as-of", NOW, "match", rule, "--format", "csv")
    assert out.splitlines() == ["customer_id", "c1", "c2"]
    code, out, _ = run(capsys, "--db", loaded, "--as-of", NOW, "match", rule, "--format", "table")
    assert "c1" in out and "(2 customers)" in out


def test_rules_check_ok_and_positioned_error(loaded, capsys):
    code, out, _ = run(capsys, "--db", loaded, "rules", "check", "attributes.tier = 'gold'")
    assert code == 0 and out.startswith("ok")
    code, _, err = run(capsys, "--db", loaded, "rules", "check", "attributes.teir = 'gold'")
    assert code == 2
    assert "unknown field 'attributes.teir' at 1:1" in err
    assert "did you mean 'attributes.tier'?" in err
    assert "^^^^^^^^^^^^^^^" in err


def test_rules_sql_binds_values_in_every_dialect(loaded, capsys):
    hostile = "'); DROP TABLE customers; --"
    rule = f"first_name = '{hostile.replace(chr(39), chr(39) * 2)}' AND total_spent > 5"
    for dialect in ("duckdb", "postgres", "spark"):
        code, out, err = run(capsys, "--db", loaded, "rules", "sql", rule, "--dialect", dialect)
        assert code == 0, err
        sql = out.split("-- parameters:")[0]
        assert "DROP TABLE" not in sql and "GROUP BY" in sql
        assert repr(hostile.lower()) in out  # shown as a bound (lower-cased) parameter
    code, out, _ = run(capsys, "--db", loaded, "--as-of", NOW, "match", rule, "--format", "json")
    assert json.loads(out)["count"] == 0
    code, out, _ = run(capsys, "--db", loaded, "stats", "--format", "json")
    assert json.loads(out)["customers"] == 3  # the table is still there


def test_rules_sql_refuses_realtime(loaded, capsys):
    code, _, err = run(capsys, "--db", loaded, "rules", "sql", "context.view = 'business'")
    assert code == 2 and "real-time" in err


def test_rules_json_round_trips(loaded, capsys):
    from segmint.rules import from_json, parse

    rule = "tags CONTAINS 'vip' AND NOT (orders_count >= 3 OR total_spent < 10.50)"
    code, out, _ = run(capsys, "--db", loaded, "rules", "json", rule)
    assert code == 0
    assert from_json(json.loads(out)) == parse(rule)


def test_explain_names_values_behind_the_answer(loaded, capsys):
    rule = "total_spent > 100 AND NOT EXISTS(lines WHERE category = 'coffee')"
    code, out, err = run(capsys, "--db", loaded, "--as-of", NOW, "explain", "c1", rule)
    assert code == 0, err
    assert "customer c1 MATCHES" in out
    assert "total spent is 200.20" in out
    assert "0 of 2 lines match the WHERE" in out
    code, out, _ = run(
        capsys, "--db", loaded, "--as-of", NOW, "explain", "c2", rule, "--format", "json"
    )
    data = json.loads(out)
    assert data["result"] is False
    assert data["steps"][0]["sentence"].startswith("all must hold: 0 of 2")
    assert [s["value"] for s in data["steps"]] == [False, False, False, True]


def test_explain_unknown_customer(loaded, capsys):
    code, _, err = run(capsys, "--db", loaded, "explain", "nobody", "orders_count > 1")
    assert code == 1 and "customer 'nobody' does not exist" in err
