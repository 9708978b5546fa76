"""Choosing a placement's items (targeting/placements.py), one scenario per rule of
TARGETING.md §6."""

from __future__ import annotations

import datetime as dt

from segmint.targeting.model import Mode, Placement, PlacementItem, PlacementType, Schedule
from segmint.targeting.placements import Reason, choose, ordered

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def it(code: str, priority: int = 0, **schedule: object) -> PlacementItem:
    return PlacementItem(code, {"t": code}, schedule=Schedule(priority=priority, **schedule))  # type: ignore[arg-type]


def everyone(_: PlacementItem) -> None:
    return None


def codes(placement: Placement, **kw: object) -> list[str]:
    answer = choose(placement, NOW, kw.pop("store", None), kw.pop("applies", everyone), **kw)  # type: ignore[arg-type]
    return [s.item.code for s in answer.shown]


def test_priority_then_code() -> None:
    items = [it("b", 1), it("a", 1), it("z", 5), it("c")]
    assert [i.code for i in ordered(items)] == ["z", "a", "b", "c"]


def test_single_shows_the_first_that_applies() -> None:
    hero = Placement("hero", PlacementType.HERO, (it("low"), it("high", 3)))
    assert codes(hero) == ["high"]
    none_high = lambda i: (Reason.AUDIENCE, "no") if i.code == "high" else None  # noqa: E731
    assert codes(hero, applies=none_high) == ["low"]


def test_multi_caps_at_max_items_and_without_a_cap_shows_all() -> None:
    items = tuple(it(c, p) for c, p in (("a", 1), ("b", 2), ("c", 3)))
    assert codes(Placement("f", PlacementType.NEWS_FEED, items, max_items=2)) == ["c", "b"]
    assert codes(Placement("f", PlacementType.NEWS_FEED, items)) == ["c", "b", "a"]
    single_feed = Placement("f", PlacementType.NEWS_FEED, items, mode=Mode.SINGLE)
    assert codes(single_feed) == ["c"]


def test_item_schedules_and_stores() -> None:
    items = (
        it("ended", 9, ends_at=NOW),  # half-open: ends_at itself is outside
        it("starts", 8, starts_at=NOW),  # starts_at itself is inside
        it("off", 7, active=False),
        it("web", 6, stores=("web",)),
    )
    feed = Placement("f", PlacementType.NEWS_FEED, items)
    assert codes(feed) == ["starts"]
    assert codes(feed, store="Web") == ["starts", "web"]
    answer = choose(feed, NOW, "app", everyone, explain=True)
    assert {r.item.code: r.reason for r in answer.rejected} == {
        "ended": Reason.ENDED,
        "off": Reason.INACTIVE,
        "web": Reason.STORE,
    }


def test_a_placement_out_of_its_dates_shows_nothing_and_says_why() -> None:
    feed = Placement("f", PlacementType.NEWS_FEED, (it("a"),), schedule=Schedule(ends_at=NOW))
    answer = choose(feed, NOW, None, everyone, explain=True)
    assert answer.shown == ()
    assert [(r.item.code, r.reason) for r in answer.rejected] == [("a", Reason.ENDED)]


def test_when_near_items_wait_for_their_near_miss() -> None:
    nudge = PlacementItem("nudge", {}, when_near="free-ship")
    messages = Placement("m", PlacementType.CART_MESSAGE, (nudge,))
    assert codes(messages) == []
    assert codes(messages, near={"free-ship"}) == ["nudge"]


def test_candidates_limit_the_items_visited_without_explain() -> None:
    feed = Placement("f", PlacementType.NEWS_FEED, (it("a"), it("b")))
    assert codes(feed, candidates=[feed.items[1]]) == ["b"]
    # with explain every item is visited and the callback decides
    answer = choose(feed, NOW, None, everyone, candidates=[], explain=True)
    assert [s.item.code for s in answer.shown] == ["a", "b"]
