"""Canonical text of a rule (RULES.md §5): ``parse(to_text(r)) == r``.

One spelling per rule: upper-case keywords, the literals ``true``, ``false``, ``null``
and ``now`` in lower case (as RULES.md writes them), single spaces, and only the
parentheses the precedence NOT > AND > OR requires.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from segmint.errors import RuleError
from segmint.rules import ast


def to_text(rule: ast.Rule) -> str:
    """The canonical text of ``rule``."""
    return _rule(rule)


def _rule(rule: ast.Rule) -> str:
    match rule:
        case ast.Or(items):
            return " OR ".join(_rule(item) for item in items)
        case ast.And(items):
            return " AND ".join(
                f"({_rule(item)})" if isinstance(item, ast.Or) else _rule(item) for item in items
            )
        case ast.Not(operand):
            inner = _rule(operand)
            if isinstance(operand, ast.And | ast.Or):
                inner = f"({inner})"
            return f"NOT {inner}"
        case ast.Compare(op, left, right):
            return f"{value_text(left)} {op} {value_text(right)}"
        case ast.Between(value, low, high, negated):
            keyword = "NOT BETWEEN" if negated else "BETWEEN"
            return f"{value_text(value)} {keyword} {value_text(low)} AND {value_text(high)}"
        case ast.InList(value, items, negated):
            keyword = "NOT IN" if negated else "IN"
            listed = ", ".join(literal_text(item.value) for item in items)
            return f"{value_text(value)} {keyword} ({listed})"
        case ast.IsNull(value, negated):
            return f"{value_text(value)} IS {'NOT NULL' if negated else 'NULL'}"
        case ast.TextMatch(op, value, pattern, negated):
            keyword = f"NOT {op}" if negated else op
            return f"{value_text(value)} {keyword} {value_text(pattern)}"
        case ast.Within(value, duration, negated):
            keyword = "NOT WITHIN" if negated else "WITHIN"
            return f"{value_text(value)} {keyword} {duration_text(duration)}"
        case ast.InSegment(code):
            return f"IN SEGMENT {string_text(code)}"
        case ast.BoolTest(value):
            return value_text(value)
    raise TypeError(f"not a rule node: {rule!r}")


def value_text(value: ast.Value) -> str:
    match value:
        case ast.Literal(literal):
            return literal_text(literal)
        case ast.RelativeTime(ago):
            return "now" if ago is None else f"-{duration_text(ago)}"
        case ast.Path():
            return value.dotted
        case ast.Aggregate(func, collection, field, where):
            target = ".".join(collection + ((field,) if field is not None else ()))
            if where is None:
                return f"{func}({target})"
            return f"{func}({target} WHERE {_rule(where)})"
    raise TypeError(f"not a value node: {value!r}")


def duration_text(duration: ast.Duration) -> str:
    return f"{duration.amount}{duration.unit}"


def string_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def literal_text(value: ast.LiteralValue) -> str:
    # bool before Decimal and datetime before date: both are subclasses in Python's eyes.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return string_text(value)
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dt.datetime):
        return timestamp_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not a literal value: {value!r}")


def decimal_text(value: Decimal) -> str:
    """Exact positional notation (never an exponent), so the text parses back equal."""
    if not value.is_finite():
        raise RuleError(f"a number must be finite, not {value}", str(value), 0)
    return format(value, "f")


def timestamp_text(value: dt.datetime) -> str:
    """ISO 8601 in UTC with ``Z``; microseconds only when non-zero."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise RuleError("a timestamp must carry a time zone", value.isoformat(), 0)
    utc = value.astimezone(dt.UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"
