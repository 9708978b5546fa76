"""Whether a priced lever (promotion, campaign, price list) applies at an instant in a
store, and why not (TARGETING.md §1's half-open dates; the reason names of §4)."""

from __future__ import annotations

import datetime as dt

from segmint.targeting.cart import Reason
from segmint.targeting.model import Schedule


def _at(instant: dt.datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def refusal(
    schedule: Schedule, now: dt.datetime, store: str | None, what: str
) -> tuple[str, str] | None:
    """(reason, detail) when ``schedule`` does not apply at ``now`` in ``store``; ``what``
    names the lever in the detail (``"promotion 'p1'"``)."""
    if not schedule.active:
        return Reason.INACTIVE, f"{what} is inactive"
    if schedule.starts_at is not None and now < schedule.starts_at:
        return Reason.NOT_STARTED, f"{what} starts at {_at(schedule.starts_at)}"
    if schedule.ends_at is not None and now >= schedule.ends_at:
        return Reason.ENDED, f"{what} ended at {_at(schedule.ends_at)}"
    if not schedule.in_store(store):
        shown = f"store {store!r}" if store is not None else "no store"
        return (
            Reason.STORE,
            f"{what} applies only in {', '.join(schedule.stores)}; the request has {shown}",
        )
    return None
