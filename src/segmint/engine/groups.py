"""Inherited user groups for the Python engine, and segment boundaries for the worker.

The rule field ``user_groups`` is the explicit list plus the group of every segment the
customer is a member of that is targetable at the evaluation instant (docs/rules.md).
The SQL engine reads that from the view ``segment_groups``; the Python engine from
``Profile.inherited_groups``, set by :meth:`Profile.set_segments` from the customer's
memberships and a map ``code -> group`` of the segments targetable at ``now``:

- :func:`targetable_groups` loads that map (one query), :func:`attach_segments` sets
  the memberships and groups of loaded profiles (``match --engine python``, explain);
- the membership engine takes the map from its plans instead
  (:meth:`SegmentPlan.groups_at`), which already hold every segment's group and dates.

A segment's group is inherited only while it is targetable, so at its ``starts_at`` and
``ends_at`` the rules reading its group may change for its members although no data
changed. :func:`pending_boundaries` lists the boundaries the worker has not applied yet
(``segment_boundaries`` remembers, per segment, the instant up to which they were), so
the worker evaluates those readers AT each boundary instant, once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from segmint.engine.plans import SegmentPlan, q, x
from segmint.model.profile import Profile
from segmint.store.base import Store
from segmint.store.sqltext import fixed, render


def targetable_groups(store: Store, now: dt.datetime) -> dict[str, str]:
    """code -> user group of every segment targetable at ``now`` (active, within
    ``[starts_at, ends_at)``; stores do not matter: inherited groups have no store)."""
    rows = q(
        store,
        "SELECT code, user_group FROM segments WHERE active "
        "AND (starts_at IS NULL OR starts_at <= $now) AND (ends_at IS NULL OR ends_at > $now)",
        {"now": now},
    )
    return {str(code): str(group) for code, group in rows}


def memberships_of(store: Store, customer_ids: Sequence[str]) -> dict[str, set[str]]:
    """customer id -> codes of the segments they are a member of (one query)."""
    result: dict[str, set[str]] = {cid: set() for cid in customer_ids}
    if not customer_ids:
        return result
    sql = render(
        "SELECT customer_id, segment_code FROM memberships WHERE {f}",
        f=store._in_list(fixed("customer_id"), "ids"),
    )
    for cid, code in q(store, sql, {"ids": list(customer_ids)}):
        result.setdefault(str(cid), set()).add(str(code))
    return result


def attach_segments(store: Store, profiles: Mapping[str, Profile], now: dt.datetime) -> None:
    """Set each profile's memberships (``IN SEGMENT``) and inherited groups at ``now``."""
    if not profiles:
        return
    group_of = targetable_groups(store, now)
    for cid, codes in memberships_of(store, list(profiles)).items():
        profile = profiles.get(cid)
        if profile is not None:
            profile.set_segments(codes, group_of)


# ---- boundaries ------------------------------------------------------------------------


@dataclass
class Boundaries:
    """Boundaries due for the worker: ``events`` are ``(instant, code)`` of segments whose
    group some rule reads, in time order; ``readers`` maps such a code to the segments
    reading its group; ``codes`` are every segment with a boundary up to the worker's
    instant (to be marked done, readers or not)."""

    events: list[tuple[dt.datetime, str]] = field(default_factory=list)
    readers: dict[str, frozenset[str]] = field(default_factory=dict)
    codes: list[str] = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        return sorted({code for _, code in self.events})


def readers_of_groups(plans: Mapping[str, SegmentPlan]) -> dict[str, frozenset[str]]:
    """code -> the segments whose rule can observe that segment's group."""
    readers: dict[str, set[str]] = {}
    for plan in plans.values():
        for source in plan.group_reads:
            readers.setdefault(source, set()).add(plan.code)
    return {code: frozenset(codes) for code, codes in readers.items()}


def pending_boundaries(
    store: Store, plans: Mapping[str, SegmentPlan], now: dt.datetime
) -> Boundaries:
    """The ``starts_at``/``ends_at`` instants in ``(done_until, now]`` of each active
    segment, where ``done_until`` is the segment's row in ``segment_boundaries`` or, if
    none, its ``updated_at`` (a save makes everything exact at its instant)."""
    rows = q(
        store,
        "SELECT s.code, COALESCE(b.done_until, s.updated_at) FROM segments AS s "
        "LEFT JOIN segment_boundaries AS b ON b.segment_code = s.code "
        "WHERE s.kind IN ('manual', 'rule', 'purchase')",
    )
    done = {str(code): until for code, until in rows}
    readers = readers_of_groups(plans)
    result = Boundaries()
    for code, plan in sorted(plans.items()):
        until = done.get(code)
        if not plan.active or until is None:
            continue  # an inactive segment's group is never inherited, whatever the time
        instants = [b for b in (plan.starts_at, plan.ends_at) if b is not None and until < b]
        instants = [b for b in instants if b <= now]
        if not instants:
            continue
        result.codes.append(code)
        if readers.get(code):
            result.readers[code] = readers[code]
            result.events += [(b, code) for b in instants]
    result.events.sort()
    return result


def mark_boundaries(store: Store, codes: Sequence[str], until: dt.datetime) -> None:
    """Record that the boundaries of ``codes`` up to ``until`` are applied."""
    if not codes:
        return
    with store.transaction():
        x(
            store,
            render(
                "DELETE FROM segment_boundaries WHERE {f}",
                f=store._in_list(fixed("segment_code"), "codes"),
            ),
            {"codes": list(codes)},
        )
        for code in codes:
            x(
                store,
                "INSERT INTO segment_boundaries (segment_code, done_until) VALUES ($c, $t)",
                {"c": code, "t": until},
            )
