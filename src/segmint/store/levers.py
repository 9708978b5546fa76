"""Levers in a store (migration 10): current definitions and every version.

A lever is stored as its document JSON (``targeting.document.lever_to_data``): the
repository neither parses nor validates it, the service layer does. Every change is a
version with who made it and when; a deletion is a version whose definition is NULL,
so the history of a deleted lever stays readable. ``levers_version`` counts changes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from segmint.errors import NotFoundError
from segmint.store.base import Store
from segmint.store.sqltext import fixed, render

CREATE, UPDATE, DELETE = "create", "update", "delete"


@dataclass(frozen=True)
class LeverRow:
    kind: str
    code: str
    version: int
    data: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    updated_by: str | None


@dataclass(frozen=True)
class LeverVersion:
    kind: str
    code: str
    version: int
    change: str
    data: dict[str, Any] | None
    changed_at: dt.datetime
    changed_by: str | None


def canonical_json(data: Mapping[str, Any]) -> str:
    """One spelling per definition (sorted keys): equal definitions store equal text."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class LeverRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _row(r: tuple[Any, ...]) -> LeverRow:
        kind, code, version, definition, created, updated, by = r
        return LeverRow(
            str(kind), str(code), int(version), json.loads(definition), created, updated, by
        )

    def all(self, kind: str | None = None) -> list[LeverRow]:
        sql = (
            "SELECT kind, code, version, definition, created_at, updated_at, updated_by FROM levers"
        )
        if kind is None:
            rows = self.store._q(sql + " ORDER BY kind, code")
        else:
            rows = self.store._q(sql + " WHERE kind = $k ORDER BY code", {"k": kind})
        return [self._row(r) for r in rows]

    def get(self, kind: str, code: str) -> LeverRow | None:
        rows = self.store._q(
            "SELECT kind, code, version, definition, created_at, updated_at, updated_by "
            "FROM levers WHERE kind = $k AND code = $c",
            {"k": kind, "c": code},
        )
        return self._row(rows[0]) if rows else None

    def require(self, kind: str, code: str, singular: str) -> LeverRow:
        row = self.get(kind, code)
        if row is None:
            raise NotFoundError(f"error: {singular} {code!r} does not exist")
        return row

    def codes(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for kind, code in self.store._q("SELECT kind, code FROM levers"):
            found.setdefault(str(kind), set()).add(str(code))
        return found

    def upsert(
        self,
        kind: str,
        code: str,
        data: Mapping[str, Any],
        now: dt.datetime,
        who: str | None,
    ) -> tuple[str, int] | None:
        """Store ``data`` as the lever's definition: (change, version), or None when it is
        the stored one already (no version is written). Inside the caller's transaction."""
        text = canonical_json(data)
        current = self.store._q(
            "SELECT version, definition FROM levers WHERE kind = $k AND code = $c",
            {"k": kind, "c": code},
        )
        if current and current[0][1] == text:
            return None
        last = self.store._count(
            "SELECT COALESCE(MAX(version), 0) FROM lever_versions WHERE kind = $k AND code = $c",
            {"k": kind, "c": code},
        )
        version = last + 1
        p = {"k": kind, "c": code, "v": version, "d": text, "t": now, "by": who}
        if current:
            change = UPDATE
            self.store._x(
                "UPDATE levers SET version = $v, definition = $d, updated_at = $t, "
                "updated_by = $by WHERE kind = $k AND code = $c",
                p,
            )
        else:
            change = CREATE
            self.store._x(
                "INSERT INTO levers (kind, code, version, definition, created_at, updated_at, "
                "updated_by) VALUES ($k, $c, $v, $d, $t, $t, $by)",
                p,
            )
        self._version(kind, code, version, change, text, now, who)
        return change, version

    def delete(self, kind: str, code: str, now: dt.datetime, who: str | None) -> int:
        """Delete the lever (its versions stay, ending with a deletion); its last version."""
        last = self.store._count(
            "SELECT COALESCE(MAX(version), 0) FROM lever_versions WHERE kind = $k AND code = $c",
            {"k": kind, "c": code},
        )
        self.store._x("DELETE FROM levers WHERE kind = $k AND code = $c", {"k": kind, "c": code})
        self._version(kind, code, last + 1, DELETE, None, now, who)
        return last + 1

    def _version(
        self,
        kind: str,
        code: str,
        version: int,
        change: str,
        text: str | None,
        now: dt.datetime,
        who: str | None,
    ) -> None:
        self.store._x(
            "INSERT INTO lever_versions (kind, code, version, change, definition, changed_at, "
            "changed_by) VALUES ($k, $c, $v, $ch, $d, $t, $by)",
            {"k": kind, "c": code, "v": version, "ch": change, "d": text, "t": now, "by": who},
        )
        self._bump()

    def _bump(self) -> None:
        self.store._x(
            "UPDATE segmint_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
            "WHERE key = 'levers_version'"
        )

    def apply(
        self,
        wanted: Mapping[tuple[str, str], Mapping[str, Any] | None],
        now: dt.datetime,
        who: str | None,
        *,
        write: bool = True,
    ) -> list[tuple[str, str, str, int]]:
        """Upsert (a definition) or delete (None) many levers at once, set-based (a
        20,000-lever document is a few statements, not one per lever). Returns (kind,
        code, change, version) for each lever that changes; with ``write=False`` only
        what would change. Inside the caller's transaction."""
        current = {
            (str(k), str(c)): (int(v), str(d), created)
            for k, c, v, d, created in self.store._q(
                "SELECT kind, code, version, definition, created_at FROM levers"
            )
        }
        last = {
            (str(k), str(c)): int(v)
            for k, c, v in self.store._q(
                "SELECT kind, code, MAX(version) FROM lever_versions GROUP BY kind, code"
            )
        }
        changes: list[tuple[str, str, str, int]] = []
        rows: list[tuple[str, str, int, str, dt.datetime]] = []  # the new current rows
        versions: list[tuple[str, str, int, str, str | None]] = []
        for key in sorted(wanted):
            data = wanted[key]
            have = current.get(key)
            version = last.get(key, 0) + 1
            if data is None:
                if have is None:
                    continue
                changes.append((*key, DELETE, version))
                versions.append((*key, version, DELETE, None))
                continue
            text = canonical_json(data)
            if have is not None and have[1] == text:
                continue
            change = UPDATE if have is not None else CREATE
            changes.append((*key, change, version))
            versions.append((*key, version, change, text))
            rows.append((*key, version, text, have[2] if have is not None else now))
        if not write or not changes:
            return changes
        import pyarrow as pa

        keys = pa.table(
            {"kind": [c[0] for c in changes], "code": [c[1] for c in changes]},
        )
        naive = now.astimezone(dt.UTC).replace(tzinfo=None)
        new_rows = pa.table(
            {
                "kind": pa.array([r[0] for r in rows], pa.string()),
                "code": pa.array([r[1] for r in rows], pa.string()),
                "version": pa.array([r[2] for r in rows], pa.int64()),
                "definition": pa.array([r[3] for r in rows], pa.string()),
                "created_at": pa.array(
                    [r[4].astimezone(dt.UTC).replace(tzinfo=None) for r in rows],
                    pa.timestamp("us"),
                ),
            }
        )
        new_versions = pa.table(
            {
                "kind": pa.array([v[0] for v in versions], pa.string()),
                "code": pa.array([v[1] for v in versions], pa.string()),
                "version": pa.array([v[2] for v in versions], pa.int64()),
                "change": pa.array([v[3] for v in versions], pa.string()),
                "definition": pa.array([v[4] for v in versions], pa.string()),
            }
        )
        staged_keys = self.store.stage("lever_keys", keys)
        staged_rows = self.store.stage("lever_rows", new_rows)
        staged_versions = self.store.stage("lever_versions", new_versions)
        try:
            self.store._x(
                render(
                    "DELETE FROM levers WHERE EXISTS (SELECT 1 FROM {k} AS s "
                    "WHERE s.kind = levers.kind AND s.code = levers.code)",
                    k=fixed(staged_keys),
                )
            )
            p = {"t": naive, "by": who}
            self.store._x(
                render(
                    "INSERT INTO levers (kind, code, version, definition, created_at, "
                    "updated_at, updated_by) SELECT kind, code, version, definition, "
                    "created_at, $t, $by FROM {r}",
                    r=fixed(staged_rows),
                ),
                p,
            )
            self.store._x(
                render(
                    "INSERT INTO lever_versions (kind, code, version, change, definition, "
                    "changed_at, changed_by) SELECT kind, code, version, change, definition, "
                    "$t, $by FROM {v}",
                    v=fixed(staged_versions),
                ),
                p,
            )
        finally:
            for name in ("lever_keys", "lever_rows", "lever_versions"):
                self.store.unstage(name)
        self._bump()
        return changes

    def versions(self, kind: str, code: str) -> list[LeverVersion]:
        rows = self.store._q(
            "SELECT kind, code, version, change, definition, changed_at, changed_by "
            "FROM lever_versions WHERE kind = $k AND code = $c ORDER BY version",
            {"k": kind, "c": code},
        )
        return [
            LeverVersion(
                str(k), str(c), int(v), str(ch), json.loads(d) if d is not None else None, t, by
            )
            for k, c, v, ch, d, t, by in rows
        ]

    def catalog_version(self) -> int:
        rows = self.store._q("SELECT value FROM segmint_meta WHERE key = 'levers_version'")
        return int(rows[0][0]) if rows else 0
