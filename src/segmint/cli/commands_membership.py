"""``segmint worker``: apply time windows and segment boundaries at their exact instants,
and reconcile."""

from __future__ import annotations

import datetime as dt
import time

import click

from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import dumps
from segmint.services.membership import WorkerReport, run_worker


def _summary(report: WorkerReport, now: dt.datetime) -> str:
    lines = [
        f"as of {now.isoformat()}: {report.processed} due evaluations at "
        f"{report.instants} instants; {report.entered} entered, {report.exited} exited"
    ]
    if report.boundaries:
        lines.append(
            f"segment starts/ends applied to the rules reading their user groups: "
            f"{report.boundaries} (segment, member) pairs"
        )
    if report.refresh is not None:
        r = report.refresh
        resumed = " (resumed an interrupted run)" if r.resumed else ""
        lines.append(
            f"reconciling refresh run {r.run_id}{resumed}: {len(r.segments)} segments, "
            f"{r.entered} entered, {r.exited} exited"
        )
    return "\n".join(lines)


@click.command("worker")
@click.option("--once", is_flag=True, help="Process what is due as of --as-of, then exit.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=60.0,
    show_default=True,
    help="Loop mode: seconds between passes.",
)
@click.option(
    "--reconcile-every",
    "reconcile_every",
    type=click.FloatRange(min=1),
    default=None,
    metavar="SECONDS",
    help="Run the reconciling refresh when this long has passed since the last one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print each pass's report as JSON.")
@pass_app
def worker_command(
    app: AppContext, once: bool, interval: float, reconcile_every: float | None, as_json: bool
) -> None:
    """Re-evaluate every (customer, segment) whose time window is due, at its exact
    instant, and run the periodic reconciling refresh.

    With --once, process what is due as of --as-of (default now) and exit; otherwise
    repeat every --interval seconds (the clock is then the current time) until
    interrupted."""
    store = app.store()
    store.require_schema()
    every = dt.timedelta(seconds=reconcile_every) if reconcile_every else None
    now = app.now
    while True:
        report = run_worker(store, now, once=True, reconcile_every=every)
        click.echo(dumps(report.to_dict()) if as_json else _summary(report, now))
        if once:
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return
        now = dt.datetime.now(dt.UTC)


COMMANDS: list[click.Command] = [worker_command]
