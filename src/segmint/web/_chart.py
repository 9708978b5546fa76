"""The members-over-time chart on a segment's page: an inline SVG step line computed on the
server from the segment's history (+1 per entry, −1 per exit). No chart library, no script."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from segmint.services import segments as segments_service
from segmint.web._templates import instant


@dataclass(frozen=True)
class Chart:
    """An inline SVG step chart of members over time."""

    width: int
    height: int
    left: int
    top: float
    bottom: float
    points: str
    first: str
    last: str
    peak: int
    latest: int
    changes: int


def chart(changes: list[segments_service.Change], now: dt.datetime) -> Chart | None:
    if not changes:
        return None
    counts: list[tuple[dt.datetime, int]] = []
    count = 0
    for change in changes:
        count += 1 if change.change == "enter" else -1
        if counts and counts[-1][0] == change.at:
            counts[-1] = (change.at, count)
        else:
            counts.append((change.at, count))
    end = max(now, counts[-1][0])
    start = counts[0][0]
    span = max((end - start).total_seconds(), 1.0)
    peak = max(max(c for _, c in counts), 1)
    width, height, pad, left = 600, 160, 6, 44  # `left`: room for the axis labels

    def x(at: dt.datetime) -> float:
        return left + (width - left - pad) * (at - start).total_seconds() / span

    def y(c: int) -> float:
        return height - pad - (height - 2 * pad) * c / peak

    points: list[str] = [f"{x(start):.1f},{y(0):.1f}"]
    previous = 0
    for at, c in counts:
        points.append(f"{x(at):.1f},{y(previous):.1f}")
        points.append(f"{x(at):.1f},{y(c):.1f}")
        previous = c
    points.append(f"{x(end):.1f},{y(previous):.1f}")
    return Chart(
        width,
        height,
        left,
        y(peak),
        y(0),
        " ".join(points),
        instant(start),
        instant(end),
        max(c for _, c in counts),
        previous,
        len(changes),
    )
