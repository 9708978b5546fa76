"""bench/quick.py's comparison: a ratio more than 15 % below the recorded one is named in
a warning; within the tolerance, or faster, is not; benchmarks on one side only are said."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from quick import Measured, best, compare, step_of


def test_a_ratio_more_than_15_percent_behind_is_named() -> None:
    recorded = {"evaluate": 0.50, "match": 1.00, "refresh": 0.80}
    current = {"evaluate": 0.42, "match": 0.86, "refresh": 0.95}  # -16 %, -14 %, +19 %
    verdicts, warnings = compare(recorded, current)
    assert [v.name for v in verdicts] == ["evaluate", "match", "refresh"]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING: evaluate regressed")
    assert "16% behind" in warnings[0]
    assert verdicts[1].change == pytest.approx(-0.14)
    assert not verdicts[1].behind() and not verdicts[2].behind()


def test_the_boundary_and_the_tolerance() -> None:
    assert compare({"x": 1.0}, {"x": 0.85})[1] == []  # exactly 15 % behind: not more
    assert len(compare({"x": 1.0}, {"x": 0.849})[1]) == 1
    assert compare({"x": 1.0}, {"x": 0.9}, tolerance=0.05)[1][0].startswith("WARNING: x")


def test_benchmarks_on_one_side_only() -> None:
    _, warnings = compare({"old": 1.0}, {"new": 1.0})
    assert warnings == [
        "WARNING: new: no recorded ratio (run with --record)",
        "WARNING: old: recorded but not measured in this run",
    ]


def test_a_second_measurement_keeps_the_better_ratio() -> None:
    first = [
        Measured("evaluate", "", 400.0, 1000.0, "req/s", 0.40),
        Measured("match", "", 0.012, 0.010, "s", 0.83),
    ]
    again = [Measured("evaluate", "", 480.0, 1000.0, "req/s", 0.48)]
    kept = best(first, again)
    assert [(m.name, m.ratio) for m in kept] == [("evaluate", 0.48), ("match", 0.83)]
    assert best(again, first)[0].ratio == 0.48  # a worse second run changes nothing
    assert step_of("match-20-fused") == "match" and step_of("ingest") == "ingest"
