"""The SQL compiler, run on real DuckDB and PostgreSQL, agrees with the Python engine.

Each engine gets the same hand-built profiles (compile_fixtures) and the same hand-written
rules; the member sets must be identical, in UTC and in a store time zone with DST.
PostgreSQL runs inside a uniquely named schema that is dropped afterwards (the server is
shared); it is skipped when no server answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import pytest
from compile_fixtures import (
    BERLIN,
    NOW,
    SCHEMA,
    agreement_rules,
    cmp,
    lit,
    load,
    naive,
    p,
    profiles,
    with_profile_segments,
)

from segmint.compile.python import compile_predicate
from segmint.compile.sql import CompiledQuery, SqlCompiler
from segmint.rules.ast import InList, TextMatch
from segmint.rules.schema import Schema

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
PEOPLE = with_profile_segments(profiles())
RULES = agreement_rules()
Runner = Callable[[CompiledQuery], list[tuple[Any, ...]]]


def _params(query: CompiledQuery) -> dict[str, Any]:
    # What the store does at its boundary: aware instants become naive UTC.
    return {k: naive(v) for k, v in query.params.items()}


@pytest.fixture(scope="module")
def duck() -> Iterator[Runner]:
    con = duckdb.connect(":memory:")
    load(con.executemany, con.execute, "duckdb", PEOPLE)

    def run(query: CompiledQuery) -> list[tuple[Any, ...]]:
        return con.execute(query.sql, _params(query)).fetchall()

    yield run
    con.close()


@pytest.fixture(scope="module")
def pg() -> Iterator[Runner]:
    psycopg = pytest.importorskip("psycopg")
    try:
        con = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL unavailable: {error}")
    schema = f"segmint_compile_{uuid.uuid4().hex[:12]}"
    con.execute(f'CREATE SCHEMA "{schema}"')
    try:
        con.execute(f'SET search_path TO "{schema}"')
        with con.cursor() as cur:
            load(cur.executemany, cur.execute, "postgres", PEOPLE)

        def run(query: CompiledQuery) -> list[tuple[Any, ...]]:
            return con.execute(query.sql, _params(query)).fetchall()  # type: ignore[arg-type]

        yield run
    finally:
        con.execute(f'DROP SCHEMA "{schema}" CASCADE')
        con.close()


def python_members(rule: Any, schema: Schema) -> list[str]:
    predicate = compile_predicate(rule, schema)
    return sorted(pr.id for pr in PEOPLE if predicate(pr, NOW))


# Expected members for a few rules, so the agreement is not vacuous (hand-checked).
EXPECTED = {
    "email_eq_case": ["alice"],
    "first_name_accent": ["alice"],
    "last_name_contains_umlaut": ["alice"],
    "city_sharp_s": ["alice", "bob"],
    "country_ne": ["bob", "carol", "dave", "erin", "frank"],
    "eq_null": [],
    "ne_null": ["alice", "bob", "carol", "dave", "erin", "frank"],
    "created_day_eq": ["alice"],
    "created_le_day": ["bob"],
    "tags_vip": ["alice", "erin"],
    # explicit + inherited: `ended` (carol) ends at NOW, `starting` (frank) starts at NOW,
    # `off` (erin) is inactive; bob's explicit list is empty, his group 'gold' inherited
    "groups_gold": ["bob"],
    "groups_null": ["carol", "erin"],
    "groups_not_null": ["alice", "bob", "dave", "frank"],
    "total_spent_0": ["carol", "frank"],
    "total_spent_exact": ["erin"],
    "aov_eq": ["erin"],
    "aov_null": ["carol", "frank"],
    "sum_30d_boundary": ["bob", "erin"],
    "segment_or_vip": ["alice", "dave", "erin"],
    "event_query_like_chars": ["alice"],
    "event_query_percent_only": [],
    "lapsed": ["dave"],
    "attr_dotted_capital_i": ["erin"],
    "attr_final_sigma": ["erin"],
    "max_brand_code_point": ["bob", "dave"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_python_engine_expected_members(name: str) -> None:
    assert python_members(RULES[name], SCHEMA) == EXPECTED[name]


@pytest.mark.parametrize("schema", [SCHEMA, BERLIN], ids=["utc", "berlin"])
@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_compile_match_agrees_with_python(
    engine: str, schema: Schema, request: pytest.FixtureRequest
) -> None:
    run: Runner = request.getfixturevalue("duck" if engine == "duckdb" else "pg")
    compiler = SqlCompiler(engine, schema)
    mismatches = {}
    for name, rule in RULES.items():
        sql_members = [row[0] for row in run(compiler.compile_match(rule, NOW))]
        expected = python_members(rule, schema)
        if sql_members != expected:
            mismatches[name] = (sql_members, expected)
    assert mismatches == {}


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_compile_many_agrees_with_python(engine: str, request: pytest.FixtureRequest) -> None:
    run: Runner = request.getfixturevalue("duck" if engine == "duckdb" else "pg")
    query = SqlCompiler(engine, SCHEMA).compile_many(RULES, NOW)
    assert query.columns == ["id", *RULES]
    result = run(query)
    assert [row[0] for row in result] == sorted(pr.id for pr in PEOPLE)
    for index, (name, rule) in enumerate(RULES.items(), start=1):
        members = sorted(row[0] for row in result if row[index] is True)
        assert all(row[index] in (True, False) for row in result), name  # never NULL
        assert members == python_members(rule, SCHEMA), name


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_injection_literals_are_data_on_real_engines(
    engine: str, request: pytest.FixtureRequest
) -> None:
    run: Runner = request.getfixturevalue("duck" if engine == "duckdb" else "pg")
    compiler = SqlCompiler(engine, SCHEMA)
    drop = "'); DROP TABLE customers; --"
    for rule in (
        cmp("=", "email", drop),
        InList(p("email"), (lit(drop), lit("x' OR '1'='1"))),
        TextMatch("CONTAINS", p("email"), lit("drop table")),
        cmp("=", "first_name", "BACK\\SLASH"),
        cmp("=", "last_name", "QUOTE'D"),
    ):
        query = compiler.compile_match(rule, NOW)
        assert drop not in query.sql and "quote'd" not in query.sql.lower()
        assert [row[0] for row in run(query)] == ["frank"]
    count = CompiledQuery("SELECT count(*) FROM customers", {}, ["count"])
    assert run(count) == [(len(PEOPLE),)]
