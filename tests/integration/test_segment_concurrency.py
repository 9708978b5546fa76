"""Concurrent writers on ONE segment (docs/membership.md, "One writer at a time").

On a small synthetic shop (500 customers, 3,000 orders), rounds of 8 writers update the
same segment at once, each with a rule of its own, at an instant that moves forward a
few days each round (so every save first applies due window exits):

- through the services layer, each thread with its own PostgreSQL connection; half of
  the writers pass the version read before the round (an ``If-Match``), half do not;
- through the JSON API of a real uvicorn server, as an optimistic client does it: read
  the ``ETag``, ``PUT`` with ``If-Match``, and on 409 read again and retry (on both
  stores; DuckDB, whose app lends its one store to one request at a time, in 2 rounds).

After each round: one new version per successful answer (versions numbered in order,
each holding its writer's rule), the losers refused with a conflict (never a 500 or a
duplicate key), the segment's definition that of its last version, nothing left queued,
the stored members exactly the Python engine's ``match`` of the final rule at the
round's instant (tests/membership_oracle.py), and a history that alternates entry and
exit for every customer."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import httpx
import pytest
import uvicorn

from membership_oracle import describe, history_problems, membership_problems
from segmint.api.app import create_app
from segmint.demo.synthetic import REFERENCE_INSTANT
from segmint.errors import ConflictError
from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.services import auth, demo_data, segments
from segmint.services import rules as rules_service
from segmint.store.base import Store
from segmint.store.duckdb import DuckDBStore
from segmint.store.postgres import PostgresStore

WRITERS = 8
ROUNDS = 4
CODE = "contested"
BRANDS = ["Acme", "Globex", "Initech", "Stark", "Umbrella", "Hooli", "Wonka", "Soylent"]
FIRST_RULE = "SUM(orders.total WHERE placed_at WITHIN 30d) > 20"


def rule_for(round_: int, writer: int) -> str:
    """A rule of its own for every (round, writer): windowed sums, counts, brands."""
    if writer % 3 == 0:
        return f"SUM(orders.total WHERE placed_at WITHIN {20 + 10 * writer}d) > {30 + 25 * round_}"
    if writer % 3 == 1:
        return f"orders_count >= {2 + writer + round_}"
    return f"EXISTS(lines WHERE brand = '{BRANDS[writer]}' AND placed_at WITHIN {40 + 9 * round_}d)"


def instant(round_: int) -> dt.datetime:
    return REFERENCE_INSTANT + dt.timedelta(days=3 * round_, hours=round_)


def definition(rule: str, writer: int) -> SegmentDefinition:
    return SegmentDefinition(
        code=CODE, name=f"by writer {writer}", kind=SegmentKind.RULE, rule_text=rule
    )


@pytest.fixture()
def shop(make_store: Callable[..., Store], request: pytest.FixtureRequest) -> Store:
    store = make_store(request.param)
    demo_data.load_synthetic(store, 500, 3000, 0, seed=11)
    segments.create_segment(store, definition(FIRST_RULE, -1), instant(0))
    return store


def check_round(store: Store, now: dt.datetime, before: int, wins: dict[int, str]) -> None:
    """``wins``: version -> the rule of the writer whose save answered with it."""
    details = segments.show_segment(store, CODE, now)
    versions = {v.version: v.definition.rule_text for v in details.versions}
    assert details.record.version == before + len(wins), "one version per successful answer"
    assert sorted(wins) == list(range(before + 1, before + len(wins) + 1))
    assert {v: versions[v] for v in wins} == wins, "a version holds another writer's rule"
    last = max(versions)
    assert details.record.definition.rule_text == versions[last]
    assert store._q("SELECT COUNT(*) FROM refresh_runs WHERE state = 'running'") == [(0,)]
    assert store._q("SELECT COUNT(*) FROM membership_outbox") == [(0,)]
    rule = versions[last]
    assert rule is not None
    oracle = rules_service.match(store, rule, now, "python").customers
    assert sorted(segments.members(store, CODE)) == oracle
    problems = membership_problems(store, now, with_match=False) + history_problems(store, now)
    assert not problems, describe(problems)


@dataclass(frozen=True)
class Round:
    """One round: its number, instant, the version before it, and the start line."""

    number: int
    now: dt.datetime
    before: int
    barrier: threading.Barrier


def service_writer(url: str, at: Round, writer: int) -> tuple[int | None, int | str]:
    """One writer with its own connection: (the version it expected, the version it
    wrote or the conflict's message). Odd writers pass the version read before."""
    expected = at.before if writer % 2 else None
    store = PostgresStore(url)
    try:
        store.require_schema()
        at.barrier.wait(timeout=30)
        rule = rule_for(at.number, writer)
        try:
            saved = segments.update_segment(
                store, definition(rule, writer), at.now, expected_version=expected
            )
        except ConflictError as error:
            return expected, str(error)
        return expected, saved.version
    finally:
        store.close()


@pytest.mark.parametrize("shop", ["postgres"], indirect=True)
def test_concurrent_service_writers_on_one_segment(shop: Store) -> None:
    assert isinstance(shop, PostgresStore)
    for number in range(1, ROUNDS + 1):
        at = Round(
            number,
            instant(number),
            segments.get_segment(shop, CODE).version,
            threading.Barrier(WRITERS),
        )
        with ThreadPoolExecutor(WRITERS) as pool:
            outcomes = list(pool.map(partial(service_writer, shop.url, at), range(WRITERS)))
        wins = {v: rule_for(number, w) for w, (_, v) in enumerate(outcomes) if isinstance(v, int)}
        refused = [(e, v) for e, v in outcomes if isinstance(v, str)]
        # Without If-Match every writer is applied in turn; with it, only one that ran
        # before any other can win, and the others are refused naming the versions.
        assert sum(1 for e, v in outcomes if e is None and isinstance(v, int)) == WRITERS // 2
        for expected, message in refused:
            assert expected is not None
            assert f"not {expected}: it changed since it was read" in message
        assert len(refused) >= WRITERS // 2 - 1
        check_round(shop, at.now, at.before, wins)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Served:
    base: str
    headers: dict[str, str]
    clock: Clock
    app: Any
    rounds: int

    @contextmanager
    def store(self) -> Iterator[Store]:
        """One of the app's own stores (with DuckDB, the only one that may open the file)."""
        pool = self.app.state.segmint.pool
        store = pool.acquire()
        try:
            yield store
        finally:
            pool.release(store)


@pytest.fixture()
def served(shop: Store) -> Iterator[Served]:
    """A real uvicorn server in a thread over the shop, with an admin key."""
    url = shop.url if isinstance(shop, PostgresStore) else str(cast(DuckDBStore, shop).path)
    token = auth.create_api_key(shop, "admin", instant(0), name="writers")[1]
    shop.close()  # with DuckDB, the app's pool holds the file from now on
    clock = Clock(instant(0))
    app = create_app(url, clock=clock, pool_size=WRITERS)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runner = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not runner.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        # DuckDB lends its one store to one request at a time: two rounds show it holds.
        rounds = ROUNDS if isinstance(shop, PostgresStore) else 2
        h = {"Authorization": f"Bearer {token}"}
        yield Served(f"http://127.0.0.1:{port}", h, clock, app, rounds)
    finally:
        runner.should_exit = True
        thread.join(timeout=15)


def version_of(answer: httpx.Response) -> int:
    assert answer.status_code == 200, answer.text
    return int(answer.headers["ETag"].strip('"'))


def api_writer(served: Served, at: Round, writer: int) -> tuple[int, str, list[int]]:
    """Read the ETag, PUT with If-Match, and on 409 read again and retry: (the
    version won, the rule, the status of every attempt)."""
    rule = rule_for(at.number, writer)
    body = {"code": CODE, "name": f"by writer {writer}", "kind": "rule", "rule": rule}
    statuses: list[int] = []
    with httpx.Client(base_url=served.base, timeout=60) as client:
        read = version_of(client.get(f"/v1/segments/{CODE}", headers=served.headers))
        at.barrier.wait(timeout=30)
        for _ in range(4 * WRITERS):
            answer = client.put(
                f"/v1/segments/{CODE}",
                json=body,
                headers={**served.headers, "If-Match": f'"{read}"'},
            )
            statuses.append(answer.status_code)
            if answer.status_code == 200:
                won = answer.json()["segment"]["version"]
                assert version_of(answer) == won == read + 1, "applied over another"
                return won, rule, statuses
            assert answer.status_code == 409, answer.text
            assert answer.json()["error"]["type"] == "ConflictError", answer.text
            read = version_of(client.get(f"/v1/segments/{CODE}", headers=served.headers))
    raise AssertionError(f"writer {writer} never got its turn: {statuses}")


@pytest.mark.parametrize("shop", ["postgres", "duckdb"], indirect=True)
def test_concurrent_api_writers_with_if_match(served: Served) -> None:
    h = served.headers
    for number in range(1, served.rounds + 1):
        served.clock.now = instant(number)
        with httpx.Client(base_url=served.base, timeout=60) as client:
            before = version_of(client.get(f"/v1/segments/{CODE}", headers=h))
        at = Round(number, instant(number), before, threading.Barrier(WRITERS))
        with ThreadPoolExecutor(WRITERS) as pool:
            outcomes = list(pool.map(partial(api_writer, served, at), range(WRITERS)))
        statuses = [s for _, _, attempts in outcomes for s in attempts]
        # Every writer read the same version first: one won at once, every other lost
        # at least once; every success is one version, every loss a 409.
        assert statuses.count(200) == WRITERS and statuses.count(409) >= WRITERS - 1
        with served.store() as store:
            check_round(store, at.now, at.before, {v: r for v, r, _ in outcomes})
