"""Simulations on past orders run as background jobs (``POST /v1/promotions/simulate``).

In process, by decision (docs/targeting.md, *Simulating on past orders*): a job is a
thread of the server that started it, its progress and report are kept in memory, and
the store is borrowed from the app's pool one chunk of orders at a time (so on DuckDB,
whose pool has one connection, other requests are served between chunks). The limits
that follow: a job is lost when the server stops, is seen only by the server process
that runs it, and only the last :attr:`SimulationJobs.kept` jobs are kept.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from segmint.errors import SegmintError
from segmint.services import backtest
from segmint.services.backtest import Lender, Variant
from segmint.services.backtest_report import ReportBuilder

RUNNING, DONE, FAILED = "running", "done", "failed"


@dataclass
class SimulationJob:
    id: str
    promotions: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime
    alone: bool
    created_at: dt.datetime
    status: str = RUNNING
    done: int = 0
    total: int | None = None
    report: dict[str, Any] | None = None
    error: str | None = None
    finished_at: dt.datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "id": self.id,
                "status": self.status,
                "promotions": list(self.promotions),
                "from": _iso(self.start),
                "to": _iso(self.end),
                "alone": self.alone,
                "created_at": _iso(self.created_at),
                "finished_at": _iso(self.finished_at) if self.finished_at else None,
                "progress": {"done": self.done, "total": self.total},
                "report": self.report,
                "error": self.error,
            }


def _iso(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@dataclass
class SimulationJobs:
    """The jobs of one app (thread-safe)."""

    kept: int = 20
    _jobs: OrderedDict[str, SimulationJob] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, job_id: str) -> SimulationJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(
        self,
        lend: Lender,
        variants: Sequence[Variant],
        start: dt.datetime,
        end: dt.datetime,
        *,
        alone: bool,
        currency: str,
        now: dt.datetime,
    ) -> SimulationJob:
        """Start simulating ``variants`` (already built and checked) in a thread."""
        job = SimulationJob(
            uuid.uuid4().hex, tuple(v.code for v in variants), start, end, alone, now
        )
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.kept:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].status == RUNNING:
                    break  # never forget a running job
                del self._jobs[oldest]
        thread = threading.Thread(
            target=_work,
            args=(job, lend, list(variants), currency),
            name=f"segmint-simulate-{job.id[:8]}",
            daemon=True,
        )
        thread.start()
        return job


_registry_lock = threading.Lock()


def jobs_on(holder: Any) -> SimulationJobs:
    """The jobs kept on ``holder`` (the app's ``app.state``), made on first use: the API
    and the admin pages of one app share them."""
    with _registry_lock:
        jobs: SimulationJobs | None = getattr(holder, "simulations", None)
        if jobs is None:
            jobs = SimulationJobs()
            holder.simulations = jobs
        return jobs


def _work(job: SimulationJob, lend: Lender, variants: list[Variant], currency: str) -> None:
    def progress(done: int, total: int) -> None:
        with job._lock:
            job.done, job.total = done, total

    builder = ReportBuilder(
        [v.code for v in variants], job.start, job.end, currency, alone=job.alone
    )
    try:
        runs = backtest.run(lend, variants, job.start, job.end, progress, counts=builder.counts)
        for outcome in runs:
            builder.add(outcome)
        report = builder.report().to_dict()
        with job._lock:
            job.report, job.status = report, DONE
    except SegmintError as error:
        with job._lock:
            job.error, job.status = str(error), FAILED
    except Exception as error:
        with job._lock:
            job.error, job.status = f"error: the simulation stopped: {error!r}", FAILED
    finally:
        with job._lock:
            job.finished_at = dt.datetime.now(dt.UTC)
