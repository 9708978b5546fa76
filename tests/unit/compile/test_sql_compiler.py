"""SQL compiler: query shape, parameter binding, injection safety, real-time rejection,
and Spark SQL snapshots (tests/unit/compile/snapshots/*.sql, compared exactly; set
SEGMINT_UPDATE_SNAPSHOTS=1 to rewrite them after a deliberate change)."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import re
from decimal import Decimal

import duckdb
import pytest
from compile_fixtures import NOW, SCHEMA, agg, ago, cmp, dur, lit, load, naive, p, profiles
from sqlglot import exp

from segmint.compile import dialects
from segmint.compile.sql import Bind, GroupedValue, SqlCompiler
from segmint.errors import CompileError
from segmint.rules.ast import (
    And,
    Between,
    BoolTest,
    InList,
    InSegment,
    IsNull,
    Not,
    Or,
    Rule,
    TextMatch,
    Within,
)
from segmint.rules.text import lower as sql_lower

MICRO = dt.timedelta(microseconds=1)

SNAPSHOTS = pathlib.Path(__file__).parent / "snapshots"
NASTY = [
    "'); DROP TABLE customers; --",
    "O'Brien",
    "back\\slash",
    "quote'd",
    "\\'; DELETE FROM orders; --",
    '" OR 1=1 --',
    "%s ? $1 :name %(name)s",
    "100%_",
]


def duck() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    load(con.executemany, con.execute, "duckdb", profiles())
    return con


# --- shape -----------------------------------------------------------------------------


def test_compile_many_uses_one_grouped_subquery_per_collection() -> None:
    rules: dict[str, Rule] = {
        "big": cmp(">", agg("SUM", "orders", "total", Within(p("placed_at"), dur("365d"))), 300),
        "loyal": cmp(">=", "orders_count", 3),
        "aov": cmp(">", "average_order_value", 50),
        "recent": Within(p("last_order_at"), dur("30d")),
        "same_sum_again": cmp(
            "<", agg("SUM", "orders", "total", Within(p("placed_at"), dur("365d"))), 1000
        ),
        "any_order": BoolTest(agg("EXISTS", "orders")),
    }
    query = SqlCompiler("duckdb", SCHEMA).compile_many(rules, NOW)
    sql = query.sql
    assert len(re.findall(r"\bFROM orders\b", sql)) == 1
    assert len(re.findall(r"\bGROUP BY\b", sql)) == 1
    # deduplicated: SUM(total 365d), COUNT(*) ok, SUM(total) ok, COUNT(total) ok, MAX ok,
    # COUNT(*): six columns for eight aggregate uses
    assert len(re.findall(r" AS a\d+\b", sql)) == 6
    assert query.columns == ["id", *rules]
    assert [f"r_{i}" in sql for i in range(len(rules))] == [True] * len(rules)


def test_collections_each_get_their_own_subquery_and_customers_without_rows_stay() -> None:
    rules: dict[str, Rule] = {
        "lines": BoolTest(agg("EXISTS", "lines", None, cmp("=", "brand", "acme"))),
        "events": cmp(">", agg("COUNT", "events"), 1),
        "wishlist": BoolTest(agg("EXISTS", "wishlist")),
        "orders": cmp("=", "orders_count", 0),
    }
    query = SqlCompiler("duckdb", SCHEMA).compile_many(rules, NOW)
    for table in ("order_lines", "events", "wishlist_items", "orders"):
        assert len(re.findall(rf"\bFROM {table}\b", query.sql)) == 1
    rows = duck().execute(query.sql, {k: naive(v) for k, v in query.params.items()}).fetchall()
    assert [r[0] for r in rows] == sorted(pr.id for pr in profiles())


def test_grouped_value_finish_is_applied_outside_the_grouped_subquery() -> None:
    """A caller's aggregate over epoch microseconds, turned back into a timestamp per
    customer (the membership engine's due instants on DuckDB): the conversion is not in
    the GROUP BY, and the instants are those of the timestamp + interval form."""
    hour = dt.timedelta(hours=1)

    def latest_plus_hour(bind: Bind, micros: bool) -> tuple[exp.Expr, exp.Expr | None]:
        column = exp.column("placed_at", quoted=True)
        if not micros:
            return exp.Max(this=exp.Add(this=column, expression=bind(hour))), None
        value = dialects.epoch_micros("duckdb", column)
        return exp.Max(this=exp.Add(this=value, expression=bind(hour // MICRO))), None

    values = {
        False: GroupedValue("orders", lambda bind: latest_plus_hour(bind, False)),
        True: GroupedValue(
            "orders",
            lambda bind: latest_plus_hour(bind, True),
            lambda column: dialects.from_epoch_micros("duckdb", column),
        ),
    }
    rules: dict[str, Rule] = {"any": BoolTest(agg("EXISTS", "orders"))}
    got = {}
    for micros, value in values.items():
        query = SqlCompiler("duckdb", SCHEMA).compile_many(rules, NOW, values=[value])
        grouped = query.sql[query.sql.index("LEFT JOIN") :]
        assert ("EPOCH_US" in grouped) is micros and "MAKE_TIMESTAMP" not in grouped
        params = {k: naive(v) if isinstance(v, dt.datetime) else v for k, v in query.params.items()}
        got[micros] = {r[0]: r[2] for r in duck().execute(query.sql, params).fetchall()}
    expected = {
        pr.id: naive(max(o.placed_at for o in pr.orders) + hour) if pr.orders else None
        for pr in profiles()
    }
    assert got[True] == got[False] == expected


def test_compile_match_shape_and_placeholders() -> None:
    rule = And((cmp("=", "email", "a@b.c"), cmp(">", "total_spent", Decimal("10.5"))))
    for dialect, mark in (("duckdb", "$p0"), ("postgres", "%(p0)s"), ("spark", ":p0")):
        query = SqlCompiler(dialect, SCHEMA).compile_match(rule, NOW)
        assert mark in query.sql
        assert query.columns == ["id"]
        assert query.sql.startswith("SELECT")
        assert "ORDER BY" in query.sql
        assert "a@b.c" not in query.sql and "10.5" not in query.sql


def test_parameters_are_typed_python_values() -> None:
    rule = And(
        (
            cmp("=", "newsletter_subscribed", True),
            cmp(">", "total_spent", Decimal("0.1")),
            cmp("<", "birth_date", dt.date(2000, 1, 1)),
            cmp("<=", "created_at", dt.date(2024, 3, 31)),
            cmp(">", "created_at", ago("1m")),
            cmp("<", "birth_date", ago("18y")),
        )
    )
    params = list(SqlCompiler("duckdb", SCHEMA).compile_match(rule, NOW).params.values())
    assert True in params and Decimal("0.1") in params
    assert dt.date(2000, 1, 1) in params
    assert dt.datetime(2024, 4, 1, tzinfo=dt.UTC) in params  # end of 31 March (half-open)
    assert dt.datetime(2024, 4, 1, 12, tzinfo=dt.UTC) in params  # now - 1m
    assert dt.date(2006, 5, 1) in params  # the local day of now - 18y
    assert not any(isinstance(v, float) for v in params)


def test_null_comparisons_compile_to_constants() -> None:
    compiler = SqlCompiler("duckdb", SCHEMA)
    assert compiler.compile_match(cmp("=", "email", None), NOW).params == {}
    query = compiler.compile_match(cmp("!=", "email", None), NOW)
    assert "NOT COALESCE(FALSE, FALSE)" in " ".join(query.sql.split())
    assert query.params == {}


# --- injection -------------------------------------------------------------------------


@pytest.mark.parametrize("text", NASTY)
def test_string_literals_never_reach_the_sql_text(text: str) -> None:
    rules: list[Rule] = [
        cmp("=", "email", text),
        InList(p("last_name"), (lit(text), lit("x"))),
        TextMatch("CONTAINS", p("first_name"), lit(text)),
        TextMatch("STARTS WITH", p("email"), lit(text)),
        TextMatch("CONTAINS", p("tags"), lit(text)),
        BoolTest(agg("EXISTS", "events", None, cmp("=", "properties.query", text))),
        InSegment(text),
    ]
    con = duck()
    for dialect in ("duckdb", "postgres", "spark"):
        for rule in rules:
            query = SqlCompiler(dialect, SCHEMA).compile_match(rule, NOW)
            assert text not in query.sql
            assert text not in query.sql.lower()
            # bound as given, or already lower-cased for a case-insensitive comparison
            assert {text, sql_lower(text)} & set(query.params.values())
    for rule in rules:
        query = SqlCompiler("duckdb", SCHEMA).compile_match(rule, NOW)
        con.execute(query.sql, {k: naive(v) for k, v in query.params.items()}).fetchall()
    assert con.execute("SELECT count(*) FROM customers").fetchone() == (6,)
    assert con.execute("SELECT count(*) FROM orders").fetchone() == (14,)


def test_injection_strings_match_as_plain_data() -> None:
    con = duck()
    compiler = SqlCompiler("duckdb", SCHEMA)
    for rule in (
        cmp("=", "email", "'); DROP TABLE customers; --"),
        cmp("=", "first_name", "BACK\\SLASH"),
        cmp("=", "last_name", "QUOTE'D"),
        TextMatch("ENDS WITH", p("email"), lit("; --")),
    ):
        query = compiler.compile_match(rule, NOW)
        rows = con.execute(query.sql, query.params).fetchall()
        assert rows == [("frank",)], rule


def test_property_names_must_be_identifiers() -> None:
    bad = BoolTest(agg("EXISTS", "events", None, cmp("=", "properties.a'b", "x")))
    with pytest.raises(CompileError):
        SqlCompiler("duckdb", SCHEMA).compile_match(bad, NOW)


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (cmp("=", "context.view", "business"), "context.view"),
        (Between(p("cart.subtotal"), lit(1), lit(2)), "cart.subtotal"),
        (cmp("=", "context.query.utm", "x"), "context.query.utm"),
        (IsNull(p("context.logged_in")), "context.logged_in"),
        (
            cmp(">=", agg("SUM", "cart.lines", "quantity", cmp("=", "category", "wine")), 12),
            "cart.lines",
        ),
        (Or((cmp("=", "email", "x"), Not(BoolTest(p("context.logged_in"))))), "context.logged_in"),
    ],
)
def test_real_time_rules_are_rejected_naming_the_field(rule: Rule, field: str) -> None:
    for dialect in ("duckdb", "postgres", "spark"):
        with pytest.raises(CompileError, match=re.escape(f"'{field}'")):
            SqlCompiler(dialect, SCHEMA).compile_match(rule, NOW)


def test_segment_memberships_can_be_forbidden() -> None:
    compiler = SqlCompiler("duckdb", SCHEMA)
    assert "segment_members" in compiler.compile_match(InSegment("vip"), NOW).sql
    with pytest.raises(CompileError, match="vip"):
        compiler.compile_match(InSegment("vip"), NOW, segment_memberships=False)


def test_user_groups_reads_inherited_groups_only_where_memberships_may_be_read() -> None:
    rules = {
        "contains": TextMatch("CONTAINS", p("user_groups"), lit("Gold")),
        "null": IsNull(p("user_groups")),
    }
    for dialect in ("duckdb", "postgres", "spark"):
        compiler = SqlCompiler(dialect, SCHEMA)
        for rule in rules.values():
            query = compiler.compile_match(rule, NOW)
            # explicit column + the inherited part, targetable at the bound `now`
            assert "segment_groups" in query.sql and "user_groups" in query.sql
            assert NOW in query.params.values() and "2024" not in query.sql
            with pytest.raises(CompileError, match="'user_groups' includes the groups"):
                compiler.compile_match(rule, NOW, segment_memberships=False)
    contains = SqlCompiler("duckdb", SCHEMA).compile_match(rules["contains"], NOW)
    assert "gold" in contains.params.values() and "'gold'" not in contains.sql.lower()
    # a rule not reading user_groups pays nothing for it
    plain = SqlCompiler("duckdb", SCHEMA).compile_match(cmp("=", "email", "x"), NOW)
    assert "segment_groups" not in plain.sql


def test_unknown_dialect_and_naive_now() -> None:
    with pytest.raises(CompileError):
        SqlCompiler("mysql", SCHEMA)
    with pytest.raises(CompileError):
        SqlCompiler("duckdb", SCHEMA).compile_match(
            cmp("=", "email", "x"), NOW.replace(tzinfo=None)
        )


def test_unknown_attribute_is_a_compile_error() -> None:
    with pytest.raises(CompileError, match=r"attributes\.nope"):
        SqlCompiler("duckdb", SCHEMA).compile_match(cmp("=", "attributes.nope", "x"), NOW)


# --- Spark snapshots -------------------------------------------------------------------

SPARK_RULES: dict[str, Rule] = {
    "spark_sum_365d": cmp(
        ">", agg("SUM", "orders", "total", Within(p("placed_at"), dur("365d"))), 300
    ),
    "spark_mixed": And(
        (
            TextMatch("CONTAINS", p("tags"), lit("vip")),
            Or((cmp(">=", "orders_count", 1), InSegment("big-spenders"))),
            cmp(">", "average_order_value", 50),
            TextMatch("ENDS WITH", p("email"), lit("@example.com"), negated=True),
            cmp("<", "region", "m"),
        )
    ),
    "spark_events_dates": BoolTest(
        agg(
            "EXISTS",
            "events",
            None,
            And(
                (
                    cmp("=", "properties.color", "red"),
                    Between(p("at"), lit(dt.date(2024, 1, 1)), lit(dt.date(2024, 3, 31))),
                )
            ),
        )
    ),
}


@pytest.mark.parametrize("name", sorted(SPARK_RULES))
def test_spark_snapshot(name: str) -> None:
    sql = SqlCompiler("spark", SCHEMA).compile_match(SPARK_RULES[name], NOW).sql + "\n"
    path = SNAPSHOTS / f"{name}.sql"
    if os.environ.get("SEGMINT_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.write_text(sql, encoding="utf-8")
    assert sql == path.read_text(encoding="utf-8")


def test_spark_compile_many_snapshot() -> None:
    sql = SqlCompiler("spark", SCHEMA).compile_many(SPARK_RULES, NOW).sql + "\n"
    path = SNAPSHOTS / "spark_compile_many.sql"
    if os.environ.get("SEGMINT_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.write_text(sql, encoding="utf-8")
    assert sql == path.read_text(encoding="utf-8")
