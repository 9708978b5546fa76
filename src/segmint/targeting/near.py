"""Near misses (TARGETING.md §4): what an automatic promotion lacks to apply, when only a
cart threshold keeps it away. Pure: reads the condition's AST, never its text.

The thresholds are the items of the condition's top-level AND (or the condition itself)
that compare ``cart.subtotal`` with ``>=`` or ``>`` and ``cart.quantity`` with ``>=`` (or
``>``) to a number, written either way round (``100 <= cart.subtotal``). A promotion is
near when at least one of them is false and the condition becomes true once
``cart.subtotal`` and ``cart.quantity`` are raised to the least values meeting every
threshold — so a false part that is not a threshold keeps it away, and so does a
threshold no amount can reach (``cart.subtotal >= 100 AND cart.subtotal < 80``).
What is missing is measured from the cart as that promotion saw it: for ``>`` one minor
unit (one item) more than the threshold, and a threshold with more digits than the
currency is met from the next whole minor unit up.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from segmint.model.profile import RequestContext
from segmint.rules import ast
from segmint.targeting.cart import NearMiss, Working

SUBTOTAL = "cart.subtotal"
QUANTITY = "cart.quantity"
_FLIP = {"<=": ">=", "<": ">", ">=": "<=", ">": "<"}


@dataclass(frozen=True)
class Threshold:
    path: str  # SUBTOTAL or QUANTITY
    strict: bool  # ``>`` rather than ``>=``
    value: Decimal

    def least(self, scale: int) -> int:
        """The least whole value meeting it: minor units for the subtotal (``scale`` minor
        units per major), items for the quantity."""
        exact = self.value * scale if self.path == SUBTOTAL else self.value
        return math.floor(exact) + 1 if self.strict else math.ceil(exact)


def _threshold(node: ast.Rule) -> Threshold | None:
    if not isinstance(node, ast.Compare):
        return None
    op, left, right = node.op, node.left, node.right
    if isinstance(left, ast.Literal) and isinstance(right, ast.Path):
        op, left, right = _FLIP.get(op, op), right, left  # type: ignore[assignment]
    if not (isinstance(left, ast.Path) and isinstance(right, ast.Literal)):
        return None
    value = right.value
    if op not in (">=", ">") or isinstance(value, bool) or not isinstance(value, Decimal):
        return None
    if left.dotted not in (SUBTOTAL, QUANTITY):
        return None
    return Threshold(left.dotted, op == ">", value)


def thresholds(rule: ast.Rule) -> tuple[Threshold, ...]:
    items = rule.items if isinstance(rule, ast.And) else (rule,)
    return tuple(t for t in map(_threshold, items) if t is not None)


def near_miss(
    promotion: str,
    rule: ast.Rule,
    w: Working,
    holds: Callable[[RequestContext], bool],
) -> NearMiss | None:
    """The near miss of a promotion whose condition ``rule`` is false on ``w`` now;
    ``holds(context)`` evaluates that condition."""
    found = thresholds(rule)
    if not found:
        return None
    subtotal, quantity = w.subtotal(), sum(w.quantities)
    need = {SUBTOTAL: subtotal, QUANTITY: quantity}
    for t in found:
        need[t.path] = max(need[t.path], t.least(w.scale))
    if need[SUBTOTAL] == subtotal and need[QUANTITY] == quantity:
        return None  # every threshold holds: something else is false
    raised = replace(
        w.snapshot(), cart_subtotal=w.decimal(need[SUBTOTAL]), cart_quantity=need[QUANTITY]
    )
    if not holds(raised):
        return None
    missing: dict[str, Decimal | int] = {}
    if need[SUBTOTAL] > subtotal:
        missing[SUBTOTAL] = w.decimal(need[SUBTOTAL] - subtotal)
    if need[QUANTITY] > quantity:
        missing[QUANTITY] = need[QUANTITY] - quantity
    return NearMiss(promotion, missing)
