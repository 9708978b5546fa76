"""The JSON tree form of a rule (RULES.md §5), for builders and APIs.

Every node is an object with a ``"type"`` tag. Numbers travel as strings so they stay
exact; literals carry an explicit ``"kind"`` so a date is never mistaken for a string::

    {"type": "compare", "op": ">=",
     "left": {"type": "path", "parts": ["orders_count"]},
     "right": {"type": "literal", "kind": "number", "value": "2"}}

``from_json`` validates everything and raises :class:`RuleError` whose "text" is the
JSON location of the problem (``$.items[1].right.value``), since there is no rule text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn, cast

from segmint.errors import RuleError, RuleLimitError
from segmint.rules import ast
from segmint.rules.parser import MAX_DEPTH
from segmint.rules.printer import timestamp_text
from segmint.rules.tokens import KEYWORDS, MAX_DURATION

JSON = dict[str, Any]

_COMPARE_OPS = ("=", "!=", "<", "<=", ">", ">=")
_TEXT_OPS = ("CONTAINS", "STARTS WITH", "ENDS WITH")
_AGGREGATES = ("COUNT", "SUM", "AVG", "MIN", "MAX", "EXISTS")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?\d+(\.\d+)?", re.ASCII)
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE | re.ASCII
)
_MAX_NUMBER_LENGTH = 1000  # as in rule text
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


# --- to_json ---------------------------------------------------------------------------


def to_json(rule: ast.Rule) -> JSON:
    """The JSON tree of ``rule`` (plain dicts, lists, strings, ints, bools and None)."""
    match rule:
        case ast.Or(items) | ast.And(items):
            return {"type": "or" if isinstance(rule, ast.Or) else "and", "items": _all(items)}
        case ast.Not(operand):
            return {"type": "not", "operand": to_json(operand)}
        case ast.Compare(op, left, right):
            return {"type": "compare", "op": op, "left": _value(left), "right": _value(right)}
        case ast.Between(value, low, high, negated):
            return {
                "type": "between",
                "value": _value(value),
                "low": _value(low),
                "high": _value(high),
                "negated": negated,
            }
        case ast.InList(value, items, negated):
            return {
                "type": "in",
                "value": _value(value),
                "items": [_value(item) for item in items],
                "negated": negated,
            }
        case ast.IsNull(value, negated):
            return {"type": "is_null", "value": _value(value), "negated": negated}
        case ast.TextMatch(op, value, pattern, negated):
            return {
                "type": "text_match",
                "op": op,
                "value": _value(value),
                "pattern": _value(pattern),
                "negated": negated,
            }
        case ast.Within(value, duration, negated):
            return {
                "type": "within",
                "value": _value(value),
                "duration": _duration(duration),
                "negated": negated,
            }
        case ast.InSegment(code):
            return {"type": "in_segment", "code": code}
        case ast.BoolTest(value):
            return {"type": "bool_test", "value": _value(value)}
    raise TypeError(f"not a rule node: {rule!r}")


def _all(items: tuple[ast.Rule, ...]) -> list[JSON]:
    return [to_json(item) for item in items]


def _duration(duration: ast.Duration) -> JSON:
    return {"amount": duration.amount, "unit": duration.unit}


def _value(value: ast.Value) -> JSON:
    match value:
        case ast.Literal(literal):
            return {"type": "literal", **_literal(literal)}
        case ast.RelativeTime(ago):
            return {"type": "relative_time", "ago": None if ago is None else _duration(ago)}
        case ast.Path(parts):
            return {"type": "path", "parts": list(parts)}
        case ast.Aggregate(func, collection, field, where):
            return {
                "type": "aggregate",
                "func": func,
                "collection": list(collection),
                "field": field,
                "where": None if where is None else to_json(where),
            }
    raise TypeError(f"not a value node: {value!r}")


def _literal(value: ast.LiteralValue) -> JSON:
    if value is None:
        return {"kind": "null", "value": None}
    if isinstance(value, bool):
        return {"kind": "boolean", "value": value}
    if isinstance(value, str):
        return {"kind": "string", "value": value}
    if isinstance(value, Decimal):
        return {"kind": "number", "value": format(value, "f")}
    if isinstance(value, dt.datetime):
        return {"kind": "timestamp", "value": timestamp_text(value)}
    if isinstance(value, dt.date):
        return {"kind": "date", "value": value.isoformat()}
    raise TypeError(f"not a literal value: {value!r}")


# --- from_json -------------------------------------------------------------------------


def from_json(data: object) -> ast.Rule:
    """Build and validate a rule from its JSON tree; raises :class:`RuleError`."""
    return _Reader().rule(data, "$", 0)


def _fail(where: str, message: str, expected: str | None = None) -> NoReturn:
    raise RuleError(f"invalid JSON rule: {message}", where, 0, len(where), expected=expected)


class _Reader:
    def rule(self, data: object, where: str, depth: int) -> ast.Rule:
        if depth > MAX_DEPTH:
            raise RuleLimitError(
                f"JSON rule nested too deeply: more than {MAX_DEPTH} levels", where, 0, len(where)
            )
        node = _object(data, where)
        kind = node.get("type")
        if kind in ("and", "or"):
            items = _list(node, "items", where)
            if not items:
                _fail(f"{where}.items", "an empty list", "at least one rule")
            rules = [
                self.rule(item, f"{where}.items[{i}]", depth + 1) for i, item in enumerate(items)
            ]
            return ast.and_(*rules) if kind == "and" else ast.or_(*rules)
        if kind == "not":
            return ast.Not(self.rule(_field(node, "operand", where), f"{where}.operand", depth + 1))
        if kind == "compare":
            op = _choice(node, "op", _COMPARE_OPS, where)
            left = self.value(_field(node, "left", where), f"{where}.left", depth)
            right = self.value(_field(node, "right", where), f"{where}.right", depth)
            return ast.Compare(cast(ast.CompareOp, op), left, right)
        if kind == "between":
            return ast.Between(
                self.value(_field(node, "value", where), f"{where}.value", depth),
                self.value(_field(node, "low", where), f"{where}.low", depth),
                self.value(_field(node, "high", where), f"{where}.high", depth),
                _negated(node, where),
            )
        if kind == "in":
            value = self.value(_field(node, "value", where), f"{where}.value", depth)
            raw_items = _list(node, "items", where)
            if not raw_items:
                _fail(f"{where}.items", "an empty IN list", "at least one literal")
            literals: list[ast.Literal] = []
            for i, item in enumerate(raw_items):
                literal = self.value(item, f"{where}.items[{i}]", depth)
                if not isinstance(literal, ast.Literal):
                    _fail(f"{where}.items[{i}]", "IN lists hold literals only", "a literal")
                literals.append(literal)
            return ast.InList(value, tuple(literals), _negated(node, where))
        if kind == "is_null":
            value = self.value(_field(node, "value", where), f"{where}.value", depth)
            return ast.IsNull(value, _negated(node, where))
        if kind == "text_match":
            op = _choice(node, "op", _TEXT_OPS, where)
            return ast.TextMatch(
                cast(ast.TextOp, op),
                self.value(_field(node, "value", where), f"{where}.value", depth),
                self.value(_field(node, "pattern", where), f"{where}.pattern", depth),
                _negated(node, where),
            )
        if kind == "within":
            return ast.Within(
                self.value(_field(node, "value", where), f"{where}.value", depth),
                _read_duration(_field(node, "duration", where), f"{where}.duration"),
                _negated(node, where),
            )
        if kind == "in_segment":
            code = _field(node, "code", where)
            if not isinstance(code, str):
                _fail(f"{where}.code", "a segment code must be a string")
            return ast.InSegment(code)
        if kind == "bool_test":
            value = self.value(_field(node, "value", where), f"{where}.value", depth)
            if not _boolean_shaped(value):
                _fail(f"{where}.value", "not a boolean value", "a path, true, false or EXISTS")
            return ast.BoolTest(value)
        _fail(
            f"{where}.type",
            f"unknown rule type {kind!r}",
            "and, or, not, compare, between, in, is_null, text_match, within, in_segment "
            "or bool_test",
        )

    def value(self, data: object, where: str, depth: int) -> ast.Value:
        node = _object(data, where)
        kind = node.get("type")
        if kind == "literal":
            return ast.Literal(_read_literal(node, where))
        if kind == "relative_time":
            ago = node.get("ago")
            return ast.RelativeTime(None if ago is None else _read_duration(ago, f"{where}.ago"))
        if kind == "path":
            return ast.Path(_names(node, "parts", where))
        if kind == "aggregate":
            func = _choice(node, "func", _AGGREGATES, where)
            collection = _names(node, "collection", where)
            field = node.get("field")
            if func in ("COUNT", "EXISTS"):
                if field is not None:
                    _fail(f"{where}.field", f"{func} takes no field", "null")
            elif not isinstance(field, str) or not _NAME.fullmatch(field):
                _fail(f"{where}.field", f"{func} needs a field name", "a field name")
            raw_where = node.get("where")
            condition = (
                None if raw_where is None else self.rule(raw_where, f"{where}.where", depth + 1)
            )
            return ast.Aggregate(cast(ast.AggregateFunc, func), collection, field, condition)
        _fail(
            f"{where}.type",
            f"unknown value type {kind!r}",
            "literal, relative_time, path or aggregate",
        )


def _boolean_shaped(value: ast.Value) -> bool:
    if isinstance(value, ast.Path):
        return True
    if isinstance(value, ast.Literal):
        return isinstance(value.value, bool)
    return isinstance(value, ast.Aggregate) and value.func == "EXISTS"


def _object(data: object, where: str) -> Mapping[str, object]:
    if not isinstance(data, Mapping):
        _fail(where, f"expected an object, got {type(data).__name__}", "an object with a 'type'")
    return cast(Mapping[str, object], data)


def _field(node: Mapping[str, object], name: str, where: str) -> object:
    if name not in node:
        _fail(f"{where}.{name}", f"missing '{name}'")
    return node[name]


def _list(node: Mapping[str, object], name: str, where: str) -> list[object]:
    value = _field(node, name, where)
    if not isinstance(value, list):
        _fail(f"{where}.{name}", "expected a list")
    return value


def _choice(node: Mapping[str, object], name: str, options: tuple[str, ...], where: str) -> str:
    value = _field(node, name, where)
    if not isinstance(value, str) or value not in options:
        _fail(f"{where}.{name}", f"unknown {name} {value!r}", "one of " + ", ".join(options))
    return value


def _negated(node: Mapping[str, object], where: str) -> bool:
    value = node.get("negated", False)
    if not isinstance(value, bool):
        _fail(f"{where}.negated", "expected true or false")
    return value


def _names(node: Mapping[str, object], name: str, where: str) -> tuple[str, ...]:
    value = _list(node, name, where)
    if not value or not all(isinstance(p, str) and _NAME.fullmatch(p) for p in value):
        _fail(f"{where}.{name}", "expected a non-empty list of names", "e.g. ['orders_count']")
    if len(value) == 1 and cast(str, value[0]).upper() in KEYWORDS:
        # the text form could not spell it: "and" alone would parse as the keyword
        _fail(f"{where}.{name}", f"{value[0]!r} is a keyword, not a name")
    return tuple(cast(list[str], value))


def _read_duration(data: object, where: str) -> ast.Duration:
    node = _object(data, where)
    amount, unit = node.get("amount"), node.get("unit")
    if not isinstance(unit, str) or unit not in MAX_DURATION:
        _fail(f"{where}.unit", f"unknown duration unit {unit!r}", "h, d, w, m or y")
    if (
        isinstance(amount, bool)
        or not isinstance(amount, int)
        or not 0 <= amount <= MAX_DURATION[unit]
    ):
        _fail(f"{where}.amount", f"bad duration amount {amount!r}", f"0..{MAX_DURATION[unit]}")
    return ast.Duration(amount, cast(ast.DurationUnit, unit))


def _read_literal(node: Mapping[str, object], where: str) -> ast.LiteralValue:
    kind = node.get("kind")
    value = node.get("value")
    here = f"{where}.value"
    if kind == "null":
        if value is not None:
            _fail(here, "a null literal has value null")
        return None
    if kind == "boolean":
        if not isinstance(value, bool):
            _fail(here, "expected true or false")
        return value
    if kind == "string":
        if not isinstance(value, str):
            _fail(here, "expected a string")
        return value
    if not isinstance(value, str):
        _fail(here, f"a {kind} literal is written as a string")
    if kind == "number":
        if len(value) > _MAX_NUMBER_LENGTH or not _NUMBER.fullmatch(value):
            _fail(here, f"invalid number {value!r}", "digits with an optional '-' and '.'")
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            _fail(here, f"invalid number {value!r}")
    if kind == "date":
        try:
            if not _DATE.fullmatch(value):
                raise ValueError(value)
            return dt.date.fromisoformat(value)
        except ValueError:
            _fail(here, f"invalid date {value!r}", "YYYY-MM-DD")
    if kind == "timestamp":
        try:
            if not _TIMESTAMP.fullmatch(value):
                raise ValueError(value)
            parsed = dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
            return parsed.astimezone(dt.UTC)
        except (ValueError, OverflowError):
            _fail(here, f"invalid timestamp {value!r}", "YYYY-MM-DDTHH:MM:SS[.ffffff]Z")
    _fail(
        f"{where}.kind",
        f"unknown literal kind {kind!r}",
        "string, number, boolean, null, date or timestamp",
    )
