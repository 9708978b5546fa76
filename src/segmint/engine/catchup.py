"""The worker's catch-up: replay each due customer's timeline up to ``now``, in memory.

When the worker runs late (or with a later ``--as-of``), many instants may be due: every
order turning 30 days old is one. Visiting them instant by instant through the database
costs a round trip each. Instead, for a batch of due customers, the profiles and current
memberships are loaded once, and each customer's timeline is replayed with the compiled
predicates: wake at the customer's earliest due instant (the minimum of its per-source
rows, engine/windows.py), evaluate every windowed segment (and those reading them through
``IN SEGMENT`` or their user group) AT that instant, record any entry or exit at that
exact instant, compute the next instant from that one, and repeat until the next one is
after ``now``. No answer can change before the earliest instant, so this is exact; a
segment that does not change there was woken early, which costs one evaluation. The
changes are then written set-based in one transaction: history rows in chronological
order, the final membership of each touched pair, and the customer's new due rows.

Segment boundaries (:func:`segmint.engine.groups.pending_boundaries`) are instants of the
same timeline: at a segment's ``starts_at``/``ends_at`` its group starts/stops being
inherited, so for a customer who is a member of it at that instant the segments reading
its group are evaluated there. Every evaluation sees the groups targetable at its own
instant (:meth:`SegmentPlan.groups_at`).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from segmint.engine import windows
from segmint.engine.groups import Boundaries
from segmint.engine.plans import (
    SegmentPlan,
    layers,
    q,
    read_fields,
    window_specs,
    with_dependents,
    x,
)
from segmint.model.profile import Profile
from segmint.rules.schema import Schema
from segmint.store import memberships
from segmint.store.base import Store
from segmint.store.sqltext import fixed, render

ENTER, EXIT = "enter", "exit"
_DUE, _BOUNDARY = 0, 1


@dataclass(frozen=True)
class TimedChange:
    code: str
    customer_id: str
    change: str  # enter | exit
    reason: str
    at: dt.datetime


@dataclass
class CatchUp:
    """What replaying a batch produced (nothing is written until :func:`write`)."""

    changes: list[TimedChange] = field(default_factory=list)
    #: (source, customer, instant or None) of the woken customers, whose rows they replace
    dues: list[tuple[str, str, dt.datetime | None]] = field(default_factory=list)
    woken: list[str] = field(default_factory=list)
    reasons: list[tuple[str, str, str]] = field(default_factory=list)  # reason-only moves
    instants: int = 0
    processed: int = 0  # customer wake-ups
    boundaries: int = 0  # (segment boundary, member) pairs applied


def _want(plan: SegmentPlan, profile: Profile, mode: str | None, at: dt.datetime) -> str | None:
    if mode == "exclude":
        return None
    if mode == "include":
        return "manual"
    predicate = plan.predicate()
    if predicate is None:
        return None
    return "rule" if predicate(profile, at) else None


def replay(
    plans: Mapping[str, SegmentPlan],
    schema: Schema,
    profile: Profile,
    members: dict[str, str],
    manual: Mapping[str, str],
    due: Mapping[str, dt.datetime],
    now: dt.datetime,
    result: CatchUp,
    boundaries: Boundaries | None = None,
    specs: Mapping[str, windows.WindowSpec] | None = None,
) -> None:
    """Replay one customer's due instants (``due``: source -> instant) and the segment
    boundaries up to ``now`` (``members`` is updated in place). ``specs``: the plans'
    :func:`window_specs`, when the caller replays many customers."""
    cid = profile.id
    specs = window_specs(plans) if specs is None else specs
    windowed = frozenset(specs)
    # (instant, 0, ""): the customer wakes; (instant, 1, code): a boundary of that segment
    first = windows.earliest(due.values())
    heap: list[tuple[dt.datetime, int, str]] = []
    if first is not None and first <= now:
        heap.append((first, _DUE, ""))
        result.woken.append(cid)
    if boundaries is not None:
        heap += [(at, _BOUNDARY, code) for at, code in boundaries.events]
    heapq.heapify(heap)
    final_due: dict[str, dt.datetime | None] = {}
    before = dict(members)
    while heap:
        at = heap[0][0]
        codes: set[str] = set()
        wake = False
        while heap and heap[0][0] == at:
            _, kind, code = heapq.heappop(heap)
            if kind == _DUE:
                wake = True
            elif boundaries is not None and code in members:
                # a member of the segment at its boundary: its group appears/disappears
                codes |= boundaries.readers.get(code, frozenset())
                result.boundaries += 1
        if wake:
            codes |= windowed
            result.processed += 1
        if not codes:
            continue
        result.instants += 1
        group_of = SegmentPlan.groups_at(plans, at)
        applied: frozenset[str] | None = None
        for layer in layers(plans, with_dependents(plans, codes)):
            for code in layer:
                plan = plans[code]
                if applied is None or applied != members.keys():
                    # Set again only when an earlier segment changed the memberships
                    # (every windowed segment is evaluated at each wake-up).
                    profile.set_segments(members, group_of)
                    applied = frozenset(members)
                want = _want(plan, profile, manual.get(code), at)
                have = members.get(code)
                if have is None and want is not None:
                    result.changes.append(TimedChange(code, cid, ENTER, want, at))
                    members[code] = want
                elif have is not None and want is None:
                    result.changes.append(TimedChange(code, cid, EXIT, have, at))
                    del members[code]
                elif have is not None and want is not None:
                    members[code] = want
        if wake:
            final_due = windows.customer_dues(specs, profile, at, schema.timezone)
            nxt = windows.earliest(final_due.values())
            if nxt is not None and nxt <= now:
                heapq.heappush(heap, (nxt, _DUE, ""))
    if first is not None and first <= now:
        result.dues += [(source, cid, at) for source, at in sorted(final_due.items())]
    for code, reason in members.items():
        if code in before and before[code] != reason:
            result.reasons.append((code, cid, reason))


def catch_up(
    store: Store,
    plans: Mapping[str, SegmentPlan],
    schema: Schema,
    customer_ids: Sequence[str],
    now: dt.datetime,
    boundaries: Boundaries | None = None,
) -> CatchUp:
    """Replay the due timelines of ``customer_ids`` (with the segment ``boundaries``) up
    to ``now`` (reads only)."""
    result = CatchUp()
    # Any plan may be evaluated (windows, boundaries, dependents): every collection, but
    # only the item columns some rule reads.
    profiles = store.load_profiles(customer_ids, item_fields=read_fields(plans.values()))
    in_ids = store._in_list(fixed("customer_id"), "ids")
    params = {"ids": list(customer_ids)}
    members: dict[str, dict[str, str]] = {cid: {} for cid in customer_ids}
    manual: dict[str, dict[str, str]] = {cid: {} for cid in customer_ids}
    due: dict[str, dict[str, dt.datetime]] = {cid: {} for cid in customer_ids}
    for table, target in (("memberships", members), ("segment_manual", manual)):
        column = "reason" if table == "memberships" else "mode"
        sql = render(
            "SELECT segment_code, customer_id, {col} FROM {t} WHERE {f}",
            col=fixed(column),
            t=fixed(table),
            f=in_ids,
        )
        for code, cid, value in q(store, sql, params):
            target[cid][code] = value
    sql = render("SELECT source, customer_id, due_at FROM customer_due WHERE {f}", f=in_ids)
    for source, cid, due_at in q(store, sql, params):
        due[cid][source] = due_at
    specs = window_specs(plans)
    for cid in customer_ids:
        profile = profiles.get(cid)
        if profile is None:  # deleted since it was scheduled: nothing can be due for it
            if due[cid]:
                result.woken.append(cid)
            continue
        replay(
            plans,
            schema,
            profile,
            members[cid],
            manual[cid],
            due[cid],
            now,
            result,
            boundaries,
            specs,
        )
    return result


def _sequence_values(store: Store, count: int) -> list[int]:
    series = "range($n)" if store.dialect == "duckdb" else "generate_series(1, $n)"
    sql = render("SELECT nextval('membership_history_seq') FROM {s}", s=fixed(series))
    return sorted(int(r[0]) for r in q(store, sql, {"n": count}))


def write(store: Store, result: CatchUp, trigger: str = "window") -> None:
    """Write a replay: history in chronological order, final memberships, due instants."""
    changes = sorted(result.changes, key=lambda c: c.at)  # stable: same-instant order kept
    with store.transaction():
        if changes:
            seqs = _sequence_values(store, len(changes))
            history = pa.table(
                {
                    "seq": pa.array(seqs, pa.int64()),
                    "segment_code": [c.code for c in changes],
                    "customer_id": [c.customer_id for c in changes],
                    "change": [c.change for c in changes],
                    "at": pa.array([_naive(c.at) for c in changes], pa.timestamp("us")),
                    "reason": [c.reason for c in changes],
                }
            )
            last: dict[tuple[str, str], TimedChange] = {}
            for change in changes:
                last[(change.code, change.customer_id)] = change
            final = pa.table(
                {
                    "segment_code": [k[0] for k in last],
                    "customer_id": [k[1] for k in last],
                    "state": [c.change for c in last.values()],
                    "since": pa.array([_naive(c.at) for c in last.values()], pa.timestamp("us")),
                    "reason": [c.reason for c in last.values()],
                }
            )
            _write_staged(store, history, final, trigger)
        for code, cid, reason in result.reasons:
            x(
                store,
                "UPDATE memberships SET reason = $r WHERE segment_code = $c AND customer_id = $i",
                {"r": reason, "c": code, "i": cid},
            )
        memberships.set_due(store, result.dues, {}, whole=result.woken)


def _naive(moment: dt.datetime) -> dt.datetime:
    """Stores hold naive UTC (docs/architecture.md); staging must not depend on a session
    time zone."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _write_staged(store: Store, history: pa.Table, final: pa.Table, trigger: str) -> None:
    staged_history = store.stage("catchup_history", history)
    staged_final = store.stage("catchup_final", final)
    try:
        x(
            store,
            render(
                "INSERT INTO membership_history (seq, segment_code, customer_id, change, "
                '"at", reason, trigger, run_id) SELECT seq, segment_code, customer_id, change, '
                '"at", reason, $trigger, NULL FROM {h}',
                h=fixed(staged_history),
            ),
            {"trigger": trigger},
        )
        x(
            store,
            render(
                "DELETE FROM memberships WHERE (segment_code, customer_id) IN "
                "(SELECT segment_code, customer_id FROM {f})",
                f=fixed(staged_final),
            ),
        )
        x(
            store,
            render(
                "INSERT INTO memberships (segment_code, customer_id, since, reason) "
                "SELECT segment_code, customer_id, since, reason FROM {f} "
                "WHERE state = 'enter'",
                f=fixed(staged_final),
            ),
        )
    finally:
        store.unstage("catchup_history")
        store.unstage("catchup_final")
