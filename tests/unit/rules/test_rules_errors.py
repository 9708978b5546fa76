"""Every parse error is a positioned RuleError with a caret and what was expected."""

from __future__ import annotations

import pytest

from segmint.errors import RuleError, RuleLimitError
from segmint.rules import MAX_DEPTH, MAX_LENGTH, parse


def error_of(text: str) -> RuleError:
    with pytest.raises(RuleError) as info:
        parse(text)
    return info.value


@pytest.mark.parametrize(
    ("text", "column", "caret", "expected_part"),
    [
        ("", 1, "^", "a rule"),
        ("   ", 4, "^", "a rule"),
        ("orders_count >=", 16, "^", "a field, literal"),
        ("orders_count 2", 14, "^", "a comparison"),
        ("x = 'abc", 5, "^^^^", "closing quote"),
        ("x = 2024-02-30", 5, "^^^^^^^^^^", "real calendar date"),
        ("x = 2023-02-29", 5, "^^^^^^^^^^", "real calendar date"),
        ("x = 2024-13-01", 5, "^^^^^^^^^^", "real calendar date"),
        ("x = 2024-01-01T25:00:00Z", 5, "^" * 20, "real date and time"),
        ("x = 2024-01-01T10:00:00+24:00", 5, "^" * 25, "real date and time"),
        ("x = 2024-01-01T10:00", 5, "^" * 16, "YYYY-MM-DDTHH:MM:SS"),
        ("x = 12abc", 5, "^^^^^", "a number"),
        ("x WITHIN 30days", 10, "^^^^^^", "a number"),
        ("x WITHIN 30", 10, "^^", "a duration"),
        ("x WITHIN 99999999999y", 10, "^" * 12, "at most 1000y"),
        ("x = 30d", 5, "^^^", "write -30d"),
        ("x <> 1", 3, "^^", "'!='"),
        ("x ! 1", 3, "^", "'!='"),
        ("x = 1 AND (y = 2", 17, "^", "')' to close the '(' at 1:11"),
        ("x = 1)", 6, "^", "no matching '('"),
        ("x = 1 y = 2", 7, "^", "AND, OR or end of rule"),
        ("x IN ()", 7, "^", "a literal"),
        ("x IN ('a',)", 11, "^", "a literal"),
        ("x IN ('a' 'b')", 11, "^^^", "',' or ')'"),
        ("x IN (y)", 7, "^", "a literal"),
        ("x NOT = 1", 7, "^", "BETWEEN, IN"),
        ("x IS 1", 6, "^", "'NULL'"),
        ("x BETWEEN 1 OR 2", 13, "^^", "'AND'"),
        ("x STARTS 'a'", 10, "^^^", "'WITH'"),
        ("IN SEGMENT vip", 12, "^^^", "segment code"),
        ("COUNT orders > 1", 7, "^^^^^^", "'(' after COUNT"),
        ("SUM(orders) > 1", 5, "^^^^^^", "orders.FIELD"),
        ("COUNT(orders WHERE) > 1", 19, "^", "a test"),
        ("COUNT(orders x) > 1", 14, "^", "WHERE or ')'"),
        ("5", 2, "^", "a comparison"),
        ("'a'", 4, "^", "a comparison"),
        ("COUNT(orders)", 14, "^", "a comparison"),
        ("x = a.", 5, "^^", "a name after '.'"),
        ("x = @", 5, "^", "a rule"),
        ("x = - 5", 5, "^", "a number or relative time"),
    ],
)
def test_parse_errors_are_positioned(
    text: str, column: int, caret: str, expected_part: str
) -> None:
    error = error_of(text)
    assert error.line == 1
    assert error.column == column, str(error)
    assert error.expected is not None and expected_part in error.expected, str(error)
    rendered = str(error)
    assert rendered.startswith("error: ")
    assert f" at 1:{column}" in rendered.splitlines()[0]
    assert rendered.splitlines()[2] == "  " + " " * (column - 1) + caret, rendered


def test_error_renders_like_rules_md() -> None:
    error = error_of("x = 1 AND\n  y = 'open")
    assert (error.line, error.column) == (2, 7)
    assert str(error) == (
        "error: unterminated string at 2:7 (expected a closing quote ('))\n"
        "    y = 'open\n"
        "        ^^^^^"
    )


def test_length_limit() -> None:
    with pytest.raises(RuleLimitError) as info:
        parse("x = '" + "a" * 1_000_000 + "'")
    assert "too long" in info.value.message and str(MAX_LENGTH) in info.value.message
    assert len(str(info.value)) < 400  # the message does not echo a megabyte
    parse("x = '" + "a" * (MAX_LENGTH - 6) + "'")  # just under the limit is fine


@pytest.mark.parametrize(
    "opening", ["(", "NOT ", "NOT (", "EXISTS(orders WHERE EXISTS(orders WHERE "]
)
def test_depth_limit_is_a_clean_error(opening: str) -> None:
    for levels in (MAX_DEPTH + 1, 10_000):
        text = (opening * levels)[: MAX_LENGTH - 1] + "x"
        with pytest.raises(RuleLimitError) as info:
            parse(text)
        assert "nested too deeply" in info.value.message
        # The parser stops at the first level past the limit instead of reading on: the
        # error points inside the first MAX_DEPTH + 1 openings, wherever the text ends.
        assert info.value.line == 1
        assert info.value.column <= (MAX_DEPTH + 1) * len(opening)


def test_deep_nesting_of_10000_parentheses() -> None:
    text = "(" * 10_000 + "x" + ")" * 10_000
    with pytest.raises(RuleLimitError):
        parse(text)


def test_nesting_up_to_the_limit_parses() -> None:
    text = "(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH
    assert parse(text) == parse("x")
    assert parse("NOT " * MAX_DEPTH + "x") is not None


def test_non_text_input() -> None:
    with pytest.raises(RuleError):
        parse(None)  # type: ignore[arg-type]
