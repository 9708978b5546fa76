"""What both compilers share: value types and one normalisation pass.

:func:`normalize` rewrites a type-correct rule into a smaller language that both the SQL
and the Python compiler translate one-to-one, so RULES.md §3 is decided in one place:

- derived fields become their aggregates (:func:`segmint.rules.derived.expand_derived`);
- every negated form becomes ``Not(positive form)`` (``a != b`` is ``NOT (a = b)``), which
  under two-valued logic makes it true when an operand is null;
- comparisons with a ``null`` literal become ``false`` (and so their negations ``true``);
- constants move to the right of a comparison (``5 < x`` → ``x > 5``);
- a timestamp compared with a date literal becomes half-open UTC bounds computed from the
  store's time zone (``placed_at <= 2024-03-31`` → ``placed_at < <2024-04-01 00:00 tz>``);
- a date compared with an instant compares with that instant's calendar day in the store's
  time zone (a timestamp literal is converted now, a relative time by :class:`LocalDate`
  once ``now`` is known); ``date WITHIN d`` becomes two such comparisons.

After normalisation only these remain: ``Or``, ``And``, ``Not``, ``Compare`` (``=``,
``<``, ``<=``, ``>``, ``>=``), positive ``Between``/``InList`` (no null items)/``IsNull``/
``TextMatch``, positive ``Within`` on timestamps, ``InSegment`` and ``BoolTest``; values are
``Literal``, ``RelativeTime``, ``LocalDate``, ``Path`` and ``Aggregate`` (without derived
fields; ``where`` normalised in the collection's scope).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from segmint.errors import CompileError
from segmint.rules import timeutil
from segmint.rules.ast import (
    Aggregate,
    And,
    Between,
    BoolTest,
    Compare,
    Duration,
    InList,
    InSegment,
    IsNull,
    Literal,
    Not,
    Or,
    Path,
    RelativeTime,
    Rule,
    TextMatch,
    Value,
    Within,
    and_,
    or_,
)
from segmint.rules.derived import expand_derived
from segmint.rules.schema import COLLECTIONS, FieldType, Schema, field_type, is_realtime_path

FALSE: Rule = BoolTest(Literal(False))
TRUE: Rule = BoolTest(Literal(True))


@dataclass(frozen=True)
class LocalDate:
    """Internal value: the calendar day, in the store's time zone, of a relative instant."""

    instant: RelativeTime


#: A value after normalisation.
NValue = Value | LocalDate

AGGREGATE_TYPES = {"COUNT": FieldType.INTEGER, "EXISTS": FieldType.BOOLEAN, "AVG": FieldType.NUMBER}


def literal_type(value: object) -> FieldType | None:
    """The type of a literal value (None for ``null``); bool is checked before numbers."""
    if value is None:
        return None
    if isinstance(value, bool):
        return FieldType.BOOLEAN
    if isinstance(value, Decimal | int):
        return FieldType.NUMBER
    if isinstance(value, str):
        return FieldType.STRING
    if isinstance(value, dt.datetime):
        return FieldType.TIMESTAMP
    if isinstance(value, dt.date):
        return FieldType.DATE
    raise CompileError(f"unsupported literal {value!r}")


def value_type(value: NValue, schema: Schema, scope: str | None) -> FieldType | None:
    """The type of a value; ``scope`` is the collection whose WHERE we are in, or None."""
    match value:
        case Literal(v):
            return literal_type(v)
        case RelativeTime():
            return FieldType.TIMESTAMP
        case LocalDate():
            return FieldType.DATE
        case Path(parts):
            found = field_type(schema, parts, scope)
            if found is None:
                raise CompileError(f"unknown field '{'.'.join(parts)}'")
            return found
        case Aggregate(func, collection, fld):
            if func in AGGREGATE_TYPES:
                return AGGREGATE_TYPES[func]
            items = COLLECTIONS.get(".".join(collection))
            if items is None or fld is None or fld not in items:
                raise CompileError(f"unknown field '{'.'.join(collection)}.{fld}'")
            return items[fld]
    raise CompileError(f"cannot type {type(value).__name__}")


def is_constant(value: NValue) -> bool:
    return isinstance(value, Literal | RelativeTime | LocalDate)


def realtime_field(value: NValue, scope: str | None) -> str | None:
    """The name of the request-time field ``value`` reads at customer scope, if any."""
    if scope is None and isinstance(value, Path) and is_realtime_path(value.parts):
        return value.dotted
    if isinstance(value, Aggregate) and value.collection == ("cart", "lines"):
        return "cart.lines"
    return None


class Normalizer:
    """One normalisation of a rule for one schema (see the module docstring)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.tz = schema.timezone

    def rule(self, rule: Rule, scope: str | None = None) -> Rule:
        if scope is None:
            rule = expand_derived(rule)
        return self._rule(rule, scope)

    def _type(self, value: NValue, scope: str | None) -> FieldType | None:
        return value_type(value, self.schema, scope)

    def _value(self, value: Value, scope: str | None) -> Value:
        if isinstance(value, Aggregate) and value.where is not None:
            where = self._rule(value.where, value.collection_name)
            return Aggregate(value.func, value.collection, value.field, where, span=value.span)
        return value

    def _rule(self, rule: Rule, scope: str | None) -> Rule:
        match rule:
            case And(items):
                return and_(*(self._rule(i, scope) for i in items))
            case Or(items):
                return or_(*(self._rule(i, scope) for i in items))
            case Not(operand):
                return Not(self._rule(operand, scope))
            case Compare(op, left, right):
                if op == "!=":
                    return Not(self._compare("=", left, right, scope))
                return self._compare(op, left, right, scope)
            case Between(value, low, high, negated):
                positive = self._between(value, low, high, scope)
                return Not(positive) if negated else positive
            case InList(value, items, negated):
                positive = self._in(value, items, scope)
                return Not(positive) if negated else positive
            case IsNull(value, negated):
                positive = IsNull(self._value(value, scope))
                return Not(positive) if negated else positive
            case TextMatch(op, value, pattern, negated):
                if _is_null(value) or _is_null(pattern):
                    positive = FALSE
                else:
                    positive = TextMatch(op, self._value(value, scope), self._value(pattern, scope))
                return Not(positive) if negated else positive
            case Within(value, duration, negated):
                positive = self._within(value, duration, scope)
                return Not(positive) if negated else positive
            case BoolTest(value):
                return FALSE if _is_null(value) else BoolTest(self._value(value, scope))
            case InSegment():
                return rule
        raise CompileError(f"cannot compile {type(rule).__name__}")

    def _within(self, value: Value, duration: Duration, scope: str | None) -> Rule:
        if _is_null(value):
            return FALSE
        if self._type(value, scope) == FieldType.DATE:
            return and_(
                self._compare(">", value, RelativeTime(duration), scope),
                self._compare("<=", value, RelativeTime(None), scope),
            )
        return Within(self._value(value, scope), duration)

    def _compare(self, op: str, left: Value, right: Value, scope: str | None) -> Rule:
        if _is_null(left) or _is_null(right):
            return FALSE
        if is_constant(left) and not is_constant(right):
            left, right, op = right, left, timeutil.FLIPPED[op]
        lt, rt = self._type(left, scope), self._type(right, scope)
        left = self._value(left, scope)
        right = self._value(right, scope)
        if lt == FieldType.TIMESTAMP and rt == FieldType.DATE:
            if not isinstance(right, Literal) or not isinstance(right.value, dt.date):
                raise CompileError("cannot compare a timestamp with a date field")
            bounds = timeutil.date_bounds(op, right.value, self.tz)
            return and_(*(Compare(b, left, Literal(t)) for b, t in bounds))  # type: ignore[arg-type]
        if lt == FieldType.DATE and rt == FieldType.TIMESTAMP:
            right = self._as_date(right)
        return Compare(op, left, right)  # type: ignore[arg-type]

    def _as_date(self, value: Value) -> Value:
        """An instant as its calendar day in the store's time zone (constants only)."""
        if isinstance(value, Literal) and isinstance(value.value, dt.datetime):
            return Literal(timeutil.local_date(value.value, self.tz))
        if isinstance(value, RelativeTime):
            return LocalDate(value)  # type: ignore[return-value]
        raise CompileError("cannot compare a date with a timestamp field")

    def _between(self, value: Value, low: Value, high: Value, scope: str | None) -> Rule:
        if _is_null(value) or _is_null(low) or _is_null(high):
            return FALSE
        types = {self._type(v, scope) for v in (value, low, high)}
        if types == {FieldType.DATE, FieldType.TIMESTAMP} or is_constant(value):
            # Mixed date/timestamp needs per-bound conversion: spell it out.
            return and_(
                self._compare(">=", value, low, scope), self._compare("<=", value, high, scope)
            )
        return Between(self._value(value, scope), self._value(low, scope), self._value(high, scope))

    def _in(self, value: Value, items: tuple[Literal, ...], scope: str | None) -> Rule:
        kept = tuple(i for i in items if i.value is not None)
        if not kept or _is_null(value):
            return FALSE
        vt = self._type(value, scope)
        item_types = {self._type(i, scope) for i in kept}
        if vt == FieldType.TIMESTAMP and FieldType.DATE in item_types:
            return or_(*(self._compare("=", value, i, scope) for i in kept))
        if vt == FieldType.DATE and FieldType.TIMESTAMP in item_types:
            kept = tuple(self._as_date(i) for i in kept)  # type: ignore[misc]
        return InList(self._value(value, scope), kept)


def _is_null(value: Value) -> bool:
    return isinstance(value, Literal) and value.value is None


def normalize(rule: Rule, schema: Schema) -> Rule:
    """``rule`` in the compilers' smaller language (see the module docstring)."""
    return Normalizer(schema).rule(rule)
