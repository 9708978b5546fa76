"""The worker's pass over what is due: window instants and segment boundaries up to
``now``, each customer's timeline replayed in memory (engine/catchup.py).

Every write that recomputes due instants (a refresh, an incremental update) first
applies what is already due through this module: recomputing them as of ``now`` would
otherwise move a due instant past ``now`` and lose the entry or exit it stood for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from segmint.engine import catchup, groups
from segmint.engine.plans import load_plans, q
from segmint.engine.runs import RefreshReport
from segmint.store.base import Store
from segmint.store.sqltext import fixed, render

#: Due customers replayed per transaction (their profiles are loaded together).
DUE_BATCH = 5_000


@dataclass
class WorkerReport:
    processed: int = 0  # customer wake-ups
    instants: int = 0  # distinct due instants evaluated
    entered: int = 0
    exited: int = 0
    boundaries: int = 0  # (segment start/end, member) pairs whose group readers were evaluated
    outbox: int = 0  # customers of import batches left behind, brought up to date
    refresh: RefreshReport | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "processed": self.processed,
            "instants": self.instants,
            "boundaries": self.boundaries,
            "entered": self.entered,
            "exited": self.exited,
            "outbox": self.outbox,
            "refresh": self.refresh.to_dict() if self.refresh else None,
        }

    def add(self, result: catchup.CatchUp) -> None:
        for change in result.changes:
            if change.change == catchup.ENTER:
                self.entered += 1
            else:
                self.exited += 1
        self.processed += result.processed
        self.instants += result.instants
        self.boundaries += result.boundaries


def process_due(store: Store, now: dt.datetime, report: WorkerReport | None = None) -> WorkerReport:
    """Every customer with a due row ``due_at <= now``, and every segment boundary
    (``starts_at``, ``ends_at``) up to ``now`` of a segment whose group a rule reads: each
    concerned customer's timeline is replayed in memory up to ``now``, so entries and
    exits carry their exact instants however far behind the worker is, and every
    customer's due rows move past ``now`` (none is seen twice). The applied boundaries
    are then recorded in ``segment_boundaries`` (none is applied twice)."""
    report = report if report is not None else WorkerReport()
    with store.writer_lock():
        plans = load_plans(store)
        schema = store.rule_schema()
        boundaries = groups.pending_boundaries(store, plans, now)
        sources = boundaries.sources
        # Customers in id order, resumed after the last one (a replayed customer's due
        # rows move past `now`, but its boundary memberships stay).
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
            "WHERE due_at <= $now{m}) AS u WHERE customer_id > $after "
            "ORDER BY customer_id LIMIT $n",
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
            report.add(result)
        groups.mark_boundaries(store, boundaries.codes, now)
    return report
