"""Real-time targeting: a visitor's current segments and user groups for one request.

``Evaluator.evaluate`` answers from two in-process caches, so a request for a known
customer usually touches no database at all:

- the **catalog**: every segment's definition, and the real-time segments' compiled
  predicates in dependency order (a real-time rule may read ``IN SEGMENT`` of another
  real-time segment). Rebuilt when :meth:`Evaluator.invalidate_catalog` is called (the
  API calls it on every segment change) or after ``catalog_ttl`` seconds (changes made by
  another process, e.g. the CLI or the worker);
- per **customer**: memberships, explicit groups and — only when some real-time rule
  reads stored customer data — the full profile. Dropped by
  :meth:`Evaluator.invalidate_customers` (the API calls it after ingestion, upserts and
  deletes) or after ``customer_ttl`` seconds.

A real-time segment that reads anything about the customer (fields, attributes,
orders, lines, events, wishlist, IN SEGMENT of a materialized segment) never matches an
anonymous visitor: only rules over ``context.*`` and ``cart.*`` can. A real-time rule's
``user_groups`` is the explicit groups plus those of the materialized memberships
targetable now (a real-time segment's group is not inherited by the other rules).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from segmint.compile.python import Predicate, compile_predicate
from segmint.errors import RuleError
from segmint.model.profile import Profile, RequestContext
from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.rules import check, parse
from segmint.store.base import Store
from segmint.store.segments import SegmentRepository


@dataclass(frozen=True)
class MatchedSegment:
    code: str
    name: str
    kind: str
    user_group: str
    since: dt.datetime | None  # None for real-time segments
    json: str = field(default="", compare=False, repr=False)  # pre-encoded, for the API

    @classmethod
    def of(cls, definition: SegmentDefinition, since: dt.datetime | None) -> MatchedSegment:
        data = {
            "code": definition.code,
            "name": definition.name,
            "kind": definition.kind.value,
            "user_group": definition.group,
            "since": since.isoformat().replace("+00:00", "Z") if since else None,
        }
        return cls(
            definition.code,
            definition.name,
            definition.kind.value,
            definition.group,
            since,
            json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        )


def _always_targetable(definition: SegmentDefinition) -> bool:
    return (
        definition.active
        and definition.starts_at is None
        and definition.ends_at is None
        and not definition.stores
    )


@dataclass(frozen=True)
class RealtimeSegment:
    definition: SegmentDefinition
    predicate: Predicate
    needs_customer: bool
    reads_profile: bool  # reads stored data beyond memberships (needs the full profile)
    matched: MatchedSegment
    always_targetable: bool


@dataclass(frozen=True)
class Catalog:
    definitions: dict[str, SegmentDefinition]
    realtime: list[RealtimeSegment]  # in dependency order
    reads_profile: bool
    built_at: float
    # real-time segments that read only the request: an anonymous visitor can be in them
    anonymous_segments: frozenset[str] = frozenset()


@dataclass
class CustomerState:
    exists: bool
    memberships: dict[str, dt.datetime]  # code -> since
    explicit_groups: list[str]
    profile: Profile | None
    loaded_at: float
    # Prepared against one catalog: the materialized memberships as answers, split into
    # those always targetable and those to check per request (dates, stores, inactive).
    prepared_for: Catalog | None = None
    fixed: list[MatchedSegment] = field(default_factory=list)
    checked: list[tuple[SegmentDefinition, MatchedSegment]] = field(default_factory=list)
    member_codes: frozenset[str] = frozenset()
    fixed_groups: dict[str, tuple[GroupSource, str]] = field(default_factory=dict)

    def prepare(self, catalog: Catalog) -> None:
        if self.prepared_for is catalog:
            return
        fixed: list[MatchedSegment] = []
        checked: list[tuple[SegmentDefinition, MatchedSegment]] = []
        codes: set[str] = set()
        for code in sorted(self.memberships):
            definition = catalog.definitions.get(code)
            if definition is None or not definition.kind.materialized:
                continue
            codes.add(code)
            answer = MatchedSegment.of(definition, self.memberships[code])
            if _always_targetable(definition):
                fixed.append(answer)
            else:
                checked.append((definition, answer))
        self.fixed, self.checked, self.member_codes = fixed, checked, frozenset(codes)
        self.fixed_groups = _groups(self.explicit_groups, fixed)
        self.prepared_for = catalog


@dataclass(frozen=True)
class GroupSource:
    group: str
    sources: list[str]

    @property
    def json(self) -> str:
        return json.dumps(
            {"group": self.group, "sources": self.sources},
            ensure_ascii=False,
            separators=(",", ":"),
        )


def _groups(
    explicit: list[str], matched: list[MatchedSegment]
) -> dict[str, tuple[GroupSource, str]]:
    """Effective groups by lower-cased name, each with its pre-encoded JSON."""
    groups: dict[str, GroupSource] = {}
    for name in explicit:
        groups.setdefault(name.lower(), GroupSource(name, ["explicit"]))
    for m in matched:
        key = m.user_group.lower()
        entry = groups.get(key)
        if entry is None:
            entry = groups[key] = GroupSource(m.user_group, [])
        entry.sources.append("segment:" + m.code)
    return {k: (g, g.json) for k, g in groups.items()}


@dataclass(frozen=True)
class Evaluation:
    customer_id: str | None
    known: bool
    segments: list[MatchedSegment]
    user_groups: list[GroupSource]
    user_groups_json: list[str] = field(default_factory=list, repr=False)
    # the known customer's stored profile, when it was loaded (levers' audiences read it)
    profile: Profile | None = field(default=None, compare=False, repr=False)


def _build_catalog(store: Store) -> Catalog:
    store.require_schema()
    records = SegmentRepository(store).all()
    definitions = {r.code: r.definition for r in records}
    schema = store.rule_schema()
    pending: dict[str, tuple[SegmentDefinition, Any]] = {}
    for code, definition in definitions.items():
        if definition.kind is not SegmentKind.REALTIME or definition.rule_text is None:
            continue
        try:
            checked = check(parse(definition.rule_text), schema, allow_realtime=True)
        except RuleError:
            continue  # a stored rule no longer valid (an attribute gone): it matches nobody
        pending[code] = (definition, checked)
    ordered: list[RealtimeSegment] = []
    needs: dict[str, bool] = {}
    done: set[str] = set()
    while pending:
        progressed = False
        for code in sorted(pending):
            definition, checked = pending[code]
            rt_refs = [r for r in checked.segments if r in pending and r != code]
            if rt_refs:
                continue
            own = bool(
                (checked.collections - {"cart.lines"})
                or checked.customer_fields
                or checked.attributes
            )
            materialized_refs = [r for r in checked.segments if r not in done]
            need = (
                own or bool(materialized_refs) or any(needs.get(r, False) for r in checked.segments)
            )
            needs[code] = need
            ordered.append(
                RealtimeSegment(
                    definition,
                    compile_predicate(checked.rule, schema),
                    need,
                    own,
                    MatchedSegment.of(definition, None),
                    _always_targetable(definition),
                )
            )
            done.add(code)
            del pending[code]
            progressed = True
        if not progressed:  # a cycle cannot be saved; be safe anyway
            break
    return Catalog(
        definitions=definitions,
        realtime=ordered,
        reads_profile=any(r.reads_profile for r in ordered),
        built_at=time.monotonic(),
        anonymous_segments=frozenset(r.definition.code for r in ordered if not r.needs_customer),
    )


def _load_customer(store: Store, customer_id: str, full_profile: bool) -> CustomerState:
    repo = SegmentRepository(store)
    explicit = repo.explicit_groups(customer_id)
    if explicit is None:
        return CustomerState(False, {}, [], None, time.monotonic())
    memberships = {m.segment_code: m.since for m in repo.memberships_of(customer_id)}
    profile = None
    if full_profile:
        profile = store.load_profiles([customer_id]).get(customer_id)
    return CustomerState(True, memberships, explicit, profile, time.monotonic())


@dataclass
class Evaluator:
    """Caches for :meth:`evaluate`; one per app (thread-safe)."""

    catalog_ttl: float = 5.0
    customer_ttl: float = 5.0
    max_customers: int = 10_000
    _catalog: Catalog | None = None
    _customers: OrderedDict[str, CustomerState] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _generation: int = 0

    # ---- caches ---------------------------------------------------------------------

    def invalidate_catalog(self) -> None:
        with self._lock:
            self._catalog = None
            self._customers.clear()  # memberships changed with the segments
            self._generation += 1

    def invalidate_customers(self, customer_ids: list[str] | None = None) -> None:
        """Forget these customers (None: all of them)."""
        with self._lock:
            if customer_ids is None:
                self._customers.clear()
            else:
                for cid in customer_ids:
                    self._customers.pop(cid, None)
            self._generation += 1

    def cached_catalog(self) -> Catalog | None:
        catalog = self._catalog
        if catalog is None or time.monotonic() - catalog.built_at > self.catalog_ttl:
            return None
        return catalog

    def cached_customer(self, customer_id: str) -> CustomerState | None:
        state = self._customers.get(customer_id)
        if state is None or time.monotonic() - state.loaded_at > self.customer_ttl:
            return None
        return state

    def catalog(self, store: Store) -> Catalog:
        catalog = self.cached_catalog()
        if catalog is None:
            generation = self._generation
            catalog = _build_catalog(store)
            with self._lock:
                if generation == self._generation:
                    self._catalog = catalog
        return catalog

    def customer(
        self, store: Store, customer_id: str, catalog: Catalog, full_profile: bool = False
    ) -> CustomerState:
        full = catalog.reads_profile or full_profile
        state = self.cached_customer(customer_id)
        if state is None or (full and state.exists and state.profile is None):
            generation = self._generation
            state = _load_customer(store, customer_id, full)
            with self._lock:
                if generation == self._generation:
                    self._customers[customer_id] = state
                    self._customers.move_to_end(customer_id)
                    while len(self._customers) > self.max_customers:
                        self._customers.popitem(last=False)
        return state

    # ---- evaluation -------------------------------------------------------------------

    def evaluate(
        self,
        store: Store,
        customer_id: str | None,
        context: RequestContext,
        now: dt.datetime,
        full_profile: bool = False,
    ) -> Evaluation:
        """The visitor's targetable segments (materialized memberships and matching
        real-time segments) and effective user groups, reading the store only for
        what the caches lack. ``full_profile``: also load the known customer's stored
        profile (the levers' audiences read it)."""
        catalog = self.catalog(store)
        state = (
            None
            if customer_id is None
            else self.customer(store, customer_id, catalog, full_profile)
        )
        return _evaluate(catalog, customer_id, state, context, now)

    def evaluate_cached(
        self,
        customer_id: str | None,
        context: RequestContext,
        now: dt.datetime,
        full_profile: bool = False,
    ) -> Evaluation | None:
        """:meth:`evaluate` from the caches alone, or None when they lack something."""
        catalog = self.cached_catalog()
        if catalog is None:
            return None
        state = None
        full = catalog.reads_profile or full_profile
        if customer_id is not None:
            state = self.cached_customer(customer_id)
            if state is None or (full and state.exists and state.profile is None):
                return None
        return _evaluate(catalog, customer_id, state, context, now)


def _evaluate(
    catalog: Catalog,
    customer_id: str | None,
    state: CustomerState | None,
    context: RequestContext,
    now: dt.datetime,
) -> Evaluation:
    known = state is not None and state.exists
    shop = context.store
    fixed: list[MatchedSegment] = []
    extra: list[MatchedSegment] = []
    members: frozenset[str] = frozenset()
    base_groups: dict[str, tuple[GroupSource, str]] = {}
    if state is not None and known:
        state.prepare(catalog)
        members = state.member_codes
        fixed = state.fixed
        base_groups = state.fixed_groups
        for definition, answer in state.checked:
            if definition.is_targetable(now, shop):
                extra.append(answer)
    if catalog.realtime:
        if state is not None and known and state.profile is not None:
            profile = state.profile.with_data()
        else:
            profile = Profile(id=customer_id or "")
        # `user_groups` in a rule: the explicit groups plus those of the MATERIALIZED
        # memberships targetable now (with no store: as the stored engines see them); a
        # real-time segment matched below gives no group to the other real-time rules.
        profile.set_segments(members, _inherited(catalog, members, now))
        for rt in catalog.realtime:
            if rt.needs_customer and not known:
                continue
            if not (rt.always_targetable or rt.definition.is_targetable(now, shop)):
                continue
            if rt.predicate(profile, now, context):
                profile.segments = profile.segments | {rt.definition.code}
                extra.append(rt.matched)
    if extra:
        matched = sorted([*fixed, *extra], key=_CODE)
        groups = dict(base_groups)
        for m in extra:
            key = m.user_group.lower()
            old = groups.get(key)
            group = (
                GroupSource(m.user_group, ["segment:" + m.code])
                if old is None
                else GroupSource(old[0].group, [*old[0].sources, "segment:" + m.code])
            )
            groups[key] = (group, group.json)
    else:
        matched, groups = list(fixed), base_groups
    return Evaluation(
        customer_id=customer_id,
        known=known,
        segments=matched,
        user_groups=[groups[k][0] for k in sorted(groups)],
        user_groups_json=[groups[k][1] for k in sorted(groups)],
        profile=state.profile if state is not None and known else None,
    )


_CODE = attrgetter("code")


def _inherited(catalog: Catalog, members: frozenset[str], now: dt.datetime) -> dict[str, str]:
    """code -> group of the customer's segments that are targetable at ``now``."""
    groups: dict[str, str] = {}
    for code in members:
        definition = catalog.definitions.get(code)
        if definition is not None and definition.is_targetable(now):
            groups[code] = definition.group
    return groups
