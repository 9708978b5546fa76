"""Calendar arithmetic and store-time-zone day ranges (rules/timeutil.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from segmint.rules.ast import Duration
from segmint.rules.timeutil import date_bounds, day_range, day_start, local_date, shift

UTC = dt.UTC


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("now", "duration", "expected"),
    [
        (at(2024, 1, 31, 15, 45), Duration(1, "m"), at(2023, 12, 31, 15, 45)),
        (at(2024, 3, 31, 8), Duration(1, "m"), at(2024, 2, 29, 8)),  # leap year
        (at(2023, 3, 31, 8), Duration(1, "m"), at(2023, 2, 28, 8)),
        (at(2024, 5, 31), Duration(3, "m"), at(2024, 2, 29)),
        (at(2024, 2, 29, 12), Duration(1, "y"), at(2023, 2, 28, 12)),
        (at(2024, 1, 15), Duration(13, "m"), at(2022, 12, 15)),
        (at(2024, 5, 1), Duration(30, "d"), at(2024, 4, 1)),
        (at(2024, 5, 1), Duration(2, "w"), at(2024, 4, 17)),
        (at(2024, 5, 1), Duration(25, "h"), at(2024, 4, 29, 23)),
        (at(2024, 5, 1), Duration(0, "m"), at(2024, 5, 1)),
    ],
)
def test_shift_back(now: dt.datetime, duration: Duration, expected: dt.datetime) -> None:
    assert shift(now, duration) == expected


def test_shift_forward_clamps_and_keeps_microseconds() -> None:
    assert shift(at(2024, 1, 31, 1, 2, 3, 4), Duration(1, "m"), sign=1) == at(
        2024, 2, 29, 1, 2, 3, 4
    )


def test_day_start_utc_and_zones() -> None:
    assert day_start(dt.date(2024, 3, 31), "UTC") == at(2024, 3, 31)
    # Berlin switches to summer time on 31 March 2024: that day is 23 hours long.
    start, end = day_range(dt.date(2024, 3, 31), "Europe/Berlin")
    assert start == at(2024, 3, 30, 23)
    assert end == at(2024, 3, 31, 22)
    assert day_start(dt.date(2024, 1, 1), "America/New_York") == at(2024, 1, 1, 5)
    assert start.tzinfo is UTC


def test_local_date() -> None:
    assert local_date(at(2024, 3, 15, 23, 30), "UTC") == dt.date(2024, 3, 15)
    assert local_date(at(2024, 3, 15, 23, 30), "Europe/Berlin") == dt.date(2024, 3, 16)


def test_date_bounds_are_half_open_days() -> None:
    d = dt.date(2024, 3, 31)
    lo, hi = at(2024, 3, 31), at(2024, 4, 1)
    assert date_bounds("=", d, "UTC") == ((">=", lo), ("<", hi))
    assert date_bounds("<", d, "UTC") == (("<", lo),)
    assert date_bounds("<=", d, "UTC") == (("<", hi),)
    assert date_bounds(">", d, "UTC") == ((">=", hi),)
    assert date_bounds(">=", d, "UTC") == ((">=", lo),)
    with pytest.raises(ValueError):
        date_bounds("!=", d, "UTC")
