"""Hypothesis strategies for rule ASTs that are well-formed *and* type-correct.

``rules(schema)`` draws rules over a schema: every path exists, both sides of every
comparison have compatible types, aggregates carry WHERE clauses over their own item
fields, literals include non-ASCII strings with quotes and backslashes, exact decimals,
dates, UTC timestamps and relative times. Every rule drawn passes ``check(rule, schema)``
(with ``allow_realtime=realtime``), so other suites (conformance, compilers) can reuse them.

``token_soup()`` draws rule-shaped garbage for fuzzing the parser.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from hypothesis import strategies as st

from segmint.rules import ast
from segmint.rules.schema import (
    COLLECTIONS,
    CONTEXT_FIELDS,
    CUSTOMER_FIELDS,
    DERIVED_FIELDS,
    PROPERTY_COLLECTIONS,
    REALTIME_COLLECTIONS,
    FieldType,
    Schema,
)
from segmint.rules.tokens import MAX_DURATION

S, N, I, B, D, T, L = (  # noqa: E741 - same short aliases as schema.py
    FieldType.STRING,
    FieldType.NUMBER,
    FieldType.INTEGER,
    FieldType.BOOLEAN,
    FieldType.DATE,
    FieldType.TIMESTAMP,
    FieldType.STRING_LIST,
)

#: A schema with one custom attribute of every type.
TEST_SCHEMA = Schema(
    attributes={
        "tier": S,
        "score": N,
        "visits": I,
        "married": B,
        "anniversary": D,
        "last_seen": T,
        "interests": L,
    }
)

ORDERABLE = (S, N, I, D, T)
COMPARE_OPS: tuple[ast.CompareOp, ...] = ("=", "!=", "<", "<=", ">", ">=")
TEXT_OPS: tuple[ast.TextOp, ...] = ("CONTAINS", "STARTS WITH", "ENDS WITH")
UNITS: tuple[ast.DurationUnit, ...] = ("h", "d", "w", "m", "y")

# --- literals ---------------------------------------------------------------------------

#: Strings that stress quoting and case folding, mixed with arbitrary text.
NASTY = ("", "'", "''", "\\", "O'Brien", "Ærø", "straße", "İstanbul", "# not a comment", "a\nb")
strings = st.one_of(st.sampled_from(NASTY), st.text(max_size=12))
decimals = st.one_of(
    st.integers(min_value=-(10**9), max_value=10**12).map(Decimal),
    st.decimals(
        min_value=Decimal("-1e9"),
        max_value=Decimal("1e12"),
        places=4,
        allow_nan=False,
        allow_infinity=False,
    ),
)
dates = st.dates()
timestamps = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(dt.UTC)
)
names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
durations = st.sampled_from(UNITS).flatmap(
    lambda unit: st.builds(
        ast.Duration,
        st.one_of(st.integers(0, 400), st.integers(0, MAX_DURATION[unit])),
        st.just(unit),
    )
)
relative_times = st.one_of(st.just(ast.RelativeTime()), st.builds(ast.RelativeTime, durations))

_LITERALS: dict[FieldType, st.SearchStrategy[ast.LiteralValue]] = {
    S: strings,
    N: decimals,
    I: st.integers(-1000, 10**6).map(Decimal),
    B: st.booleans(),
    D: dates,
    T: timestamps,
}


def literals(ftype: FieldType) -> st.SearchStrategy[ast.Literal]:
    """Literals of ``ftype`` (never null: comparing with null is a type error)."""
    return st.builds(ast.Literal, _LITERALS[ftype])


# --- paths ------------------------------------------------------------------------------


def fields(schema: Schema, scope: str | None, realtime: bool) -> dict[FieldType, list[str]]:
    """Readable field names in ``scope`` grouped by type (the dotted form)."""
    out: dict[FieldType, list[str]] = {}
    if scope is None:
        found = {**CUSTOMER_FIELDS, **DERIVED_FIELDS}
        found.update({f"attributes.{a}": t for a, t in schema.attributes.items()})
        if realtime:
            found.update(CONTEXT_FIELDS)
    else:
        found = dict(COLLECTIONS[scope])
    for name, ftype in found.items():
        out.setdefault(ftype, []).append(name)
    return out


def paths(
    schema: Schema, ftype: FieldType, scope: str | None, realtime: bool
) -> st.SearchStrategy[ast.Path] | None:
    options: list[st.SearchStrategy[ast.Path]] = []
    known = fields(schema, scope, realtime).get(ftype, [])
    if known:
        options.append(st.sampled_from(known).map(lambda d: ast.Path(tuple(d.split(".")))))
    if ftype is S and scope in PROPERTY_COLLECTIONS:
        options.append(names.map(lambda n: ast.Path(("properties", n))))
    if ftype is S and scope is None and realtime:
        options.append(names.map(lambda n: ast.Path(("context", "query", n))))
    return st.one_of(options) if options else None


def collections(realtime: bool) -> list[str]:
    return [c for c in COLLECTIONS if realtime or c not in REALTIME_COLLECTIONS]


# --- values -----------------------------------------------------------------------------


def aggregates(
    schema: Schema, ftype: FieldType, realtime: bool
) -> st.SearchStrategy[ast.Aggregate] | None:
    """Aggregates whose result has type ``ftype`` (customer scope only)."""
    options: list[st.SearchStrategy[ast.Aggregate]] = []
    for name in collections(realtime):
        coll = tuple(name.split("."))
        where = st.none() | rules(schema, scope=name, realtime=realtime, max_depth=1)
        item_fields = COLLECTIONS[name]
        if ftype is I:
            options.append(st.builds(ast.Aggregate, st.just("COUNT"), st.just(coll), where=where))
        if ftype is B:
            options.append(st.builds(ast.Aggregate, st.just("EXISTS"), st.just(coll), where=where))
        for field, ft in item_fields.items():
            funcs: list[ast.AggregateFunc] = []
            if ft is ftype and ft.is_numeric:
                funcs.append("SUM")
            if ftype is N and ft.is_numeric:
                funcs.append("AVG")
            if ft is ftype and ft in ORDERABLE:
                funcs += ["MIN", "MAX"]
            for func in funcs:
                options.append(
                    st.builds(ast.Aggregate, st.just(func), st.just(coll), st.just(field), where)
                )
    return st.one_of(options) if options else None


_CACHE: dict[tuple[object, ...], tuple[Schema, st.SearchStrategy[ast.Value]]] = {}


def values(
    schema: Schema, ftype: FieldType, scope: str | None, realtime: bool, *, constant: bool = True
) -> st.SearchStrategy[ast.Value]:
    """Values of type ``ftype``: paths, literals (if ``constant``) and aggregates."""
    # Strategies are built inside flatmap for every draw; caching them keeps generation
    # fast (Schema holds a dict, so it is keyed by identity and kept alive in the entry).
    key = (id(schema), ftype, scope, realtime, constant)
    if key not in _CACHE:
        _CACHE[key] = (schema, _values(schema, ftype, scope, realtime, constant))
    return _CACHE[key][1]


def _values(
    schema: Schema, ftype: FieldType, scope: str | None, realtime: bool, constant: bool
) -> st.SearchStrategy[ast.Value]:
    options: list[st.SearchStrategy[ast.Value]] = []
    path = paths(schema, ftype, scope, realtime)
    if path is not None:
        options.append(path)
    if constant and ftype in _LITERALS:
        options.append(literals(ftype))
    if constant and ftype is T:
        options.append(relative_times)
    if scope is None:
        agg = aggregates(schema, ftype, realtime)
        if agg is not None:
            options.append(agg)
    return st.one_of(options) if options else literals(ftype)


# --- tests ------------------------------------------------------------------------------


def tests(schema: Schema, scope: str | None, realtime: bool) -> st.SearchStrategy[ast.Rule]:
    """Atomic tests (everything but NOT/AND/OR), type-correct in ``scope``."""

    def value(ftype: FieldType, constant: bool = True) -> st.SearchStrategy[ast.Value]:
        return values(schema, ftype, scope, realtime, constant=constant)

    def compare(ftype: FieldType) -> st.SearchStrategy[ast.Rule]:
        ops = COMPARE_OPS if ftype is not B else ("=", "!=")
        other = value(ftype)
        if ftype is T:  # a date literal against a timestamp compares the calendar day
            other = other | literals(D)
        if ftype.is_numeric:
            other = other | value(N if ftype is I else I)
        return st.builds(ast.Compare, st.sampled_from(ops), value(ftype), other)

    def between(ftype: FieldType) -> st.SearchStrategy[ast.Rule]:
        return st.builds(ast.Between, value(ftype), value(ftype), value(ftype), st.booleans())

    def in_list(ftype: FieldType) -> st.SearchStrategy[ast.Rule]:
        items = st.lists(literals(ftype), min_size=1, max_size=4).map(tuple)
        return st.builds(ast.InList, value(ftype), items, st.booleans())

    strings_ = value(S)
    lists = paths(schema, L, scope, realtime)
    # a list has no literal, so only a list path can be tested for null
    nullable = (S, N, B, D, T, L) if lists is not None else (S, N, B, D, T)
    options: list[st.SearchStrategy[ast.Rule]] = [
        st.sampled_from((S, N, I, B, D, T)).flatmap(compare),
        st.sampled_from(ORDERABLE).flatmap(between),
        st.sampled_from((S, N, I, B, D, T)).flatmap(in_list),
        st.builds(
            ast.IsNull,
            st.sampled_from(nullable).flatmap(lambda t: value(t, constant=False)),
            st.booleans(),
        ),
        st.builds(ast.TextMatch, st.sampled_from(TEXT_OPS), strings_, strings_, st.booleans()),
        st.builds(
            ast.Within,
            st.sampled_from((D, T)).flatmap(lambda t: value(t, constant=False)),
            durations,
            st.booleans(),
        ),
        st.builds(ast.BoolTest, value(B)),
    ]
    if lists is not None:
        options.append(
            st.builds(ast.TextMatch, st.just("CONTAINS"), lists, strings_, st.booleans())
        )
    if scope is None:
        options.append(st.builds(ast.InSegment, strings.filter(lambda s: bool(s.strip()))))
    return st.one_of(options)


_TESTS: dict[tuple[object, ...], tuple[Schema, st.SearchStrategy[ast.Rule]]] = {}


def _atoms(schema: Schema, scope: str | None, realtime: bool) -> st.SearchStrategy[ast.Rule]:
    key = (id(schema), scope, realtime)
    if key not in _TESTS:
        _TESTS[key] = (schema, tests(schema, scope, realtime))
    return _TESTS[key][1]


@st.composite
def _tree(
    draw: st.DrawFn, schema: Schema, scope: str | None, realtime: bool, depth: int
) -> ast.Rule:
    # A composite rather than st.recursive: its repr stays small (st.recursive over
    # strategies this large makes Hypothesis build enormous reprs) and depth is explicit.
    kind = draw(st.sampled_from(("atom", "atom", "not", "and", "or"))) if depth > 0 else "atom"
    if kind == "atom":
        return draw(_atoms(schema, scope, realtime))
    if kind == "not":
        return ast.Not(draw(_tree(schema, scope, realtime, depth - 1)))
    count = draw(st.integers(min_value=2, max_value=3))
    items = [draw(_tree(schema, scope, realtime, depth - 1)) for _ in range(count)]
    return ast.and_(*items) if kind == "and" else ast.or_(*items)


def rules(
    schema: Schema = TEST_SCHEMA,
    *,
    scope: str | None = None,
    realtime: bool = True,
    max_depth: int = 3,
) -> st.SearchStrategy[ast.Rule]:
    """Type-correct rules over ``schema`` (``realtime=False``: no context/cart reads).

    ``scope`` names a collection to draw WHERE conditions over its item fields;
    ``max_depth`` bounds the NOT/AND/OR nesting (aggregates add their own WHERE).
    """
    return _tree(schema, scope, realtime, max_depth)


# --- fuzzing ----------------------------------------------------------------------------

SOUP_WORDS = (
    "AND", "or", "NOT", "not", "IN", "SEGMENT", "BETWEEN", "IS", "NULL", "CONTAINS", "STARTS",
    "ENDS", "WITH", "WITHIN", "WHERE", "true", "FALSE", "now", "COUNT", "SUM", "AVG", "MIN",
    "MAX", "EXISTS", "(", ")", "((", "))", ",", ".", "=", "!=", "<", "<=", ">", ">=", "<>", "!",
    "-", "'", "''", "'x'", "'it''s'", "orders", "orders.total", "lines", "cart.lines",
    "cart.lines.quantity", "orders_count", "tags", "attributes.tier", "context.view", "a.",
    "0", "-1", "1.5", "007", "12abc", "30d", "-30d", "99999999999y", "2024-01-01",
    "2024-02-30", "2024-01-01T10:00:00Z", "2024-01-01T25:00:00+01:00", "2024-01-01T",
    "#", "# c\n", "\n", "\t", "é", "\x00", "\\",
)  # fmt: skip


def token_soup() -> st.SearchStrategy[str]:
    """Rule-shaped garbage: keywords, literals and punctuation in any order."""
    sep = st.sampled_from(("", " ", "  ", "\n"))
    piece: Callable[[tuple[str, str]], str] = lambda pair: pair[0] + pair[1]  # noqa: E731
    return st.lists(st.tuples(st.sampled_from(SOUP_WORDS), sep).map(piece), max_size=30).map(
        "".join
    )
