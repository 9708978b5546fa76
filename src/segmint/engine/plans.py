"""Materialized segments as the membership engine sees them (read from ``segments``).

A :class:`SegmentPlan` is a segment's kind, its type-checked rule and its window spec.
Plans are cached by (code, kind, rule text, rule schema), so the incremental path and the
worker do not re-parse or re-compile a hundred rules for every new order; a changed
definition or a newly registered attribute gives a new key.

Dependencies: a rule's ``IN SEGMENT`` codes. :func:`layers` orders segments so that every
segment comes after those it reads (each layer is one fused evaluation), and
:func:`with_dependents` adds every segment that reads, directly or not, one being
re-evaluated (their answer may change with it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from segmint.compile.python import Predicate, compile_predicate
from segmint.engine.windows import WindowSpec, window_spec
from segmint.errors import ConfigError
from segmint.rules import CheckedRule, check, parse
from segmint.rules.schema import Schema
from segmint.store.base import Store, dollar_to_pyformat

MATERIALIZED = ("manual", "rule", "purchase")


def sql_for(store: Store, sql: str) -> str:
    """Shared SQL written with ``$name`` placeholders, in the store's own style."""
    return dollar_to_pyformat(sql) if store.dialect == "postgres" else sql


_NAMES = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _used(sql: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Only the parameters ``sql`` names (DuckDB refuses unused ones)."""
    names = set(_NAMES.findall(sql))
    return {k: v for k, v in (params or {}).items() if k in names}


def q(store: Store, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    return store.query(sql_for(store, sql), _used(sql, params))


def x(store: Store, sql: str, params: Mapping[str, Any] | None = None) -> None:
    store.execute(sql_for(store, sql), _used(sql, params))


@dataclass
class SegmentPlan:
    code: str
    kind: str
    checked: CheckedRule | None  # None for the manual kind
    window: WindowSpec | None
    schema: Schema
    _predicate: Predicate | None = field(default=None, repr=False)

    @property
    def reads(self) -> frozenset[str]:
        return self.checked.segments if self.checked is not None else frozenset()

    def predicate(self) -> Predicate | None:
        if self.checked is None:
            return None
        if self._predicate is None:
            self._predicate = compile_predicate(self.checked.rule, self.schema)
        return self._predicate


_CACHE: dict[tuple[Any, ...], SegmentPlan] = {}


def schema_key(schema: Schema) -> tuple[Any, ...]:
    return (schema.timezone, tuple(sorted((k, v.value) for k, v in schema.attributes.items())))


def load_plans(store: Store, schema: Schema | None = None) -> dict[str, SegmentPlan]:
    """Every materialized segment (manual, rule, purchase), by code."""
    schema = schema or store.rule_schema()
    skey = schema_key(schema)
    rows = q(
        store,
        "SELECT code, kind, rule_text FROM segments WHERE kind IN ('manual', 'rule', 'purchase') "
        "ORDER BY code",
    )
    plans: dict[str, SegmentPlan] = {}
    for code, kind, text in rows:
        key = (code, kind, text, skey)
        plan = _CACHE.get(key)
        if plan is None:
            checked = None
            if kind != "manual":
                if not text:
                    raise ConfigError(f"error: segment {code!r} has no rule text")
                checked = check(parse(text), schema, text=text, allow_realtime=False)
            window = window_spec(checked, schema) if checked is not None else None
            plan = SegmentPlan(str(code), str(kind), checked, window, schema)
            if len(_CACHE) > 10_000:
                _CACHE.clear()
            _CACHE[key] = plan
        plans[plan.code] = plan
    return plans


def with_dependents(plans: Mapping[str, SegmentPlan], codes: Iterable[str]) -> set[str]:
    """``codes`` plus every plan that reads one of them through IN SEGMENT, transitively."""
    result = {c for c in codes if c in plans}
    readers: dict[str, set[str]] = {}
    for plan in plans.values():
        for ref in plan.reads:
            readers.setdefault(ref, set()).add(plan.code)
    stack = list(result)
    while stack:
        for reader in readers.get(stack.pop(), ()):
            if reader not in result:
                result.add(reader)
                stack.append(reader)
    return result


def layers(plans: Mapping[str, SegmentPlan], codes: Iterable[str]) -> list[list[str]]:
    """``codes`` in dependency order: a segment's layer is one more than the deepest
    segment of ``codes`` it reads. Cycles (refused when saved) raise ConfigError."""
    wanted = set(codes)
    depth: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(code: str) -> int:
        if code in depth:
            return depth[code]
        if code in visiting:
            raise ConfigError(f"error: segment {code!r} reaches itself through IN SEGMENT")
        visiting.add(code)
        refs = [r for r in plans[code].reads if r in wanted and r in plans]
        depth[code] = 1 + max((visit(r) for r in refs), default=-1)
        visiting.discard(code)
        return depth[code]

    for code in sorted(wanted):
        visit(code)
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for code in sorted(wanted):
        out[depth[code]].append(code)
    return out


def affected_by(plans: Mapping[str, SegmentPlan], changed: frozenset[str]) -> set[str]:
    """Segments whose rules read what ``changed`` names: collections (``orders``,
    ``lines``, ``events``, ``wishlist``), ``customer`` (any customer field or attribute),
    a customer field name, or ``attributes.NAME``. Derived fields read ``orders``."""
    hit: set[str] = set()
    for plan in plans.values():
        checked = plan.checked
        if checked is None:
            continue
        fields = {f for f in checked.customer_fields if f not in _DERIVED}
        if (
            checked.collections & changed
            or ("customer" in changed and (fields or checked.attributes))
            or fields & changed
            or {f"attributes.{a}" for a in checked.attributes} & changed
        ):
            hit.add(plan.code)
    return hit


_DERIVED = frozenset(
    {"orders_count", "total_spent", "first_order_at", "last_order_at", "average_order_value"}
)


def chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ConfigError("error: the evaluation instant must be timezone-aware")
    return moment.astimezone(dt.UTC)
