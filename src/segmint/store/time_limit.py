"""One watchdog thread for every time limit of the process (Store.limit_time).

A store lent to a request is interrupted when its time is up: DuckDB's
``connection.interrupt()``, psycopg's ``cancel_safe()``. One thread sleeping on a heap of
deadlines costs nothing per request (no thread per request), and arming or disarming is
a push and a flag under a lock.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from contextlib import suppress

_lock = threading.Condition()
_heap: list[tuple[float, int, Callable[[], None]]] = []
_armed: set[int] = set()
_ids = itertools.count(1)
_thread: threading.Thread | None = None


def arm(deadline: float, interrupt: Callable[[], None]) -> int:
    """Call ``interrupt`` at the monotonic instant ``deadline`` unless disarmed first."""
    global _thread
    with _lock:
        token = next(_ids)
        heapq.heappush(_heap, (deadline, token, interrupt))
        _armed.add(token)
        if _thread is None:
            _thread = threading.Thread(target=_watch, name="segmint-time-limit", daemon=True)
            _thread.start()
        _lock.notify()
    return token


def disarm(token: int) -> None:
    with _lock:
        _armed.discard(token)


def _watch() -> None:
    while True:
        with _lock:
            while _heap and _heap[0][1] not in _armed:
                heapq.heappop(_heap)  # disarmed
            if not _heap:
                _lock.wait()
                continue
            deadline, token, interrupt = _heap[0]
            wait = deadline - time.monotonic()
            if wait > 0:
                _lock.wait(wait)
                continue
            heapq.heappop(_heap)
            _armed.discard(token)
        with suppress(Exception):  # a connection closed meanwhile has nothing to stop
            interrupt()
