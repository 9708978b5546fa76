"""``segmint worker``: apply time windows and segment boundaries at their exact instants,
and reconcile. ``segmint serve`` runs the same schedule in-process (api/worker.py) and
takes the same ``--interval`` and ``--reconcile-every`` (:func:`schedule_options`)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from segmint.cli.forward import Server
from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import dumps
from segmint.services.membership import run_worker

F = TypeVar("F", bound=Callable[..., Any])


def schedule_options(fn: F) -> F:
    """``--interval`` and ``--reconcile-every``: the worker's schedule."""
    fn = click.option(
        "--reconcile-every",
        "reconcile_every",
        type=click.FloatRange(min=1),
        default=None,
        metavar="SECONDS",
        help="Run the reconciling refresh when this long has passed since the last one.",
    )(fn)
    decorated: F = click.option(
        "--interval",
        type=click.FloatRange(min=0.01),
        default=60.0,
        show_default=True,
        help="Seconds between the worker's passes.",
    )(fn)
    return decorated


def summary(report: dict[str, Any], as_of: str) -> str:
    """A pass's report (WorkerReport.to_dict) as the worker prints it."""
    lines = [
        f"as of {as_of}: {report['processed']} due evaluations at "
        f"{report['instants']} instants; {report['entered']} entered, {report['exited']} exited"
    ]
    if report["boundaries"]:
        lines.append(
            f"segment starts/ends applied to the rules reading their user groups: "
            f"{report['boundaries']} (segment, member) pairs"
        )
    refresh = report["refresh"]
    if refresh is not None:
        resumed = " (resumed an interrupted run)" if refresh["resumed"] else ""
        lines.append(
            f"reconciling refresh run {refresh['run_id']}{resumed}: "
            f"{len(refresh['segments'])} segments, {refresh['entered']} entered, "
            f"{refresh['exited']} exited"
        )
    return "\n".join(lines)


def _iso(instant: dt.datetime) -> str:
    return instant.isoformat()


@click.command("worker")
@click.option("--once", is_flag=True, help="Process what is due as of --as-of, then exit.")
@schedule_options
@click.option("--json", "as_json", is_flag=True, help="Print each pass's report as JSON.")
@pass_app
def worker_command(
    app: AppContext, once: bool, interval: float, reconcile_every: float | None, as_json: bool
) -> None:
    """Re-evaluate every (customer, segment) whose time window is due, at its exact
    instant, and run the periodic reconciling refresh.

    With --once, process what is due as of --as-of (default now) and exit; otherwise
    repeat every --interval seconds (the clock is then the current time) until
    interrupted. While `segmint serve` holds a DuckDB file, each pass runs inside the
    server, at its clock (which, by default, runs the schedule itself too)."""
    server = app.server()
    if server is not None:
        _through(server, once, interval, reconcile_every, as_json)
        return
    store = app.store()
    store.require_schema()
    every = dt.timedelta(seconds=reconcile_every) if reconcile_every else None
    now = app.now
    while True:
        result = run_worker(store, now, once=True, reconcile_every=every).to_dict()
        click.echo(dumps(result) if as_json else summary(result, _iso(now)))
        if once:
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return
        now = dt.datetime.now(dt.UTC)


def _through(
    server: Server, once: bool, interval: float, reconcile_every: float | None, as_json: bool
) -> None:
    """The passes run by the server holding the database (``POST /v1/admin/worker/run``)."""
    held = server.held
    if not once and held.worker:
        click.echo(
            f"segmint: the server also runs the worker's schedule every "
            f"{held.worker_interval:g} s (GET /v1/admin/worker shows its last pass)",
            err=True,
        )
    while True:
        answer = server.post("/v1/admin/worker/run", {"reconcile_every_seconds": reconcile_every})
        as_of = _iso(dt.datetime.fromisoformat(answer["as_of"].replace("Z", "+00:00")))
        report = answer["report"]
        click.echo(dumps(report) if as_json else summary(report, as_of))
        if once:
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return


COMMANDS: list[click.Command] = [worker_command]
