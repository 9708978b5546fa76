"""``segmint clock show|set|unset``: the store's own clock (services/store_clock.py).

A store whose clock is set answers every command, and ``segmint serve``, as of that
instant unless ``--as-of`` or ``SEGMINT_NOW`` says otherwise; the demo sets it to
2018-01-01, where the Complete Journey data ends. A server reads it when it starts.
"""

from __future__ import annotations

import datetime as dt

import click

from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import format_option, render_mapping, resolve_format
from segmint.clock import parse_instant
from segmint.services import store_clock


def _iso(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@click.group("clock")
def clock_group() -> None:
    """The store's own clock: a fixed evaluation instant kept with the store."""


@clock_group.command("show")
@format_option()
@pass_app
def clock_show_command(app: AppContext, fmt: str | None) -> None:
    """The store's clock, and the instant commands evaluate at now."""
    stored = store_clock.stored_clock(app.store())
    info = {
        "clock": _iso(stored) if stored is not None else "real time",
        "evaluating_at": _iso(app.now),
    }
    click.echo(render_mapping(info, resolve_format(fmt)))


@clock_group.command("set")
@click.argument("instant")
@pass_app
def clock_set_command(app: AppContext, instant: str) -> None:
    """Fix the store's clock at INSTANT (ISO timestamp or date, UTC when naive)."""
    at = store_clock.set_clock(app.store(), parse_instant(instant, what="INSTANT"))
    click.echo(f"clock fixed at {_iso(at)}")


@clock_group.command("unset")
@pass_app
def clock_unset_command(app: AppContext) -> None:
    """Let the store follow real time again."""
    was = store_clock.unset_clock(app.store())
    click.echo("the store follows real time" + ("" if was else " (no clock was set)"))


COMMANDS: list[click.Command] = [clock_group]
