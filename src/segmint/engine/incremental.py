"""Incremental re-evaluation: some customers changed; bring their memberships up to date.

Only segments whose rules read what changed are re-evaluated (plus, transitively, the
segments that read those through ``IN SEGMENT``), in dependency order.

Two engines, same answers (the conformance suite holds them equal):

- few customers (a checkout, an API call, the worker's due instants): the Python engine
  over ``store.load_profiles(ids)`` with cached compiled predicates — a handful of small
  queries, no scan; the diff is computed in Python and written with ``apply_changes``;
  the customers' due sources whose data was loaded get their exact next instant
  (:func:`windows.customer_dues`);
- many customers (an import): the ids are staged and the refresh machinery runs ONE
  fused SQL pass per layer restricted to them (``compile_many(only_ids_in=…)`` filters
  every grouped subquery too), and the diff is written set-based.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from segmint.engine import catchup, refresh, windows, worker
from segmint.engine.plans import (
    SegmentPlan,
    affected_by,
    layers,
    load_plans,
    q,
    read_fields,
    sql_for,
    utc,
    window_specs,
    with_dependents,
)
from segmint.rules.schema import Schema
from segmint.store import memberships, outbox
from segmint.store.base import Store
from segmint.store.sqltext import fixed, render

#: Up to this many customers the Python engine is used; above, one SQL pass.
PYTHON_LIMIT = 200


@dataclass
class UpdateReport:
    customers: int
    segments: list[str]
    entered: int = 0
    exited: int = 0
    per_segment: dict[str, tuple[int, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "customers": self.customers,
            "segments": self.segments,
            "entered": self.entered,
            "exited": self.exited,
        }

    def add(self, code: str, entered: int, exited: int) -> None:
        e, o = self.per_segment.get(code, (0, 0))
        self.per_segment[code] = (e + entered, o + exited)
        self.entered += entered
        self.exited += exited


def reevaluate(
    store: Store,
    customer_ids: Sequence[str],
    now: dt.datetime,
    *,
    changed: frozenset[str] | None,
    codes: Sequence[str] | None = None,
    trigger: str = "incremental",
    engine: str | None = None,
    outbox_batches: Sequence[int] = (),
) -> UpdateReport:
    """Re-evaluate ``customer_ids`` at ``now`` for the segments reading ``changed`` (or
    exactly ``codes``, with their dependents) and write the difference at ``now``. What
    is already due for these customers is applied first, at its own instants (the update
    recomputes their due instants as of ``now``). ``outbox_batches`` (store/outbox.py)
    are cleared in the same transaction as the update's writes."""
    now = utc(now)
    ids = sorted(set(customer_ids))
    with store.writer_lock():
        schema = store.rule_schema()
        plans = load_plans(store, schema)
        base = set(codes or ()) if changed is None else affected_by(plans, changed)
        targets = with_dependents(plans, base)
        report = UpdateReport(customers=len(ids), segments=sorted(targets))
        if not ids or not targets:
            if outbox_batches:
                with store.transaction():
                    outbox.clear(store, outbox_batches)
            return report
        use_python = engine == "python" or (engine is None and len(ids) <= PYTHON_LIMIT)
        run = _python if use_python else _sql
        run(store, schema, plans, ids, sorted(targets), now, trigger, report, outbox_batches)
    return report


@dataclass
class _State:
    """Some customers' stored rows: memberships (code -> reason), manual rows, due
    instants (source -> instant)."""

    members: dict[str, dict[str, str]]
    manual: dict[tuple[str, str], str]
    due: dict[str, dict[str, dt.datetime]]

    def late(self, now: dt.datetime) -> list[str]:
        """The customers with an instant already due."""
        return [cid for cid, due in self.due.items() if any(at <= now for at in due.values())]


def _read_state(store: Store, ids: Sequence[str]) -> _State:
    """The customers' state in one round trip (per chunk of ids)."""
    state = _State({i: {} for i in ids}, {}, {i: {} for i in ids})
    for chunk in store.id_chunks(ids):
        rows = q(
            store,
            render(
                "SELECT 'm', segment_code, customer_id, reason, CAST(NULL AS TIMESTAMP) "
                "FROM memberships WHERE {f} UNION ALL SELECT 'x', segment_code, customer_id, "
                "mode, CAST(NULL AS TIMESTAMP) FROM segment_manual WHERE {f} UNION ALL "
                "SELECT 'd', source, customer_id, CAST(NULL AS TEXT), due_at "
                "FROM customer_due WHERE {f}",
                f=store._in_ids(fixed("customer_id"), "ids", len(chunk)),
            ),
            {"ids": list(chunk)},
        )
        for table, code, cid, value, due_at in rows:
            if table == "m":
                state.members[cid][code] = value
            elif table == "x":
                state.manual[(code, cid)] = value
            else:
                state.due[cid][code] = due_at
    return state


def _catch_up(
    store: Store,
    plans: dict[str, SegmentPlan],
    schema: Schema,
    ids: Sequence[str],
    now: dt.datetime,
) -> None:
    """Replay what is due for ``ids`` up to ``now`` (the worker's catch-up, for them)."""
    for start in range(0, len(ids), worker.DUE_BATCH):
        result = catchup.catch_up(store, plans, schema, ids[start : start + worker.DUE_BATCH], now)
        catchup.write(store, result)


def _python(
    store: Store,
    schema: Schema,
    plans: dict[str, SegmentPlan],
    ids: list[str],
    targets: list[str],
    now: dt.datetime,
    trigger: str,
    report: UpdateReport,
    batches: Sequence[int],
) -> None:
    needed = _collections([plans[c] for c in targets])
    fields = dict(read_fields([plans[c] for c in targets]))
    # The due instants below are computed for every loaded collection over EVERY windowed
    # segment (not only the targets): each needs its collection's timestamp.
    for coll in needed & windows.TIME_FIELDS.keys():
        fields[coll] = fields.get(coll, frozenset()) | {windows.TIME_FIELDS[coll]}
    profiles = store.load_profiles(ids, needed, fields)
    ids = [i for i in ids if i in profiles]
    if not ids:
        if batches:
            with store.transaction():
                outbox.clear(store, batches)
        return
    state = _read_state(store, ids)
    late = state.late(now)
    if late:
        _catch_up(store, plans, schema, late, now)
        state = _read_state(store, ids)
    members, manual, current_due = state.members, state.manual, state.due
    reasons = {cid: dict(codes) for cid, codes in members.items()}
    changes: list[tuple[str, list[tuple[str, str]], list[str]]] = []
    group_of = SegmentPlan.groups_at(plans, now)
    # A profile's segments (and inherited groups) are set again only when an earlier
    # layer changed that customer's memberships, not once per segment evaluated.
    applied: dict[str, frozenset[str]] = {}
    for layer in layers(plans, targets):
        for code in layer:
            plan = plans[code]
            predicate = plan.predicate()
            enters: list[tuple[str, str]] = []
            exits: list[str] = []
            for cid in ids:
                profile = profiles[cid]
                mode = manual.get((code, cid))
                if mode == "exclude":
                    want = None
                elif mode == "include":
                    want = "manual"
                elif predicate is not None:
                    codes = frozenset(members[cid])
                    if applied.get(cid) != codes:
                        profile.set_segments(codes, group_of)
                        applied[cid] = codes
                    want = "rule" if predicate(profile, now) else None
                else:
                    want = None
                have = members[cid].get(code)
                if have is None and want is not None:
                    enters.append((cid, want))
                    members[cid][code] = want
                elif have is not None and want is None:
                    exits.append(cid)
                    del members[cid][code]
                elif have is not None and want is not None and have != want:
                    members[cid][code] = want  # the reason follows (written below)
            changes.append((code, enters, exits))
    # The due sources whose data is loaded, over every windowed segment of the catalog.
    specs = window_specs(plans)
    only = {windows.PROFILE, *(needed & windows.TIME_FIELDS.keys())} - {"lines"}
    dues: list[tuple[str, str, dt.datetime | None]] = []
    for cid in ids:
        for source, due in windows.customer_dues(
            specs, profiles[cid], now, schema.timezone, only
        ).items():
            if current_due[cid].get(source) != due:  # write only what moved
                dues.append((source, cid, due))
    all_enters = [(code, cid, reason) for code, enters, _ in changes for cid, reason in enters]
    all_exits = [(code, cid, reasons[cid][code]) for code, _, exits in changes for cid in exits]
    for code, enters, exits in changes:
        if enters or exits:
            report.add(code, len(enters), len(exits))
    with store.transaction():
        # Read above under the writer lock: nobody changed these rows since.
        memberships.apply_known(store, all_enters, all_exits, now, trigger)
        _reasons(store, members, reasons)
        memberships.set_due(store, dues, current_due)
        outbox.clear(store, batches)


def _collections(plans: Sequence[SegmentPlan]) -> set[str]:
    """The collections these plans' rules and due instants read (a profile needs no
    other; the wishlist or events of a customer are not loaded for order rules)."""
    needed: set[str] = set()
    for plan in plans:
        if plan.checked is not None:
            needed |= plan.checked.collections
        if plan.window is not None:
            needed |= set(plan.window.collections)
    return needed


def _reasons(
    store: Store, members: dict[str, dict[str, str]], before: dict[str, dict[str, str]]
) -> None:
    """A member who stays for another reason (manual include added or removed): the
    reason follows, with no entry or exit."""
    sql = sql_for(
        store, "UPDATE memberships SET reason = $r WHERE segment_code = $c AND customer_id = $i"
    )
    for cid, codes in members.items():
        for code, reason in codes.items():
            old = before.get(cid, {}).get(code)
            if old is not None and old != reason:
                store.execute(sql, {"r": reason, "c": code, "i": cid})


def _sql(
    store: Store,
    schema: Schema,
    plans: dict[str, SegmentPlan],
    ids: list[str],
    targets: list[str],
    now: dt.datetime,
    trigger: str,
    report: UpdateReport,
    batches: Sequence[int],
) -> None:
    late = q(
        store,
        render(
            "SELECT DISTINCT customer_id FROM customer_due WHERE due_at <= $now AND {f} "
            "ORDER BY customer_id",
            f=store._in_list(fixed("customer_id"), "ids"),
        ),
        {"now": now, "ids": ids},
    )
    if late:
        _catch_up(store, plans, schema, [str(r[0]) for r in late], now)
    table = pa.table({"id": pa.array(ids, pa.string())})
    with store.transaction():
        staged = store.stage("segmint_ids", table).strip('"')
        try:
            scope = memberships.Scope(ids_table=staged, probe=len(ids) <= store.probe_ids)
            for layer in layers(plans, targets):
                built = refresh.build_targets(
                    store,
                    schema,
                    [plans[c] for c in layer],
                    now,
                    plans,
                    ids_table=staged,
                    ids_count=len(ids),
                )
                changed = refresh.apply_layer(
                    store, layer, built.sources, scope, now, trigger, None
                )
                for code, (entered, exited) in changed.items():
                    report.add(code, entered, exited)
            outbox.clear(store, batches)
        finally:
            refresh.drop_temp(store)
            store.unstage("segmint_ids")
