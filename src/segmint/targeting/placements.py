"""Choosing what a placement shows (TARGETING.md §6): pure, no I/O.

A placement answers with its items in priority order (higher first, ties by code):
``single`` shows the first that applies, ``multi`` every one that applies, at most
``max_items``. An item applies when its own schedule is live at the instant and in the
request's store, its audience is true (GLOBAL: always) and, for a ``when_near`` item,
its promotion is a near miss. Whoever calls decides the audiences (through the audience
index); this module orders, filters, caps and says why every other item did not show.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from segmint.targeting.model import Mode, Placement, PlacementItem, Schedule


class Reason:
    """Why an item did not show; the values are the API's ``reason`` strings."""

    # the names TARGETING.md §4 gives every lever; the detail says whether the item's or
    # the placement's own schedule refused it
    INACTIVE = "inactive"
    NOT_STARTED = "not_started"
    ENDED = "ended"
    STORE = "store"
    LOGIN_REQUIRED = "login_required"  # the audience reads stored customer data
    # placements only
    AUDIENCE = "audience"  # the audience is false
    NOT_NEAR = "not_near"  # when_near: the promotion is not a near miss
    SINGLE_TAKEN = "single_taken"  # single mode: an item of higher priority showed
    MAX_ITEMS = "max_items"  # multi mode: max_items items of higher priority showed


@dataclass(frozen=True)
class Shown:
    item: PlacementItem


@dataclass(frozen=True)
class Rejected:
    item: PlacementItem
    reason: str
    detail: str

    def to_dict(self, placement: str) -> dict[str, Any]:
        return {
            "placement": placement,
            "item": self.item.code,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Answer:
    placement: Placement
    shown: tuple[Shown, ...]
    rejected: tuple[Rejected, ...]


def ordered(items: Iterable[PlacementItem]) -> list[PlacementItem]:
    """Items by priority, higher first, ties by code."""
    return sorted(items, key=lambda i: (-i.schedule.priority, i.code))


def _at(instant: dt.datetime | None) -> str:
    return instant.isoformat().replace("+00:00", "Z") if instant else ""


def schedule_refusal(
    schedule: Schedule, now: dt.datetime, store: str | None, *, of_placement: bool = False
) -> tuple[str, str] | None:
    """(reason, detail) when a schedule does not apply at ``now`` in ``store``."""
    always = schedule.starts_at is None and schedule.ends_at is None and not schedule.stores
    if always and schedule.active:
        return None
    what = "the placement" if of_placement else "the item"
    if not schedule.active:
        return Reason.INACTIVE, f"{what} is inactive"
    if schedule.starts_at is not None and now < schedule.starts_at:
        return Reason.NOT_STARTED, f"{what} starts at {_at(schedule.starts_at)}"
    if schedule.ends_at is not None and now >= schedule.ends_at:
        return Reason.ENDED, f"{what} ended at {_at(schedule.ends_at)}"
    if not schedule.in_store(store):
        stores = ", ".join(schedule.stores)
        shown = f"store {store!r}" if store is not None else "no store"
        return Reason.STORE, f"{what} shows only in {stores}; the request has {shown}"
    return None


def choose(
    placement: Placement,
    now: dt.datetime,
    store: str | None,
    applies: Callable[[PlacementItem], tuple[str, str] | None],
    *,
    near: Collection[str] = (),
    candidates: Iterable[PlacementItem] | None = None,
    presorted: bool = False,
    explain: bool = False,
) -> Answer:
    """The placement's answer at ``now``.

    ``applies(item)`` decides the audience: None when it is true, else (reason, detail).
    ``candidates`` (the items whose audience the index found true) lets a caller that does
    not explain skip the others; with ``explain`` every item is visited, and each one that
    did not show gets its reason. ``presorted``: the candidates are in priority order
    already."""
    refusal = schedule_refusal(placement.schedule, now, store, of_placement=True)
    if refusal is not None:
        rejected = [Rejected(i, *refusal) for i in ordered(placement.items)] if explain else []
        return Answer(placement, (), tuple(rejected))
    if explain or candidates is None:
        pool = ordered(placement.items)
    else:
        pool = list(candidates) if presorted else ordered(candidates)
    single = placement.effective_mode is Mode.SINGLE
    limit = 1 if single else placement.max_items
    shown: list[Shown] = []
    rejected_items: list[Rejected] = []
    for item in pool:
        why = schedule_refusal(item.schedule, now, store)
        if why is None and item.when_near is not None and item.when_near not in near:
            why = (Reason.NOT_NEAR, f"promotion {item.when_near!r} is not a near miss")
        if why is None:
            why = applies(item)
        if why is None and limit is not None and len(shown) >= limit:
            if not explain:
                break
            why = (
                (Reason.SINGLE_TAKEN, f"item {shown[0].item.code!r} shows in this single placement")
                if single
                else (Reason.MAX_ITEMS, f"the placement shows at most {limit} items")
            )
        if why is None:
            shown.append(Shown(item))
        elif explain:
            rejected_items.append(Rejected(item, *why))
    return Answer(placement, tuple(shown), tuple(rejected_items))
