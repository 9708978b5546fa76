"""Use cases of the membership engine: batch refresh, incremental re-evaluation, and the
worker that applies time windows at their exact instants (docs/membership.md)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence

from segmint.engine import incremental, refresh
from segmint.engine.incremental import UpdateReport
from segmint.engine.plans import utc
from segmint.engine.refresh import Progress
from segmint.engine.runs import RefreshReport, last_run_as_of
from segmint.engine.worker import WorkerReport, process_due
from segmint.store import outbox
from segmint.store.base import Store

__all__ = [
    "RefreshReport",
    "UpdateReport",
    "WorkerReport",
    "drain_outbox",
    "process_due",
    "reevaluate_customers",
    "refresh_segments",
    "run_worker",
]


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
    store: Store,
    customer_ids: Sequence[str],
    now: dt.datetime,
    *,
    changed: frozenset[str],
    outbox_batches: Sequence[int] = (),
) -> UpdateReport:
    """Re-evaluate these customers for the segments reading what ``changed`` names
    (``orders``, ``lines``, ``events``, ``wishlist``, ``customer``, a customer field or
    ``attributes.NAME``) and their IN SEGMENT dependents; changes are recorded at
    ``now`` with trigger ``incremental``; ``outbox_batches`` are cleared with them."""
    store.require_schema()
    return incremental.reevaluate(
        store, customer_ids, now, changed=changed, outbox_batches=outbox_batches
    )


def drain_outbox(store: Store, now: dt.datetime) -> int:
    """Bring up to date the customers of every outbox batch left behind (a write killed
    before its membership update, store/outbox.py), at ``now``; how many."""
    done = 0
    for batch in outbox.pending(store):
        work = batch.work
        incremental.reevaluate(
            store,
            batch.customer_ids,
            now,
            changed=work.changed if not work.codes else None,
            codes=work.codes or None,
            outbox_batches=[batch.batch_id],
        )
        done += len(batch.customer_ids)
    return done


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
        # What a killed writer left: its customers' updates, then its refresh run (a
        # segment save queues one), then what is due.
        report.outbox += drain_outbox(store, current)
        resumed = refresh.resume_unfinished(store)
        if resumed is not None:
            report.refresh = resumed
        process_due(store, current, report)
        if reconcile_every is not None:
            last = last_run_as_of(store)
            if last is None or last + reconcile_every <= current:
                report.refresh = refresh.run_refresh(store, None, current)
        if once or (should_stop is not None and should_stop()):
            return report
        time.sleep(interval)
        current = utc(clock() if clock is not None else dt.datetime.now(dt.UTC))
