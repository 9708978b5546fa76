"""The demo's replay of Complete Journey's last weeks (services.demo_data): the data
loaded before a cutoff, segments defined there, then the weeks after it imported one at
a time with a refresh at each week's end. Afterwards the store holds every order once,
the memberships are exactly what the rules answer at the end (tests/membership_oracle.py),
and the segments' history moved inside the replayed week as well as at their creation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from membership_oracle import describe, history_problems, membership_problems
from segmint.demo.complete_journey import complete_journey_weeks
from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.services import demo_data, segments
from segmint.store.duckdb import DuckDBStore

pytestmark = pytest.mark.slow

END = dt.datetime(2018, 1, 1, tzinfo=dt.UTC)
START = END - dt.timedelta(weeks=1)
RULES = {
    "recent": "EXISTS(orders WHERE placed_at WITHIN 14d)",
    "big-week": "SUM(orders.total WHERE placed_at WITHIN 7d) > 150",
}


def test_the_weeks_split_the_orders_once() -> None:
    weeks = list(complete_journey_weeks(END - dt.timedelta(days=10), END))
    assert [until for until, _ in weeks] == [END - dt.timedelta(days=3), END]
    for until, table in weeks:
        placed = table.column("placed_at").to_pylist()
        assert placed and max(placed) < until and min(placed) >= until - dt.timedelta(days=7)


def test_a_replayed_week_leaves_exact_memberships_and_moving_history(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "cj.duckdb")
    try:
        store.init()
        demo_data.load_complete_journey(store, before=START)
        loaded = store.stats()["orders"]
        for code, rule in RULES.items():
            definition = SegmentDefinition(code, code, SegmentKind.RULE, rule_text=rule)
            segments.create_segment(store, definition, START)
        [week] = demo_data.replay_complete_journey(store, START, END)
        assert week.until == END and store.stats()["orders"] == loaded + week.orders
        assert store.stats()["orders"] == 155_762  # every basket of the data set, once
        problems = membership_problems(store, END, with_match=False)
        problems += history_problems(store, END)
        assert not problems, describe(problems)
        # the history moved inside the replayed week (each change at its own instant)
        rows = store._q('SELECT DISTINCT "at" FROM membership_history ORDER BY 1')
        instants = [row[0].replace(tzinfo=dt.UTC) for row in rows]
        assert instants[0] == START and instants[1] > START and instants[-1] <= END
        assert week.entered > 0 and week.exited > 0
    finally:
        store.close()
