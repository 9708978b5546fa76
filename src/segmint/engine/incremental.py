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

from segmint.engine import refresh, windows
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
from segmint.store import memberships
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
) -> UpdateReport:
    """Re-evaluate ``customer_ids`` at ``now`` for the segments reading ``changed`` (or
    exactly ``codes``, with their dependents) and write the difference at ``now``."""
    now = utc(now)
    ids = sorted(set(customer_ids))
    schema = store.rule_schema()
    plans = load_plans(store, schema)
    base = set(codes or ()) if changed is None else affected_by(plans, changed)
    targets = with_dependents(plans, base)
    report = UpdateReport(customers=len(ids), segments=sorted(targets))
    if not ids or not targets:
        return report
    use_python = engine == "python" or (engine is None and len(ids) <= PYTHON_LIMIT)
    if use_python:
        _python(store, schema, plans, ids, sorted(targets), now, trigger, report)
    else:
        _sql(store, schema, plans, ids, sorted(targets), now, trigger, report)
    return report


def _python(
    store: Store,
    schema: Schema,
    plans: dict[str, SegmentPlan],
    ids: list[str],
    targets: list[str],
    now: dt.datetime,
    trigger: str,
    report: UpdateReport,
) -> None:
    needed = _collections([plans[c] for c in targets])
    profiles = store.load_profiles(ids, needed, read_fields([plans[c] for c in targets]))
    ids = [i for i in ids if i in profiles]
    if not ids:
        return
    members: dict[str, dict[str, str]] = {i: {} for i in ids}  # customer -> code -> reason
    manual: dict[tuple[str, str], str] = {}
    current_due: dict[str, dict[str, dt.datetime]] = {i: {} for i in ids}
    # The customers' state in one round trip (per chunk of ids): memberships, manual
    # rows, due instants.
    state = []
    for chunk in store.id_chunks(ids):
        state += q(
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
    for table, code, cid, value, due_at in state:
        if table == "m":
            members[cid][code] = value
        elif table == "x":
            manual[(code, cid)] = value
        else:
            current_due[cid][code] = due_at
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
        # The memberships were read above; one transaction per update keeps the
        # read-compute-write of one customer consistent for this connection.
        memberships.apply_known(store, all_enters, all_exits, now, trigger)
        _reasons(store, members, reasons)
        memberships.set_due(store, dues, current_due)


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
) -> None:
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
        finally:
            refresh.drop_temp(store)
            store.unstage("segmint_ids")
