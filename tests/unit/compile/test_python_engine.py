"""The Python engine on hand-built profiles: every construct, nulls, empty collections,
non-ASCII case folding, calendar months, exact windows and decimal money."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from compile_fixtures import SCHEMA, agg, ago, cmp, dur, lit, p, ts

from segmint.compile.python import compile_predicate, evaluate_node
from segmint.model.profile import (
    CartLine,
    EventItem,
    LineItem,
    OrderItem,
    Profile,
    RequestContext,
    WishlistItem,
)
from segmint.rules.ast import (
    And,
    Between,
    BoolTest,
    InList,
    InSegment,
    IsNull,
    Literal,
    Not,
    Or,
    RelativeTime,
    Rule,
    TextMatch,
    Within,
)
from segmint.rules.schema import Schema

NOW = ts(2024, 5, 1, 12)
EMPTY = Profile("empty")


def holds(rule: Rule, profile: Profile, now: dt.datetime = NOW, **kw: Any) -> bool:
    schema = kw.pop("schema", SCHEMA)
    result = compile_predicate(rule, schema)(profile, now, kw.pop("context", None))
    assert type(result) is bool
    return result


def person(**fields: Any) -> Profile:
    return Profile("x", fields=fields)


def order(placed: dt.datetime | None, total: str | None, status: str | None = "paid") -> OrderItem:
    return OrderItem("o", placed, status, None if total is None else Decimal(total))


# --- strings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "literal"),
    [("Émile", "éMILE"), ("Müller", "MÜLLER"), ("Straße", "STRAßE"), ("ẞ", "ß"), ("ab", "AB")],
)
def test_strings_compare_case_insensitively(stored: str, literal: str) -> None:
    profile = person(last_name=stored)
    assert holds(cmp("=", "last_name", literal), profile)
    assert not holds(cmp("!=", "last_name", literal), profile)
    assert holds(InList(p("last_name"), (lit("zzz"), lit(literal))), profile)
    assert holds(TextMatch("CONTAINS", p("last_name"), lit(literal[1:])), profile)
    assert holds(TextMatch("STARTS WITH", p("last_name"), lit(literal[:1])), profile)
    assert holds(TextMatch("ENDS WITH", p("last_name"), lit(literal[-1:])), profile)


def test_string_order_is_code_point_of_lowercase() -> None:
    profile = person(city="Zürich")
    assert holds(cmp(">", "city", "ZURICH"), profile)  # 'ü' > 'u'
    assert holds(cmp(">", "city", "zz"), profile)  # by code point, not a linguistic collation
    assert holds(Between(p("city"), lit("ZU"), lit("Z\u0100")), profile)


def test_contains_is_literal_not_a_pattern() -> None:
    profile = person(email="a_b%c@x")
    assert holds(TextMatch("CONTAINS", p("email"), lit("_b%")), profile)
    assert not holds(TextMatch("CONTAINS", p("email"), lit("a%c")), profile)
    assert holds(TextMatch("CONTAINS", p("email"), lit("")), profile)


def test_list_contains_is_case_insensitive_membership() -> None:
    profile = person(tags=["VIP", None, "Ünique"])
    assert holds(TextMatch("CONTAINS", p("tags"), lit("vip")), profile)
    assert holds(TextMatch("CONTAINS", p("tags"), lit("üNIQUE")), profile)
    assert not holds(TextMatch("CONTAINS", p("tags"), lit("vi")), profile)  # element, not substring
    assert holds(TextMatch("CONTAINS", p("tags"), lit("vi"), negated=True), profile)
    assert not holds(TextMatch("CONTAINS", p("tags"), lit("vip")), person(tags=[]))


# --- nulls and two-valued logic --------------------------------------------------------


@pytest.mark.parametrize(
    "positive",
    [
        cmp("=", "email", "x"),
        cmp("<", "email", "x"),
        Between(p("email"), lit("a"), lit("z")),
        InList(p("email"), (lit("x"),)),
        TextMatch("CONTAINS", p("email"), lit("x")),
        TextMatch("STARTS WITH", p("email"), lit("")),
        TextMatch("CONTAINS", p("tags"), lit("x")),
        Within(p("created_at"), dur("30d")),
        cmp(">", "birth_date", dt.date(2000, 1, 1)),
        cmp("=", "newsletter_subscribed", False),
        BoolTest(p("newsletter_subscribed")),
        cmp("=", "attributes.vip", True),
        cmp(">", "attributes.age", 1),
    ],
)
def test_null_operand_makes_positive_false_and_negation_true(positive: Rule) -> None:
    assert not holds(positive, EMPTY)
    assert holds(Not(positive), EMPTY)


def test_negated_forms() -> None:
    profile = person(email="x", country=None)
    assert holds(cmp("!=", "country", "de"), profile)
    assert holds(InList(p("country"), (lit("de"),), negated=True), profile)
    assert holds(Between(p("country"), lit("a"), lit("z"), negated=True), profile)
    assert holds(TextMatch("ENDS WITH", p("country"), lit("e"), negated=True), profile)
    assert holds(Within(p("created_at"), dur("1d"), negated=True), profile)
    assert holds(IsNull(p("country")), profile)
    assert not holds(IsNull(p("email")), profile)
    assert holds(IsNull(p("email"), negated=True), profile)


def test_null_literals() -> None:
    profile = person(email="x")
    assert not holds(cmp("=", "email", None), profile)
    assert holds(cmp("!=", "email", None), profile)
    assert not holds(cmp("<", "email", None), profile)
    assert holds(InList(p("email"), (Literal(None), lit("X"))), profile)
    assert not holds(InList(p("email"), (Literal(None),)), profile)
    assert holds(InList(p("email"), (Literal(None),), negated=True), profile)
    assert holds(IsNull(Literal(None)), profile)
    assert not holds(BoolTest(Literal(None)), profile)


def test_boolean_logic() -> None:
    profile = person(email="x", newsletter_subscribed=True)
    t, f = BoolTest(lit(True)), BoolTest(lit(False))
    assert holds(Or((f, t)), profile) and not holds(And((t, f)), profile)
    assert holds(BoolTest(p("newsletter_subscribed")), profile)
    assert holds(cmp("=", "newsletter_subscribed", True), profile)
    assert not holds(Not(t), profile)


# --- time ------------------------------------------------------------------------------


def test_within_boundary_is_exact_to_the_microsecond() -> None:
    rule = Within(p("created_at"), dur("30d"))
    exactly = NOW - dt.timedelta(days=30)
    assert not holds(rule, person(created_at=exactly))
    assert holds(rule, person(created_at=exactly + dt.timedelta(microseconds=1)))
    assert holds(rule, person(created_at=NOW))
    assert not holds(rule, person(created_at=NOW + dt.timedelta(microseconds=1)))


def test_calendar_months_clamp_to_month_end() -> None:
    now = ts(2024, 1, 31, 9)
    rule = cmp(">=", "created_at", ago("1m"))
    assert holds(rule, person(created_at=ts(2023, 12, 31, 9)), now)
    assert not holds(rule, person(created_at=ts(2023, 12, 31, 8, 59, 59)), now)
    leap = ts(2024, 3, 31, 9)
    assert holds(Within(p("created_at"), dur("1m")), person(created_at=ts(2024, 2, 29, 10)), leap)
    assert not holds(
        Within(p("created_at"), dur("1m")), person(created_at=ts(2024, 2, 29, 9)), leap
    )


def test_relative_now_and_aware_now_in_other_zone() -> None:
    profile = person(created_at=NOW)
    assert holds(cmp("<=", "created_at", RelativeTime(None)), profile)
    berlin_now = NOW.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert holds(cmp("=", "created_at", RelativeTime(None)), profile, berlin_now)
    with pytest.raises(ValueError):
        holds(Within(p("created_at"), dur("1d")), profile, NOW.replace(tzinfo=None))


def test_date_literal_against_timestamp_compares_calendar_day() -> None:
    late = person(created_at=ts(2024, 3, 31, 23, 59, 59, 999999))
    day = dt.date(2024, 3, 31)
    assert holds(cmp("<=", "created_at", day), late)
    assert holds(cmp("=", "created_at", day), late)
    assert not holds(cmp("<", "created_at", day), late)
    assert holds(cmp(">=", "created_at", day), late)
    assert not holds(cmp(">", "created_at", day), late)
    assert holds(Between(p("created_at"), lit(dt.date(2024, 1, 1)), lit(day)), late)
    assert holds(InList(p("created_at"), (lit(dt.date(2020, 1, 1)), lit(day))), late)
    assert holds(cmp(">=", lit(day), p("created_at")), late)  # flipped operands


def test_store_time_zone_decides_the_day() -> None:
    berlin = Schema(attributes=SCHEMA.attributes, timezone="Europe/Berlin")
    profile = person(created_at=ts(2024, 3, 31, 22, 30))  # 1 April 00:30 in Berlin
    rule = cmp("=", "created_at", dt.date(2024, 4, 1))
    assert holds(rule, profile, schema=berlin)
    assert not holds(rule, profile)


def test_date_field_against_instants_uses_the_local_day() -> None:
    profile = person(birth_date=dt.date(2006, 5, 1))
    assert holds(cmp("<=", "birth_date", ago("18y")), profile)  # 18 today
    assert not holds(cmp("<=", "birth_date", ago("18y")), profile, ts(2024, 4, 30, 23))
    assert holds(cmp("<", "birth_date", ts(2006, 5, 2, 0, 30)), profile)
    assert holds(Within(p("birth_date"), dur("20y")), profile)
    # 30 April 22:30 UTC is already 1 May in Berlin.
    berlin = Schema(attributes=SCHEMA.attributes, timezone="Europe/Berlin")
    assert holds(
        cmp("<=", "birth_date", ago("18y")), profile, ts(2024, 4, 30, 22, 30), schema=berlin
    )


# --- numbers and aggregates ------------------------------------------------------------


def test_decimal_money_is_exact() -> None:
    profile = Profile("x", orders=[order(NOW, "0.1"), order(NOW, "0.2")])
    assert holds(cmp("=", "total_spent", Decimal("0.3")), profile)
    assert holds(cmp("=", "average_order_value", Decimal("0.15")), profile)
    thirds = Profile("x", orders=[order(NOW, "1"), order(NOW, "1"), order(NOW, "2")])
    # AVG = 4/3 exactly: no decimal rounding of the quotient can make it equal.
    assert not holds(
        cmp("=", "average_order_value", Decimal("1.333333333333333333333333333")), thirds
    )
    assert holds(cmp(">", "average_order_value", Decimal("1.333333333333333333333333333")), thirds)
    assert holds(cmp("<", "average_order_value", Decimal("1.333333333333333333333333334")), thirds)


def test_empty_collections() -> None:
    assert holds(cmp("=", "orders_count", 0), EMPTY)
    assert holds(cmp("=", "total_spent", 0), EMPTY)
    assert holds(IsNull(p("average_order_value")), EMPTY)
    assert holds(IsNull(p("first_order_at")), EMPTY)
    assert not holds(cmp(">=", "average_order_value", 0), EMPTY)
    assert not holds(cmp("<", "last_order_at", NOW), EMPTY)
    assert not holds(BoolTest(agg("EXISTS", "orders")), EMPTY)
    assert not holds(IsNull(p("total_spent")), EMPTY)
    assert holds(cmp("=", agg("SUM", "lines", "quantity"), 0), EMPTY)


def test_derived_fields_use_successful_orders_only() -> None:
    profile = Profile(
        "x",
        orders=[
            order(ts(2024, 1, 1), "10"),
            order(ts(2024, 2, 1), "30", None),  # no status: successful
            order(ts(2024, 3, 1), "1000", "Cancelled"),
            order(ts(2024, 4, 1), "1000", "refunded"),
            order(ts(2024, 4, 2), None),  # no total: not in SUM/AVG, counted by COUNT
        ],
    )
    assert evaluate_node(p("orders_count"), profile, NOW) == 3
    assert evaluate_node(p("total_spent"), profile, NOW) == Decimal("40")
    assert evaluate_node(p("average_order_value"), profile, NOW) == Decimal("20")
    assert evaluate_node(p("first_order_at"), profile, NOW) == ts(2024, 1, 1)
    assert evaluate_node(p("last_order_at"), profile, NOW) == ts(2024, 4, 2)
    assert holds(cmp("=", "average_order_value", 20), profile)


def test_aggregates_with_where() -> None:
    lines = [
        LineItem(
            "o1",
            "SKU-1",
            "Wine",
            "Acme",
            "wine",
            6,
            Decimal(10),
            Decimal(60),
            ts(2024, 4, 1),
            "paid",
        ),
        LineItem(
            "o2", "SKU-2", "Red", "ACME", "Wine", 7, Decimal(5), Decimal(35), ts(2023, 1, 1), "paid"
        ),
    ]
    profile = Profile("x", lines=lines, wishlist=[WishlistItem("SKU-9", None)])
    wine = cmp("=", "category", "WINE")
    assert holds(cmp(">=", agg("SUM", "lines", "quantity", wine), 12), profile)
    assert evaluate_node(agg("SUM", "lines", "quantity", wine), profile, NOW) == 13
    recent = And((cmp("=", "brand", "acme"), Within(p("placed_at"), dur("90d"))))
    assert evaluate_node(agg("COUNT", "lines", None, recent), profile, NOW) == 1
    assert evaluate_node(agg("MAX", "lines", "amount"), profile, NOW) == Decimal(60)
    assert evaluate_node(agg("MIN", "lines", "sku"), profile, NOW) == "SKU-1"
    assert holds(BoolTest(agg("EXISTS", "wishlist", None, cmp("=", "sku", "sku-9"))), profile)
    q1 = Between(p("placed_at"), lit(dt.date(2024, 1, 1)), lit(dt.date(2024, 3, 31)))
    assert not holds(BoolTest(agg("EXISTS", "lines", None, q1)), profile)


def test_event_properties() -> None:
    events = [
        EventItem("1", "product_view", NOW, "SKU-42", {"color": "Red"}),
        EventItem("2", "product_view", NOW, "SKU-42", {}),
    ]
    profile = Profile("x", events=events)
    assert holds(
        BoolTest(agg("EXISTS", "events", None, cmp("=", "properties.color", "red"))), profile
    )
    assert (
        evaluate_node(agg("COUNT", "events", None, IsNull(p("properties.color"))), profile, NOW)
        == 1
    )
    assert (
        evaluate_node(
            agg("COUNT", "events", None, cmp("!=", "properties.color", "red")), profile, NOW
        )
        == 1
    )


# --- segments and request context ------------------------------------------------------


def test_in_segment() -> None:
    profile = Profile("x", segments=frozenset({"big-spenders"}))
    assert holds(InSegment("big-spenders"), profile)
    assert not holds(InSegment("Big-Spenders"), profile)  # codes are exact identifiers
    assert holds(Not(InSegment("other")), profile)


def test_request_context() -> None:
    ctx = RequestContext(
        logged_in=True,
        view="Business",
        query={"utm_source": "Mail"},
        cart_subtotal=Decimal("150.00"),
        cart_quantity=3,
        cart_lines=[
            CartLine(sku="A", category="Wine", quantity=10),
            CartLine(sku="B", category="wine", quantity=2),
            CartLine(sku="C", category="beer", quantity=None),
        ],
    )
    rule = And((cmp("=", "context.view", "business"), cmp("=", "orders_count", 0)))
    assert holds(rule, EMPTY, context=ctx)
    assert not holds(rule, EMPTY)  # no context: context fields are null
    assert holds(Between(p("cart.subtotal"), lit(100), lit(200)), EMPTY, context=ctx)
    assert holds(cmp("=", "context.query.utm_source", "mail"), EMPTY, context=ctx)
    assert not holds(cmp("=", "context.query.other", "x"), EMPTY, context=ctx)
    wine = cmp(">=", agg("SUM", "cart.lines", "quantity", cmp("=", "category", "wine")), 12)
    assert holds(wine, EMPTY, context=ctx)
    assert not holds(wine, EMPTY)  # no context: empty cart
    assert holds(BoolTest(p("context.logged_in")), EMPTY, context=ctx)
    assert holds(Not(BoolTest(p("context.logged_in"))), EMPTY)


# --- explain support -------------------------------------------------------------------


def test_evaluate_node_values() -> None:
    profile = person(email="A@B.c", tags=["x"])
    assert evaluate_node(p("email"), profile, NOW) == "A@B.c"
    assert evaluate_node(lit("Q"), profile, NOW) == "Q"
    assert evaluate_node(ago("1m"), profile, ts(2024, 3, 31)) == ts(2024, 2, 29)
    assert evaluate_node(cmp("=", "email", "a@b.C"), profile, NOW) is True
    assert evaluate_node(p("average_order_value"), profile, NOW) is None
    assert evaluate_node(dur("3d"), profile, NOW) == dur("3d")
    item = OrderItem("o", NOW, "paid", Decimal(5))
    assert evaluate_node(cmp(">", "total", 4), profile, NOW, collection="orders", item=item)
    assert evaluate_node(p("total"), profile, NOW, collection="orders", item=item) == Decimal(5)


def test_predicate_is_reusable_across_profiles_and_times() -> None:
    predicate = compile_predicate(Within(p("created_at"), dur("1d")), SCHEMA)
    profile = person(created_at=ts(2024, 5, 1))
    assert predicate(profile, ts(2024, 5, 1, 12))
    assert not predicate(profile, ts(2024, 5, 3))
    assert predicate(person(created_at=ts(2024, 5, 2, 23)), ts(2024, 5, 3))


def test_rule_text_never_becomes_code() -> None:
    nasty = "') or True or ('"
    profile = person(email="x")
    assert not holds(cmp("=", "email", nasty), profile)
    assert not holds(
        TextMatch("CONTAINS", p("email"), lit('"+__import__("os").system("x")+"')), profile
    )


def test_aggregates_sharing_a_filter_agree_with_separate_evaluation() -> None:
    recent = Within(p("placed_at"), dur("30d"))
    orders = [order(NOW - dt.timedelta(days=d), str(d)) for d in (1, 5, 29, 31, 400)]
    profile = Profile("x", orders=[*orders, order(None, "7"), order(NOW, None)])
    count = agg("COUNT", "orders", None, recent)
    total = agg("SUM", "orders", "total", recent)
    average = agg("AVG", "orders", "total", recent)
    rounded = Decimal("11.66666666666666666666666667")
    rule = And((cmp("=", count, 4), cmp("=", total, 35), cmp("=", average, rounded)))
    assert evaluate_node(count, profile, NOW) == 4
    assert evaluate_node(total, profile, NOW) == 35
    assert not holds(rule, profile)  # AVG is exactly 35/3, never equal to a rounded decimal
    assert holds(And((cmp("=", count, 4), cmp("=", total, 35), cmp(">", average, 11))), profile)
    shared_in_or = Or((cmp(">", count, 10), BoolTest(agg("EXISTS", "orders", None, recent))))
    assert holds(shared_in_or, profile)
    assert not holds(shared_in_or, EMPTY)


def test_evaluate_node_accepts_schema_and_context_positionally() -> None:
    berlin = Schema(attributes=SCHEMA.attributes, timezone="Europe/Berlin")
    profile = person(created_at=ts(2024, 3, 31, 22, 30))
    day = cmp("=", "created_at", dt.date(2024, 4, 1))
    assert evaluate_node(day, profile, NOW, berlin) is True
    assert evaluate_node(day, profile, NOW, SCHEMA) is False
    ctx = RequestContext(view="business")
    assert evaluate_node(p("context.view"), profile, NOW, SCHEMA, ctx) == "business"
    assert evaluate_node(p("context.view"), profile, NOW, ctx) == "business"
    assert evaluate_node(p("context.view"), profile, NOW) is None


# --- user_groups: explicit and inherited -------------------------------------------------


def test_user_groups_are_explicit_then_inherited_once_ignoring_case() -> None:
    groups = p("user_groups")
    customer = person(user_groups=["Gold", "staff"])
    # `old` is not targetable (absent from the map): its group is not inherited
    customer.set_segments(
        ["vip", "crew", "club", "old"], {"vip": "gold", "crew": "x-1", "club": "b"}
    )
    assert customer.segments == frozenset({"vip", "crew", "club", "old"})
    assert customer.inherited_groups == ("b", "gold", "x-1")
    assert evaluate_node(groups, customer, NOW, SCHEMA) == ["Gold", "staff", "b", "x-1"]
    assert holds(TextMatch("CONTAINS", groups, lit("X-1")), customer)
    assert not holds(TextMatch("CONTAINS", groups, lit("old")), customer)
    # null only with no explicit list and nothing inherited; an empty list stays a list
    nobody = person()
    nobody.set_segments(["old"], {})
    assert evaluate_node(groups, nobody, NOW, SCHEMA) is None
    assert holds(IsNull(groups), nobody)
    inherited_only = person()
    inherited_only.set_segments(["vip"], {"vip": "gold"})
    assert evaluate_node(groups, inherited_only, NOW, SCHEMA) == ["gold"]
    assert not holds(IsNull(groups), inherited_only)
    assert evaluate_node(groups, person(user_groups=[]), NOW, SCHEMA) == []
