"""Refresh runs: their rows in ``refresh_runs`` (start, checkpoint, state), the batch
boundaries, and the report of what a run changed (from its history rows)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from segmint.engine.plans import q, x
from segmint.store.base import Store


@dataclass
class RefreshReport:
    run_id: int
    segments: list[str]
    entered: int
    exited: int
    resumed: bool
    per_segment: dict[str, tuple[int, int]] = field(default_factory=dict)
    as_of: dt.datetime | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "segments": self.segments,
            "entered": self.entered,
            "exited": self.exited,
            "resumed": self.resumed,
            "per_segment": {
                k: {"entered": e, "exited": o} for k, (e, o) in self.per_segment.items()
            },
        }


def boundaries(store: Store, size: int) -> list[str]:
    """Every ``size``-th customer id: batch k covers ids in (b[k-1], b[k]], the last one
    everything after the last boundary."""
    rows = q(
        store,
        "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn FROM customers) AS n "
        "WHERE rn % $size = 0 ORDER BY id",
        {"size": size},
    )
    return [str(r[0]) for r in rows]


def unfinished_run(store: Store) -> tuple[int, dt.datetime, list[str], dict[str, object]] | None:
    rows = q(
        store,
        "SELECT id, as_of, segments, checkpoint FROM refresh_runs WHERE state = 'running' "
        "ORDER BY id LIMIT 1",
    )
    if not rows:
        return None
    run_id, as_of, segments, checkpoint = rows[0]
    return int(run_id), as_of, list(json.loads(segments)), json.loads(checkpoint or "{}")


def start_run(store: Store, codes: list[str], now: dt.datetime) -> int:
    with store.transaction():
        run_id = int(q(store, "SELECT COALESCE(MAX(id), 0) + 1 FROM refresh_runs")[0][0])
        x(
            store,
            "INSERT INTO refresh_runs (id, as_of, segments, state, checkpoint, started_at) "
            "VALUES ($id, $as_of, $segments, 'running', NULL, $started)",
            {
                "id": run_id,
                "as_of": now,
                "segments": json.dumps(codes),
                "started": dt.datetime.now(dt.UTC),
            },
        )
    return run_id


def run_report(
    store: Store, run_id: int, codes: list[str], resumed: bool, as_of: dt.datetime
) -> RefreshReport:
    per = {c: (0, 0) for c in codes}
    rows = q(
        store,
        "SELECT segment_code, change, COUNT(*) FROM membership_history WHERE run_id = $r "
        "AND trigger = 'refresh' GROUP BY segment_code, change",
        {"r": run_id},
    )
    for code, change, count in rows:
        e, o = per.get(code, (0, 0))
        per[code] = (e + int(count), o) if change == "enter" else (e, o + int(count))
    return RefreshReport(
        run_id=run_id,
        segments=codes,
        entered=sum(e for e, _ in per.values()),
        exited=sum(o for _, o in per.values()),
        resumed=resumed,
        per_segment=per,
        as_of=as_of,
    )


def last_run_as_of(store: Store) -> dt.datetime | None:
    """The as_of of the latest finished refresh run (the worker's reconcile clock)."""
    rows = q(store, "SELECT MAX(as_of) FROM refresh_runs WHERE state = 'done'")
    value = rows[0][0] if rows else None
    return value if isinstance(value, dt.datetime) else None
