"""Hints for the mistakes habits from other languages make (issue 18): each is the
positioned error naming what to write instead."""

from __future__ import annotations

import pytest

from segmint.errors import RuleError
from segmint.rules import check, parse
from segmint.rules.schema import DEFAULT_SCHEMA


def error_of(text: str) -> RuleError:
    with pytest.raises(RuleError) as caught:
        check(parse(text), DEFAULT_SCHEMA, text=text)
    return caught.value


@pytest.mark.parametrize(
    ("text", "message", "expected", "marked"),
    [
        (
            'brand = "Private"',
            "strings take single quotes, not double quotes",
            "'Private'",
            '"Private"',
        ),
        ('x = "it\'s"', "strings take single quotes, not double quotes", "'it''s'", '"it\'s"'),
        (
            "total_spent > $300",
            "a number is written without a currency sign",
            "300",
            "$300",
        ),
        ("total_spent >= €12.50", "a number is written without a currency sign", "12.50", "€12.50"),
        (
            "birth_date > '2000-01-31'",
            "cannot compare a date with a string: a date is written without quotes",
            "2000-01-31",
            "birth_date > '2000-01-31'",
        ),
        (
            "EXISTS(orders WHERE placed_at < '2024-01-01T00:00:00Z')",
            "cannot compare a timestamp with a string: a date is written without quotes",
            "2024-01-01T00:00:00Z",
            "placed_at < '2024-01-01T00:00:00Z'",
        ),
        (
            "brand = 'Private'",
            "'brand' is a field of lines, not of the customer: "
            "use EXISTS(lines WHERE brand = 'Private')",
            None,
            "brand",
        ),
        (
            "orders_count > 1 AND category IN ('WINE', 'BEER')",
            "'category' is a field of lines, not of the customer: "
            "use EXISTS(lines WHERE category IN ('WINE', 'BEER'))",
            None,
            "category",
        ),
        (
            "NOT status = 'paid'",
            "'status' is a field of orders, not of the customer: "
            "use EXISTS(orders WHERE status = 'paid')",
            None,
            "status",
        ),
    ],
)
def test_hint(text: str, message: str, expected: str | None, marked: str) -> None:
    error = error_of(text)
    assert error.message == message
    assert error.expected == expected
    assert text[error.start : error.end] == marked


def test_no_hint_where_none_applies() -> None:
    # a string that is no date, a sign not before a number, a name no collection has
    assert error_of("birth_date = 'soon'").expected == "a date value"
    assert error_of("total_spent > $x").message == "unexpected character '$'"
    assert error_of("colour = 'red'").message == "unknown field 'colour'"
