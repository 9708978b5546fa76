"""The worker's schedule inside the app (api/worker.py), on both stores: with no other
process, a window member exits at its exact instant once the app's clock passes it, the
evaluator forgets what it cached, the status endpoint reports the pass, a failing pass
is recorded without stopping the schedule, and shutdown stops the thread."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from segmint.api.app import create_app
from segmint.api.worker import WorkerSettings
from segmint.services import auth
from segmint.services import rules as rules_service
from segmint.store.base import Store

UTC = dt.UTC
T0 = dt.datetime(2024, 5, 1, tzinfo=UTC)
RULE = "EXISTS(orders WHERE placed_at WITHIN 30d)"
PLACED = {"c1": T0 - dt.timedelta(days=10), "c2": T0 - dt.timedelta(days=2)}
LATER = T0 + dt.timedelta(days=25)  # c1's window closed at T0 + 20 days, c2's is open


class Clock:
    """The app's clock, moved by the test (and able to fail once, like a broken pass)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.fail = 0

    def __call__(self) -> dt.datetime:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("clock unavailable")
        return self.now


def _app(store: Store, url: str, clock: Clock, enabled: bool) -> tuple[Any, dict[str, str]]:
    token = auth.create_api_key(store, "admin", T0)[1]
    app = create_app(url, clock=clock, worker=WorkerSettings(enabled=enabled, interval=0.05))
    # Long cache lives: only an explicit invalidation can make evaluate see the exit.
    app.state.segmint.evaluator.catalog_ttl = 3600.0
    app.state.segmint.evaluator.customer_ttl = 3600.0
    return app, {"Authorization": f"Bearer {token}"}


def _shop(client: TestClient, h: dict[str, str]) -> None:
    orders = [
        {"id": f"o-{cid}", "customer_id": cid, "placed_at": at.isoformat(), "total": "80"}
        for cid, at in PLACED.items()
    ]
    assert client.post("/v1/orders/batch", json=orders, headers=h).status_code == 200
    segment = {"code": "recent", "name": "Recent", "kind": "rule", "rule": RULE}
    assert client.post("/v1/segments", json=segment, headers=h).status_code == 201


def _members(client: TestClient, h: dict[str, str]) -> list[str]:
    items: list[str] = client.get("/v1/segments/recent/members", headers=h).json()["items"]
    return items


def _evaluated(client: TestClient, h: dict[str, str], customer: str) -> list[str]:
    answer = client.post("/v1/evaluate", json={"customer_id": customer}, headers=h).json()
    return [s["code"] for s in answer["segments"]]


def _wait(until: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not until():
        assert time.monotonic() < deadline, "the in-process worker did not get there in time"
        time.sleep(0.02)


def test_in_process_worker_exits_a_window_member(store: Store, store_url: str) -> None:
    clock = Clock(T0)
    app, h = _app(store, store_url, clock, enabled=True)
    with TestClient(app) as client:
        _shop(client, h)
        assert _members(client, h) == ["c1", "c2"]
        assert _evaluated(client, h, "c1") == ["recent"]  # now cached
        clock.now = LATER

        def passed_later() -> bool:
            return client.get("/v1/admin/worker", headers=h).json()["last_as_of"] == (
                LATER.isoformat().replace("+00:00", "Z")
            )

        _wait(passed_later)
        oracle = rules_service.match(store, RULE, LATER, "python").customers
        assert oracle == ["c2"]
        assert _members(client, h) == oracle
        exits = [
            c
            for c in client.get("/v1/segments/recent/history", headers=h).json()["changes"]
            if c["change"] == "exit"
        ]
        assert [(c["customer_id"], c["at"]) for c in exits] == [
            ("c1", (PLACED["c1"] + dt.timedelta(days=30)).isoformat().replace("+00:00", "Z"))
        ]
        assert _evaluated(client, h, "c1") == []  # the evaluator's cache was dropped
        status = client.get("/v1/admin/worker", headers=h).json()
        assert status["enabled"] and status["running"] and status["passes"] >= 1
        assert status["last_error"] is None
        worker = app.state.segmint.worker
    assert not worker.running  # stopped with the app


def test_a_failing_pass_is_recorded_and_the_schedule_goes_on(store: Store, store_url: str) -> None:
    clock = Clock(T0)
    app, h = _app(store, store_url, clock, enabled=True)
    with TestClient(app) as client:
        _shop(client, h)
        before = client.get("/v1/admin/worker", headers=h).json()["passes"]
        clock.fail = 1
        clock.now = LATER
        _wait(lambda: client.get("/v1/admin/worker", headers=h).json()["failures"] == 1)
        _wait(lambda: _members(client, h) == ["c2"])
        status = client.get("/v1/admin/worker", headers=h).json()
        assert "clock unavailable" in status["last_error"]
        assert status["running"] and status["passes"] > before


def test_without_the_schedule_a_pass_runs_on_demand(store: Store, store_url: str) -> None:
    clock = Clock(T0)
    app, h = _app(store, store_url, clock, enabled=False)
    with TestClient(app) as client:
        _shop(client, h)
        clock.now = LATER
        time.sleep(0.2)  # nothing runs by itself
        assert _members(client, h) == ["c1", "c2"]
        status = client.get("/v1/admin/worker", headers=h).json()
        assert (status["enabled"], status["running"], status["passes"]) == (False, False, 0)
        ran = client.post("/v1/admin/worker/run", json={}, headers=h).json()
        assert ran["as_of"] == LATER.isoformat().replace("+00:00", "Z")
        assert (ran["report"]["exited"], ran["report"]["entered"]) == (1, 0)
        assert _members(client, h) == rules_service.match(store, RULE, LATER).customers
        assert _evaluated(client, h, "c1") == []
