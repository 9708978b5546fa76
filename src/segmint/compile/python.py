"""Rule → in-process predicate over a :class:`~segmint.model.profile.Profile` (real time).

Compile once, evaluate many times. The normalised rule (:mod:`segmint.compile.common`) is
translated into a Python ``ast`` tree for *one* function, which is ``compile()``-d once;
evaluating the rule is then one call of ordinary byte code, with no tree walk and no
closure per node. Aggregates become list comprehensions/generator expressions with the
``WHERE`` inlined. Constants (lower-cased strings, decimals, frozensets for ``IN``) are
computed once at compile time and reach the function as default arguments (fast locals);
relative instants are computed once per call from ``now``. No source text is ever built,
so nothing in a rule can become code: literal values only ever appear as constants.

Semantics are those of the SQL compiler (and RULES.md §3): two-valued logic (every
comparison with a null operand is false, each atom is a real ``bool``), strings lower-cased
as SQL ``lower()`` does (:func:`segmint.rules.text.lower`), exact decimals, ``AVG(x) op v``
as ``SUM(x) op v * COUNT(x)`` with ``COUNT > 0``, empty collections give COUNT/SUM 0 and
AVG/MIN/MAX null, request context from a :class:`~segmint.model.profile.RequestContext`
(``None``: context fields are null, the cart is empty). ``user_groups`` is the explicit
list plus ``Profile.inherited_groups`` (set by the caller with ``Profile.set_segments``).
"""

from __future__ import annotations

import ast
import datetime as dt
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from segmint.compile.common import LocalDate, Normalizer, NValue, value_type
from segmint.errors import CompileError
from segmint.model.profile import Profile, RequestContext
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
    Node,
    Not,
    Or,
    Path,
    RelativeTime,
    Rule,
    TextMatch,
    Within,
    walk,
)
from segmint.rules.groups import FIELD as GROUPS_FIELD
from segmint.rules.schema import CUSTOMER_FIELDS, FieldType, Schema
from segmint.rules.text import lower as sql_lower

_CMP: dict[str, type[ast.cmpop]] = {
    "=": ast.Eq,
    "<": ast.Lt,
    "<=": ast.LtE,
    ">": ast.Gt,
    ">=": ast.GtE,
}
_SOURCES = {"orders": "orders", "lines": "lines", "events": "events", "wishlist": "wishlist"}
_CONTEXT_ATTRS = {
    "context.logged_in": "logged_in",
    "context.view": "view",
    "context.store": "store",
    "context.channel": "channel",
    "context.path": "path",
    "cart.subtotal": "cart_subtotal",
    "cart.quantity": "cart_quantity",
}
_ITEM = "_i"


class _Groups(list[Any]):
    """A profile's ``user_groups`` with its members lower-cased once (many audiences ask
    ``user_groups CONTAINS`` of one profile)."""

    lowered: frozenset[str]


def _list_has(items: list[Any], needle: str) -> bool:
    """Case-insensitive membership of a string in a list of strings (nulls never match)."""
    if isinstance(items, _Groups):
        return needle in items.lowered
    return any(x is not None and sql_lower(x) == needle for x in items)


def _effective_groups(profile: Profile) -> list[Any] | None:
    """The field ``user_groups``: the explicit list as stored, then each inherited group
    it does not already hold (ignoring case); null when neither exists (docs/rules.md).
    Kept on the profile while its explicit list and inherited groups stay the same."""
    explicit: list[Any] | None = profile.fields.get("user_groups")
    inherited = profile.inherited_groups
    if not inherited and explicit is None:
        return None
    memo = profile.memo.get("user_groups")
    if memo is not None and memo[0] is explicit and memo[1] is inherited:
        groups: _Groups = memo[2]
        return groups
    base = list(explicit or ())
    held = {sql_lower(g) for g in base if g is not None}
    groups = _Groups(base + [g for g in inherited if sql_lower(g) not in held])
    groups.lowered = frozenset(sql_lower(g) for g in groups if g is not None)
    profile.memo["user_groups"] = (explicit, inherited, groups)
    return groups


def _avg(values: list[Any]) -> Any:
    """The value of ``AVG`` for explain; comparisons never divide (see module docstring)."""
    return sum(values, Decimal(0)) / len(values) if values else None


def _name(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def _call(func: str, *args: ast.expr, **kwargs: ast.expr) -> ast.Call:
    return ast.Call(
        func=_name(func), args=list(args), keywords=[ast.keyword(k, v) for k, v in kwargs.items()]
    )


def _method(obj: ast.expr, method: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Attribute(obj, method, ast.Load()), args=list(args), keywords=[])


def _and(parts: list[ast.expr]) -> ast.expr:
    return parts[0] if len(parts) == 1 else ast.BoolOp(ast.And(), parts)


def _is_not_none(expr: ast.expr) -> ast.expr:
    return ast.Compare(expr, [ast.IsNot()], [ast.Constant(None)])


@dataclass
class _Operand:
    """A value ready for comparison: ``guards`` (all true ⇔ not null) then ``num / den``."""

    guards: list[ast.expr]
    num: ast.expr
    den: ast.expr | None = None


@dataclass
class _Gen:
    """Generates the body of one function; collects its constants and per-call prelude."""

    schema: Schema
    consts: dict[str, Any] = field(default_factory=dict)
    const_names: dict[tuple[type, Any], str] = field(default_factory=dict)
    instants: dict[Duration | None, str] = field(default_factory=dict)
    dates: dict[Duration | None, str] = field(default_factory=dict)
    uses: set[str] = field(default_factory=set)
    shared: dict[tuple[str, Rule], str] = field(default_factory=dict)
    shared_lists: dict[str, ast.expr] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=itertools.count)

    # --- names ------------------------------------------------------------------------

    def const(self, value: Any) -> ast.expr:
        # Keyed by type too (True == Decimal(1) in Python); a set by its typed members.
        if isinstance(value, frozenset):
            key: tuple[type, Any] = (frozenset, frozenset((type(v), v) for v in value))
        else:
            key = (type(value), value if _hashable(value) else id(value))
        name = self.const_names.get(key)
        if name is None:
            name = f"_k{len(self.consts)}"
            self.consts[name] = value
            self.const_names[key] = name
        return _name(name)

    def tmp(self) -> str:
        return f"_v{next(self.counter)}"

    def instant(self, duration: Duration | None) -> ast.expr:
        if duration is None:
            return _name("now")
        if duration not in self.instants:
            self.instants[duration] = f"_t{len(self.instants)}"
        return _name(self.instants[duration])

    def local_date(self, duration: Duration | None) -> ast.expr:
        if duration is not None:
            self.instant(duration)
        if duration not in self.dates:
            self.dates[duration] = f"_d{len(self.dates)}"
        return _name(self.dates[duration])

    # --- values -----------------------------------------------------------------------

    def type_of(self, value: NValue, scope: str | None) -> FieldType | None:
        return value_type(value, self.schema, scope)

    def value(self, value: NValue, scope: str | None) -> ast.expr:
        """The expression computing ``value`` (``None`` when null)."""
        method = getattr(self, f"visit_{type(value).__name__}", None)
        if method is None:
            raise CompileError(f"the Python engine cannot evaluate {type(value).__name__}")
        result: ast.expr = method(value, scope)
        return result

    def visit_Literal(self, node: Literal, scope: str | None) -> ast.expr:
        if node.value is None or isinstance(node.value, bool):
            return ast.Constant(node.value)
        return self.const(node.value)

    def visit_RelativeTime(self, node: RelativeTime, scope: str | None) -> ast.expr:
        return self.instant(node.ago)

    def visit_LocalDate(self, node: LocalDate, scope: str | None) -> ast.expr:
        return self.local_date(node.instant.ago)

    def visit_Path(self, node: Path, scope: str | None) -> ast.expr:
        parts = node.parts
        if scope is not None:
            if parts[0] == "properties":
                props = ast.Attribute(_name(_ITEM), "properties", ast.Load())
                return _method(props, "get", ast.Constant(parts[1]))
            return ast.Attribute(_name(_ITEM), parts[0], ast.Load())
        if parts == (GROUPS_FIELD,):
            return _call("_groups", _name("p"))  # explicit and inherited groups
        if len(parts) == 1 and parts[0] in CUSTOMER_FIELDS:
            self.uses.add("fields")
            return _method(_name("_f"), "get", ast.Constant(parts[0]))
        if parts[0] == "attributes":
            self.uses.add("attributes")
            return _method(_name("_a"), "get", ast.Constant(parts[1]))
        self.uses.add("context")
        if parts[:2] == ("context", "query"):
            query = ast.Attribute(_name("_c"), "query", ast.Load())
            return _method(query, "get", ast.Constant(parts[2]))
        attr = _CONTEXT_ATTRS.get(node.dotted)
        if attr is None:
            raise CompileError(f"unknown field '{node.dotted}'")
        return ast.Attribute(_name("_c"), attr, ast.Load())

    def _source(self, node: Aggregate) -> ast.expr:
        if node.collection == ("cart", "lines"):
            self.uses.add("context")
            return ast.Attribute(_name("_c"), "cart_lines", ast.Load())
        attr = _SOURCES.get(node.collection_name)
        if attr is None:
            raise CompileError(f"unknown collection '{node.collection_name}'")
        return ast.Attribute(_name("p"), attr, ast.Load())

    def share_filters(self, rule: Node) -> None:
        """Filter once per call the items of a (collection, WHERE) used by several aggregates.

        ``orders_count >= 3 AND average_order_value > 40`` reads the successful orders three
        times (COUNT, SUM, COUNT of totals); they are filtered once into a list in the
        prelude and the aggregates run over that list. Only filters used at least twice are
        shared, since the prelude runs whether or not short-circuiting would reach them.
        """
        uses: dict[tuple[str, Rule], int] = {}
        for node in walk(rule):
            if isinstance(node, Aggregate) and node.where is not None:
                key = (node.collection_name, node.where)
                uses[key] = uses.get(key, 0) + 1
        for (collection, where), count in uses.items():
            if count > 1:
                name = f"_s{len(self.shared)}"
                self.shared[(collection, where)] = name
                probe = Aggregate("COUNT", tuple(collection.split(".")), None, where)
                condition = self.rule(where, collection)
                source = ast.comprehension(
                    ast.Name(_ITEM, ast.Store()), self._source(probe), [condition], 0
                )
                self.shared_lists[name] = ast.ListComp(_name(_ITEM), [source])

    def _filtered(self, node: Aggregate) -> str | None:
        if node.where is None:
            return None
        return self.shared.get((node.collection_name, node.where))

    def _loop(self, node: Aggregate, extra_if: ast.expr | None = None) -> ast.comprehension:
        shared = self._filtered(node)
        if shared is not None:
            source: ast.expr = _name(shared)
            ifs = []
        else:
            source = self._source(node)
            ifs = [] if node.where is None else [self.rule(node.where, node.collection_name)]
        if extra_if is not None:
            ifs.append(extra_if)
        return ast.comprehension(ast.Name(_ITEM, ast.Store()), source, ifs, 0)

    def values_list(self, node: Aggregate) -> ast.expr:
        """``[item.field for item in collection if where and item.field is not None]``."""
        assert node.field is not None
        item_field = ast.Attribute(_name(_ITEM), node.field, ast.Load())
        return ast.ListComp(item_field, [self._loop(node, _is_not_none(item_field))])

    def visit_Aggregate(self, node: Aggregate, scope: str | None) -> ast.expr:
        shared = self._filtered(node)
        if shared is not None and node.func in ("COUNT", "EXISTS"):
            count = _call("len", _name(shared))
            if node.func == "COUNT":
                return count
            return ast.Compare(count, [ast.Gt()], [ast.Constant(0)])
        if node.func == "COUNT":
            if node.where is None:
                return _call("len", self._source(node))
            return _call("len", ast.ListComp(ast.Constant(None), [self._loop(node)]))
        if node.func == "EXISTS":
            if node.where is None:
                return ast.Compare(_call("len", self._source(node)), [ast.Gt()], [ast.Constant(0)])
            return _call("any", ast.GeneratorExp(ast.Constant(True), [self._loop(node)]))
        values = self.values_list(node)
        if node.func == "SUM":
            return _call("sum", values, self._zero(node))
        if node.func in ("MIN", "MAX"):
            return _call(node.func.lower(), values, default=ast.Constant(None))
        if node.func == "AVG":
            return _call("_avg", values)
        raise CompileError(f"unknown aggregate {node.func}")

    def _zero(self, node: Aggregate) -> ast.expr:
        kind = self.type_of(node, None)
        return ast.Constant(0) if kind == FieldType.INTEGER else _name("_D0")

    def operand(self, value: NValue, scope: str | None, lower: bool) -> _Operand:
        """``value`` prepared for a comparison; strings lower-cased when ``lower``."""
        if isinstance(value, Literal):
            v = value.value
            if isinstance(v, str) and lower:
                v = sql_lower(v)
            return _Operand([], self.const(v) if not isinstance(v, bool) else ast.Constant(v))
        if isinstance(value, RelativeTime | LocalDate):
            return _Operand([], self.value(value, scope))
        tmp = self.tmp()
        if isinstance(value, Aggregate) and value.func == "AVG":
            walrus = ast.NamedExpr(ast.Name(tmp, ast.Store()), self.values_list(value))
            guard = ast.Compare(_call("len", walrus), [ast.Gt()], [ast.Constant(0)])
            total = _call("sum", _name(tmp), self._zero(value))
            return _Operand([guard], total, _call("len", _name(tmp)))
        if isinstance(value, Aggregate) and value.func in ("COUNT", "SUM", "EXISTS"):
            return _Operand([], self.value(value, scope))  # never null
        walrus = ast.NamedExpr(ast.Name(tmp, ast.Store()), self.value(value, scope))
        num: ast.expr = _name(tmp)
        if lower:
            num = _call("_lower", num)
        return _Operand([_is_not_none(walrus)], num)

    # --- rules ------------------------------------------------------------------------

    def rule(self, node: Rule, scope: str | None) -> ast.expr:
        method = getattr(self, f"rule_{type(node).__name__}", None)
        if method is None:
            raise CompileError(f"the Python engine cannot evaluate {type(node).__name__}")
        result: ast.expr = method(node, scope)
        return result

    def rule_And(self, node: And, scope: str | None) -> ast.expr:
        return ast.BoolOp(ast.And(), [self.rule(i, scope) for i in node.items])

    def rule_Or(self, node: Or, scope: str | None) -> ast.expr:
        return ast.BoolOp(ast.Or(), [self.rule(i, scope) for i in node.items])

    def rule_Not(self, node: Not, scope: str | None) -> ast.expr:
        return ast.UnaryOp(ast.Not(), self.rule(node.operand, scope))

    def _is_string(self, *values: NValue, scope: str | None) -> bool:
        return any(self.type_of(v, scope) == FieldType.STRING for v in values)

    @staticmethod
    def _cmp(op: str, left: _Operand, right: _Operand) -> ast.expr:
        lhs, rhs = left.num, right.num
        if right.den is not None:
            lhs = ast.BinOp(lhs, ast.Mult(), right.den)
        if left.den is not None:
            rhs = ast.BinOp(rhs, ast.Mult(), left.den)
        return ast.Compare(lhs, [_CMP[op]()], [rhs])

    def rule_Compare(self, node: Compare, scope: str | None) -> ast.expr:
        lower = self._is_string(node.left, node.right, scope=scope)
        left = self.operand(node.left, scope, lower)
        right = self.operand(node.right, scope, lower)
        return _and([*left.guards, *right.guards, self._cmp(node.op, left, right)])

    def rule_Between(self, node: Between, scope: str | None) -> ast.expr:
        lower = self._is_string(node.value, node.low, node.high, scope=scope)
        value = self.operand(node.value, scope, lower)
        low = self.operand(node.low, scope, lower)
        high = self.operand(node.high, scope, lower)
        guards = [*value.guards, *low.guards, *high.guards]
        return _and([*guards, self._cmp(">=", value, low), self._cmp("<=", value, high)])

    def rule_InList(self, node: InList, scope: str | None) -> ast.expr:
        lower = self._is_string(node.value, scope=scope)
        value = self.operand(node.value, scope, lower)
        items = [
            sql_lower(i.value) if lower and isinstance(i.value, str) else i.value
            for i in node.items
        ]
        if value.den is not None:  # AVG IN (...): exact equality with each item
            eqs = [self._cmp("=", value, _Operand([], self.const(i))) for i in items]
            return _and([*value.guards, ast.BoolOp(ast.Or(), eqs) if len(eqs) > 1 else eqs[0]])
        test = ast.Compare(value.num, [ast.In()], [self.const(frozenset(items))])
        return _and([*value.guards, test])

    def rule_IsNull(self, node: IsNull, scope: str | None) -> ast.expr:
        value = node.value
        if isinstance(value, Aggregate):
            if value.func == "AVG":
                empty = _call("len", self.values_list(value))
                return ast.Compare(empty, [ast.Eq()], [ast.Constant(0)])
            if value.func in ("COUNT", "SUM", "EXISTS"):
                return ast.Constant(False)
        return ast.Compare(self.value(value, scope), [ast.Is()], [ast.Constant(None)])

    def rule_TextMatch(self, node: TextMatch, scope: str | None) -> ast.expr:
        is_list = self.type_of(node.value, scope) == FieldType.STRING_LIST
        value = self.operand(node.value, scope, lower=not is_list)
        pattern = self.operand(node.pattern, scope, lower=True)
        test: ast.expr
        if is_list:
            if node.op != "CONTAINS":
                raise CompileError(f"{node.op} does not apply to a list")
            test = _call("_list_has", value.num, pattern.num)
        elif node.op == "CONTAINS":
            test = ast.Compare(pattern.num, [ast.In()], [value.num])
        else:
            method = "startswith" if node.op == "STARTS WITH" else "endswith"
            test = _method(value.num, method, pattern.num)
        return _and([*value.guards, *pattern.guards, test])

    def rule_Within(self, node: Within, scope: str | None) -> ast.expr:
        value = self.operand(node.value, scope, lower=False)
        window = ast.Compare(
            self.instant(node.duration), [ast.Lt(), ast.LtE()], [value.num, _name("now")]
        )
        return _and([*value.guards, window])

    def rule_InSegment(self, node: InSegment, scope: str | None) -> ast.expr:
        segments = ast.Attribute(_name("p"), "segments", ast.Load())
        return ast.Compare(self.const(node.code), [ast.In()], [segments])

    def rule_BoolTest(self, node: BoolTest, scope: str | None) -> ast.expr:
        value = node.value
        if isinstance(value, Literal):
            return ast.Constant(value.value is True)
        if isinstance(value, Aggregate) and value.func == "EXISTS":
            return self.value(value, scope)
        return ast.Compare(self.value(value, scope), [ast.Is()], [ast.Constant(True)])

    # --- the function -----------------------------------------------------------------

    def function(self, body: ast.expr, item: bool = False) -> Callable[..., Any]:
        """Wrap ``body`` in ``def _rule(p, now, ctx[, _i], <constants>)`` and compile it."""
        prelude: list[ast.stmt] = []

        def assign(target: str, value: ast.expr) -> None:
            prelude.append(ast.Assign([ast.Name(target, ast.Store())], value))

        if self.instants or self.dates:
            # Calendar arithmetic is defined on the UTC wall clock (timeutil.shift).
            assign("now", _call("_utc", _name("now")))
        if "fields" in self.uses:
            assign("_f", ast.Attribute(_name("p"), "fields", ast.Load()))
        if "attributes" in self.uses:
            assign("_a", ast.Attribute(_name("p"), "attributes", ast.Load()))
        if "context" in self.uses:
            no_ctx = ast.Compare(_name("ctx"), [ast.Is()], [ast.Constant(None)])
            assign("_c", ast.IfExp(no_ctx, _call("_empty_ctx"), _name("ctx")))
        for duration, name in self.instants.items():
            assign(name, _call("_shift", _name("now"), self.const(duration)))
        for duration, name in self.dates.items():
            source = self.instant(duration)
            assign(name, _call("_local_date", source, self.const(self.schema.timezone)))
        for name, items in self.shared_lists.items():
            assign(name, items)
        helpers: dict[str, Any] = {
            "_D0": Decimal(0),
            "_shift": timeutil.shift,
            "_local_date": timeutil.local_date,
            "_utc": _as_utc,
            "_empty_ctx": RequestContext,
            "_list_has": _list_has,
            "_groups": _effective_groups,
            "_lower": sql_lower,
            "_avg": _avg,
            "len": len,
            "sum": sum,
            "any": any,
            "min": min,
            "max": max,
        }
        defaults = {**helpers, **self.consts}
        params = ["p", "now", "ctx"] + ([_ITEM] if item else [])
        args = ast.arguments(
            posonlyargs=[],
            args=[ast.arg(a) for a in params],
            kwonlyargs=[ast.arg(k) for k in defaults],
            kw_defaults=[_name(f"__init_{k}") for k in defaults],
            defaults=[],
        )
        func = ast.FunctionDef("_rule", args, [*prelude, ast.Return(body)], [], None)
        module = ast.fix_missing_locations(ast.Module([func], type_ignores=[]))
        namespace: dict[str, Any] = {f"__init_{k}": v for k, v in defaults.items()}
        # exec of a compiled AST (never of source text): defines _rule in namespace.
        exec(compile(module, "<segmint rule>", "exec"), namespace)
        fn: Callable[..., Any] = namespace["_rule"]
        return fn


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _as_utc(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now if now.tzinfo is dt.UTC else now.astimezone(dt.UTC)


class Predicate:
    """A compiled rule: ``predicate(profile, now, context=None) -> bool``."""

    __slots__ = ("_fn", "rule")

    def __init__(
        self, rule: Rule, fn: Callable[[Profile, dt.datetime, RequestContext | None], Any]
    ):
        self.rule = rule
        self._fn = fn

    def __call__(
        self, profile: Profile, now: dt.datetime, context: RequestContext | None = None
    ) -> bool:
        return bool(self._fn(profile, now, context))

    def __repr__(self) -> str:
        return f"Predicate({self.rule!r})"


#: Compiled predicates by (rule, schema): a catalog rebuilt after one lever changed
#: compiles only the rules it has not seen. Predicates hold no state, so sharing is safe.
_PREDICATES: OrderedDict[tuple[Any, ...], Predicate] = OrderedDict()
_PREDICATES_MAX = 200_000
_PREDICATES_LOCK = threading.Lock()


def compile_predicate(rule: Rule, schema: Schema) -> Predicate:
    """Compile ``rule`` once into a :class:`Predicate` (see the module docstring)."""
    key = (rule, tuple(sorted(schema.attributes.items())), schema.timezone)
    found = _PREDICATES.get(key)
    if found is not None:
        return found
    normal = Normalizer(schema).rule(rule)
    gen = _Gen(schema)
    gen.share_filters(normal)
    predicate = Predicate(rule, gen.function(gen.rule(normal, None)))
    with _PREDICATES_LOCK:
        _PREDICATES[key] = predicate
        while len(_PREDICATES) > _PREDICATES_MAX:
            _PREDICATES.popitem(last=False)
    return predicate


_NODE_CACHE: dict[tuple[Any, ...], Callable[..., Any]] = {}


def evaluate_node(
    node: Node,
    profile: Profile,
    now: dt.datetime,
    schema: Schema | RequestContext | None = None,
    context: RequestContext | None = None,
    *,
    collection: str | None = None,
    item: Any = None,
) -> Any:
    """The value of any sub-expression for one customer, with the predicate's semantics.

    Rules give ``bool``; values give their value (``None`` for null; ``AVG`` as an exact
    ``Decimal`` quotient, ``COUNT``/``SUM`` of nothing 0; relative times their instant).
    Inside an aggregate's ``WHERE`` pass the ``collection`` name and the ``item``.
    A :class:`Duration` evaluates to itself. Compiled functions are cached per node.
    For convenience the request context may also be passed fourth (in place of the schema).
    """
    if isinstance(node, Duration):
        return node
    if isinstance(schema, RequestContext):
        schema, context = None, schema
    schema = schema or Schema()
    # repr, not the node: nodes compare Literal(True) equal to Literal(Decimal(1)).
    attributes = tuple(sorted((k, v.value) for k, v in schema.attributes.items()))
    key = (repr(node), collection, schema.timezone, attributes)
    fn = _NODE_CACHE.get(key)
    if fn is None:
        normalizer = Normalizer(schema)
        gen = _Gen(schema)
        body: ast.expr
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, RelativeTime | Path | Aggregate):
            value: NValue = node
            if collection is None and not isinstance(node, RelativeTime):
                value = normalizer.rule(BoolTest(node)).value  # type: ignore[union-attr]
            elif isinstance(node, Aggregate):
                raise CompileError("an aggregate cannot appear inside another's WHERE")
            body = gen.value(value, collection)
        else:
            body = gen.rule(normalizer.rule(node, collection), collection)
        fn = gen.function(body, item=True)
        if len(_NODE_CACHE) > 4096:
            _NODE_CACHE.clear()
        _NODE_CACHE[key] = fn
    return fn(profile, now, context, item)
