"""The type checker (RULES.md §3 "Types"): a parsed rule against a :class:`Schema`.

``check`` resolves every path, infers the type of every value, rejects comparisons
that can never be meaningful, and records what the rule reads (fields, collections,
segments, whether it depends on ``now`` or on request context), which the compilers
and the membership engine use to decide how and when to evaluate it.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import NoReturn

from segmint.errors import RuleError
from segmint.rules import ast
from segmint.rules.schema import (
    COLLECTIONS,
    DERIVED_FIELDS,
    PROPERTY_COLLECTIONS,
    REALTIME_COLLECTIONS,
    FieldType,
    Schema,
    field_type,
    is_realtime_path,
)

#: ``None`` stands for the type of the ``null`` literal.
_Type = FieldType | None

_ORDERABLE = frozenset(
    {FieldType.NUMBER, FieldType.INTEGER, FieldType.STRING, FieldType.DATE, FieldType.TIMESTAMP}
)


@dataclass(frozen=True)
class CheckedRule:
    """A rule that type-checked, with what it reads."""

    rule: ast.Rule
    realtime: bool
    segments: frozenset[str]
    collections: frozenset[str]
    customer_fields: frozenset[str]
    attributes: frozenset[str]
    uses_now: bool


def check(
    rule: ast.Rule, schema: Schema, *, text: str | None = None, allow_realtime: bool = True
) -> CheckedRule:
    """Type-check ``rule``; raises :class:`RuleError` positioned on the offending node.

    ``text`` is the source the rule was parsed from (for positions); without it the
    canonical text is shown and errors point at its start.
    """
    checker = _Checker(rule, schema, text, allow_realtime)
    checker.rule(rule, None)
    return CheckedRule(
        rule=rule,
        realtime=checker.realtime,
        segments=frozenset(checker.segments),
        collections=frozenset(checker.collections),
        customer_fields=frozenset(checker.customer_fields),
        attributes=frozenset(checker.attributes),
        uses_now=checker.uses_now,
    )


def _type_name(t: _Type) -> str:
    return "null" if t is None else t.value


def _a(t: _Type) -> str:
    """The type's name with its article: "a string", "an integer"."""
    name = _type_name(t)
    return ("an " if name[0] in "aeiou" else "a ") + name


class _Checker:
    def __init__(self, rule: ast.Rule, schema: Schema, text: str | None, allow: bool) -> None:
        self.schema = schema
        self.allow_realtime = allow
        self.positioned = text is not None
        if text is None:
            from segmint.rules.printer import to_text  # printing is only needed for errors

            try:
                text = to_text(rule)
            except (TypeError, RuleError):
                text = repr(rule)
        self.text = text
        self.realtime = False
        self.uses_now = False
        self.segments: set[str] = set()
        self.collections: set[str] = set()
        self.customer_fields: set[str] = set()
        self.attributes: set[str] = set()
        #: The test being checked (for hints that quote it).
        self.test: ast.Rule | None = None

    def fail(
        self,
        node: ast.Node,
        message: str,
        *,
        expected: str | None = None,
        suggestion: str | None = None,
    ) -> NoReturn:
        span = node.span if self.positioned else None
        start, end = (span.start, span.end) if span is not None else (0, len(self.text))
        raise RuleError(message, self.text, start, end, expected=expected, suggestion=suggestion)

    # --- rules --------------------------------------------------------------------

    def rule(self, rule: ast.Rule, scope: str | None) -> None:
        """Check a boolean node; ``scope`` is the collection whose WHERE we are in."""
        if not isinstance(rule, ast.And | ast.Or | ast.Not):
            self.test = rule
        match rule:
            case ast.And(items) | ast.Or(items):
                for item in items:
                    self.rule(item, scope)
            case ast.Not(operand):
                self.rule(operand, scope)
            case ast.Compare(op, left, right):
                lt, rt = self.value(left, scope), self.value(right, scope)
                self.comparable(rule, left, lt, right, rt, ordered=op not in ("=", "!="))
            case ast.Between(value, low, high):
                vt = self.value(value, scope)
                for bound in (low, high):
                    bt = self.value(bound, scope)
                    self.comparable(rule, value, vt, bound, bt, ordered=True)
            case ast.InList(value, items):
                vt = self.value(value, scope)
                if vt in (FieldType.STRING_LIST, None):
                    self.fail(
                        value,
                        f"IN does not apply to {_a(vt)}",
                        expected="CONTAINS for a list" if vt else "IS NULL",
                    )
                for literal in items:
                    it = self.value(literal, scope)
                    self.comparable(literal, value, vt, literal, it, ordered=False)
            case ast.IsNull(value):
                self.value(value, scope)
            case ast.TextMatch(op, value, pattern):
                self.text_match(rule, op, value, pattern, scope)
            case ast.Within(value, _duration):
                vt = self.value(value, scope)
                self.uses_now = True
                if vt is None or not vt.is_temporal:
                    self.fail(
                        value,
                        f"WITHIN needs a date or timestamp, not {_a(vt)}",
                        expected="a date or timestamp value",
                    )
            case ast.InSegment(code):
                if not code.strip():
                    self.fail(rule, "empty segment code", expected="a segment code")
                if scope is not None:
                    self.fail(
                        rule,
                        f"IN SEGMENT inside {scope} WHERE",
                        expected=f"only fields of {scope} items inside WHERE",
                    )
                self.segments.add(code)
            case ast.BoolTest(value):
                vt = self.value(value, scope)
                if vt is not FieldType.BOOLEAN:
                    self.fail(
                        value,
                        f"{_a(vt)} is not a test",
                        expected="a boolean field, true, false, EXISTS(...) or a comparison",
                    )
            case _:
                raise TypeError(f"not a rule node: {rule!r}")

    def text_match(
        self, rule: ast.Rule, op: str, value: ast.Value, pattern: ast.Value, scope: str | None
    ) -> None:
        vt, pt = self.value(value, scope), self.value(pattern, scope)
        if vt is FieldType.STRING_LIST:
            if op != "CONTAINS":
                self.fail(value, f"{op} does not apply to a list", expected="CONTAINS")
        elif vt is not FieldType.STRING:
            self.fail(value, f"{op} needs a string, not {_a(vt)}", expected="a string")
        if pt is not FieldType.STRING:
            self.fail(
                pattern,
                f"{op} needs a string pattern, not {_a(pt)}",
                expected="a string",
            )

    def comparable(
        self,
        where: ast.Node,
        left: ast.Value,
        lt: _Type,
        right: ast.Value,
        rt: _Type,
        *,
        ordered: bool,
    ) -> None:
        """Reject comparisons that can never be meaningful."""
        for side, t in ((left, lt), (right, rt)):
            if t is None:
                self.fail(
                    side,
                    "comparing with null is always false",
                    expected="IS NULL or IS NOT NULL",
                )
            if t is FieldType.STRING_LIST:
                self.fail(
                    side,
                    "a list can only be tested with CONTAINS or IS NULL",
                    expected="CONTAINS",
                )
        assert lt is not None and rt is not None
        if ordered and (lt not in _ORDERABLE or rt not in _ORDERABLE):
            bad = left if lt not in _ORDERABLE else right
            self.fail(
                bad,
                f"{_a(lt if bad is left else rt)} cannot be ordered",
                expected="= or !=",
            )
        if lt == rt or (lt.is_numeric and rt.is_numeric):
            return
        if lt.is_temporal and rt.is_temporal:
            # A date against a timestamp compares the calendar day; that needs one side to be
            # a constant so engines can turn it into an exact instant range (architecture.md).
            if _is_constant(left) or _is_constant(right):
                return
            self.fail(
                where,
                "cannot compare a date field with a timestamp field",
                expected="a date or timestamp literal, or two fields of the same type",
            )
        quoted = _quoted_date(right if lt.is_temporal else left)
        if (lt.is_temporal or rt.is_temporal) and quoted is not None:
            self.fail(
                where,
                f"cannot compare {_a(lt)} with {_a(rt)}: a date is written without quotes",
                expected=quoted,
            )
        self.fail(
            where,
            f"cannot compare {_a(lt)} with {_a(rt)}",
            expected=f"{_a(lt)} value",
        )

    # --- values -------------------------------------------------------------------

    def value(self, value: ast.Value, scope: str | None) -> _Type:
        match value:
            case ast.Literal(literal):
                return _literal_type(literal)
            case ast.RelativeTime():
                self.uses_now = True
                return FieldType.TIMESTAMP
            case ast.Path():
                return self.path(value, scope)
            case ast.Aggregate():
                return self.aggregate(value, scope)
        raise TypeError(f"not a value node: {value!r}")

    def path(self, path: ast.Path, scope: str | None) -> FieldType:
        parts = path.parts
        found = field_type(self.schema, parts, scope)
        if found is None:
            self.unknown_field(path, scope)
        if scope is not None:
            return found
        if is_realtime_path(parts):
            self.realtime_read(path, path.dotted)
        elif parts[0] == "attributes":
            self.attributes.add(parts[1])
        else:
            self.customer_fields.add(parts[0])
            if parts[0] in DERIVED_FIELDS:
                self.collections.add("orders")
        return found

    def unknown_field(self, path: ast.Path, scope: str | None) -> NoReturn:
        name = path.dotted
        if scope is None:
            if name in COLLECTIONS:
                self.fail(
                    path,
                    f"'{name}' is a collection, not a field",
                    expected=f"COUNT({name}), EXISTS({name} WHERE ...) or SUM({name}.FIELD)",
                )
            owner = next((c for c in _ITEM_OWNERS if name in COLLECTIONS[c]), None)
            if owner is not None and self.test is not None:
                self.fail(
                    path,
                    f"'{name}' is a field of {owner}, not of the customer: "
                    f"use EXISTS({owner} WHERE {self.quote(self.test)})",
                )
            candidates: Iterable[str] = self.schema.customer_field_names()
            self.fail(path, f"unknown field '{name}'", suggestion=_close(name, candidates))
        candidates = list(COLLECTIONS[scope])
        hint = f"a field of {scope} items (inside WHERE only the item's fields are visible)"
        if scope in PROPERTY_COLLECTIONS:
            hint += " or properties.NAME"
        self.fail(
            path,
            f"unknown field '{name}' in {scope}",
            expected=hint,
            suggestion=_close(name, candidates),
        )

    def quote(self, node: ast.Rule) -> str:
        """The text of ``node`` as written (canonical if the rule came without text)."""
        span = node.span if self.positioned else None
        if span is not None:
            return self.text[span.start : span.end]
        from segmint.rules.printer import to_text

        return to_text(node)

    def aggregate(self, agg: ast.Aggregate, scope: str | None) -> FieldType:
        if scope is not None:
            self.fail(
                agg,
                f"an aggregate cannot be nested inside {scope} WHERE",
                expected=f"a condition on the fields of {scope} items",
            )
        name = agg.collection_name
        fields = COLLECTIONS.get(name)
        if fields is None and agg.func in ("COUNT", "EXISTS") and len(agg.collection) > 1:
            parent = ".".join(agg.collection[:-1])
            if parent in COLLECTIONS:  # COUNT(orders.total): a field where a collection goes
                self.fail(
                    agg,
                    f"{agg.func} takes a collection, and '{name}' is a field of {parent}",
                    expected=f"{agg.func}({parent} WHERE ...)",
                )
        if fields is None:
            self.fail(
                agg,
                f"unknown collection '{name}'",
                expected="orders, lines, events, wishlist or cart.lines",
                suggestion=_close(name, COLLECTIONS),
            )
        if name in REALTIME_COLLECTIONS:
            self.realtime_read(agg, name)
        self.collections.add(name)
        if agg.where is not None:
            self.rule(agg.where, name)
        func = agg.func
        if func == "COUNT":
            return FieldType.INTEGER
        if func == "EXISTS":
            return FieldType.BOOLEAN
        assert agg.field is not None
        ft = fields.get(agg.field)
        if ft is None:
            self.fail(
                agg,
                f"unknown field '{agg.field}' in {name}",
                expected=f"a field of {name} items",
                suggestion=_close(agg.field, fields),
            )
        if func in ("SUM", "AVG"):
            if not ft.is_numeric:
                self.fail(
                    agg,
                    f"{func} needs a numeric field, and {name}.{agg.field} is {_a(ft)}",
                    expected="a number field such as total, amount or quantity",
                )
            return FieldType.NUMBER if func == "AVG" else ft
        if ft not in _ORDERABLE:
            self.fail(agg, f"{func} of {_a(ft)} field", expected="a field that can be ordered")
        return ft

    def realtime_read(self, node: ast.Node, name: str) -> None:
        if not self.allow_realtime:
            self.fail(
                node,
                f"real-time field '{name}' in a rule that is not real-time",
                expected="only stored customer data (no context. or cart. fields)",
            )
        self.realtime = True


#: Where a field named at customer scope is looked for, for the "use EXISTS(…)" hint:
#: orders before lines, so that placed_at and status point at the orders.
_ITEM_OWNERS = ("orders", "lines", "events", "wishlist")


def _quoted_date(value: ast.Value) -> str | None:
    """``2024-01-31`` for the string literal '2024-01-31' (a date or timestamp in quotes)."""
    if not isinstance(value, ast.Literal) or not isinstance(value.value, str):
        return None
    from segmint.rules.tokens import tokenize

    try:
        tokens = tokenize(value.value.strip())
    except RuleError:
        return None
    if len(tokens) == 2 and tokens[0].kind in ("date", "timestamp"):
        return tokens[0].text
    return None


def _is_constant(value: ast.Value) -> bool:
    return isinstance(value, ast.Literal | ast.RelativeTime)


def _literal_type(value: ast.LiteralValue) -> _Type:
    # bool before Decimal, datetime before date: Python's subclassing would confuse them.
    if value is None:
        return None
    if isinstance(value, bool):
        return FieldType.BOOLEAN
    if isinstance(value, str):
        return FieldType.STRING
    if isinstance(value, Decimal):
        return FieldType.NUMBER
    if isinstance(value, dt.datetime):
        return FieldType.TIMESTAMP
    if isinstance(value, dt.date):
        return FieldType.DATE
    raise TypeError(f"not a literal value: {value!r}")


def _close(name: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1)
    return matches[0] if matches else None
