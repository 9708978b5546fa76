"""Segments in a store: definitions and versions, manual includes/excludes, and reading
memberships, their history and the change feed (tables of migration 2).

Membership WRITES are not here: they go through ``segmint.store.memberships.apply_changes``
so that ``memberships`` and ``membership_history`` always change together. History rows
are never deleted — "who was in S at T" and "which segments was C in at T" are answered
from them exactly, even after a segment is deleted.

All SQL is shared text with ``$name`` parameters; id lists of any size are staged as an
Arrow table (one bulk statement, never one statement per id).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import pyarrow as pa

from segmint.errors import NotFoundError
from segmint.model.segment import SegmentDefinition
from segmint.store.base import Store
from segmint.store.sqltext import fixed, render

#: ``membership_history.change`` values (written by ``store.memberships.apply_changes``).
ENTER = "enter"
EXIT = "exit"

INCLUDE = "include"
EXCLUDE = "exclude"
MANUAL_MODES = (INCLUDE, EXCLUDE)

_stage_counter = itertools.count()


@dataclass(frozen=True)
class SegmentRecord:
    """A stored segment: its current definition and version."""

    definition: SegmentDefinition
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def code(self) -> str:
        return self.definition.code


@dataclass(frozen=True)
class SegmentVersion:
    version: int
    definition: SegmentDefinition
    created_at: dt.datetime


@dataclass(frozen=True)
class Membership:
    """A current membership: who, of which segment, since when and why."""

    segment_code: str
    customer_id: str
    since: dt.datetime
    reason: str


@dataclass(frozen=True)
class Change:
    """One row of ``membership_history``: an entry or an exit."""

    seq: int
    segment_code: str
    customer_id: str
    change: str
    at: dt.datetime
    reason: str
    trigger: str
    run_id: int | None


_CHANGE_COLUMNS = fixed('seq, segment_code, customer_id, change, "at", reason, trigger, run_id')


def _change(row: Sequence[object]) -> Change:
    seq, code, cid, change, at, reason, trigger, run_id = row
    assert isinstance(at, dt.datetime)
    return Change(
        seq=int(str(seq)),
        segment_code=str(code),
        customer_id=str(cid),
        change=str(change),
        at=at,
        reason=str(reason),
        trigger=str(trigger),
        run_id=None if run_id is None else int(str(run_id)),
    )


class SegmentRepository:
    """Reads and writes segment rows of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ---- definitions and versions ---------------------------------------------------

    def _record(self, row: Sequence[object]) -> SegmentRecord:
        definition, version, created_at, updated_at = row
        assert isinstance(created_at, dt.datetime) and isinstance(updated_at, dt.datetime)
        return SegmentRecord(
            definition=SegmentDefinition.loads(str(definition)),
            version=int(str(version)),
            created_at=created_at,
            updated_at=updated_at,
        )

    def get(self, code: str) -> SegmentRecord | None:
        rows = self.store._q(
            "SELECT definition, version, created_at, updated_at FROM segments WHERE code = $c",
            {"c": code},
        )
        return self._record(rows[0]) if rows else None

    def require(self, code: str) -> SegmentRecord:
        record = self.get(code)
        if record is None:
            raise NotFoundError(f"error: segment {code!r} does not exist")
        return record

    def all(self) -> list[SegmentRecord]:
        rows = self.store._q(
            "SELECT definition, version, created_at, updated_at FROM segments ORDER BY code"
        )
        return [self._record(r) for r in rows]

    def codes(self) -> list[str]:
        return [str(r[0]) for r in self.store._q("SELECT code FROM segments ORDER BY code")]

    def _row_params(self, definition: SegmentDefinition, version: int) -> dict[str, object]:
        return {
            "code": definition.code,
            "name": definition.name,
            "description": definition.description,
            "kind": definition.kind.value,
            "user_group": definition.group,
            "active": definition.active,
            "starts_at": definition.starts_at,
            "ends_at": definition.ends_at,
            "stores": list(definition.stores),
            # The effective rule (purchase requirements compiled) so the membership
            # engine reads one column whatever the kind.
            "rule_text": definition.effective_rule,
            "definition": definition.dumps(),
            "version": version,
        }

    def _add_version(self, definition: SegmentDefinition, version: int, now: dt.datetime) -> None:
        self.store._x(
            "INSERT INTO segment_versions (segment_code, version, definition, created_at) "
            "VALUES ($c, $v, $d, $now)",
            {"c": definition.code, "v": version, "d": definition.dumps(), "now": now},
        )

    def insert(self, definition: SegmentDefinition, now: dt.datetime) -> int:
        """Store a new segment; returns its version. Versions of a deleted segment with
        the same code are kept, so numbering continues after them."""
        with self.store.transaction():
            version = 1 + self.store._count(
                "SELECT COALESCE(MAX(version), 0) FROM segment_versions WHERE segment_code = $c",
                {"c": definition.code},
            )
            params = self._row_params(definition, version)
            self.store._x(
                "INSERT INTO segments (code, name, description, kind, user_group, active, "
                "starts_at, ends_at, stores, rule_text, definition, version, created_at, "
                "updated_at) VALUES ($code, $name, $description, $kind, $user_group, $active, "
                "$starts_at, $ends_at, $stores, $rule_text, $definition, $version, $now, $now)",
                {**params, "now": now},
            )
            self._add_version(definition, version, now)
        return version

    def update(self, definition: SegmentDefinition, now: dt.datetime) -> int:
        """Replace the definition with a new version (the old one stays in
        ``segment_versions``); returns the new version."""
        with self.store.transaction():
            current = self.require(definition.code)
            version = current.version + 1
            params = self._row_params(definition, version)
            self.store._x(
                "UPDATE segments SET name = $name, description = $description, kind = $kind, "
                "user_group = $user_group, active = $active, starts_at = $starts_at, "
                "ends_at = $ends_at, stores = $stores, rule_text = $rule_text, "
                "definition = $definition, version = $version, updated_at = $now "
                "WHERE code = $code",
                {**params, "now": now},
            )
            self._add_version(definition, version, now)
        return version

    def versions(self, code: str) -> list[SegmentVersion]:
        rows = self.store._q(
            "SELECT version, definition, created_at FROM segment_versions "
            "WHERE segment_code = $c ORDER BY version",
            {"c": code},
        )
        return [SegmentVersion(int(v), SegmentDefinition.loads(str(d)), c) for v, d, c in rows]

    def delete(self, code: str) -> None:
        """Remove the segment row, its manual entries and boundary mark. Memberships must
        have been exited first (through ``apply_changes``); history and versions stay.
        Due instants are per customer and source, not per segment: one the segment alone
        set is now early, and waking its customer then changes nothing."""
        with self.store.transaction():
            for table in ("segment_manual", "segment_boundaries"):
                self.store._x(
                    render("DELETE FROM {t} WHERE segment_code = $c", t=fixed(table)),
                    {"c": code},
                )
            self.store._x("DELETE FROM segments WHERE code = $c", {"c": code})

    # ---- boundaries (the worker's record, engine/groups.py) ----------------------------

    def boundaries_done(self, code: str) -> dt.datetime | None:
        """The instant up to which the segment's starts_at/ends_at have been applied to the
        rules reading its group: its ``segment_boundaries`` row, else its ``updated_at``."""
        rows = self.store._q(
            "SELECT COALESCE(b.done_until, s.updated_at) FROM segments AS s LEFT JOIN "
            "segment_boundaries AS b ON b.segment_code = s.code WHERE s.code = $c",
            {"c": code},
        )
        value = rows[0][0] if rows else None
        return value if isinstance(value, dt.datetime) else None

    def set_boundaries_done(self, code: str, until: dt.datetime) -> None:
        with self.store.transaction():
            self.store._x("DELETE FROM segment_boundaries WHERE segment_code = $c", {"c": code})
            self.store._x(
                "INSERT INTO segment_boundaries (segment_code, done_until) VALUES ($c, $t)",
                {"c": code, "t": until},
            )

    # ---- bulk id lists ----------------------------------------------------------------

    @contextmanager
    def staged_ids(self, ids: Sequence[str]) -> Iterator[str]:
        """A staged one-column (``id``) table of distinct ids, inside a transaction."""
        name = f"segids_{next(_stage_counter)}"
        unique = sorted(set(ids))
        try:
            with self.store.transaction():
                yield self.store.stage(name, pa.table({"id": pa.array(unique, pa.string())}))
        finally:
            # After the (outermost) commit or rollback; inside an aborted transaction the
            # drop itself fails, and the error that aborted it is the one worth raising.
            with suppress(Exception):
                self.store.unstage(name)

    def unknown_customers(self, ids: Sequence[str]) -> list[str]:
        """The ids (sorted) that name no customer."""
        if not ids:
            return []
        with self.staged_ids(ids) as stage:
            rows = self.store._q(
                render(
                    "SELECT s.id FROM {s} AS s WHERE NOT EXISTS "
                    "(SELECT 1 FROM customers AS c WHERE c.id = s.id) ORDER BY s.id",
                    s=fixed(stage),
                )
            )
        return [str(r[0]) for r in rows]

    # ---- manual includes / excludes -----------------------------------------------------

    def manual(self, code: str, mode: str | None = None) -> dict[str, str]:
        """customer id -> mode (``include``/``exclude``), optionally of one mode only."""
        sql = "SELECT customer_id, mode FROM segment_manual WHERE segment_code = $c"
        params: dict[str, object] = {"c": code}
        if mode is not None:
            sql += " AND mode = $m"
            params["m"] = mode
        return {str(c): str(m) for c, m in self.store._q(sql + " ORDER BY customer_id", params)}

    def set_manual(self, code: str, ids: Sequence[str], mode: str, now: dt.datetime) -> int:
        """Record ``ids`` as included or excluded (replacing the other mode); returns how
        many rows were new or changed. Two bulk statements whatever the number of ids."""
        assert mode in MANUAL_MODES
        if not ids:
            return 0
        params = {"c": code, "m": mode, "now": now}
        with self.staged_ids(ids) as stage:
            s = fixed(stage)
            changed = self.store._count(
                render(
                    "SELECT COUNT(*) FROM {s} AS s WHERE NOT EXISTS (SELECT 1 FROM segment_manual "
                    "AS m WHERE m.segment_code = $c AND m.customer_id = s.id AND m.mode = $m)",
                    s=s,
                ),
                {"c": code, "m": mode},
            )
            self.store._x(
                render(
                    "UPDATE segment_manual SET mode = $m, added_at = $now WHERE segment_code = $c "
                    "AND mode <> $m AND customer_id IN (SELECT s.id FROM {s} AS s)",
                    s=s,
                ),
                params,
            )
            self.store._x(
                render(
                    "INSERT INTO segment_manual (segment_code, customer_id, mode, added_at) "
                    "SELECT $c, s.id, $m, $now FROM {s} AS s WHERE NOT EXISTS (SELECT 1 FROM "
                    "segment_manual AS m WHERE m.segment_code = $c AND m.customer_id = s.id)",
                    s=s,
                ),
                params,
            )
        return changed

    def clear_manual(self, code: str, ids: Sequence[str]) -> int:
        """Forget the include/exclude of ``ids``; returns how many there were."""
        if not ids:
            return 0
        with self.staged_ids(ids) as stage:
            where = render(
                "segment_code = $c AND customer_id IN (SELECT s.id FROM {s} AS s)", s=fixed(stage)
            )
            w = fixed(where)
            count = self.store._count(
                render("SELECT COUNT(*) FROM segment_manual WHERE {w}", w=w), {"c": code}
            )
            self.store._x(render("DELETE FROM segment_manual WHERE {w}", w=w), {"c": code})
        return count

    # ---- current memberships ----------------------------------------------------------

    def member_ids(self, code: str) -> list[str]:
        rows = self.store._q(
            "SELECT customer_id FROM memberships WHERE segment_code = $c ORDER BY customer_id",
            {"c": code},
        )
        return [str(r[0]) for r in rows]

    def member_count(self, code: str) -> int:
        return self.store._count(
            "SELECT COUNT(*) FROM memberships WHERE segment_code = $c", {"c": code}
        )

    def member_counts(self) -> dict[str, int]:
        """Current member count of every segment that has members."""
        rows = self.store._q("SELECT segment_code, COUNT(*) FROM memberships GROUP BY segment_code")
        return {str(code): int(n) for code, n in rows}

    def members(self, code: str) -> list[Membership]:
        rows = self.store._q(
            "SELECT segment_code, customer_id, since, reason FROM memberships "
            "WHERE segment_code = $c ORDER BY customer_id",
            {"c": code},
        )
        return [Membership(str(s), str(c), t, str(r)) for s, c, t, r in rows]

    def memberships_of(self, customer_id: str) -> list[Membership]:
        rows = self.store._q(
            "SELECT segment_code, customer_id, since, reason FROM memberships "
            "WHERE customer_id = $c ORDER BY segment_code",
            {"c": customer_id},
        )
        return [Membership(str(s), str(c), t, str(r)) for s, c, t, r in rows]

    # ---- history ------------------------------------------------------------------------

    def members_at(self, code: str, at: dt.datetime) -> list[str]:
        """Who was in ``code`` at instant ``at`` (changes recorded AT that instant count):
        each customer's last change at or before it, by (instant, seq), is an entry."""
        rows = self.store._q(
            "SELECT customer_id FROM (SELECT customer_id, change, row_number() OVER ("
            '  PARTITION BY customer_id ORDER BY "at" DESC, seq DESC) AS rn '
            '  FROM membership_history WHERE segment_code = $c AND "at" <= $at) AS h '
            "WHERE rn = 1 AND change = $enter ORDER BY customer_id",
            {"c": code, "at": at, "enter": ENTER},
        )
        return [str(r[0]) for r in rows]

    def segments_at(self, customer_id: str, at: dt.datetime) -> list[str]:
        """The codes of the segments ``customer_id`` was in at instant ``at``."""
        rows = self.store._q(
            "SELECT segment_code FROM (SELECT segment_code, change, row_number() OVER ("
            '  PARTITION BY segment_code ORDER BY "at" DESC, seq DESC) AS rn '
            '  FROM membership_history WHERE customer_id = $c AND "at" <= $at) AS h '
            "WHERE rn = 1 AND change = $enter ORDER BY segment_code",
            {"c": customer_id, "at": at, "enter": ENTER},
        )
        return [str(r[0]) for r in rows]

    def history(
        self, code: str, *, customer_id: str | None = None, limit: int | None = None
    ) -> list[Change]:
        """Entries and exits of a segment (optionally of one customer), oldest first."""
        sql = render(
            "SELECT {cols} FROM membership_history WHERE segment_code = $c", cols=_CHANGE_COLUMNS
        )
        params: dict[str, object] = {"c": code}
        if customer_id is not None:
            sql += " AND customer_id = $cid"
            params["cid"] = customer_id
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT $limit"
            params["limit"] = limit
        return [_change(r) for r in self.store._q(sql, params)]

    def changes(self, since: int, limit: int) -> list[Change]:
        """The change feed: history rows with ``seq > since``, in seq order."""
        rows = self.store._q(
            render(
                "SELECT {cols} FROM membership_history WHERE seq > $since "
                "ORDER BY seq LIMIT $limit",
                cols=_CHANGE_COLUMNS,
            ),
            {"since": since, "limit": limit},
        )
        return [_change(r) for r in rows]

    # ---- customers' explicit user groups ----------------------------------------------

    def explicit_groups(self, customer_id: str) -> list[str] | None:
        """The customer's explicitly assigned groups, or None if there is no such customer."""
        rows = self.store._q(
            "SELECT user_groups FROM customers WHERE id = $id", {"id": customer_id}
        )
        if not rows:
            return None
        return [str(g) for g in (rows[0][0] or [])]

    def set_explicit_groups(
        self, customer_id: str, groups: Sequence[str], now: dt.datetime
    ) -> None:
        self.store._x(
            "UPDATE customers SET user_groups = $g, updated_at = $now WHERE id = $id",
            {"g": list(groups), "now": now, "id": customer_id},
        )
