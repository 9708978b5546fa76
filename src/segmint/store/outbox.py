"""The membership outbox (migration 9): customers whose memberships a committed write has
made stale, until the membership update that follows has committed too.

A write that changes what rules read — an import, a manual add or remove, a user group,
a segment deleted — queues its customers in the same transaction as its rows
(:func:`queue_ids`, :func:`queue_staged`), as one *batch* saying what changed. The
membership update that follows clears the batch in the same transaction as its own
writes (:func:`clear`). A kill between the two leaves the batch behind; the worker's
next pass re-evaluates it (:func:`pending`). Each batch has its own id, so a concurrent
writer's batch for the same customer is never cleared by another's update.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from segmint.store.base import Store
from segmint.store.sqltext import fixed, render

_CODES = "segments:"


@dataclass(frozen=True)
class Work:
    """What a batch's customers need: the segments reading ``changed`` (the vocabulary of
    the incremental update: ``orders``, ``customer``, ``user_groups``, …), or exactly the
    segments ``codes`` and their dependents."""

    changed: frozenset[str] = frozenset()
    codes: tuple[str, ...] = ()

    def encode(self) -> str:
        if self.codes:
            return _CODES + ",".join(sorted(self.codes))
        return ",".join(sorted(self.changed))

    @classmethod
    def decode(cls, text: str) -> Work:
        if text.startswith(_CODES):
            return cls(codes=tuple(c for c in text.removeprefix(_CODES).split(",") if c))
        return cls(changed=frozenset(c for c in text.split(",") if c))


@dataclass(frozen=True)
class Batch:
    batch_id: int
    work: Work
    customer_ids: list[str]
    queued_at: dt.datetime


def _next_batch(store: Store) -> int:
    return int(store._q("SELECT nextval('membership_outbox_seq')")[0][0])


def queue_ids(store: Store, ids: Iterable[str], work: Work) -> int | None:
    """Queue these customers (inside the caller's transaction); the batch id, or None
    when there are none."""
    unique = sorted(set(ids))
    if not unique:
        return None
    batch = _next_batch(store)
    store._x(
        "INSERT INTO membership_outbox (batch_id, customer_id, changes, queued_at) "
        "SELECT $b, u.id, $c, $t FROM (SELECT DISTINCT UNNEST(CAST($ids AS TEXT[])) AS id) AS u",
        {"b": batch, "c": work.encode(), "t": dt.datetime.now(dt.UTC), "ids": unique},
    )
    return batch


def queue_staged(store: Store, staged: str, column: str, work: Work) -> int:
    """Queue the distinct non-null ``column`` values of a staged table (the importer's
    rows, inside its transaction)."""
    batch = _next_batch(store)
    store._x(
        render(
            "INSERT INTO membership_outbox (batch_id, customer_id, changes, queued_at) "
            "SELECT DISTINCT $b, s.{c}, $w, $t FROM {s} AS s WHERE s.{c} IS NOT NULL",
            c=fixed(column),
            s=fixed(staged),
        ),
        {"b": batch, "w": work.encode(), "t": dt.datetime.now(dt.UTC)},
    )
    return batch


def clear(store: Store, batch_ids: Sequence[int]) -> None:
    """The batches' customers are up to date (inside the update's transaction)."""
    if batch_ids:
        store._x(
            "DELETE FROM membership_outbox WHERE batch_id IN (SELECT UNNEST(CAST($b AS BIGINT[])))",
            {"b": list(batch_ids)},
        )


def pending(store: Store) -> list[Batch]:
    """Every batch left behind, oldest first."""
    rows = store._q(
        "SELECT batch_id, changes, customer_id, queued_at FROM membership_outbox "
        "ORDER BY batch_id, customer_id"
    )
    batches: dict[int, Batch] = {}
    for batch_id, changes, customer_id, queued_at in rows:
        batch = batches.get(int(batch_id))
        if batch is None:
            batch = batches[int(batch_id)] = Batch(
                int(batch_id), Work.decode(str(changes)), [], queued_at
            )
        batch.customer_ids.append(str(customer_id))
    return list(batches.values())


def count(store: Store) -> int:
    return store._count("SELECT COUNT(*) FROM membership_outbox")
