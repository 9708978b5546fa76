"""Derived fields are exactly their defining aggregates (RULES.md §1)."""

from __future__ import annotations

from compile_fixtures import cmp, p

from segmint.rules.ast import Aggregate, And, Compare, InList, IsNull, Literal, Not, Path
from segmint.rules.derived import DERIVED, SUCCESSFUL, expand_derived


def test_definitions() -> None:
    assert DERIVED["orders_count"] == Aggregate("COUNT", ("orders",), None, SUCCESSFUL)
    assert DERIVED["total_spent"].func == "SUM"
    assert DERIVED["total_spent"].field == "total"
    assert DERIVED["first_order_at"].func == "MIN"
    assert DERIVED["last_order_at"].func == "MAX"
    assert DERIVED["average_order_value"].func == "AVG"
    assert isinstance(SUCCESSFUL, InList) and SUCCESSFUL.negated
    assert [i.value for i in SUCCESSFUL.items] == ["cancelled", "refunded", "failed"]


def test_expand_replaces_paths_everywhere_but_inside_where() -> None:
    inner = Aggregate("COUNT", ("orders",), None, cmp("=", "status", "orders_count"))
    rule = And((Not(IsNull(p("total_spent"))), Compare(">", p("orders_count"), inner)))
    expanded = expand_derived(rule)
    assert expanded == And(
        (
            Not(IsNull(DERIVED["total_spent"])),
            Compare(">", DERIVED["orders_count"], inner),
        )
    )
    # A non-derived path is left alone.
    assert expand_derived(cmp("=", "email", "x")) == Compare("=", Path(("email",)), Literal("x"))
