"""The worker's schedule inside ``segmint serve`` (on by default with DuckDB).

With DuckDB the server holds the database file, so a separate ``segmint worker`` cannot
open it: windows would stop closing while the server runs. :class:`InProcessWorker` runs
the worker's pass (services.membership.run_worker: the outbox left by killed writers, an
unfinished refresh, due window exits and entries, segment boundaries, the optional
reconciling refresh) on a background thread every ``interval`` seconds, at the app's
clock. Each pass borrows a store from the app's pool like a request does (with DuckDB the
pool's one store: passes and requests take turns), then drops the evaluator's caches if
memberships changed. A failing pass is logged and recorded in :meth:`status`; the next
one runs as scheduled. ``POST /v1/admin/worker/run`` runs one pass now (``segmint worker
--once`` sent to the server); passes never overlap.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
import traceback
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segmint.services.membership import WorkerReport, run_worker

if TYPE_CHECKING:
    from segmint.api.deps import AppState

log = logging.getLogger("segmint.worker")


@dataclass(frozen=True)
class WorkerSettings:
    """``enabled``: run passes on a background thread; ``interval``: seconds between the
    end of one pass and the start of the next; ``reconcile_every``: as ``segmint worker
    --reconcile-every`` (None: no periodic reconciling refresh)."""

    enabled: bool = False
    interval: float = 60.0
    reconcile_every: dt.timedelta | None = None


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def changed_memberships(report: WorkerReport) -> bool:
    return bool(
        report.entered
        or report.exited
        or report.outbox
        or report.boundaries
        or (report.refresh is not None and (report.refresh.entered or report.refresh.exited))
    )


class InProcessWorker:
    def __init__(self, state: AppState, settings: WorkerSettings) -> None:
        self.state = state
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pass_lock = threading.Lock()  # one pass at a time (background or on demand)
        self._status_lock = threading.Lock()
        self.passes = 0
        self.failures = 0
        self.last_started_at: dt.datetime | None = None
        self.last_finished_at: dt.datetime | None = None
        self.last_as_of: dt.datetime | None = None
        self.last_report: WorkerReport | None = None
        self.last_error: str | None = None
        self.last_error_at: dt.datetime | None = None

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the background thread (no-op unless enabled, or if already running)."""
        if not self.settings.enabled or self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="segmint-worker", daemon=True)
        self._thread.start()
        log.info("in-process worker started (every %s s)", self.settings.interval)

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop and wait for it (a pass under way finishes first: its
        writes are transactions, and an interrupted refresh would be resumed anyway)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            log.info("in-process worker stopped")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            with suppress(Exception):  # recorded by run_pass; the schedule goes on
                self.run_pass()
            self._stop.wait(self.settings.interval)

    # ---- one pass ---------------------------------------------------------------------

    def run_pass(
        self, reconcile_every: dt.timedelta | None = None
    ) -> tuple[dt.datetime, WorkerReport]:
        """One pass at the app's clock (``reconcile_every`` overrides the setting's): the
        instant it evaluated and its report. Raises what the pass raised, after
        recording it."""
        every = reconcile_every if reconcile_every is not None else self.settings.reconcile_every
        with self._pass_lock:
            started = dt.datetime.now(dt.UTC)
            with self._status_lock:
                self.last_started_at = started
            t0 = time.perf_counter()
            now: dt.datetime | None = None
            try:
                now = self.state.clock()
                store = self.state.pool.acquire(time_limit=math.inf)  # a whole pass
                try:
                    report = run_worker(store, now, once=True, reconcile_every=every)
                finally:
                    self.state.pool.release(store)
            except Exception as error:
                with self._status_lock:
                    self.failures += 1
                    self.last_error = "".join(
                        traceback.format_exception_only(type(error), error)
                    ).strip()
                    self.last_error_at = dt.datetime.now(dt.UTC)
                log.exception("worker pass as of %s failed", _iso(now))
                raise
            assert now is not None
            if changed_memberships(report):
                # Memberships changed behind the evaluator's back: drop what it cached
                # (a refresh may have touched any customer, so the catalog goes too).
                if report.refresh is not None:
                    self.state.evaluator.invalidate_catalog()
                else:
                    self.state.evaluator.invalidate_customers(None)
            with self._status_lock:
                self.passes += 1
                self.last_finished_at = dt.datetime.now(dt.UTC)
                self.last_as_of = now
                self.last_report = report
            log.debug("worker pass as of %s in %.3f s", _iso(now), time.perf_counter() - t0)
            return now, report

    def status(self) -> dict[str, Any]:
        with self._status_lock:
            every = self.settings.reconcile_every
            return {
                "enabled": self.settings.enabled,
                "running": self.running,
                "interval_seconds": self.settings.interval,
                "reconcile_every_seconds": every.total_seconds() if every else None,
                "passes": self.passes,
                "failures": self.failures,
                "last_started_at": _iso(self.last_started_at),
                "last_finished_at": _iso(self.last_finished_at),
                "last_as_of": _iso(self.last_as_of),
                "last_report": self.last_report.to_dict() if self.last_report else None,
                "last_error": self.last_error,
                "last_error_at": _iso(self.last_error_at),
            }
