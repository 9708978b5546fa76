"""The rule AST: frozen dataclasses, one per construct of RULES.md §2.

Every node keeps the source span it was parsed from in ``span``; spans do not take
part in equality or hashing, so ``parse(print(r)) == r`` compares meaning only.

Invariants (the parser and :func:`and_` / :func:`or_` keep them, generators must too):
- ``And.items`` and ``Or.items`` hold at least two rules, and an ``And`` never directly
  holds an ``And`` (nor an ``Or`` an ``Or``): chains are flattened, even across
  parentheses, because both operators are associative.
- Timestamp literals are timezone-aware and normalised to UTC.
- Number literals are :class:`decimal.Decimal` (never float); integers keep no exponent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal as TypingLiteral
from typing import TypeAlias


@dataclass(frozen=True)
class Span:
    """0-based character offsets ``[start, end)`` in the rule's text."""

    start: int
    end: int


# --- values -------------------------------------------------------------------------

LiteralValue: TypeAlias = str | Decimal | bool | dt.date | dt.datetime | None


@dataclass(frozen=True, eq=False)
class Literal:
    """A string, number, boolean, null, date or timestamp literal.

    ``bool`` is checked before number everywhere (``True`` is not ``Decimal(1)``);
    a ``dt.datetime`` is a timestamp, a plain ``dt.date`` a date. Equality includes the
    value's type, because Python's ``True == 1`` must not make two rules equal.
    """

    value: LiteralValue
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Literal):
            return NotImplemented
        return type(self.value) is type(other.value) and self.value == other.value

    def __hash__(self) -> int:
        return hash((type(self.value), self.value))


DurationUnit = TypingLiteral["h", "d", "w", "m", "y"]


@dataclass(frozen=True)
class Duration:
    """``N unit``: h, d (24 h) and w (7 d) are exact; m and y are calendar units."""

    amount: int
    unit: DurationUnit
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RelativeTime:
    """``now`` (``ago is None``) or ``-N unit`` (now minus the duration)."""

    ago: Duration | None = None
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Path:
    """A dotted field reference: ``orders_count``, ``attributes.age``, ``context.view``,
    ``cart.subtotal``, ``properties.color`` (inside an events WHERE)…"""

    parts: tuple[str, ...]
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


AggregateFunc = TypingLiteral["COUNT", "SUM", "AVG", "MIN", "MAX", "EXISTS"]


@dataclass(frozen=True)
class Aggregate:
    """``COUNT(c WHERE r)``, ``SUM(c.f WHERE r)``… ``EXISTS(c WHERE r)`` is boolean.

    ``collection`` is ``("orders",)``, ``("lines",)``, ``("events",)``, ``("wishlist",)``
    or ``("cart", "lines")``; ``field`` is None for COUNT and EXISTS.
    """

    func: AggregateFunc
    collection: tuple[str, ...]
    field: str | None = None
    where: Rule | None = None
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def collection_name(self) -> str:
        return ".".join(self.collection)


Value: TypeAlias = Literal | RelativeTime | Path | Aggregate


# --- tests (boolean nodes) ----------------------------------------------------------

CompareOp = TypingLiteral["=", "!=", "<", "<=", ">", ">="]
TextOp = TypingLiteral["CONTAINS", "STARTS WITH", "ENDS WITH"]


@dataclass(frozen=True)
class Compare:
    op: CompareOp
    left: Value
    right: Value
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Between:
    value: Value
    low: Value
    high: Value
    negated: bool = False
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class InList:
    value: Value
    items: tuple[Literal, ...]
    negated: bool = False
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class IsNull:
    value: Value
    negated: bool = False
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TextMatch:
    """``CONTAINS`` (substring, or list membership), ``STARTS WITH``, ``ENDS WITH``."""

    op: TextOp
    value: Value
    pattern: Value
    negated: bool = False
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Within:
    """``t WITHIN 30d`` means ``t > now - 30d AND t <= now``."""

    value: Value
    duration: Duration
    negated: bool = False
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class InSegment:
    code: str
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class BoolTest:
    """A boolean value used as a test: a boolean path, ``true``/``false``, or EXISTS."""

    value: Value
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Not:
    operand: Rule
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class And:
    items: tuple[Rule, ...]
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Or:
    items: tuple[Rule, ...]
    span: Span | None = dataclasses.field(default=None, compare=False, repr=False)


Rule: TypeAlias = (
    Or | And | Not | Compare | Between | InList | IsNull | TextMatch | Within | InSegment | BoolTest
)
Node: TypeAlias = Rule | Value | Duration

RULE_TYPES: tuple[type, ...] = (
    Or,
    And,
    Not,
    Compare,
    Between,
    InList,
    IsNull,
    TextMatch,
    Within,
    InSegment,
    BoolTest,
)
VALUE_TYPES: tuple[type, ...] = (Literal, RelativeTime, Path, Aggregate)


def and_(*items: Rule, span: Span | None = None) -> Rule:
    """Build a flattened conjunction (a single item is returned as is)."""
    flat: list[Rule] = []
    for item in items:
        flat.extend(item.items if isinstance(item, And) else (item,))
    if len(flat) == 1:
        return flat[0]
    return And(tuple(flat), span=span)


def or_(*items: Rule, span: Span | None = None) -> Rule:
    """Build a flattened disjunction (a single item is returned as is)."""
    flat: list[Rule] = []
    for item in items:
        flat.extend(item.items if isinstance(item, Or) else (item,))
    if len(flat) == 1:
        return flat[0]
    return Or(tuple(flat), span=span)


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-nodes of ``node``, in source order (for walkers and explain)."""
    match node:
        case And(items) | Or(items):
            return items
        case Not(operand):
            return (operand,)
        case Compare(_, left, right):
            return (left, right)
        case Between(value, low, high, _):
            return (value, low, high)
        case InList(value, items, _):
            return (value, *items)
        case IsNull(value, _):
            return (value,)
        case TextMatch(_, value, pattern, _):
            return (value, pattern)
        case Within(value, duration, _):
            return (value, duration)
        case BoolTest(value):
            return (value,)
        case Aggregate(where=where):
            return (where,) if where is not None else ()
        case RelativeTime(ago):
            return (ago,) if ago is not None else ()
        case _:
            return ()


def walk(node: Node) -> list[Node]:
    """Every node of the tree, parents before children."""
    out: list[Node] = []
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(children(current)))
    return out
