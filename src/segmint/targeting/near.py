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
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Thresholds:
    found: tuple[Threshold, ...]
    only: bool  # the condition is nothing but thresholds: meeting them makes it true
    _least: dict[int, tuple[int | None, int | None]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def least(self, scale: int) -> tuple[int | None, int | None]:
        """The least subtotal (minor units) and quantity meeting every threshold (None:
        no threshold on it); computed once per scale."""
        known = self._least.get(scale)
        if known is None:
            subtotal = [t.least(scale) for t in self.found if t.path == SUBTOTAL]
            quantity = [t.least(scale) for t in self.found if t.path == QUANTITY]
            known = (max(subtotal) if subtotal else None, max(quantity) if quantity else None)
            self._least[scale] = known
        return known


#: id(rule) -> (rule, its thresholds); the rule is kept so its id cannot be reused
_FOUND: dict[int, tuple[ast.Rule, Thresholds]] = {}


def thresholds(rule: ast.Rule) -> Thresholds:
    """The rule's top-level thresholds (found once per rule object)."""
    cached = _FOUND.get(id(rule))
    if cached is not None and cached[0] is rule:
        return cached[1]
    items = rule.items if isinstance(rule, ast.And) else (rule,)
    found = tuple(t for t in map(_threshold, items) if t is not None)
    result = Thresholds(found, len(found) == len(items))
    if len(_FOUND) >= 16_384:
        _FOUND.clear()
    _FOUND[id(rule)] = (rule, result)
    return result


def near_miss(
    promotion: str,
    rule: ast.Rule,
    w: Working,
    holds: Callable[[RequestContext], bool],
) -> NearMiss | None:
    """The near miss of a promotion whose condition ``rule`` is false on ``w`` now;
    ``holds(context)`` evaluates that condition."""
    found = thresholds(rule)
    if not found.found:
        return None
    least_subtotal, least_quantity = found.least(w.scale)
    subtotal, quantity = w.subtotal(), w.quantity
    need_subtotal = subtotal if least_subtotal is None else max(subtotal, least_subtotal)
    need_quantity = quantity if least_quantity is None else max(quantity, least_quantity)
    if need_subtotal == subtotal and need_quantity == quantity:
        return None  # every threshold holds: something else is false
    # a condition of thresholds alone holds once they are met; otherwise ask it
    if not found.only and not w.holds_with(need_subtotal, need_quantity, holds):
        return None
    missing: dict[str, Decimal | int] = {}
    if need_subtotal > subtotal:
        missing[SUBTOTAL] = w.decimal(need_subtotal - subtotal)
    if need_quantity > quantity:
        missing[QUANTITY] = need_quantity - quantity
    return NearMiss(promotion, missing)
