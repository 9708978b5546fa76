"""The parser builds the AST of RULES.md §2, with spans, for every construct."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from segmint.rules import ast as A
from segmint.rules import parse, to_text

RULES_MD_EXAMPLES = [
    "attributes.married = true AND attributes.occupation = 'Boat builder'",
    "business_account IN ('acme', 'globex') AND orders_count >= 1",
    "business_account IS NOT NULL AND business_account NOT IN ('acme')"
    "       # all accounts except acme",
    "SUM(orders.total WHERE placed_at WITHIN 365d) > 300",
    "EXISTS(lines WHERE brand = 'Acme' AND placed_at WITHIN 90d)",
    "total_spent >= 100 AND EXISTS(lines WHERE sku = 'SKU-1' AND placed_at BETWEEN 2024-01-01"
    " AND 2024-03-31)",
    "COUNT(events WHERE type = 'product_view' AND sku = 'SKU-42' AND at WITHIN 30d) > 2",
    "EXISTS(wishlist WHERE sku = 'SKU-9')",
    "tags CONTAINS 'vip' OR IN SEGMENT 'big-spenders'",
    "NOT EXISTS(orders WHERE placed_at WITHIN 180d) AND orders_count >= 3",
    "context.view = 'business' AND orders_count = 0    # real-time: B2B new user",
    "cart.subtotal BETWEEN 100 AND 200    # real-time",
    "SUM(cart.lines.quantity WHERE category = 'wine') >= 12    # real-time",
]


def P(dotted: str) -> A.Path:
    return A.Path(tuple(dotted.split(".")))


def L(value: A.LiteralValue) -> A.Literal:
    return A.Literal(value)


def D(text: str) -> Decimal:
    return Decimal(text)


@pytest.mark.parametrize("text", RULES_MD_EXAMPLES)
def test_rules_md_examples_parse_and_reprint(text: str) -> None:
    rule = parse(text)
    assert parse(to_text(rule)) == rule
    assert to_text(parse(to_text(rule))) == to_text(rule)


def test_rules_md_examples_exact_trees() -> None:
    assert parse(RULES_MD_EXAMPLES[1]) == A.And(
        (
            A.InList(P("business_account"), (L("acme"), L("globex"))),
            A.Compare(">=", P("orders_count"), L(D("1"))),
        )
    )
    assert parse(RULES_MD_EXAMPLES[3]) == A.Compare(
        ">",
        A.Aggregate("SUM", ("orders",), "total", A.Within(P("placed_at"), A.Duration(365, "d"))),
        L(D("300")),
    )
    assert parse(RULES_MD_EXAMPLES[8]) == A.Or(
        (A.TextMatch("CONTAINS", P("tags"), L("vip")), A.InSegment("big-spenders"))
    )
    assert parse(RULES_MD_EXAMPLES[9]) == A.And(
        (
            A.Not(
                A.BoolTest(
                    A.Aggregate(
                        "EXISTS", ("orders",), None, A.Within(P("placed_at"), A.Duration(180, "d"))
                    )
                )
            ),
            A.Compare(">=", P("orders_count"), L(D("3"))),
        )
    )
    assert parse(RULES_MD_EXAMPLES[12]) == A.Compare(
        ">=",
        A.Aggregate("SUM", ("cart", "lines"), "quantity", A.Compare("=", P("category"), L("wine"))),
        L(D("12")),
    )


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_compare_operators(op: str) -> None:
    assert parse(f"orders_count {op} 2") == A.Compare(op, P("orders_count"), L(D("2")))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x BETWEEN 1 AND 2", A.Between(P("x"), L(D("1")), L(D("2")))),
        ("x NOT BETWEEN 1 AND 2", A.Between(P("x"), L(D("1")), L(D("2")), negated=True)),
        ("x IN (1, 'a', true, null)", A.InList(P("x"), (L(D("1")), L("a"), L(True), L(None)))),
        ("x NOT IN ('a')", A.InList(P("x"), (L("a"),), negated=True)),
        ("x IS NULL", A.IsNull(P("x"))),
        ("x IS NOT NULL", A.IsNull(P("x"), negated=True)),
        ("x CONTAINS 'a'", A.TextMatch("CONTAINS", P("x"), L("a"))),
        ("x NOT CONTAINS 'a'", A.TextMatch("CONTAINS", P("x"), L("a"), negated=True)),
        ("x STARTS WITH 'a'", A.TextMatch("STARTS WITH", P("x"), L("a"))),
        ("x NOT STARTS WITH 'a'", A.TextMatch("STARTS WITH", P("x"), L("a"), negated=True)),
        ("x ENDS WITH y", A.TextMatch("ENDS WITH", P("x"), P("y"))),
        ("x NOT ENDS WITH 'a'", A.TextMatch("ENDS WITH", P("x"), L("a"), negated=True)),
        ("x WITHIN 12h", A.Within(P("x"), A.Duration(12, "h"))),
        ("x NOT WITHIN 4w", A.Within(P("x"), A.Duration(4, "w"), negated=True)),
        ("x WITHIN 6m", A.Within(P("x"), A.Duration(6, "m"))),
        ("x WITHIN 1y", A.Within(P("x"), A.Duration(1, "y"))),
        ("IN SEGMENT 'vip'", A.InSegment("vip")),
        ("NOT IN SEGMENT 'vip'", A.Not(A.InSegment("vip"))),
        ("newsletter_subscribed", A.BoolTest(P("newsletter_subscribed"))),
        ("true", A.BoolTest(L(True))),
        ("NOT false", A.Not(A.BoolTest(L(False)))),
        ("NOT NOT x", A.Not(A.Not(A.BoolTest(P("x"))))),
        ("EXISTS(orders)", A.BoolTest(A.Aggregate("EXISTS", ("orders",)))),
        ("x = now", A.Compare("=", P("x"), A.RelativeTime())),
        ("x > -30d", A.Compare(">", P("x"), A.RelativeTime(A.Duration(30, "d")))),
        ("x > -5", A.Compare(">", P("x"), L(D("-5")))),
        ("x > -5.25", A.Compare(">", P("x"), L(D("-5.25")))),
        ("-1 < x", A.Compare("<", L(D("-1")), P("x"))),
        ("x = 0.10", A.Compare("=", P("x"), L(D("0.10")))),
        ("COUNT(lines) = 0", A.Compare("=", A.Aggregate("COUNT", ("lines",)), L(D("0")))),
        (
            "AVG(orders.total WHERE status = 'paid') > 1",
            A.Compare(
                ">",
                A.Aggregate("AVG", ("orders",), "total", A.Compare("=", P("status"), L("paid"))),
                L(D("1")),
            ),
        ),
        (
            "MIN(orders.placed_at) < MAX(events.at)",
            A.Compare(
                "<",
                A.Aggregate("MIN", ("orders",), "placed_at"),
                A.Aggregate("MAX", ("events",), "at"),
            ),
        ),
        (
            "COUNT(events WHERE properties.color = 'red') > 0",
            A.Compare(
                ">",
                A.Aggregate(
                    "COUNT", ("events",), None, A.Compare("=", P("properties.color"), L("red"))
                ),
                L(D("0")),
            ),
        ),
        ("context.query.utm_source = 'x'", A.Compare("=", P("context.query.utm_source"), L("x"))),
    ],
)
def test_constructs(text: str, expected: A.Rule) -> None:
    assert parse(text) == expected
    assert parse(to_text(expected)) == expected


def test_keywords_are_case_insensitive() -> None:
    assert parse("x not between 1 and 2 or not y Is Not null") == parse(
        "x NOT BETWEEN 1 AND 2 OR NOT y IS NOT NULL"
    )
    assert parse("count(orders where status in ('a')) >= 1 and in segment 'v'") == parse(
        "COUNT(orders WHERE status IN ('a')) >= 1 AND IN SEGMENT 'v'"
    )
    assert parse("x = TRUE") == parse("x = true")
    assert parse("x = NOW") == parse("x = now")
    assert parse("x starts with 'a'") == parse("x STARTS WITH 'a'")


def test_field_names_are_case_sensitive() -> None:
    assert parse("City = 'x'") != parse("city = 'x'")


def test_comments_and_whitespace() -> None:
    text = "# leading comment\n  x = 1   # trailing\n\tAND # mid\n y = 'a # not a comment'"
    assert parse(text) == A.And(
        (A.Compare("=", P("x"), L(D("1"))), A.Compare("=", P("y"), L("a # not a comment")))
    )


def test_strings() -> None:
    assert parse("x = 'it''s'") == A.Compare("=", P("x"), L("it's"))
    assert parse("x = ''''") == A.Compare("=", P("x"), L("'"))
    assert parse("x = ''") == A.Compare("=", P("x"), L(""))
    assert parse("x = 'a\\b'") == A.Compare("=", P("x"), L("a\\b"))
    assert parse("x = 'Ærø ß 東京'") == A.Compare("=", P("x"), L("Ærø ß 東京"))
    assert parse("x = 'two\nlines'") == A.Compare("=", P("x"), L("two\nlines"))


def test_numbers_are_exact_decimals() -> None:
    rule = parse("x = 0.1")
    assert isinstance(rule, A.Compare) and isinstance(rule.right, A.Literal)
    assert rule.right.value == Decimal("0.1") and type(rule.right.value) is Decimal
    big = "123456789012345678901234567890.000000000000000001"
    assert to_text(parse(f"x = {big}")) == f"x = {big}"


def test_dates_and_timestamps() -> None:
    assert parse("x = 2024-02-29") == A.Compare("=", P("x"), L(dt.date(2024, 2, 29)))
    utc = dt.datetime(2024, 5, 1, 7, 30, tzinfo=dt.UTC)
    assert parse("x = 2024-05-01T07:30:00Z") == A.Compare("=", P("x"), L(utc))
    rule = parse("x = 2024-05-01T09:30:00+02:00")
    assert isinstance(rule, A.Compare) and isinstance(rule.right, A.Literal)
    assert rule.right.value == utc
    assert isinstance(rule.right.value, dt.datetime) and rule.right.value.tzinfo is dt.UTC
    assert to_text(rule) == "x = 2024-05-01T07:30:00Z"
    assert to_text(parse("x = 2024-05-01T00:00:00.5-01:30")) == "x = 2024-05-01T01:30:00.500000Z"
    # a timestamp crossing a day (and year) boundary when normalised to UTC
    assert to_text(parse("x = 2024-12-31T23:00:00-02:00")) == "x = 2025-01-01T01:00:00Z"


def test_and_or_flatten_even_across_parentheses() -> None:
    a, b, c, d = (A.BoolTest(P(n)) for n in "abcd")
    assert parse("a AND (b AND c) AND d") == A.And((a, b, c, d))
    assert parse("(a OR b) OR (c OR d)") == A.Or((a, b, c, d))
    assert parse("((a))") == a
    assert parse("a OR b AND c") == A.Or((a, A.And((b, c))))
    assert parse("(a OR b) AND c") == A.And((A.Or((a, b)), c))
    assert parse("NOT a AND b") == A.And((A.Not(a), b))
    assert parse("NOT (a AND b)") == A.Not(A.And((a, b)))


def test_between_binds_its_own_and() -> None:
    assert parse("x BETWEEN 1 AND 2 AND y") == A.And(
        (A.Between(P("x"), L(D("1")), L(D("2"))), A.BoolTest(P("y")))
    )


def test_spans_on_every_node() -> None:
    text = "NOT (a = 'x' OR COUNT(orders WHERE total > -5) >= 2) AND b WITHIN 30d"
    rule = parse(text)
    for node in A.walk(rule):
        assert node.span is not None, node
        assert 0 <= node.span.start < node.span.end <= len(text)
    assert isinstance(rule, A.And)
    within = rule.items[1]
    assert within.span is not None and text[within.span.start : within.span.end] == "b WITHIN 30d"
    assert isinstance(within, A.Within) and within.duration.span is not None
    assert text[within.duration.span.start : within.duration.span.end] == "30d"
    agg = next(n for n in A.walk(rule) if isinstance(n, A.Aggregate))
    assert agg.span is not None
    assert text[agg.span.start : agg.span.end] == "COUNT(orders WHERE total > -5)"


def test_canonical_printing() -> None:
    assert to_text(parse("x in ('a','b') or (y and not (z or w))")) == (
        "x IN ('a', 'b') OR y AND NOT (z OR w)"
    )
    assert to_text(parse("(a or b) and c")) == "(a OR b) AND c"
    assert to_text(parse("x = 'O''Brien'")) == "x = 'O''Brien'"
    assert to_text(parse("x = TRUE and y is not NULL and z > NOW")) == (
        "x = true AND y IS NOT NULL AND z > now"
    )
    assert to_text(parse("sum(orders.total where status != 'x') >= 1.50")) == (
        "SUM(orders.total WHERE status != 'x') >= 1.50"
    )
    assert to_text(A.Compare("=", P("x"), L(Decimal("1E+3")))) == "x = 1000"
    assert to_text(A.Compare("=", P("x"), L(Decimal("1E-7")))) == "x = 0.0000001"
    assert to_text(parse("x within 30D")) == "x WITHIN 30d"
