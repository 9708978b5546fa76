"""The discount-per-week chart of a simulation on past orders: inline SVG bars computed on
the server from the report (one bar per promotion and week), as ``_chart`` draws the
members-over-time line. No chart library, no script."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int  # the promotion's position (its colour)
    label: str  # "week of …: promotion, amount"


@dataclass(frozen=True)
class WeekChart:
    width: int
    height: int
    left: int
    top: float
    bottom: float
    peak: str
    bars: list[Bar]
    first: str
    last: str
    promotions: list[str]


def week_chart(report: dict[str, Any]) -> WeekChart | None:
    """The chart of ``report`` (the report's dict), or None when no week has a discount."""
    variants = report["promotions"]
    weeks = sorted({w["week"] for v in variants for w in v["weeks"]})
    if not weeks:
        return None
    amounts = {
        (i, w["week"]): Decimal(w["discount"]) for i, v in enumerate(variants) for w in v["weeks"]
    }
    peak = max(max(amounts.values()), Decimal("0.01"))
    width, height, pad, left = 600, 180, 6, 56
    slot = (width - left - pad) / len(weeks)
    bar = max(slot * 0.8 / len(variants), 1.0)
    bars: list[Bar] = []
    for k, week in enumerate(weeks):
        for i, v in enumerate(variants):
            amount = amounts.get((i, week), Decimal(0))
            h = float((height - 2 * pad) * amount / peak)
            bars.append(
                Bar(
                    x=left + k * slot + slot * 0.1 + i * bar,
                    y=height - pad - h,
                    width=bar,
                    height=h,
                    series=i % 4,
                    label=f"week of {week}: {v['promotion']}, {amount}",
                )
            )
    return WeekChart(
        width,
        height,
        left,
        float(pad),
        float(height - pad),
        str(peak),
        bars,
        weeks[0],
        weeks[-1],
        [v["promotion"] for v in variants],
    )
