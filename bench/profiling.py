"""The in-process profile the benches print: the unprofiled time per call, then the top
functions by cumulative time under cProfile (which inflates them), per call."""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def profile_table(
    fn: Callable[[], Any], runs: int, *, unit: str = "request", warmup: int = 50, top: int = 40
) -> None:
    """Warm ``fn`` up, time ``runs`` calls, then print a markdown table of the top
    ``top`` functions of ``runs`` profiled calls (ms per ``unit``)."""
    for _ in range(warmup):
        fn()
    started = time.perf_counter()
    for _ in range(runs):
        fn()
    print(f"unprofiled: {(time.perf_counter() - started) / runs * 1000:.3f} ms per {unit}\n")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        fn()
    profiler.disable()
    rows = []
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    for (file, line, name), (_, calls, own, cum, _) in stats.items():
        where = f"{Path(file).name}:{line} {name}"
        rows.append((cum / runs * 1000, own / runs * 1000, calls / runs, where))
    rows.sort(reverse=True)
    print(f"| function | cumulative ms/{unit} (profiled) | own ms | calls/{unit} |")
    print("|---|---:|---:|---:|")
    for cum, own, calls, where in rows[:top]:
        print(f"| `{where}` | {cum:.3f} | {own:.3f} | {calls:.1f} |")
