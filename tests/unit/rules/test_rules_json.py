"""The JSON tree form: exact round trip and validation of malformed input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from segmint.errors import RuleError, RuleLimitError
from segmint.rules import from_json, parse, to_json


def test_shape_is_tagged_and_exact() -> None:
    data = to_json(parse("orders_count >= 2.50 AND created_at > 2024-01-01T09:00:00+01:00"))
    assert data == {
        "type": "and",
        "items": [
            {
                "type": "compare",
                "op": ">=",
                "left": {"type": "path", "parts": ["orders_count"]},
                "right": {"type": "literal", "kind": "number", "value": "2.50"},
            },
            {
                "type": "compare",
                "op": ">",
                "left": {"type": "path", "parts": ["created_at"]},
                "right": {"type": "literal", "kind": "timestamp", "value": "2024-01-01T08:00:00Z"},
            },
        ],
    }
    json.dumps(data)  # plain JSON types only


def test_every_construct_round_trips_through_json_text() -> None:
    text = (
        "NOT (a OR b) AND x NOT BETWEEN -1 AND 2 AND y IN ('a', 1, true, null, 2024-01-01) "
        "AND z IS NOT NULL AND w NOT STARTS WITH 'q' AND t WITHIN 6m AND t > -1y AND t < now "
        "AND IN SEGMENT 'it''s' AND SUM(cart.lines.amount WHERE sku = 'x') > 0 "
        "AND EXISTS(orders) AND COUNT(events WHERE properties.k CONTAINS 'v') > 1"
    )
    rule = parse(text)
    assert from_json(json.loads(json.dumps(to_json(rule)))) == rule


def test_builders_may_send_unflattened_and_single_item_groups() -> None:
    leaf = {"type": "bool_test", "value": {"type": "path", "parts": ["a"]}}
    nested = {"type": "and", "items": [leaf, {"type": "and", "items": [leaf, leaf]}]}
    assert from_json(nested) == parse("a AND a AND a")
    assert from_json({"type": "or", "items": [leaf]}) == parse("a")


def _compare(right: dict[str, Any]) -> dict[str, Any]:
    return {"type": "compare", "op": "=", "left": {"type": "path", "parts": ["x"]}, "right": right}


@pytest.mark.parametrize(
    ("data", "where", "message"),
    [
        (None, "$", "expected an object"),
        ([], "$", "expected an object"),
        ({"type": "nope"}, "$.type", "unknown rule type 'nope'"),
        ({"type": "and", "items": []}, "$.items", "empty list"),
        ({"type": "and"}, "$.items", "missing 'items'"),
        ({"type": "not", "operand": 5}, "$.operand", "expected an object"),
        (
            {**_compare({"type": "literal", "kind": "number", "value": "1"}), "op": "=="},
            "$.op",
            "unknown op '=='",
        ),
        (
            _compare({"type": "literal", "kind": "number", "value": 1.5}),
            "$.right.value",
            "written as a string",
        ),
        (
            _compare({"type": "literal", "kind": "number", "value": "1e5"}),
            "$.right.value",
            "invalid number",
        ),
        (
            _compare({"type": "literal", "kind": "number", "value": "NaN"}),
            "$.right.value",
            "invalid number",
        ),
        (
            _compare({"type": "literal", "kind": "date", "value": "2024-02-30"}),
            "$.right.value",
            "invalid date",
        ),
        (
            _compare({"type": "literal", "kind": "timestamp", "value": "2024-01-01T00:00:00"}),
            "$.right.value",
            "invalid timestamp",
        ),
        (
            _compare({"type": "literal", "kind": "boolean", "value": "true"}),
            "$.right.value",
            "expected true or false",
        ),
        (
            _compare({"type": "literal", "kind": "float", "value": "1"}),
            "$.right.kind",
            "unknown literal kind",
        ),
        (_compare({"type": "path", "parts": []}), "$.right.parts", "non-empty list of names"),
        (_compare({"type": "path", "parts": ["a b"]}), "$.right.parts", "non-empty list"),
        (
            _compare({"type": "relative_time", "ago": {"amount": 3, "unit": "s"}}),
            "$.right.ago.unit",
            "unknown duration unit",
        ),
        (
            _compare({"type": "relative_time", "ago": {"amount": -3, "unit": "d"}}),
            "$.right.ago.amount",
            "bad duration amount",
        ),
        (
            _compare({"type": "aggregate", "func": "SUM", "collection": ["orders"], "field": None}),
            "$.right.field",
            "SUM needs a field name",
        ),
        (
            _compare(
                {"type": "aggregate", "func": "COUNT", "collection": ["orders"], "field": "total"}
            ),
            "$.right.field",
            "COUNT takes no field",
        ),
        (
            {
                "type": "in",
                "value": {"type": "path", "parts": ["x"]},
                "items": [{"type": "path", "parts": ["y"]}],
            },
            "$.items[0]",
            "literals only",
        ),
        (
            {"type": "bool_test", "value": {"type": "literal", "kind": "string", "value": "x"}},
            "$.value",
            "not a boolean value",
        ),
        (
            {"type": "is_null", "value": {"type": "path", "parts": ["x"]}, "negated": "no"},
            "$.negated",
            "expected true or false",
        ),
        ({"type": "in_segment", "code": 3}, "$.code", "must be a string"),
    ],
)
def test_malformed_json_is_a_rule_error(data: object, where: str, message: str) -> None:
    with pytest.raises(RuleError) as info:
        from_json(data)
    assert info.value.text == where, str(info.value)
    assert message in info.value.message, str(info.value)


def test_json_depth_is_limited() -> None:
    data: dict[str, Any] = {"type": "bool_test", "value": {"type": "path", "parts": ["a"]}}
    for _ in range(5000):
        data = {"type": "not", "operand": data}
    with pytest.raises(RuleLimitError):
        from_json(data)
