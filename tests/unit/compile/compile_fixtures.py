"""Shared test data for the compiler tests: hand-built profiles, an AST shorthand, and a
minimal copy of the database schema (docs/architecture.md) loaded from those profiles
into DuckDB or PostgreSQL, so the SQL and Python engines see exactly the same data."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from segmint.model.profile import EventItem, LineItem, OrderItem, Profile, WishlistItem
from segmint.rules.ast import (
    Aggregate,
    Compare,
    Duration,
    Literal,
    Path,
    RelativeTime,
)
from segmint.rules.schema import FieldType, Schema

UTC = dt.UTC
NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

ATTRIBUTES = {
    "age": FieldType.NUMBER,
    "vip": FieldType.BOOLEAN,
    "since": FieldType.DATE,
    "last_seen": FieldType.TIMESTAMP,
    "occupation": FieldType.STRING,
    "langs": FieldType.STRING_LIST,
}
SCHEMA = Schema(attributes=ATTRIBUTES)
BERLIN = Schema(attributes=ATTRIBUTES, timezone="Europe/Berlin")


# --- AST shorthand -----------------------------------------------------------------------


def p(dotted: str) -> Path:
    return Path(tuple(dotted.split(".")))


def lit(value: Any) -> Literal:
    """A literal; ints become Decimal, and a string is a string (use Decimal for "0.3")."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    return Literal(value)


def cmp(op: str, left: Any, right: Any) -> Compare:
    """``left`` given as a string is a path; ``right`` a plain Python value is a literal."""
    left = p(left) if isinstance(left, str) else left
    if not isinstance(right, Path | Literal | RelativeTime | Aggregate):
        right = lit(right)
    return Compare(op, left, right)  # type: ignore[arg-type]


def dur(text: str) -> Duration:
    return Duration(int(text[:-1]), text[-1])  # type: ignore[arg-type]


def ago(text: str) -> RelativeTime:
    return RelativeTime(dur(text))


def agg(func: str, collection: str, field: str | None = None, where: Any = None) -> Aggregate:
    return Aggregate(func, tuple(collection.split(".")), field, where)  # type: ignore[arg-type]


def ts(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- profiles ----------------------------------------------------------------------------


def _order(
    cid: str,
    n: int,
    placed: dt.datetime | None,
    status: str | None,
    total: str | None,
    lines: list[tuple[str, str, str, int, str]] = (),
) -> tuple[OrderItem, list[LineItem]]:  # type: ignore[assignment]
    oid = f"{cid}-o{n}"
    order = OrderItem(
        oid,
        placed,
        status,
        Decimal(total) if total is not None else None,
        "EUR",
        "eu",
        sum(q for *_, q, _ in lines),
    )
    items = [
        LineItem(
            oid,
            sku,
            sku.lower(),
            brand,
            category,
            qty,
            Decimal(price),
            Decimal(price) * qty,
            placed,
            status,
            "eu",
        )
        for sku, brand, category, qty, price in lines
    ]
    return order, items


def _with_orders(profile: Profile, orders: list[tuple[OrderItem, list[LineItem]]]) -> Profile:
    for order, lines in orders:
        profile.orders.append(order)
        profile.lines.extend(lines)
    return profile


def profiles() -> list[Profile]:
    """Eight customers covering nulls, empty collections, non-ASCII text, boundaries."""
    alice = _with_orders(
        Profile(
            "alice",
            fields={
                "email": "Alice@Example.com",
                "first_name": "Émile",
                "last_name": "Müller",
                "city": "STRAẞE",
                "country": "DE",
                "region": "bavaria",
                "birth_date": dt.date(1985, 2, 28),
                "created_at": ts(2024, 3, 15, 23, 30),
                "newsletter_subscribed": True,
                "tags": ["VIP", "early"],
                "user_groups": ["b2b"],
                "store": "eu",
                "business_account": "acme",
            },
            attributes={
                "age": Decimal("38.5"),
                "vip": True,
                "since": dt.date(2019, 6, 1),
                "last_seen": ts(2024, 4, 28),
                "occupation": "Boat Builder",
                "langs": ["DE", "fr"],
            },
            segments=frozenset({"big-spenders"}),
        ),
        [
            _order(
                "alice",
                1,
                ts(2024, 4, 1, 12),
                "paid",
                "250.10",
                [("SKU-1", "Acme", "Wine", 6, "20.00"), ("SKU-2", "Other", "Wine", 7, "10.01")],
            ),
            _order(
                "alice",
                2,
                ts(2024, 1, 10),
                "paid",
                "99.90",
                [("SKU-1", "ACME", "wine", 1, "99.90")],
            ),
            _order("alice", 3, ts(2024, 4, 20), "CANCELLED", "500.00"),
            # exactly 30 days before NOW: outside "WITHIN 30d"
            _order("alice", 4, NOW - dt.timedelta(days=30), "paid", "1.00"),
        ],
    )
    alice.events = [
        EventItem("e1", "product_view", ts(2024, 4, 25), "SKU-42", {"color": "Red"}),
        EventItem("e2", "product_view", ts(2024, 4, 26), "SKU-42", {}),
        EventItem("e3", "product_view", ts(2024, 4, 27), "SKU-42", {"color": None}),
        EventItem("e4", "search", ts(2024, 4, 27), None, {"query": "Red SHOES 100%_x"}),
    ]
    alice.wishlist = [WishlistItem("SKU-9", ts(2024, 4, 1))]

    bob = _with_orders(
        Profile(
            "bob",
            fields={
                "email": "bob@example.org",
                "first_name": "Bob",
                "last_name": "O'Brien",
                "city": "straße",
                "country": "fr",
                "region": "Île-de-France",
                "birth_date": dt.date(2000, 1, 1),
                "created_at": ts(2023, 12, 31, 23, 30),
                "newsletter_subscribed": False,
                "tags": ["vipx"],
                "user_groups": [],
                "store": "eu",
            },
            attributes={
                "age": Decimal("30"),
                "vip": False,
                "occupation": "boat builder",
                "langs": [],
            },
        ),
        [
            # one microsecond younger than 30 days: inside "WITHIN 30d"
            _order(
                "bob",
                1,
                NOW - dt.timedelta(days=30) + dt.timedelta(microseconds=1),
                "paid",
                "10.00",
                [("SKU-3", "Zeta", "Books", 2, "5.00"), ("SKU-4", "acme", "Books", 1, "1.00")],
            ),
            _order("bob", 2, ts(2023, 6, 1), "refunded", "80.00"),
            _order("bob", 3, ts(2022, 6, 1), None, "20.00"),
            _order("bob", 4, ts(2024, 3, 31, 22, 30), "paid", None),
        ],
    )
    bob.events = [EventItem("e5", "page_view", ts(2024, 4, 30), None, {"color": "red"})]
    bob.wishlist = [WishlistItem("sku-9", None)]

    # nothing known at all: every field null, every collection empty
    carol = Profile("carol")

    dave = _with_orders(
        Profile(
            "dave",
            fields={
                "email": "DAVE@EXAMPLE.COM",
                "first_name": "Ünal",
                "country": None,
                "region": "Zürich",
                "birth_date": dt.date(1994, 5, 1),
                "created_at": ts(2024, 4, 30, 22, 30),
                "tags": None,
                "user_groups": ["B2B"],
                "newsletter_subscribed": None,
            },
            attributes={
                "age": Decimal("17"),
                "since": dt.date(2020, 1, 1),
                "last_seen": ts(2023, 1, 1),
            },
        ),
        [
            _order(
                "dave",
                i,
                ts(2023, 10, 1) - dt.timedelta(days=40 * i),
                "paid",
                "100.00",
                [("SKU-5", "Acme", "Toys", 1, "100.00")],
            )
            for i in range(1, 4)
        ],
    )
    erin = _with_orders(
        Profile(
            "erin",
            attributes={"occupation": "İSTANBUL ΟΔΟΣ"},
            fields={
                "email": "erin@example.com",
                "tags": ["Vip"],
                "created_at": ts(2024, 2, 29, 10),
            },
        ),
        [
            _order("erin", 1, ts(2024, 4, 15), "failed", "1000.00"),
            _order("erin", 2, ts(2024, 4, 16), "paid", "0.1"),
            _order("erin", 3, ts(2024, 4, 17), "paid", "0.2"),
        ],
    )
    erin.events = [
        EventItem(f"ev{i}", "product_view", ts(2024, 4, 20 + i), "SKU-42") for i in range(3)
    ]
    frank = Profile(
        "frank",
        fields={
            "email": "'); DROP TABLE customers; --",
            "first_name": "back\\slash",
            "last_name": "quote'd",
        },
    )
    return [alice, bob, carol, dave, erin, frank]


SEGMENTS = [
    ("big-spenders", "alice"),
    ("big-spenders", "dave"),
    ("other", "bob"),
    ("ended", "carol"),
    ("starting", "frank"),
    ("off", "erin"),
]
#: code -> (user group, active, starts_at, ends_at): what `user_groups` inherits at NOW
#: (`ended` ends at NOW, exclusive; `starting` starts at NOW, inclusive; `off` inactive).
SEGMENT_GROUPS: dict[str, tuple[str, bool, dt.datetime | None, dt.datetime | None]] = {
    "big-spenders": ("b2b", True, None, None),
    "other": ("gold", True, None, None),
    "ended": ("gold", True, None, NOW),
    "starting": ("vip-club", True, NOW, None),
    "off": ("gold", False, None, None),
}


# --- the database ------------------------------------------------------------------------

_DDL = {
    "duckdb": {"list": "VARCHAR[]", "json": "JSON"},
    "postgres": {"list": "TEXT[]", "json": "JSONB"},
}
_ATTR_TYPES = {
    FieldType.NUMBER: "DECIMAL(38,10)",
    FieldType.BOOLEAN: "BOOLEAN",
    FieldType.DATE: "DATE",
    FieldType.TIMESTAMP: "TIMESTAMP",
    FieldType.STRING: "TEXT",
}
_TEXT_FIELDS = [
    "email",
    "first_name",
    "last_name",
    "phone",
    "postal_code",
    "city",
    "region",
    "country",
    "business_account",
    "store",
]


def ddl(dialect: str) -> list[str]:
    lst, js = _DDL[dialect]["list"], _DDL[dialect]["json"]
    attrs = ", ".join(f"attr_{n} {_ATTR_TYPES.get(t, lst)}" for n, t in ATTRIBUTES.items())
    text = ", ".join(f"{f} TEXT" for f in _TEXT_FIELDS)
    return [
        f"CREATE TABLE customers (id TEXT PRIMARY KEY, {text}, birth_date DATE, "
        f"created_at TIMESTAMP, newsletter_subscribed BOOLEAN, tags {lst}, "
        f"user_groups {lst}, updated_at TIMESTAMP, {attrs})",
        "CREATE TABLE orders (id TEXT, customer_id TEXT, placed_at TIMESTAMP, status TEXT, "
        "total DECIMAL(18,4), currency TEXT, store TEXT, item_count INTEGER)",
        "CREATE TABLE order_lines (order_id TEXT, line_no INTEGER, customer_id TEXT, sku TEXT, "
        "product_name TEXT, brand TEXT, category TEXT, quantity INTEGER, "
        "unit_price DECIMAL(18,4), amount DECIMAL(18,4), placed_at TIMESTAMP, status TEXT, "
        "store TEXT)",
        f'CREATE TABLE events (id TEXT, customer_id TEXT, type TEXT, "at" TIMESTAMP, sku TEXT, '
        f"properties {js})",
        "CREATE TABLE wishlist_items (customer_id TEXT, sku TEXT, added_at TIMESTAMP)",
        "CREATE TABLE segment_members (segment_code TEXT, customer_id TEXT)",
        "CREATE TABLE segment_groups (segment_code TEXT, customer_id TEXT, user_group TEXT, "
        "active BOOLEAN, starts_at TIMESTAMP, ends_at TIMESTAMP)",
    ]


def naive(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def rows(people: list[Profile]) -> dict[str, list[tuple[Any, ...]]]:
    """Table name -> rows, timestamps naive UTC as the stores keep them."""
    out: dict[str, list[tuple[Any, ...]]] = {
        t: []
        for t in (
            "customers",
            "orders",
            "order_lines",
            "events",
            "wishlist_items",
            "segment_members",
            "segment_groups",
        )
    }
    for pr in people:
        f, a = pr.fields, pr.attributes
        out["customers"].append(
            (
                pr.id,
                *(f.get(k) for k in _TEXT_FIELDS),
                f.get("birth_date"),
                naive(f.get("created_at")),
                f.get("newsletter_subscribed"),
                f.get("tags"),
                f.get("user_groups"),
                None,
                *(naive(a.get(n)) for n in ATTRIBUTES),
            )
        )
        for o in pr.orders:
            out["orders"].append(
                (
                    o.id,
                    pr.id,
                    naive(o.placed_at),
                    o.status,
                    o.total,
                    o.currency,
                    o.store,
                    o.item_count,
                )
            )
        for i, li in enumerate(pr.lines):
            out["order_lines"].append(
                (
                    li.order_id,
                    i,
                    pr.id,
                    li.sku,
                    li.product_name,
                    li.brand,
                    li.category,
                    li.quantity,
                    li.unit_price,
                    li.amount,
                    naive(li.placed_at),
                    li.status,
                    li.store,
                )
            )
        for e in pr.events:
            out["events"].append(
                (e.id, pr.id, e.type, naive(e.at), e.sku, json.dumps(e.properties))
            )
        for w in pr.wishlist:
            out["wishlist_items"].append((pr.id, w.sku, naive(w.added_at)))
    out["segment_members"] = list(SEGMENTS)
    out["segment_groups"] = [
        (code, cid, group, active, naive(starts), naive(ends))
        for code, cid in SEGMENTS
        for group, active, starts, ends in [SEGMENT_GROUPS[code]]
    ]
    return out


def load(execute_many: Any, execute: Any, dialect: str, people: list[Profile]) -> None:
    for statement in ddl(dialect):
        execute(statement)
    for table, data in rows(people).items():
        if data:
            marks = ", ".join(["%s" if dialect == "postgres" else "?"] * len(data[0]))
            execute_many(f"INSERT INTO {table} VALUES ({marks})", data)


def with_profile_segments(people: list[Profile]) -> list[Profile]:
    targetable = {
        code: group
        for code, (group, active, starts, ends) in SEGMENT_GROUPS.items()
        if active and (starts is None or starts <= NOW) and (ends is None or ends > NOW)
    }
    for pr in people:
        pr.set_segments((code for code, cid in SEGMENTS if cid == pr.id), targetable)
    return people


# --- hand-written rules used by the agreement tests ---------------------------------------


def agreement_rules() -> dict[str, Any]:
    from segmint.rules.ast import (
        And,
        Between,
        BoolTest,
        InList,
        InSegment,
        IsNull,
        Not,
        Or,
        TextMatch,
        Within,
    )

    d = dt.date
    ok = Not(InList(p("status"), (lit("failed"),)))
    return {
        "email_eq_case": cmp("=", "email", "ALICE@example.COM"),
        "first_name_accent": cmp("=", "first_name", "émile"),
        "last_name_contains_umlaut": TextMatch("CONTAINS", p("last_name"), lit("MÜLL")),
        "city_sharp_s": cmp("=", "city", "straße"),
        "first_name_contains_empty": TextMatch("CONTAINS", p("first_name"), lit("")),
        "email_ends": TextMatch("ENDS WITH", p("email"), lit("@EXAMPLE.COM")),
        "email_starts": TextMatch("STARTS WITH", p("email"), lit("al")),
        "email_not_starts": TextMatch("STARTS WITH", p("email"), lit("al"), negated=True),
        "phone_null": IsNull(p("phone")),
        "country_not_null": IsNull(p("country"), negated=True),
        "country_ne": cmp("!=", "country", "de"),
        "country_in": InList(p("country"), (lit("DE"), lit("fr"), Literal(None))),
        "country_not_in": InList(p("country"), (lit("de"),), negated=True),
        "eq_null": cmp("=", "email", None),
        "ne_null": cmp("!=", "email", None),
        "region_lt": cmp("<", "region", "m"),
        "region_ge_non_ascii": cmp(">=", "region", "z"),
        "birth_before": cmp("<", "birth_date", d(1990, 1, 1)),
        "birth_30y": cmp("<=", "birth_date", ago("30y")),
        "birth_between": Between(p("birth_date"), lit(d(1985, 2, 28)), lit(d(1995, 1, 1))),
        "created_day_eq": cmp("=", "created_at", d(2024, 3, 15)),
        "created_day_ne": cmp("!=", "created_at", d(2024, 3, 15)),
        "created_le_day": cmp("<=", "created_at", d(2023, 12, 31)),
        "created_gt_day": cmp(">", "created_at", d(2024, 4, 30)),
        "created_between_days": Between(p("created_at"), lit(d(2024, 1, 1)), lit(d(2024, 3, 15))),
        "created_not_between_days": Between(
            p("created_at"), lit(d(2024, 1, 1)), lit(d(2024, 3, 15)), negated=True
        ),
        "created_in_days": InList(p("created_at"), (lit(d(2024, 3, 16)), lit(d(2024, 4, 30)))),
        "created_ts_literal": cmp(">=", "created_at", ts(2024, 2, 29, 10)),
        "created_within_30d": Within(p("created_at"), dur("30d")),
        "created_not_within_2m": Within(p("created_at"), dur("2m"), negated=True),
        "created_gt_1m": cmp(">", "created_at", ago("1m")),
        "flipped_literal": cmp("<", lit(1), p("orders_count")),
        "newsletter_true": cmp("=", "newsletter_subscribed", True),
        "newsletter_test": BoolTest(p("newsletter_subscribed")),
        "newsletter_not": Not(BoolTest(p("newsletter_subscribed"))),
        "tags_vip": TextMatch("CONTAINS", p("tags"), lit("vip")),
        "tags_not_vip": TextMatch("CONTAINS", p("tags"), lit("VIP"), negated=True),
        "groups_b2b": TextMatch("CONTAINS", p("user_groups"), lit("B2b")),
        "groups_gold": TextMatch("CONTAINS", p("user_groups"), lit("GOLD")),
        "groups_not_vip_club": TextMatch("CONTAINS", p("user_groups"), lit("vip-club"), True),
        "groups_null": IsNull(p("user_groups")),
        "groups_not_null": IsNull(p("user_groups"), negated=True),
        "groups_field": TextMatch("CONTAINS", p("user_groups"), p("first_name")),
        "attr_age": cmp(">", "attributes.age", 30),
        "attr_age_between": Between(p("attributes.age"), lit(17), lit(30)),
        "attr_vip": BoolTest(p("attributes.vip")),
        "attr_vip_false": cmp("=", "attributes.vip", False),
        "attr_since": cmp("<=", "attributes.since", d(2020, 1, 1)),
        "attr_since_5y": cmp(">", "attributes.since", ago("5y")),
        "attr_last_seen": Within(p("attributes.last_seen"), dur("1w")),
        "attr_occupation": cmp("=", "attributes.occupation", "BOAT BUILDER"),
        "attr_dotted_capital_i": cmp("=", "attributes.occupation", "İstanbul οδοσ"),
        "attr_final_sigma": TextMatch("ENDS WITH", p("attributes.occupation"), lit("Σ")),
        "attr_langs": TextMatch("CONTAINS", p("attributes.langs"), lit("de")),
        "orders_count_2": cmp(">=", "orders_count", 2),
        "orders_count_0": cmp("=", "orders_count", 0),
        "total_spent_0": cmp("=", "total_spent", 0),
        "total_spent_gt": cmp(">", "total_spent", Decimal("350.00")),
        "total_spent_exact": cmp("=", "total_spent", Decimal("0.3")),
        "aov_gt": cmp(">", "average_order_value", 50),
        "aov_eq": cmp("=", "average_order_value", Decimal("0.15")),
        "aov_null": IsNull(p("average_order_value")),
        "aov_between": Between(p("average_order_value"), lit(10), lit(100)),
        "aov_in": InList(p("average_order_value"), (lit(100), lit(Decimal("0.15")))),
        "first_order_before": cmp("<", "first_order_at", d(2024, 1, 1)),
        "last_order_within": Within(p("last_order_at"), dur("30d")),
        "last_order_null": IsNull(p("last_order_at")),
        "sum_365": cmp(
            ">", agg("SUM", "orders", "total", Within(p("placed_at"), dur("365d"))), 300
        ),
        "sum_30d_boundary": cmp(
            ">",
            agg(
                "COUNT",
                "orders",
                None,
                And((Within(p("placed_at"), dur("30d")), cmp("<=", "total", 10))),
            ),
            0,
        ),
        "count_cancelled": cmp(
            ">=", agg("COUNT", "orders", None, cmp("=", "status", "cancelled")), 1
        ),
        "avg_where": Between(agg("AVG", "orders", "total", ok), lit(10), lit(100)),
        "avg_vs_path": cmp(">", agg("AVG", "orders", "total"), p("attributes.age")),
        "min_total": cmp("<", agg("MIN", "orders", "total"), 20),
        "max_placed": cmp(">", agg("MAX", "orders", "placed_at"), ago("30d")),
        "max_brand_code_point": cmp("=", agg("MAX", "lines", "brand"), "ACME"),
        "min_brand_lt": cmp("<", agg("MIN", "lines", "brand"), "b"),
        "max_placed_day": cmp("=", agg("MAX", "orders", "placed_at"), d(2024, 4, 20)),
        "lines_acme_90d": BoolTest(
            agg(
                "EXISTS",
                "lines",
                None,
                And((cmp("=", "brand", "acme"), Within(p("placed_at"), dur("90d")))),
            )
        ),
        "lines_q1": BoolTest(
            agg(
                "EXISTS",
                "lines",
                None,
                And(
                    (
                        cmp("=", "sku", "sku-1"),
                        Between(p("placed_at"), lit(d(2024, 1, 1)), lit(d(2024, 3, 31))),
                    )
                ),
            )
        ),
        "lines_wine_qty": cmp(
            ">=", agg("SUM", "lines", "quantity", cmp("=", "category", "WINE")), 12
        ),
        "views_30d": cmp(
            ">",
            agg(
                "COUNT",
                "events",
                None,
                And(
                    (
                        cmp("=", "type", "product_view"),
                        cmp("=", "sku", "SKU-42"),
                        Within(p("at"), dur("30d")),
                    )
                ),
            ),
            2,
        ),
        "event_color": BoolTest(agg("EXISTS", "events", None, cmp("=", "properties.color", "RED"))),
        "event_no_color": BoolTest(agg("EXISTS", "events", None, IsNull(p("properties.color")))),
        "event_query_like_chars": BoolTest(
            agg(
                "EXISTS", "events", None, TextMatch("CONTAINS", p("properties.query"), lit("100%_"))
            )
        ),
        "event_query_percent_only": BoolTest(
            agg("EXISTS", "events", None, TextMatch("CONTAINS", p("properties.query"), lit("0%x")))
        ),
        "wishlist_sku9": BoolTest(agg("EXISTS", "wishlist", None, cmp("=", "sku", "SKU-9"))),
        "wishlist_any": BoolTest(agg("EXISTS", "wishlist")),
        "wishlist_null_date": BoolTest(agg("EXISTS", "wishlist", None, IsNull(p("added_at")))),
        "segment_or_vip": Or(
            (TextMatch("CONTAINS", p("tags"), lit("vip")), InSegment("big-spenders"))
        ),
        "not_in_segment": Not(InSegment("big-spenders")),
        "lapsed": And(
            (
                Not(BoolTest(agg("EXISTS", "orders", None, Within(p("placed_at"), dur("180d"))))),
                cmp(">=", "orders_count", 3),
            )
        ),
        "count_vs_count": cmp(">", p("orders_count"), agg("COUNT", "events")),
        "true_literal": BoolTest(lit(True)),
        "not_or": Not(Or((cmp("=", "country", "de"), IsNull(p("country"))))),
        "bool_literal_and": And((BoolTest(lit(False)), cmp("=", "email", "x"))),
    }
