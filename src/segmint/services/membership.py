"""Use cases of the membership engine: batch refresh, incremental re-evaluation, and the
worker that applies time windows at their exact instants (docs/membership.md)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from segmint.engine import catchup, groups, incremental, refresh
from segmint.engine.incremental import UpdateReport
from segmint.engine.plans import load_plans, q, utc
from segmint.engine.refresh import Progress
from segmint.engine.runs import RefreshReport, last_run_as_of, unfinished_run
from segmint.store.base import Store
from segmint.store.sqltext import fixed, render

__all__ = [
    "RefreshReport",
    "UpdateReport",
    "WorkerReport",
    "reevaluate_customers",
    "refresh_segments",
    "run_worker",
]

#: Due customers replayed per transaction (their profiles are loaded together).
DUE_BATCH = 5_000


def refresh_segments(
    store: Store,
    codes: Sequence[str] | None,
    now: dt.datetime,
    *,
    progress: Progress | None = None,
    batch_size: int = refresh.BATCH_SIZE,
) -> RefreshReport:
    """Refresh ``codes`` (None: all materialized segments) as of ``now``: one fused pass
    per dependency layer, the difference written in checkpointed batches. If a previous
    run was interrupted, THAT run is resumed (same as_of) and reported ``resumed``."""
    return refresh.run_refresh(store, codes, now, progress=progress, batch_size=batch_size)


def reevaluate_customers(
    store: Store, customer_ids: Sequence[str], now: dt.datetime, *, changed: frozenset[str]
) -> UpdateReport:
    """Re-evaluate these customers for the segments reading what ``changed`` names
    (``orders``, ``lines``, ``events``, ``wishlist``, ``customer``, a customer field or
    ``attributes.NAME``) and their IN SEGMENT dependents; changes are recorded at
    ``now`` with trigger ``incremental``."""
    store.require_schema()
    return incremental.reevaluate(store, customer_ids, now, changed=changed)


@dataclass
class WorkerReport:
    processed: int = 0  # due (segment, customer) rows handled
    instants: int = 0  # distinct due instants evaluated
    entered: int = 0
    exited: int = 0
    boundaries: int = 0  # (segment start/end, member) pairs whose group readers were evaluated
    refresh: RefreshReport | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "processed": self.processed,
            "instants": self.instants,
            "boundaries": self.boundaries,
            "entered": self.entered,
            "exited": self.exited,
            "refresh": self.refresh.to_dict() if self.refresh else None,
        }


def process_due(store: Store, now: dt.datetime, report: WorkerReport) -> None:
    """Every customer with a due row ``due_at <= now``, and every segment boundary
    (``starts_at``, ``ends_at``) up to ``now`` of a segment whose group a rule reads: each
    concerned customer's timeline is replayed in memory up to ``now``
    (engine/catchup.py), so entries and exits carry their exact instants however far
    behind the worker is, and every customer's due rows move past ``now`` (none is
    seen twice). The applied
    boundaries are then recorded in ``segment_boundaries`` (none is applied twice)."""
    plans = load_plans(store)
    schema = store.rule_schema()
    boundaries = groups.pending_boundaries(store, plans, now)
    sources = boundaries.sources
    # Customers in id order, resumed after the last one (a replayed customer's due rows
    # move past `now`, but its boundary memberships stay).
    members_of_sources = (
        render(
            " UNION SELECT customer_id FROM memberships WHERE {f}",
            f=store._in_list(fixed("segment_code"), "sources"),
        )
        if sources
        else ""
    )
    select = render(
        "SELECT DISTINCT customer_id FROM (SELECT customer_id FROM customer_due "
        "WHERE due_at <= $now{m}) AS u WHERE customer_id > $after ORDER BY customer_id LIMIT $n",
        m=fixed(members_of_sources),
    )
    after = ""
    while True:
        with store.transaction():
            params = {"now": now, "n": DUE_BATCH, "after": after, "sources": sources}
            ids = [str(r[0]) for r in q(store, select, params)]
            if not ids:
                break
            result = catchup.catch_up(store, plans, schema, ids, now, boundaries)
            catchup.write(store, result)
        after = ids[-1]
        for change in result.changes:
            if change.change == catchup.ENTER:
                report.entered += 1
            else:
                report.exited += 1
        report.processed += result.processed
        report.instants += result.instants
        report.boundaries += result.boundaries
    groups.mark_boundaries(store, boundaries.codes, now)


def run_worker(
    store: Store,
    now: dt.datetime,
    *,
    once: bool = True,
    reconcile_every: dt.timedelta | None = None,
    interval: float = 60.0,
    clock: Callable[[], dt.datetime] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> WorkerReport:
    """Process what is due as of ``now``; then, when ``reconcile_every`` has passed since
    the last finished refresh (or one was left unfinished), run the reconciling refresh.
    With ``once=False`` repeat every ``interval`` seconds with ``now`` from ``clock``
    (default: the current instant) until ``should_stop()``."""
    store.require_schema()
    report = WorkerReport()
    current = utc(now)
    while True:
        process_due(store, current, report)
        if reconcile_every is not None:
            last = last_run_as_of(store)
            pending = unfinished_run(store) is not None
            if pending or last is None or last + reconcile_every <= current:
                report.refresh = refresh.run_refresh(store, None, current)
        if once or (should_stop is not None and should_stop()):
            return report
        time.sleep(interval)
        current = utc(clock() if clock is not None else dt.datetime.now(dt.UTC))
