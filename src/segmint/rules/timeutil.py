"""Time arithmetic shared by every engine (pure, no I/O).

Both compilers compute every instant in Python and bind it (SQL) or close over it
(Python engine), so all engines use the very same instants (docs/architecture.md).

- :func:`shift` moves an instant by a rule duration: ``h``/``d``/``w`` are exact,
  ``m``/``y`` are calendar units at the same time of day, the day clamped to the end of
  the target month (31 Jan − 1m → 31 Dec; 31 Mar − 1m → 29 Feb in a leap year).
- :func:`day_start` / :func:`day_range` give the UTC instants bounding a calendar day of
  the store's time zone, so "timestamp vs date literal" becomes a half-open UTC range.
- :func:`date_bounds` turns ``t op DATE`` into bounds on ``t`` (RULES.md §3: a date
  literal compared with a timestamp compares the timestamp's calendar day).
"""

from __future__ import annotations

import calendar
import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from segmint.rules.ast import Duration

UTC = dt.UTC

_EXACT_UNITS = {"h": dt.timedelta(hours=1), "d": dt.timedelta(days=1), "w": dt.timedelta(weeks=1)}


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """``moment`` plus ``months`` calendar months, day clamped to the month's end."""
    index = moment.year * 12 + (moment.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise OverflowError(f"date out of range: year {year}")
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def shift(now: dt.datetime, duration: Duration, sign: int = -1) -> dt.datetime:
    """``now`` moved by ``sign`` × ``duration`` (``sign=-1``: the instant ``-N unit``).

    Calendar units operate on the UTC wall clock, which is what ``now`` is stored in:
    "same time of day" therefore means the same UTC time of day. This keeps the result a
    pure function of ``now`` with no time-zone ambiguity (no DST gaps in UTC).
    """
    if sign not in (-1, 1):
        raise ValueError("sign must be -1 or 1")
    if duration.amount < 0:
        raise ValueError("duration amount must not be negative")
    exact = _EXACT_UNITS.get(duration.unit)
    if exact is not None:
        return now + sign * duration.amount * exact
    months = duration.amount * (12 if duration.unit == "y" else 1)
    return add_months(now, sign * months)


@lru_cache(maxsize=64)
def zone(tz: str) -> dt.tzinfo:
    """The tzinfo for a store time zone name (``UTC`` short-circuits zoneinfo)."""
    if tz.upper() == "UTC":
        return UTC
    return ZoneInfo(tz)


def day_start(d: dt.date, tz: str) -> dt.datetime:
    """The aware UTC instant at which calendar day ``d`` begins in time zone ``tz``.

    A day starting inside a DST gap (rare: e.g. midnight skipped) starts at the first
    existing instant after midnight; zoneinfo's fold=0 handling gives exactly that once
    the naive midnight is normalised through UTC.
    """
    local = dt.datetime(d.year, d.month, d.day, tzinfo=zone(tz))
    return local.astimezone(UTC)


def day_range(d: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` in UTC of calendar day ``d`` in ``tz``."""
    return day_start(d, tz), day_start(d + dt.timedelta(days=1), tz)


def local_date(moment: dt.datetime, tz: str) -> dt.date:
    """The calendar day (in ``tz``) on which the aware instant ``moment`` falls."""
    return moment.astimezone(zone(tz)).date()


#: One bound on a timestamp: ``(op, instant)`` with op one of ``>=``, ``<``.
Bound = tuple[str, dt.datetime]


def date_bounds(op: str, d: dt.date, tz: str) -> tuple[Bound, ...]:
    """Bounds on a timestamp ``t`` equivalent to ``calendar_day(t, tz) op d``.

    The result is a conjunction; ``=`` gives two bounds, the others one. ``!=`` is not
    accepted: callers negate ``=`` (two-valued logic keeps that exact).
    """
    lo, hi = day_range(d, tz)
    match op:
        case "=":
            return ((">=", lo), ("<", hi))
        case "<":
            return (("<", lo),)
        case "<=":
            return (("<", hi),)
        case ">":
            return ((">=", hi),)
        case ">=":
            return ((">=", lo),)
    raise ValueError(f"no date bounds for operator {op!r}")


#: ``a op b`` ⇔ ``b FLIPPED[op] a``.
FLIPPED = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def to_naive_utc(moment: dt.datetime) -> dt.datetime:
    """An aware instant as the naive UTC value the stores keep in TIMESTAMP columns."""
    return moment.astimezone(UTC).replace(tzinfo=None)
