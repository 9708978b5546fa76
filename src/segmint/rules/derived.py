"""Derived customer fields as the aggregates that define them (RULES.md §1).

Every engine evaluates ``orders_count`` etc. through :func:`expand_derived`, so a derived
field is *exactly* its definition everywhere: ``total_spent`` of a customer without
successful orders is 0 (SUM over no rows), ``average_order_value`` is null.
"""

from __future__ import annotations

from segmint.rules.ast import (
    Aggregate,
    And,
    Between,
    BoolTest,
    Compare,
    InList,
    IsNull,
    Literal,
    Not,
    Or,
    Path,
    Rule,
    TextMatch,
    Value,
    Within,
)
from segmint.rules.schema import UNSUCCESSFUL_STATUSES

#: ``status NOT IN ('cancelled', 'refunded', 'failed')``; NOT IN of a null status is true
#: under two-valued logic, so an order without a status counts as successful.
SUCCESSFUL: Rule = InList(
    Path(("status",)),
    tuple(Literal(s) for s in UNSUCCESSFUL_STATUSES),
    negated=True,
)

DERIVED: dict[str, Aggregate] = {
    "orders_count": Aggregate("COUNT", ("orders",), None, SUCCESSFUL),
    "total_spent": Aggregate("SUM", ("orders",), "total", SUCCESSFUL),
    "first_order_at": Aggregate("MIN", ("orders",), "placed_at", SUCCESSFUL),
    "last_order_at": Aggregate("MAX", ("orders",), "placed_at", SUCCESSFUL),
    "average_order_value": Aggregate("AVG", ("orders",), "total", SUCCESSFUL),
}


def _value(v: Value) -> Value:
    # Only customer-scope single-part paths can be derived fields; inside an aggregate's
    # WHERE the names are item fields and are left alone (the caller never descends there).
    if isinstance(v, Path) and len(v.parts) == 1 and v.parts[0] in DERIVED:
        return DERIVED[v.parts[0]]
    return v


def expand_derived(rule: Rule) -> Rule:
    """``rule`` with every derived-field path replaced by its defining aggregate."""
    match rule:
        case And(items):
            return And(tuple(expand_derived(i) for i in items), span=rule.span)
        case Or(items):
            return Or(tuple(expand_derived(i) for i in items), span=rule.span)
        case Not(operand):
            return Not(expand_derived(operand), span=rule.span)
        case Compare(op, left, right):
            return Compare(op, _value(left), _value(right), span=rule.span)
        case Between(value, low, high, negated):
            return Between(_value(value), _value(low), _value(high), negated, span=rule.span)
        case InList(value, items, negated):
            return InList(_value(value), items, negated, span=rule.span)
        case IsNull(value, negated):
            return IsNull(_value(value), negated, span=rule.span)
        case TextMatch(op, value, pattern, negated):
            return TextMatch(op, _value(value), _value(pattern), negated, span=rule.span)
        case Within(value, duration, negated):
            return Within(_value(value), duration, negated, span=rule.span)
        case BoolTest(value):
            return BoolTest(_value(value), span=rule.span)
    return rule  # InSegment and anything without values
