"""Use cases of the membership engine: batch refresh, incremental re-evaluation, and the
worker that applies time windows at their exact instants (docs/membership.md)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from segmint.engine import incremental, refresh
from segmint.engine.incremental import UpdateReport
from segmint.engine.plans import load_plans, sql_for, utc
from segmint.engine.refresh import Progress, RefreshReport
from segmint.store import memberships
from segmint.store.base import Store

__all__ = [
    "RefreshReport",
    "UpdateReport",
    "WorkerReport",
    "reevaluate_customers",
    "refresh_segments",
    "run_worker",
]

#: Due rows read per round trip by the worker.
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
    refresh: RefreshReport | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "processed": self.processed,
            "instants": self.instants,
            "entered": self.entered,
            "exited": self.exited,
            "refresh": self.refresh.to_dict() if self.refresh else None,
        }


def process_due(store: Store, now: dt.datetime, report: WorkerReport) -> None:
    """Every due row with ``due_at <= now``, in order of ``due_at``: each group of rows
    sharing an instant is evaluated AT that instant, so entries and exits carry their
    exact instants, and gets its next due instant (always later: no row is seen twice
    at the same instant)."""
    plans = load_plans(store)
    while True:
        rows = memberships.due(store, now, limit=DUE_BATCH)
        if not rows:
            return
        at = rows[0][2]
        group = [(code, cid) for code, cid, due_at in rows if due_at == at]
        ids = sorted({cid for _, cid in group})
        codes = sorted({code for code, _ in group if code in plans})
        with store.transaction():
            # Drop the rows being handled; re-evaluation writes each pair's next instant
            # (a deleted or no longer windowed segment simply loses its rows).
            for code, cid in group:
                store.execute(
                    sql_for(
                        store,
                        "DELETE FROM segment_due WHERE segment_code = $c AND customer_id = $i "
                        "AND due_at = $at",
                    ),
                    {"c": code, "i": cid, "at": at},
                )
            if codes:
                result = incremental.reevaluate(
                    store, ids, at, changed=None, codes=codes, trigger="window"
                )
                report.entered += result.entered
                report.exited += result.exited
        report.processed += len(group)
        report.instants += 1


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
            last = refresh.last_run_as_of(store)
            pending = refresh.unfinished_run(store) is not None
            if pending or last is None or last + reconcile_every <= current:
                report.refresh = refresh.run_refresh(store, None, current)
        if once or (should_stop is not None and should_stop()):
            return report
        time.sleep(interval)
        current = utc(clock() if clock is not None else dt.datetime.now(dt.UTC))
