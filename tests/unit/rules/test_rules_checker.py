"""The type checker: what is accepted, what is refused (positioned), what a rule reads."""

from __future__ import annotations

import pytest

from segmint.errors import RuleError
from segmint.rules import CheckedRule, check, parse
from segmint.rules import ast as A
from segmint.rules.schema import FieldType, Schema

SCHEMA = Schema(
    attributes={
        "married": FieldType.BOOLEAN,
        "occupation": FieldType.STRING,
        "score": FieldType.NUMBER,
        "anniversary": FieldType.DATE,
        "interests": FieldType.STRING_LIST,
    }
)


def checked(text: str, **kwargs: bool) -> CheckedRule:
    return check(parse(text), SCHEMA, text=text, **kwargs)


def refused(text: str, **kwargs: bool) -> RuleError:
    with pytest.raises(RuleError) as info:
        checked(text, **kwargs)
    return info.value


ACCEPTED = [
    "attributes.married = true AND attributes.occupation = 'Boat builder'",
    "business_account IN ('acme', 'globex') AND orders_count >= 1",
    "business_account IS NOT NULL AND business_account NOT IN ('acme')",
    "SUM(orders.total WHERE placed_at WITHIN 365d) > 300",
    "EXISTS(lines WHERE brand = 'Acme' AND placed_at WITHIN 90d)",
    "total_spent >= 100 AND EXISTS(lines WHERE sku = 'SKU-1' AND placed_at BETWEEN 2024-01-01"
    " AND 2024-03-31)",
    "COUNT(events WHERE type = 'product_view' AND sku = 'SKU-42' AND at WITHIN 30d) > 2",
    "EXISTS(wishlist WHERE sku = 'SKU-9')",
    "tags CONTAINS 'vip' OR IN SEGMENT 'big-spenders'",
    "NOT EXISTS(orders WHERE placed_at WITHIN 180d) AND orders_count >= 3",
    "context.view = 'business' AND orders_count = 0",
    "cart.subtotal BETWEEN 100 AND 200",
    "SUM(cart.lines.quantity WHERE category = 'wine') >= 12",
    # beyond the examples
    "created_at <= 2024-03-31",  # date literal against a timestamp: calendar day
    "created_at > 2024-03-31T10:00:00Z AND birth_date < -18y",
    "last_order_at > created_at",  # two fields of the same type
    "orders_count > total_spent",  # integer and decimal compare freely
    "first_name < 'm' AND email STARTS WITH 'a' AND email NOT ENDS WITH '.ru'",
    "email CONTAINS first_name",
    "newsletter_subscribed AND NOT attributes.married AND newsletter_subscribed != false",
    "EXISTS(orders) = true",
    "AVG(orders.total) > 10 AND MIN(lines.sku) = 'a' AND MAX(events.at) WITHIN 1d",
    "MIN(orders.placed_at) IS NULL",
    "COUNT(events WHERE properties.color = 'red') > 0",
    "context.query.utm_source = 'news' AND context.logged_in",
    "attributes.interests CONTAINS 'golf' AND attributes.interests IS NOT NULL",
    "attributes.anniversary WITHIN 30d AND attributes.score BETWEEN -1 AND 1.5",
    "created_at IN (2024-01-01, 2024-01-02T00:00:00Z)",
    "newsletter_subscribed IN (true)",
    "created_at > now",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted(text: str) -> None:
    assert checked(text).rule == parse(text)


@pytest.mark.parametrize(
    ("text", "message", "offending"),
    [
        ("ordrs_count >= 2", "unknown field 'ordrs_count'", "ordrs_count"),
        ("attributes.nope = 1", "unknown field 'attributes.nope'", "attributes.nope"),
        ("context.nope = 'a'", "unknown field 'context.nope'", "context.nope"),
        ("orders > 1", "'orders' is a collection, not a field", "orders"),
        ("COUNT(order) > 1", "unknown collection 'order'", "COUNT(order)"),
        ("COUNT(orders.total) > 1", "'orders.total' is a field of orders", "COUNT(orders.total)"),
        (
            "EXISTS(cart.lines.sku)",
            "'cart.lines.sku' is a field of cart.lines",
            "EXISTS(cart.lines.sku)",
        ),
        ("SUM(orders.totl) > 1", "unknown field 'totl' in orders", "SUM(orders.totl)"),
        (
            "COUNT(orders WHERE orders_count > 1) > 0",
            "unknown field 'orders_count' in orders",
            "orders_count",
        ),
        (
            "EXISTS(lines WHERE properties.x = 'a')",
            "unknown field 'properties.x' in lines",
            "properties.x",
        ),
        ("EXISTS(orders WHERE EXISTS(lines))", "aggregate cannot be nested", "EXISTS(lines)"),
        ("EXISTS(orders WHERE IN SEGMENT 'x')", "IN SEGMENT inside orders WHERE", "IN SEGMENT 'x'"),
        ("SUM(orders.status) > 1", "SUM needs a numeric field", "SUM(orders.status)"),
        ("AVG(lines.placed_at) > 1", "AVG needs a numeric field", "AVG(lines.placed_at)"),
        ("birth_date = 'x'", "cannot compare a date with a string", "birth_date = 'x'"),
        ("email = 5", "cannot compare a string with a number", "email = 5"),
        (
            "newsletter_subscribed = 1",
            "cannot compare a boolean with a number",
            "newsletter_subscribed = 1",
        ),
        ("newsletter_subscribed < true", "a boolean cannot be ordered", "newsletter_subscribed"),
        (
            "birth_date < created_at",
            "cannot compare a date field with a timestamp field",
            "birth_date < created_at",
        ),
        (
            "orders_count > -30d",
            "cannot compare an integer with a timestamp",
            "orders_count > -30d",
        ),
        ("email = null", "comparing with null is always false", "null"),
        ("tags = 'vip'", "a list can only be tested with CONTAINS", "tags"),
        ("email WITHIN 30d", "WITHIN needs a date or timestamp", "email"),
        ("tags STARTS WITH 'v'", "STARTS WITH does not apply to a list", "tags"),
        ("tags CONTAINS 1", "CONTAINS needs a string pattern", "1"),
        ("orders_count CONTAINS 'a'", "CONTAINS needs a string, not an integer", "orders_count"),
        ("email IN ('a', 1)", "cannot compare a string with a number", "1"),
        ("tags IN ('a')", "IN does not apply to a list", "tags"),
        (
            "orders_count BETWEEN 1 AND 'z'",
            "cannot compare an integer with a string",
            "orders_count BETWEEN 1 AND 'z'",
        ),
        ("email", "a string is not a test", "email"),
        ("IN SEGMENT ' '", "empty segment code", "IN SEGMENT ' '"),
    ],
)
def test_refused(text: str, message: str, offending: str) -> None:
    error = refused(text)
    assert message in error.message, str(error)
    assert text[error.start : error.end] == offending, str(error)


def test_did_you_mean_renders_like_rules_md() -> None:
    assert str(refused("ordrs_count >= 2")) == (
        "error: unknown field 'ordrs_count' at 1:1 (did you mean 'orders_count'?)\n"
        "  ordrs_count >= 2\n"
        "  ^^^^^^^^^^^"
    )
    assert refused("attributes.occupaton = 'x'").suggestion == "attributes.occupation"
    assert refused("COUNT(ordres) > 1").suggestion == "orders"
    assert refused("EXISTS(lines WHERE brnd = 'a')").suggestion == "brand"
    assert refused("xyzzy = 1").suggestion is None


def test_realtime_is_refused_where_not_allowed() -> None:
    for text, name in [
        ("context.view = 'business'", "context.view"),
        ("orders_count > 1 AND cart.subtotal > 5", "cart.subtotal"),
        ("SUM(cart.lines.quantity) > 1", "cart.lines"),
        ("context.query.q = 'x'", "context.query.q"),
    ]:
        error = refused(text, allow_realtime=False)
        assert f"real-time field '{name}' in a rule that is not real-time" in error.message
        assert checked(text).realtime
    assert not checked("orders_count > 1", allow_realtime=False).realtime


def test_what_a_rule_reads() -> None:
    result = checked(
        "total_spent > 1 AND (email = 'a' OR attributes.married) AND IN SEGMENT 'x' "
        "AND NOT IN SEGMENT 'y' AND EXISTS(events WHERE at WITHIN 3d) AND tags CONTAINS 'v'"
    )
    assert result.segments == frozenset({"x", "y"})
    assert result.collections == frozenset({"orders", "events"})
    assert result.customer_fields == frozenset({"total_spent", "email", "tags"})
    assert result.attributes == frozenset({"married"})
    assert result.uses_now and not result.realtime
    assert not checked("created_at > 2024-01-01").uses_now
    assert checked("created_at > now").uses_now
    assert checked("created_at > -1h").uses_now


def test_without_text_errors_show_the_canonical_text() -> None:
    rule = A.Compare("=", A.Path(("email",)), A.Literal(A.Literal("x").value))
    assert check(rule, SCHEMA).rule == rule
    with pytest.raises(RuleError) as info:
        check(A.Compare("=", A.Path(("emial",)), A.Literal("x")), SCHEMA)
    assert info.value.text == "emial = 'x'"
    assert info.value.suggestion == "email"
