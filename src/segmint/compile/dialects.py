"""The few places where the SQL dialects differ (everything else is sqlglot's rendering).

Each override takes sqlglot expressions and returns one; none builds SQL text. Parameter
placeholders (``$p1`` / ``%(p1)s`` / ``:p1``) are rendered by sqlglot from
``exp.Placeholder``.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from segmint.errors import CompileError

DIALECTS: tuple[str, ...] = ("duckdb", "postgres", "spark")

#: Binds a Python value and returns its placeholder.
Bind = Callable[[object], exp.Expr]


def check_dialect(dialect: str) -> str:
    if dialect not in DIALECTS:
        raise CompileError(f"unknown SQL dialect {dialect!r} (one of {', '.join(DIALECTS)})")
    return dialect


def _lambda_eq_lower(needle: exp.Expr) -> exp.Lambda:
    """``x -> lower(x) = needle`` (rendered ``LAMBDA x : …`` in DuckDB, ``x -> …`` in Spark)."""
    x = exp.to_identifier("x")
    body = exp.EQ(this=exp.Lower(this=exp.column("x")), expression=needle)
    return exp.Lambda(this=body, expressions=[x])


def list_contains(dialect: str, array: exp.Expr, needle: exp.Expr) -> exp.Expr:
    """Whether a list of strings has an element equal to ``needle`` ignoring case.

    ``needle`` is already lower-cased. The result is NULL or FALSE for a NULL list; callers
    wrap atoms in ``COALESCE(…, FALSE)``.
    """
    if dialect == "duckdb":
        matches = exp.func("list_filter", array, _lambda_eq_lower(needle))
        return exp.GT(this=exp.func("len", matches), expression=exp.Literal.number(0))
    if dialect == "spark":
        return exp.func("exists", array, _lambda_eq_lower(needle))
    # PostgreSQL: no lambdas; a correlated unnest is the idiom (a NULL array unnests empty).
    element = exp.column("v", table="x")
    where = exp.EQ(this=exp.Lower(this=element), expression=needle)
    unnest = exp.Unnest(
        expressions=[array],
        alias=exp.TableAlias(this=exp.to_identifier("x"), columns=[exp.to_identifier("v")]),
    )
    query = exp.select(exp.Literal.number(1)).from_(unnest).where(where)
    return exp.Exists(this=query)


def json_text(dialect: str, column: exp.Expr, name: str, bind: Bind) -> exp.Expr:
    """The string value of a top-level JSON property; the property name is bound too."""
    if dialect == "postgres":  # ``properties ->> 'name'`` on JSONB
        return exp.JSONExtractScalar(this=column, expression=bind(name))
    # DuckDB ``->>`` and Spark ``get_json_object`` take a JSONPath.
    return exp.JSONExtractScalar(this=column, expression=bind(f"$.{name}"))


def by_code_point(dialect: str, value: exp.Expr) -> exp.Expr:
    """``value`` compared by code point: PostgreSQL needs ``COLLATE "C"``; the others
    already compare strings by code point (binary collation)."""
    if dialect == "postgres":
        return exp.Collate(this=value, expression=exp.Identifier(this="C", quoted=True))
    return value


def has_epoch_micros(dialect: str) -> bool:
    """Whether adding a fixed duration to a TIMESTAMP is much cheaper as BIGINT epoch
    microseconds (:func:`epoch_micros`) than as ``instant + INTERVAL``: DuckDB, whose
    timestamp + interval splits the value into a date and a time and joins them again for
    every row (the due instants of a refresh add one to every order of the past year:
    ~0.15 s of CPU per 5 M orders; ``epoch_us`` reads the stored integer)."""
    return dialect == "duckdb"


def epoch_micros(dialect: str, instant: exp.Expr) -> exp.Expr:
    """A TIMESTAMP as BIGINT microseconds since the epoch (:func:`has_epoch_micros`)."""
    if not has_epoch_micros(dialect):
        raise CompileError(f"no epoch-microsecond timestamps in {dialect}")
    return exp.Anonymous(this="epoch_us", expressions=[instant])


def from_epoch_micros(dialect: str, micros: exp.Expr) -> exp.Expr:
    """The TIMESTAMP of :func:`epoch_micros`'s BIGINT."""
    if not has_epoch_micros(dialect):
        raise CompileError(f"no epoch-microsecond timestamps in {dialect}")
    return exp.Anonymous(this="make_timestamp", expressions=[micros])


def in_ids(column: exp.Expr, ids: exp.Select, *, probe: bool) -> exp.Expr:
    """``column`` is one of the ids ``ids`` selects (a pass restricted to a batch of
    customers). With ``probe`` (PostgreSQL, at most ``Store.probe_ids`` ids):
    ``= ANY(ARRAY(subquery))``, the array computed once and probed through the
    ``customer_id`` B-tree (a bitmap index scan), where ``IN (subquery)`` plans a
    semi-join above a full scan (5,000 customers of 20 M lines: 0.46 s against 9.5 s).
    DuckDB has no such index path and scans either way."""
    if probe:
        array = exp.Array(expressions=[ids])
        return exp.EQ(this=column, expression=exp.Any(this=exp.Paren(this=array)))
    return exp.In(this=column, query=ids.subquery())
