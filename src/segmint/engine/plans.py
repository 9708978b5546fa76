"""Materialized segments as the membership engine sees them (read from ``segments``).

A :class:`SegmentPlan` is a segment's kind, its type-checked rule and its window spec.
Plans are cached by (code, kind, rule text, rule schema), so the incremental path and the
worker do not re-parse or re-compile a hundred rules for every new order; a changed
definition or a newly registered attribute gives a new key.

Dependencies (:attr:`SegmentPlan.reads`): a rule's ``IN SEGMENT`` codes, and — for a rule
reading ``user_groups``, whose value includes the groups inherited from memberships — the
segments whose group it can observe (:func:`segmint.rules.groups.observed_groups`: those
whose group is one it tests with ``CONTAINS 'literal'``, or every materialized segment for
any other use). :func:`layers` orders segments so that every segment comes after those it
reads (each layer is one fused evaluation), and :func:`with_dependents` adds every segment
that reads, directly or not, one being re-evaluated (their answer may change with it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from segmint.compile.python import Predicate, compile_predicate
from segmint.engine.windows import TIME_FIELDS, WindowSpec, window_spec
from segmint.errors import ConfigError
from segmint.rules import CheckedRule, check, parse
from segmint.rules.groups import observed_groups
from segmint.rules.items import item_fields
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
class _Compiled:
    """What a plan derives from its rule text alone (cached across loads)."""

    checked: CheckedRule | None
    window: WindowSpec | None
    #: groups the rule observes through ``user_groups``: None every group, empty none
    observed: frozenset[str] | None
    predicate: Predicate | None = None
    #: collection -> item fields the rule and its due sources read (see ``fields``)
    fields: dict[str, frozenset[str]] | None = None


@dataclass
class SegmentPlan:
    code: str
    kind: str
    checked: CheckedRule | None  # None for the manual kind
    window: WindowSpec | None
    schema: Schema
    #: the segment's user group and what makes it targetable (its group is inherited
    #: by its members only while targetable)
    group: str = ""
    active: bool = True
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    #: materialized segments whose group this rule can observe (set by load_plans)
    group_reads: frozenset[str] = frozenset()
    _compiled: _Compiled | None = field(default=None, repr=False)

    @property
    def segment_reads(self) -> frozenset[str]:
        return self.checked.segments if self.checked is not None else frozenset()

    @property
    def reads(self) -> frozenset[str]:
        """Every segment whose memberships this rule reads: IN SEGMENT and user groups."""
        return self.segment_reads | self.group_reads

    @property
    def observed(self) -> frozenset[str] | None:
        if self._compiled is not None:
            return self._compiled.observed
        return observed_groups(self.checked.rule) if self.checked is not None else frozenset()

    def targetable(self, now: dt.datetime) -> bool:
        """Active and within ``[starts_at, ends_at)`` (the model's ``is_targetable`` without
        a store: inherited groups have no store context)."""
        return (
            self.active
            and (self.starts_at is None or self.starts_at <= now)
            and (self.ends_at is None or now < self.ends_at)
        )

    def _holder(self) -> _Compiled:
        """What this plan derives from its rule text, shared by every load of the same
        rule (created here for a plan built without one)."""
        if self._compiled is None:
            self._compiled = _Compiled(self.checked, self.window, self.observed)
        return self._compiled

    def predicate(self) -> Predicate | None:
        if self.checked is None:
            return None
        holder = self._holder()
        if holder.predicate is None:
            holder.predicate = compile_predicate(self.checked.rule, self.schema)
        return holder.predicate

    def fields(self) -> dict[str, frozenset[str]]:
        """collection -> the item fields this plan's rule reads, and the timestamp of each
        collection its due sources read (computed once per cached rule: walking a hundred
        expanded rules took ~2.9 ms of each one-order update)."""
        holder = self._holder()
        if holder.fields is None:
            found = dict(item_fields([self.checked.rule] if self.checked is not None else []))
            for coll in self.window.collections if self.window is not None else ():
                found[coll] = found.get(coll, frozenset()) | {TIME_FIELDS[coll]}
            holder.fields = found
        return holder.fields

    @staticmethod
    def groups_at(plans: Mapping[str, SegmentPlan], now: dt.datetime) -> Mapping[str, str]:
        """code -> user group of the plans targetable at ``now`` (what
        :meth:`Profile.set_segments` takes): a view, nothing is computed up front."""
        return _GroupsAt(plans, now)


class _GroupsAt(Mapping[str, str]):
    """The groups of the segments of ``plans`` targetable at one instant. Looking up a
    customer's few memberships is all an evaluation needs, so nothing is precomputed."""

    def __init__(self, plans: Mapping[str, SegmentPlan], now: dt.datetime) -> None:
        self._plans = plans
        self._now = now

    def __getitem__(self, code: str) -> str:
        plan = self._plans.get(code)
        if plan is None or not plan.targetable(self._now):
            raise KeyError(code)
        return plan.group

    def __iter__(self) -> Iterator[str]:
        return (c for c, p in self._plans.items() if p.targetable(self._now))

    def __len__(self) -> int:
        return sum(1 for _ in self)


_CACHE: dict[tuple[Any, ...], _Compiled] = {}


def schema_key(schema: Schema) -> tuple[Any, ...]:
    return (schema.timezone, tuple(sorted((k, v.value) for k, v in schema.attributes.items())))


def load_plans(store: Store, schema: Schema | None = None) -> dict[str, SegmentPlan]:
    """Every materialized segment (manual, rule, purchase), by code, with its group, its
    targetability and what it reads (IN SEGMENT, and the segments whose group it can
    observe through ``user_groups``)."""
    schema = schema or store.rule_schema()
    skey = schema_key(schema)
    rows = q(
        store,
        "SELECT code, kind, rule_text, user_group, active, starts_at, ends_at FROM segments "
        "WHERE kind IN ('manual', 'rule', 'purchase') ORDER BY code",
    )
    plans: dict[str, SegmentPlan] = {}
    for code, kind, text, group, active, starts_at, ends_at in rows:
        key = (code, kind, text, skey)
        compiled = _CACHE.get(key)
        if compiled is None:
            checked = None
            if kind != "manual":
                if not text:
                    raise ConfigError(f"error: segment {code!r} has no rule text")
                checked = check(parse(text), schema, text=text, allow_realtime=False)
            window = window_spec(checked, schema) if checked is not None else None
            observed = observed_groups(checked.rule) if checked is not None else frozenset()
            compiled = _Compiled(checked, window, observed)
            if len(_CACHE) > 10_000:
                _CACHE.clear()
            _CACHE[key] = compiled
        plans[str(code)] = SegmentPlan(
            str(code),
            str(kind),
            compiled.checked,
            compiled.window,
            schema,
            group=str(group or code),
            active=bool(active),
            starts_at=starts_at,
            ends_at=ends_at,
            _compiled=compiled,
        )
    by_group: dict[str, set[str]] = {}
    for plan in plans.values():
        by_group.setdefault(plan.group.lower(), set()).add(plan.code)
    for plan in plans.values():
        observed = plan.observed
        if observed is None:
            plan.group_reads = frozenset(plans)
        elif observed:
            plan.group_reads = frozenset(c for g in observed for c in by_group.get(g, ()))
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
    segment of ``codes`` it reads. A cycle through IN SEGMENT alone raises ConfigError;
    saves refuse every cycle, but a rule saved before ``user_groups`` included inherited
    groups may close one through a group: that edge is left out (the rule then reads the
    memberships as materialized, as it always does) rather than stopping every refresh."""
    wanted = set(codes)
    _depths(plans, wanted, groups=False)  # raises on a pure IN SEGMENT cycle
    depth = _depths(plans, wanted, groups=True)
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for code in sorted(wanted):
        out[depth[code]].append(code)
    return out


def _depths(plans: Mapping[str, SegmentPlan], wanted: set[str], groups: bool) -> dict[str, int]:
    depth: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(code: str) -> int | None:
        if code in depth:
            return depth[code]
        if code in visiting:
            if groups:
                return None  # closes a cycle through a group (see layers)
            raise ConfigError(f"error: segment {code!r} reaches itself through IN SEGMENT")
        visiting.add(code)
        plan = plans[code]
        edges = plan.reads if groups else plan.segment_reads
        below = [visit(r) for r in sorted(edges) if r in wanted and r in plans]
        depth[code] = 1 + max((d for d in below if d is not None), default=-1)
        visiting.discard(code)
        return depth[code]

    for code in sorted(wanted):
        visit(code)
    return depth


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


def window_specs(plans: Mapping[str, SegmentPlan]) -> dict[str, WindowSpec]:
    """code -> window spec of every windowed plan (what the due sources are computed
    over), in code order."""
    return {c: p.window for c, p in sorted(plans.items()) if p.window is not None}


def read_fields(plans: Iterable[SegmentPlan]) -> dict[str, frozenset[str]]:
    """The item fields the plans' rules read (``load_profiles(item_fields=…)``), and the
    timestamp each windowed plan's due sources read."""
    found: dict[str, frozenset[str]] = {}
    for plan in plans:
        for coll, fields in plan.fields().items():
            found[coll] = found.get(coll, frozenset()) | fields
    return found
