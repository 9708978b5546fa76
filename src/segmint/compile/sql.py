"""Rule → SQL (DuckDB, PostgreSQL, Spark SQL) as sqlglot expression trees.

No SQL text is ever concatenated: a visitor (one ``visit_<Node>`` per rule node, one
``value_<Node>`` per value node) builds sqlglot trees, and every value from a rule —
strings, numbers, dates, JSON property names and the instants computed from ``now`` — is
bound as a named parameter (``exp.Placeholder``), so no rule text can change what a query
does beyond its own condition.

Shape of a query (docs/compilers.md has the details)::

    SELECT c.id [, <cond> AS r_0, …]
    FROM customers AS c
    LEFT JOIN (SELECT customer_id, COUNT(*) FILTER (WHERE …) AS a0, SUM(total) … AS a1
               FROM orders GROUP BY customer_id) AS g_orders ON g_orders.customer_id = c.id
    [WHERE <cond>] ORDER BY c.id

Aggregates over one collection share ONE grouped subquery per query, with one column per
distinct aggregate. COUNT/SUM are coalesced to 0, EXISTS is ``COUNT(*) FILTER (…) > 0``,
``AVG(x) op v`` is ``SUM(x) op v * COUNT(x)`` with ``COUNT(x) > 0`` (exact), MIN/MAX as is.
Two-valued logic at the least cost: atoms are left as SQL computes them (NULL when an
operand is NULL), which is exact wherever NULL and FALSE act alike — a WHERE, a FILTER, and
any AND/OR above them, since those are monotone. Only where NULL would leak — the operand of
a ``NOT`` and a rule's value in a SELECT list — is the sub-formula wrapped once in
``COALESCE(…, FALSE)``. Bare atoms keep DuckDB's filter pushdown and zone maps working.
When every aggregate of a collection is filtered, the grouped subquery also gets
``WHERE <filter 1> OR <filter 2> …`` so rows no aggregate counts are never grouped.

``IN SEGMENT 'code'`` reads ``segment_members(segment_code, customer_id)``: the table or
view of CURRENT memberships that the segments feature provides. The field ``user_groups``
is the explicit column plus the groups inherited from memberships of segments targetable
at ``now``, read from ``segment_groups(segment_code, customer_id, user_group, active,
starts_at, ends_at)``. The list is never built: its two tests are compiled over its two
parts (``CONTAINS p``: the explicit list holds p OR an inherited group is p; ``IS NULL``:
the explicit list is NULL AND no group is inherited), which is exact because no rule can
observe an order or a duplicate in a list.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlglot import exp

from segmint.compile import dialects
from segmint.compile.common import LocalDate, Normalizer, NValue, realtime_field, value_type
from segmint.errors import CompileError
from segmint.rules import timeutil
from segmint.rules.ast import (
    Aggregate,
    And,
    Between,
    BoolTest,
    Compare,
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
    Within,
)
from segmint.rules.groups import FIELD as GROUPS_FIELD
from segmint.rules.schema import ATTRIBUTE_NAME, CUSTOMER_FIELDS, FieldType, Schema
from segmint.rules.text import lower as sql_lower

_CMP: dict[str, type[exp.Binary]] = {
    "=": exp.EQ,
    "<": exp.LT,
    "<=": exp.LTE,
    ">": exp.GT,
    ">=": exp.GTE,
}
_TABLES = {
    "orders": "orders",
    "lines": "order_lines",
    "events": "events",
    "wishlist": "wishlist_items",
}
_PROPERTY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CUSTOMER = "c"


@dataclass(frozen=True)
class CompiledQuery:
    """SQL text for one dialect, its named parameters, and the result's column names.

    Timestamp parameters are aware UTC ``datetime``; the store converts them to naive UTC
    at its boundary (docs/architecture.md). ``columns[i]`` names result column ``i``: for
    :meth:`SqlCompiler.compile_many` these are ``id`` then the keys of the rule mapping (the
    SQL aliases are ``r_0``, ``r_1``…, safe whatever the keys are).
    """

    sql: str
    params: dict[str, Any]
    columns: list[str]


@dataclass
class _Operand:
    """A comparable value: compare ``num * other.den`` (``den`` None means 1) once all
    ``guards`` hold."""

    num: exp.Expr
    den: exp.Expr | None = None
    guards: list[exp.Expr] = field(default_factory=list)


def _atom(condition: exp.Expr) -> exp.Expr:
    """An atom as SQL computes it; NULL means false (see the module docstring)."""
    return condition


def _two_valued(condition: exp.Expr) -> exp.Expr:
    """A sub-formula that is never NULL: where NULL would otherwise leak (NOT, SELECT)."""
    return exp.Coalesce(this=condition, expressions=[exp.false()])


def _paren(condition: exp.Expr) -> exp.Expr:
    return exp.Paren(this=condition) if isinstance(condition, exp.Connector) else condition


def _all(conditions: list[exp.Expr]) -> exp.Expr:
    result = _paren(conditions[0])
    for c in conditions[1:]:
        result = exp.And(this=result, expression=_paren(c))
    return result


def _any(conditions: list[exp.Expr]) -> exp.Expr:
    result = _paren(conditions[0])
    for c in conditions[1:]:
        result = exp.Or(this=result, expression=_paren(c))
    return result


def _zero_if_null(value: exp.Expr) -> exp.Expr:
    return exp.Coalesce(this=value, expressions=[exp.Literal.number(0)])


Bind = Callable[[object], exp.Expr]


@dataclass(frozen=True)
class GroupedValue:
    """An extra per-customer aggregate over one collection that the rule language cannot
    spell (the membership engine's due instants): ``build(bind)`` returns the aggregate
    and the row filter it needs (None: every row), with every value bound through
    ``bind``. It joins that collection's grouped subquery, so no second scan."""

    collection: str
    build: Callable[[Bind], tuple[exp.Expr, exp.Expr | None]]
    #: applied to the aggregate's column outside the grouped subquery (None: as it is)
    finish: Callable[[exp.Expr], exp.Expr] | None = None


class _Visitor:
    """State of one compilation: parameters and the grouped subqueries being collected."""

    def __init__(
        self, dialect: str, schema: Schema, now: dt.datetime, segment_memberships: bool
    ) -> None:
        if now.tzinfo is None:
            raise CompileError("now must be timezone-aware")
        self.dialect = dialect
        self.schema = schema
        self.now = now.astimezone(dt.UTC)
        self.segment_memberships = segment_memberships
        self.params: dict[str, Any] = {}
        self._param_names: dict[tuple[type, Any], str] = {}
        #: collection -> {aggregate key: column alias}, and the aliased aggregate columns.
        self.groups: dict[str, dict[tuple[Any, ...], str]] = {}
        self.group_columns: dict[str, list[exp.Expr]] = {}
        #: collection -> the FILTER condition of each of its aggregates (None: unfiltered)
        self.group_filters: dict[str, list[exp.Expr | None]] = {}

    # --- parameters -------------------------------------------------------------------

    def bind(self, value: object) -> exp.Expr:
        """A named placeholder for ``value`` (equal values of one type share a name)."""
        key = (type(value), value)
        name = self._param_names.get(key)
        if name is None:
            name = f"p{len(self.params)}"
            self._param_names[key] = name
            self.params[name] = value
        return exp.Placeholder(this=name)

    def instant(self, ago: Any) -> dt.datetime:
        return self.now if ago is None else timeutil.shift(self.now, ago)

    # --- rules ------------------------------------------------------------------------

    def rule(self, node: Rule, scope: str | None) -> exp.Expr:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise CompileError(f"SQL cannot express {type(node).__name__}")
        result: exp.Expr = method(node, scope)
        return result

    def visit_And(self, node: And, scope: str | None) -> exp.Expr:
        return _all([self.rule(i, scope) for i in node.items])

    def visit_Or(self, node: Or, scope: str | None) -> exp.Expr:
        return _any([self.rule(i, scope) for i in node.items])

    def visit_Not(self, node: Not, scope: str | None) -> exp.Expr:
        return exp.Not(this=_two_valued(self.rule(node.operand, scope)))

    def _is_string(self, *values: NValue, scope: str | None) -> bool:
        return any(value_type(v, self.schema, scope) == FieldType.STRING for v in values)

    def _compare(self, op: str, left: _Operand, right: _Operand, text: bool) -> exp.Expr:
        lhs, rhs = left.num, right.num
        if right.den is not None:
            lhs = exp.Mul(this=lhs, expression=right.den)
        if left.den is not None:
            rhs = exp.Mul(this=rhs, expression=left.den)
        if text and op != "=":
            lhs = dialects.by_code_point(self.dialect, lhs)
        return _CMP[op](this=lhs, expression=rhs)

    def visit_Compare(self, node: Compare, scope: str | None) -> exp.Expr:
        text = self._is_string(node.left, node.right, scope=scope)
        left = self.operand(node.left, scope, text)
        right = self.operand(node.right, scope, text)
        cmp = self._compare(node.op, left, right, text)
        return _atom(_all([*left.guards, *right.guards, cmp]))

    def visit_Between(self, node: Between, scope: str | None) -> exp.Expr:
        text = self._is_string(node.value, node.low, node.high, scope=scope)
        value = self.operand(node.value, scope, text)
        low = self.operand(node.low, scope, text)
        high = self.operand(node.high, scope, text)
        guards = [*value.guards, *low.guards, *high.guards]
        tests = [self._compare(">=", value, low, text), self._compare("<=", value, high, text)]
        return _atom(_all([*guards, *tests]))

    def visit_InList(self, node: InList, scope: str | None) -> exp.Expr:
        text = self._is_string(node.value, scope=scope)
        value = self.operand(node.value, scope, text)
        items = [self.operand(i, scope, text) for i in node.items]
        if value.den is not None:  # AVG IN (…): exact equality with each item
            eqs = [self._compare("=", value, i, False) for i in items]
            return _atom(_all([*value.guards, _any(eqs)]))
        return _atom(exp.In(this=value.num, expressions=[i.num for i in items]))

    # --- user_groups: explicit column + groups inherited from targetable segments --------

    def _is_groups(self, value: NValue, scope: str | None) -> bool:
        return scope is None and isinstance(value, Path) and value.parts == (GROUPS_FIELD,)

    def _inherited(self, group: exp.Expr | None) -> exp.Expr:
        """``EXISTS`` a membership of a segment targetable at ``now`` (``[starts_at,
        ends_at)``, active) [whose group, lower-cased, is ``group``]: the inherited part of
        ``user_groups``, read like ``IN SEGMENT`` from the memberships as materialized."""
        if not self.segment_memberships:
            raise CompileError(
                f"'{GROUPS_FIELD}' includes the groups inherited from segment memberships, "
                "which this query may not read"
            )

        def column(name: str) -> exp.Expr:
            return exp.column(name, "ug", quoted=True)

        now = self.bind(self.now)
        conditions: list[exp.Expr] = [
            exp.EQ(this=column("customer_id"), expression=exp.column("id", _CUSTOMER, quoted=True)),
            column("active"),
            exp.Or(
                this=exp.Is(this=column("starts_at"), expression=exp.Null()),
                expression=exp.LTE(this=column("starts_at"), expression=now),
            ),
            exp.Or(
                this=exp.Is(this=column("ends_at"), expression=exp.Null()),
                expression=exp.GT(this=column("ends_at"), expression=now.copy()),
            ),
        ]
        if group is not None:
            conditions.append(exp.EQ(this=exp.Lower(this=column("user_group")), expression=group))
        table = exp.to_table("segment_groups").as_("ug")
        return exp.Exists(
            this=exp.select(exp.Literal.number(1)).from_(table).where(_all(conditions))
        )

    def _explicit_groups(self) -> exp.Expr:
        return exp.column(GROUPS_FIELD, _CUSTOMER, quoted=True)

    def visit_IsNull(self, node: IsNull, scope: str | None) -> exp.Expr:
        value = node.value
        if self._is_groups(value, scope):  # no explicit list and no inherited group
            explicit = exp.Is(this=self._explicit_groups(), expression=exp.Null())
            return exp.And(this=explicit, expression=exp.Not(this=self._inherited(None)))
        if isinstance(value, Aggregate) and value.func in ("COUNT", "SUM", "EXISTS"):
            return exp.false()
        if isinstance(value, Aggregate) and value.func == "AVG":
            count = self._aggregate_column(value, "COUNT_FIELD")
            return exp.EQ(this=_zero_if_null(count), expression=exp.Literal.number(0))
        return exp.Is(this=self.value(value, scope), expression=exp.Null())

    def visit_TextMatch(self, node: TextMatch, scope: str | None) -> exp.Expr:
        is_list = value_type(node.value, self.schema, scope) == FieldType.STRING_LIST
        groups = self._is_groups(node.value, scope)
        if groups:
            value = _Operand(self._explicit_groups())
        else:
            value = self.operand(node.value, scope, lower=not is_list)
        pattern = self.operand(node.pattern, scope, lower=True)
        if value.den is not None or pattern.den is not None:
            raise CompileError(f"{node.op} does not apply to an average")
        test: exp.Expr
        if is_list:
            if node.op != "CONTAINS":
                raise CompileError(f"{node.op} does not apply to a list")
            test = dialects.list_contains(self.dialect, value.num, pattern.num)
            if groups:
                test = exp.Or(this=test, expression=self._inherited(pattern.num.copy()))
        elif node.op == "CONTAINS":
            # A position test, not LIKE: the pattern needs no escaping of % and _.
            position = exp.StrPosition(this=value.num, substr=pattern.num)
            test = exp.GT(this=position, expression=exp.Literal.number(0))
        else:
            cut = exp.Left if node.op == "STARTS WITH" else exp.Right
            length = exp.Length(this=pattern.num)
            test = exp.EQ(this=cut(this=value.num, expression=length), expression=pattern.num)
        return _atom(test)

    def visit_Within(self, node: Within, scope: str | None) -> exp.Expr:
        value = self.value(node.value, scope)
        start = self.bind(self.instant(node.duration))
        end = self.bind(self.now)
        after = exp.GT(this=value, expression=start)
        return _atom(exp.And(this=after, expression=exp.LTE(this=value.copy(), expression=end)))

    def visit_InSegment(self, node: InSegment, scope: str | None) -> exp.Expr:
        if not self.segment_memberships:
            raise CompileError(
                f"IN SEGMENT '{node.code}' needs segment memberships, which this query may not read"
            )
        where = exp.And(
            this=exp.EQ(this=exp.column("segment_code", "m"), expression=self.bind(node.code)),
            expression=exp.EQ(
                this=exp.column("customer_id", "m"), expression=exp.column("id", _CUSTOMER)
            ),
        )
        members = exp.to_table("segment_members").as_("m")
        query = exp.select(exp.Literal.number(1)).from_(members).where(where)
        return exp.Exists(this=query)

    def visit_BoolTest(self, node: BoolTest, scope: str | None) -> exp.Expr:
        value = node.value
        if isinstance(value, Literal):
            return exp.true() if value.value is True else exp.false()
        if isinstance(value, Aggregate) and value.func == "EXISTS":
            return self.value(value, scope)  # never NULL
        return _atom(self.value(value, scope))

    # --- values -----------------------------------------------------------------------

    def operand(self, value: NValue, scope: str | None, lower: bool) -> _Operand:
        if isinstance(value, Aggregate) and value.func == "AVG":
            total = self._aggregate_column(value, "SUM")
            count = self._aggregate_column(value, "COUNT_FIELD")
            positive = exp.GT(this=_zero_if_null(count), expression=exp.Literal.number(0))
            return _Operand(total, count.copy(), [positive])
        if lower and isinstance(value, Literal) and isinstance(value.value, str):
            # lower-cased once here, with SQL's own case mapping, instead of on every row
            return _Operand(self.bind(sql_lower(value.value)))
        expr = self.value(value, scope)
        return _Operand(exp.Lower(this=expr) if lower else expr)

    def value(self, value: NValue, scope: str | None) -> exp.Expr:
        method = getattr(self, f"value_{type(value).__name__}", None)
        if method is None:
            raise CompileError(f"SQL cannot express {type(value).__name__}")
        result: exp.Expr = method(value, scope)
        return result

    def value_Literal(self, node: Literal, scope: str | None) -> exp.Expr:
        value = node.value
        if value is None:
            return exp.Null()
        if isinstance(value, int) and not isinstance(value, bool):
            value = Decimal(value)  # numbers are exact decimals, never driver-chosen ints
        return self.bind(value)

    def value_RelativeTime(self, node: RelativeTime, scope: str | None) -> exp.Expr:
        return self.bind(self.instant(node.ago))

    def value_LocalDate(self, node: LocalDate, scope: str | None) -> exp.Expr:
        moment = self.instant(node.instant.ago)
        return self.bind(timeutil.local_date(moment, self.schema.timezone))

    def value_Path(self, node: Path, scope: str | None) -> exp.Expr:
        realtime = realtime_field(node, scope)
        if realtime is not None:
            raise CompileError(
                f"'{realtime}' is request context: a real-time rule cannot be compiled to SQL"
            )
        value_type(node, self.schema, scope)  # unknown fields raise CompileError
        parts = node.parts
        if scope is not None:
            if parts[0] == "properties":
                if not _PROPERTY.match(parts[1]):
                    raise CompileError(f"invalid property name '{parts[1]}'")
                column = exp.column("properties", quoted=True)
                return dialects.json_text(self.dialect, column, parts[1], self.bind)
            return exp.column(parts[0], quoted=True)
        if parts == (GROUPS_FIELD,):
            # Never the explicit column alone: the field includes inherited groups.
            raise CompileError(
                f"'{GROUPS_FIELD}' can only be tested with CONTAINS or IS NULL in SQL"
            )
        if len(parts) == 1 and parts[0] in CUSTOMER_FIELDS:
            return exp.column(parts[0], _CUSTOMER, quoted=True)
        if parts[0] == "attributes" and ATTRIBUTE_NAME.match(parts[1]):
            return exp.column(f"attr_{parts[1]}", _CUSTOMER, quoted=True)
        raise CompileError(f"unknown field '{node.dotted}'")

    def value_Aggregate(self, node: Aggregate, scope: str | None) -> exp.Expr:
        func = node.func
        if func == "COUNT":
            return _zero_if_null(self._aggregate_column(node, "COUNT"))
        if func == "EXISTS":
            count = _zero_if_null(self._aggregate_column(node, "COUNT"))
            return exp.GT(this=count, expression=exp.Literal.number(0))
        if func == "SUM":
            return _zero_if_null(self._aggregate_column(node, "SUM"))
        if func in ("MIN", "MAX"):
            return self._aggregate_column(node, func)
        raise CompileError(f"{func}(…) can only be compared in SQL")

    def _aggregate_column(self, node: Aggregate, kind: str) -> exp.Expr:
        """The grouped subquery's column for ``kind`` of ``node`` (added on first use)."""
        realtime = realtime_field(node, None)
        if realtime is not None:
            raise CompileError(
                f"'{realtime}' is request context: a real-time rule cannot be compiled to SQL"
            )
        collection = node.collection_name
        if collection not in _TABLES:
            raise CompileError(f"unknown collection '{collection}'")
        # COUNT and EXISTS share COUNT(*); the field does not matter to them.
        key = (kind, node.field if kind != "COUNT" else None, node.where)
        aliases = self.groups.setdefault(collection, {})
        alias = aliases.get(key)
        if alias is None:
            alias = f"a{len(aliases)}"
            aliases[key] = alias
            self.group_columns.setdefault(collection, []).append(
                exp.alias_(self._aggregate(node, kind), alias)
            )
        return exp.column(alias, f"g_{collection}")

    def grouped_value(self, value: GroupedValue) -> exp.Expr:
        """The grouped subquery's column for a caller-built aggregate."""
        if value.collection not in _TABLES:
            raise CompileError(f"unknown collection '{value.collection}'")
        aggregate, condition = value.build(self.bind)
        if condition is not None:
            aggregate = exp.Filter(this=aggregate, expression=exp.Where(this=condition))
        aliases = self.groups.setdefault(value.collection, {})
        alias = f"a{len(aliases)}"
        aliases[("grouped", len(aliases))] = alias
        self.group_columns.setdefault(value.collection, []).append(exp.alias_(aggregate, alias))
        self.group_filters.setdefault(value.collection, []).append(condition)
        column = exp.column(alias, f"g_{value.collection}")
        return column if value.finish is None else value.finish(column)

    def _aggregate(self, node: Aggregate, kind: str) -> exp.Expr:
        item = exp.column(node.field, quoted=True) if node.field else None
        agg: exp.Expr
        if kind == "COUNT":
            agg = exp.Count(this=exp.Star())
        elif kind == "COUNT_FIELD":
            agg = exp.Count(this=item)
        elif kind == "SUM":
            agg = exp.Sum(this=item)
        else:
            assert item is not None
            text = value_type(node, self.schema, None) == FieldType.STRING
            arg = dialects.by_code_point(self.dialect, item) if text else item
            agg = exp.Min(this=arg) if kind == "MIN" else exp.Max(this=arg)
        filters = self.group_filters.setdefault(node.collection_name, [])
        if node.where is not None:
            condition = self.rule(node.where, node.collection_name)
            agg = exp.Filter(this=agg, expression=exp.Where(this=condition))
            filters.append(condition)
        else:
            filters.append(None)
        return agg

    # --- the query --------------------------------------------------------------------

    def select(
        self, *columns: exp.Expr, only_ids_in: str | None = None, probe_ids: bool = False
    ) -> exp.Select:
        # Builders mutate in place (copy=False): each copy would deep-copy the whole
        # query so far, most of a 100-rule compile.
        query = exp.select(*columns).from_(exp.to_table("customers").as_(_CUSTOMER), copy=False)

        def restrict(column: exp.Expr) -> exp.Expr:
            assert only_ids_in is not None and _PROPERTY.match(only_ids_in)
            ids = exp.select(exp.column("id", quoted=True)).from_(exp.to_table(only_ids_in))
            return dialects.in_ids(column, ids, probe=probe_ids)

        if only_ids_in is not None:
            query = query.where(restrict(exp.column("id", _CUSTOMER, quoted=True)), copy=False)
        for collection, aggregates in self.group_columns.items():
            customer_id = exp.column("customer_id", quoted=True)
            grouped = (
                exp.select(customer_id, *aggregates)
                .from_(exp.to_table(_TABLES[collection]), copy=False)
                .group_by(customer_id.copy(), copy=False)
            )
            if only_ids_in is not None:
                grouped = grouped.where(restrict(customer_id.copy()), copy=False)
            filters = self.group_filters.get(collection, [])
            # Over the whole table, the OR of the aggregates' filters drops most rows
            # before grouping. Restricted to staged ids it is pushed below the semi-join
            # and evaluated on every row of the scan (lower() of 20 M strings, ~0.3 s of
            # CPU at 1 M customers) to keep rows the join then mostly drops.
            if only_ids_in is None and filters and all(f is not None for f in filters):
                unique = list({f.sql(): f for f in filters if f is not None}.values())
                grouped = grouped.where(_any([f.copy() for f in unique]), copy=False)
            alias = f"g_{collection}"
            on = exp.EQ(
                this=exp.column("customer_id", alias, quoted=True),
                expression=exp.column("id", _CUSTOMER, quoted=True),
            )
            query = query.join(
                grouped.subquery(alias, copy=False), on=on, join_type="left", copy=False
            )
        return query


class SqlCompiler:
    """Compiles rules for one dialect (``duckdb``, ``postgres`` or ``spark``) and schema."""

    def __init__(self, dialect: str, schema: Schema) -> None:
        self.dialect = dialects.check_dialect(dialect)
        self.schema = schema
        self._normalizer = Normalizer(schema)

    def _render(self, query: exp.Select, visitor: _Visitor, columns: list[str]) -> CompiledQuery:
        sql = query.sql(dialect=self.dialect, pretty=True)
        return CompiledQuery(sql=sql, params=dict(visitor.params), columns=columns)

    def compile_match(
        self, rule: Rule, now: dt.datetime, *, segment_memberships: bool = True
    ) -> CompiledQuery:
        """``SELECT c.id FROM customers c … WHERE <rule> ORDER BY c.id``.

        With ``segment_memberships=False`` a rule using ``IN SEGMENT`` or ``user_groups``
        (inherited groups) raises :class:`CompileError` (for callers that run where
        ``segment_members`` / ``segment_groups`` are absent).
        """
        visitor = _Visitor(self.dialect, self.schema, now, segment_memberships)
        condition = visitor.rule(self._normalizer.rule(rule), None)
        customer_id = exp.column("id", _CUSTOMER, quoted=True)
        query = (
            visitor.select(customer_id)
            .where(condition, copy=False)
            .order_by(customer_id.copy(), copy=False)
        )
        return self._render(query, visitor, ["id"])

    def compile_many(
        self,
        rules: Mapping[str, Rule],
        now: dt.datetime,
        *,
        only_ids_in: str | None = None,
        ordered: bool = True,
        values: Sequence[Aggregate | GroupedValue] = (),
        two_valued: bool = True,
        probe_ids: bool = False,
    ) -> CompiledQuery:
        """``SELECT c.id, <rule 0> AS r_0, …`` for every customer, in one pass.

        Every aggregate of every rule lands in the one grouped subquery of its collection,
        deduplicated, so N rules over orders still scan ``orders`` once.
        ``only_ids_in`` names a table with an ``id`` column: the query (and every grouped
        subquery, so no collection is aggregated beyond them) covers only those customers;
        ``probe_ids`` tests them with ``= ANY(ARRAY(…))`` (a small batch on PostgreSQL:
        :func:`dialects.in_ids`).
        ``ordered=False`` leaves out the ``ORDER BY`` (a caller that stores the rows in a
        table saves sorting a million of them). ``values`` are extra aggregates output as
        columns ``v_0``, … after the rules, computed in the same grouped subqueries (the
        membership engine's due instants: no second scan of a collection).
        ``two_valued=False`` leaves a rule's value NULL where it is unknown (for a caller
        that reads it where NULL and FALSE act alike) instead of coalescing it to FALSE.
        """
        visitor = _Visitor(self.dialect, self.schema, now, True)
        conditions = [visitor.rule(self._normalizer.rule(r), None) for r in rules.values()]
        customer_id = exp.column("id", _CUSTOMER, quoted=True)
        outputs = [exp.alias_(customer_id, "id")]
        outputs += [
            exp.alias_(_two_valued(c) if two_valued else c, f"r_{i}")
            for i, c in enumerate(conditions)
        ]
        outputs += [
            exp.alias_(
                visitor.grouped_value(v) if isinstance(v, GroupedValue) else visitor.value(v, None),
                f"v_{i}",
            )
            for i, v in enumerate(values)
        ]
        query = visitor.select(*outputs, only_ids_in=only_ids_in, probe_ids=probe_ids)
        if ordered:
            query = query.order_by(customer_id.copy(), copy=False)
        return self._render(query, visitor, ["id", *rules])
