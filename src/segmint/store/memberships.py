"""Membership WRITES: ``memberships`` and ``membership_history`` always change together.

Every entry inserts a membership (``since`` = the change's instant) and one history row;
every exit deletes the membership and writes one history row (its ``reason`` is the
reason the customer had been in for). History ``seq`` comes from
``membership_history_seq``, so the change feed is ordered by commit.

Three ways in, all inside :meth:`Store.transaction` (joining an outer one):

- :func:`apply_changes`: explicit lists (manual adds/removes, the Python engine's diffs);
  a change that is already true (entering a member, exiting a non-member) is skipped,
  so replaying a call never doubles history.
- :func:`apply_target`: set-based, for refreshes and batch re-evaluation: a TARGET table
  ``(segment_code, customer_id, reason)`` holds who should be in; the difference to the
  current rows is computed in SQL and written — entries, exits and reason changes —
  restricted to a :class:`Scope` (a customer-id range or a staged id table). Nothing is
  written for an unchanged member, so ``since`` survives every refresh.
- due instants (``customer_due``: per customer, one row per due source, see
  :mod:`segmint.engine.windows`): :func:`set_due` (row-wise), :func:`apply_due_target`
  (set-based, same scopes) and :func:`due` (what is due until an instant, in order).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import pyarrow as pa

from segmint.errors import StoreError
from segmint.store.base import Store
from segmint.store.sqltext import Fragment, fixed, ident, in_staged, render

_T = TypeVar("_T")
ENTER = "enter"
EXIT = "exit"
REASONS = ("manual", "rule")
TRIGGERS = ("manual", "refresh", "incremental", "window", "definition")

#: Below this many changes, plain statements beat staging a table (PostgreSQL staging
#: costs a CREATE TEMP TABLE, a COPY and an ANALYZE).
_ROW_LIMIT = 32
_stage_counter = itertools.count()


@dataclass(frozen=True)
class Scope:
    """Which customers a set-based write covers: all, an id range ``(after, upto]``
    (either end open when None), or the ids of a staged one-column table ``id``; with
    ``probe``, few enough of those to be probed through an index (``Store.probe_ids``)."""

    after: str | None = None
    upto: str | None = None
    ids_table: str | None = None
    probe: bool = False

    def where(self, column: str, *, indexed: bool = False) -> tuple[Fragment, dict[str, object]]:
        """SQL condition on ``column`` (a fixed ``alias.column`` of this module); an
        ``indexed`` column of a stored table is probed when the scope says so (a temp
        table is scanned: there the probe's array would be searched for every row)."""
        col = fixed(column)
        parts: list[str] = []
        params: dict[str, object] = {}
        if self.after is not None:
            parts.append(f"{col} > $scope_after")
            params["scope_after"] = self.after
        if self.upto is not None:
            parts.append(f"{col} <= $scope_upto")
            params["scope_upto"] = self.upto
        if self.ids_table is not None:
            parts.append(in_staged(col, self.ids_table, probe=self.probe and indexed))
        return fixed(" AND ".join(parts) if parts else "TRUE"), params


_NAMES = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _used(sql: str, params: Mapping[str, object]) -> dict[str, object]:
    """The parameters ``sql`` names (DuckDB refuses unused ones)."""
    names = set(_NAMES.findall(sql))
    return {k: v for k, v in params.items() if k in names}


def _x(store: Store, sql: str, params: Mapping[str, object]) -> None:
    store._x(sql, _used(sql, params))


def _count(store: Store, sql: str, params: Mapping[str, object]) -> int:
    return store._count(sql, _used(sql, params))


def _check(trigger: str, reasons: Sequence[str]) -> None:
    if trigger not in TRIGGERS:
        raise StoreError(f"error: unknown membership trigger {trigger!r}")
    for reason in reasons:
        if reason not in REASONS:
            raise StoreError(f"error: unknown membership reason {reason!r}")


def apply_changes(
    store: Store,
    segment_code: str,
    enters: Sequence[tuple[str, str]],
    exits: Sequence[str],
    at: dt.datetime,
    trigger: str,
    run_id: int | None = None,
) -> tuple[int, int]:
    """Enter ``(customer_id, reason)`` pairs and exit customer ids of one segment at
    instant ``at``; returns (entered, exited) — the changes actually made. Entering a
    current member or exiting a non-member is a no-op (no history row)."""
    entering = dict(enters)
    leaving = set(exits)
    _check(trigger, list(entering.values()))
    both = leaving & entering.keys()
    if both:
        raise StoreError(f"error: customer {sorted(both)[0]!r} both enters and exits")
    if not entering and not leaving:
        return 0, 0
    base = {"code": segment_code, "at": at, "trigger": trigger, "run": run_id}
    with store.transaction():
        if len(entering) + len(leaving) <= _ROW_LIMIT:
            return _apply_rows(store, base, entering, leaving)
        return _apply_staged(store, base, entering, leaving)


def _apply_rows(
    store: Store, base: dict[str, object], entering: dict[str, str], leaving: set[str]
) -> tuple[int, int]:
    current = _current(store, str(base["code"]), [*entering, *leaving])
    entered = exited = 0
    for cid in sorted(entering):
        if cid in current:
            continue
        params = {**base, "cid": cid, "reason": entering[cid]}
        _x(
            store,
            'INSERT INTO membership_history (seq, segment_code, customer_id, change, "at", '
            "reason, trigger, run_id) VALUES (nextval('membership_history_seq'), $code, $cid, "
            "'enter', $at, $reason, $trigger, $run)",
            params,
        )
        _x(
            store,
            "INSERT INTO memberships (segment_code, customer_id, since, reason) "
            "VALUES ($code, $cid, $at, $reason)",
            params,
        )
        entered += 1
    for cid in sorted(leaving):
        reason = current.get(cid)
        if reason is None:
            continue
        params = {**base, "cid": cid, "reason": reason}
        _x(
            store,
            'INSERT INTO membership_history (seq, segment_code, customer_id, change, "at", '
            "reason, trigger, run_id) VALUES (nextval('membership_history_seq'), $code, $cid, "
            "'exit', $at, $reason, $trigger, $run)",
            params,
        )
        _x(
            store,
            "DELETE FROM memberships WHERE segment_code = $code AND customer_id = $cid",
            params,
        )
        exited += 1
    return entered, exited


def set_reason(store: Store, segment_code: str, customer_ids: Sequence[str], reason: str) -> None:
    """Make ``reason`` the reason of those of ``customer_ids`` who are members of the
    segment: a member who stays for another reason (an include added for a customer the
    rule matched) gets no entry or exit, and keeps ``since``."""
    _check("manual", [reason])
    if not customer_ids:
        return
    store._x(
        render(
            "UPDATE memberships SET reason = $reason WHERE segment_code = $code "
            "AND reason <> $reason AND {f}",
            f=store._in_list(fixed("customer_id"), "ids"),
        ),
        {"code": segment_code, "reason": reason, "ids": list(customer_ids)},
    )


def _current(store: Store, code: str, ids: Sequence[str]) -> dict[str, str]:
    """Current members among ``ids`` of segment ``code``, with their reason."""
    rows = store._q(
        render(
            "SELECT customer_id, reason FROM memberships WHERE segment_code = $code AND {f}",
            f=store._in_list(fixed("customer_id"), "ids"),
        ),
        {"code": code, "ids": list(ids)},
    )
    return {str(c): str(r) for c, r in rows}


def _apply_staged(
    store: Store, base: dict[str, object], entering: dict[str, str], leaving: set[str]
) -> tuple[int, int]:
    ids = sorted(entering) + sorted(leaving)
    table = pa.table(
        {
            "customer_id": pa.array(ids, pa.string()),
            "change": pa.array([ENTER] * len(entering) + [EXIT] * len(leaving), pa.string()),
            "reason": pa.array([entering[i] for i in sorted(entering)] + [""] * len(leaving)),
        }
    )
    name = f"mchanges_{next(_stage_counter)}"
    stage = fixed(store.stage(name, table))
    try:
        member = fixed(
            "EXISTS (SELECT 1 FROM memberships AS m WHERE m.segment_code = $code "
            "AND m.customer_id = s.customer_id)"
        )
        entered = _count(
            store,
            render(
                "SELECT COUNT(*) FROM {s} AS s WHERE s.change = 'enter' AND NOT {m}",
                s=stage,
                m=member,
            ),
            base,
        )
        exited = _count(
            store,
            render(
                "SELECT COUNT(*) FROM {s} AS s WHERE s.change = 'exit' AND {m}", s=stage, m=member
            ),
            base,
        )
        _x(
            store,
            render(
                "INSERT INTO membership_history (seq, segment_code, customer_id, change, "
                "\"at\", reason, trigger, run_id) SELECT nextval('membership_history_seq'), "
                "$code, x.customer_id, x.change, $at, x.reason, $trigger, $run FROM ("
                "SELECT s.customer_id, s.change, s.reason FROM {s} AS s "
                "WHERE s.change = 'enter' AND NOT {m} "
                "UNION ALL SELECT m.customer_id, 'exit', m.reason FROM memberships AS m "
                "JOIN {s} AS s ON s.customer_id = m.customer_id AND s.change = 'exit' "
                "WHERE m.segment_code = $code ORDER BY 1) AS x",
                s=stage,
                m=member,
            ),
            base,
        )
        _x(
            store,
            render(
                "DELETE FROM memberships WHERE segment_code = $code AND customer_id IN "
                "(SELECT s.customer_id FROM {s} AS s WHERE s.change = 'exit')",
                s=stage,
            ),
            base,
        )
        _x(
            store,
            render(
                "INSERT INTO memberships (segment_code, customer_id, since, reason) "
                "SELECT $code, s.customer_id, $at, s.reason FROM {s} AS s "
                "WHERE s.change = 'enter' AND NOT {m}",
                s=stage,
                m=member,
            ),
            base,
        )
    finally:
        store.unstage(name)
    return entered, exited


def apply_known(
    store: Store,
    enters: Sequence[tuple[str, str, str]],
    exits: Sequence[tuple[str, str, str]],
    at: dt.datetime,
    trigger: str,
) -> None:
    """Write changes the caller computed against memberships it read IN THE SAME
    transaction: ``(segment_code, customer_id, reason)`` entries and exits (the exit's
    reason is the one the customer had). A few multi-row statements whatever the number
    of segments — the incremental path's write, where latency matters."""
    _check(trigger, [r for _, _, r in enters])
    changes = [(c, i, ENTER, r) for c, i, r in enters] + [(c, i, EXIT, r) for c, i, r in exits]
    if not changes:
        return
    base: dict[str, object] = {"at": at, "trigger": trigger}
    with store.transaction():
        for chunk in _chunks(changes, 250):
            rows, params = _values(chunk, (None, None, None, None))
            _x(
                store,
                render(
                    "INSERT INTO membership_history (seq, segment_code, customer_id, change, "
                    "\"at\", reason, trigger, run_id) SELECT nextval('membership_history_seq'), "
                    "v.s, v.c, v.h, $at, v.r, $trigger, NULL FROM (VALUES {rows}) AS v(s, c, h, r)",
                    rows=rows,
                ),
                {**base, **params},
            )
        # One statement per customer. Measured in DuckDB at 9.3 M rows: a DELETE of one
        # pair costs ~7 ms whatever its form, and `segment_code = ANY($codes)` with 15
        # codes ~17 ms, where 15 single deletes took ~105 ms (a checkout can exit a
        # customer from many "lapsed"-style segments at once).
        by_customer: dict[str, list[str]] = {}
        for code, cid, _ in exits:
            by_customer.setdefault(cid, []).append(code)
        for cid, codes in by_customer.items():
            if len(codes) == 1:
                _x(
                    store,
                    "DELETE FROM memberships WHERE customer_id = $cid AND segment_code = $code",
                    {"cid": cid, "code": codes[0]},
                )
            else:
                _x(
                    store,
                    "DELETE FROM memberships WHERE customer_id = $cid AND "
                    "segment_code = ANY($codes)",
                    {"cid": cid, "codes": codes},
                )
        for entries in _chunks([(c, i, at, r) for c, i, r in enters], 300):
            rows, params = _values(entries, (None, None, "TIMESTAMP", None))
            _x(
                store,
                render(
                    "INSERT INTO memberships (segment_code, customer_id, since, reason) "
                    "VALUES {rows}",
                    rows=rows,
                ),
                params,
            )


def _chunks(items: Sequence[_T], size: int) -> list[Sequence[_T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _values(
    rows: Sequence[Sequence[object]], types: Sequence[str | None]
) -> tuple[Fragment, dict[str, object]]:
    """A multi-row ``VALUES`` list with one bound parameter per cell (``$v<row>_<col>``),
    cast where ``types`` names a type (NULL-able timestamps need it), and its params."""
    params: dict[str, object] = {}
    tuples = []
    for n, row in enumerate(rows):
        cells = []
        for k, (value, sql_type) in enumerate(zip(row, types, strict=True)):
            name = f"v{n}_{k}"
            params[name] = value
            cells.append(f"CAST(${name} AS {sql_type})" if sql_type else f"${name}")
        tuples.append("(" + ", ".join(cells) + ")")
    return fixed(", ".join(tuples)), params


# ---- set-based writes from a target table ---------------------------------------------


DIFF = "segmint_m_diff"


def _temp(store: Store, name: str, columns: str) -> None:
    store.execute(render("DROP TABLE IF EXISTS {n}", n=ident(name)))
    store.execute(render("CREATE TEMP TABLE {n} ({c})", n=ident(name), c=fixed(columns)))


def _address(store: Store, alias: str) -> Fragment:
    """The diff's ``rid`` column: the row's address where the store has one (see
    :attr:`Store.row_address`), else NULL."""
    address = store.row_address
    return fixed(f"{alias}.{address}" if address else "CAST(NULL AS BIGINT)")


def _same_row(store: Store, table: str, keys: Sequence[str]) -> Fragment:
    """``table``'s row is the diff row ``x``: by the address the diff kept (the write
    then reads only those rows, not the whole table again: 1,000 exits among 9.3 M
    DuckDB memberships 0.11 → 0.01 s), else by ``keys``."""
    if store.row_address:
        return fixed(f"{table}.{store.row_address} = x.rid")
    return fixed(" AND ".join(f"x.{k} = {table}.{k}" for k in keys))


def _codes(store: Store, scope: Scope) -> Fragment:
    """``m.segment_code`` is one of ``$codes``. A probed scope reads its customers'
    rows through ``memberships_customer_idx`` and tests the codes on them: given both
    lists, PostgreSQL probed the primary key (segment_code, customer_id) for every pair
    instead (100 codes x 5,000 customers: 1.9 M buffer hits, 9.7 s at 1 M customers). A
    different collation keeps that index out: for equality a deterministic collation
    changes nothing but the index's eligibility (PostgreSQL's; only it probes)."""
    if not scope.probe or store.dialect != "postgres":
        return store._in_list(fixed("m.segment_code"), "codes")
    return store._in_list(fixed('(m.segment_code COLLATE "C")'), "codes")


def _counts(store: Store) -> dict[str, int]:
    rows = store._q(render("SELECT change, COUNT(*) FROM {d} GROUP BY change", d=ident(DIFF)))
    return {str(c): int(n) for c, n in rows}


def apply_target(
    store: Store,
    target: str,
    codes: Sequence[str],
    scope: Scope,
    at: dt.datetime,
    trigger: str,
    run_id: int | None = None,
) -> dict[str, tuple[int, int]]:
    """Make the memberships of segments ``codes`` for customers in ``scope`` equal to
    temp table ``target(segment_code, customer_id, reason)``: entries, exits and
    reason updates (the caller holds the transaction). The difference is computed ONCE
    (a full outer join of the scope's target rows and membership rows) into a small temp
    table; the writes then read only it, and are skipped when it is empty. Idempotent: a
    second call with the same target writes nothing. Returns (entered, exited) per
    segment that changed, counted in that small table."""
    _check(trigger, [])
    if not codes:
        return {}
    in_t, p_t = scope.where("t.customer_id")
    in_m, p_m = scope.where("m.customer_id", indexed=True)
    params: dict[str, object] = {**p_t, **p_m, "codes": list(codes)}
    _temp(store, DIFF, "segment_code TEXT, customer_id TEXT, change TEXT, reason TEXT, rid BIGINT")
    _x(
        store,
        render(
            "INSERT INTO {d} SELECT COALESCE(t.segment_code, m.segment_code), "
            "COALESCE(t.customer_id, m.customer_id), CASE WHEN m.customer_id IS NULL THEN "
            "'enter' WHEN t.customer_id IS NULL THEN 'exit' ELSE 'reason' END, "
            "COALESCE(t.reason, m.reason), m.rid "
            "FROM (SELECT * FROM {t} AS t WHERE {st}) AS t FULL OUTER JOIN "
            "(SELECT m.*, {rid} AS rid FROM memberships AS m WHERE {c} AND {sm}) AS m "
            "ON t.segment_code = m.segment_code AND t.customer_id = m.customer_id "
            "WHERE m.customer_id IS NULL OR t.customer_id IS NULL OR t.reason <> m.reason",
            d=ident(DIFF),
            t=ident(target),
            rid=_address(store, "m"),
            st=in_t,
            c=_codes(store, scope),
            sm=in_m,
        ),
        params,
    )
    per_segment: dict[str, tuple[int, int]] = {}
    counts: dict[str, int] = {}
    for code, change, n in store._q(
        render(
            "SELECT segment_code, change, COUNT(*) FROM {d} GROUP BY segment_code, change",
            d=ident(DIFF),
        )
    ):
        counts[change] = counts.get(change, 0) + int(n)
        if change in (ENTER, EXIT):
            e, o = per_segment.get(code, (0, 0))
            per_segment[code] = (e + int(n), o) if change == ENTER else (e, o + int(n))
    base: dict[str, object] = {"at": at, "trigger": trigger, "run": run_id}
    d = ident(DIFF)
    member = _same_row(store, "memberships", ("segment_code", "customer_id"))
    if counts.get(ENTER) or counts.get(EXIT):
        _x(
            store,
            render(
                "INSERT INTO membership_history (seq, segment_code, customer_id, change, "
                "\"at\", reason, trigger, run_id) SELECT nextval('membership_history_seq'), "
                "x.segment_code, x.customer_id, x.change, $at, x.reason, $trigger, $run FROM "
                "(SELECT * FROM {d} WHERE change IN ('enter', 'exit') "
                "ORDER BY segment_code, customer_id) AS x",
                d=d,
            ),
            base,
        )
    if counts.get(EXIT):
        _x(
            store,
            render(
                "DELETE FROM memberships WHERE EXISTS (SELECT 1 FROM {d} AS x WHERE "
                "x.change = 'exit' AND {same})",
                d=d,
                same=member,
            ),
            base,
        )
    if counts.get(ENTER):
        _x(
            store,
            render(
                "INSERT INTO memberships (segment_code, customer_id, since, reason) "
                "SELECT segment_code, customer_id, $at, reason FROM {d} WHERE change = 'enter'",
                d=d,
            ),
            base,
        )
    if counts.get("reason"):
        # A member who stays for another reason (an include added or removed): no entry,
        # no exit; the reason follows.
        _x(
            store,
            render(
                "UPDATE memberships SET reason = x.reason FROM {d} AS x WHERE "
                "x.change = 'reason' AND {same}",
                d=d,
                same=member,
            ),
            base,
        )
    return per_segment


# ---- due instants -------------------------------------------------------------------


def apply_due_target(store: Store, target: str, sources: Sequence[str], scope: Scope) -> None:
    """Make ``customer_due`` of ``sources`` in ``scope`` equal to temp table
    ``target(source, customer_id, due_at)``: one full outer join finds the pairs that are
    new, gone or whose instant moved. A moved instant (most of them: a new order moves
    its customer's windows) is updated in place — no index entry changes, where a
    delete and re-insert would rewrite the key in every index at commit."""
    if not sources:
        return
    in_t, p_t = scope.where("t.customer_id")
    in_d, p_d = scope.where("d.customer_id", indexed=True)
    params: dict[str, object] = {**p_d, **p_t, "sources": list(sources)}
    _temp(store, DIFF, "source TEXT, customer_id TEXT, change TEXT, due_at TIMESTAMP, rid BIGINT")
    _x(
        store,
        render(
            "INSERT INTO {x} SELECT COALESCE(t.source, d.source), "
            "COALESCE(t.customer_id, d.customer_id), CASE WHEN d.customer_id IS NULL THEN "
            "'new' WHEN t.customer_id IS NULL THEN 'gone' ELSE 'moved' END, t.due_at, d.rid "
            "FROM (SELECT * FROM {t} AS t WHERE {st}) AS t FULL OUTER JOIN "
            "(SELECT d.*, {rid} AS rid FROM customer_due AS d WHERE {c} AND {sd}) AS d "
            "ON t.source = d.source AND t.customer_id = d.customer_id "
            "WHERE t.due_at IS NULL OR d.due_at IS NULL OR t.due_at <> d.due_at",
            x=ident(DIFF),
            t=ident(target),
            rid=_address(store, "d"),
            st=in_t,
            c=store._in_list(fixed("d.source"), "sources"),
            sd=in_d,
        ),
        params,
    )
    counts = _counts(store)
    x = ident(DIFF)
    same = _same_row(store, "customer_due", ("source", "customer_id"))
    if counts.get("moved"):
        store._x(
            render(
                "UPDATE customer_due SET due_at = x.due_at FROM {x} AS x WHERE "
                "x.change = 'moved' AND {same}",
                x=x,
                same=same,
            )
        )
    if counts.get("gone"):
        store._x(
            render(
                "DELETE FROM customer_due WHERE EXISTS (SELECT 1 FROM {x} AS x WHERE "
                "x.change = 'gone' AND {same})",
                x=x,
                same=same,
            )
        )
    if counts.get("new"):
        store._x(
            render(
                "INSERT INTO customer_due (customer_id, source, due_at) "
                "SELECT customer_id, source, due_at FROM {x} WHERE change = 'new'",
                x=x,
            )
        )


def set_due(
    store: Store,
    rows: Sequence[tuple[str, str, dt.datetime | None]],
    current: Mapping[str, Mapping[str, dt.datetime]],
    *,
    whole: Sequence[str] = (),
) -> None:
    """Set (or, with None, clear) the next due instant of (source, customer) pairs.

    - Customers of ``whole``: ``rows`` are their whole set (a worker replay). Their rows
      are deleted in ONE statement and the given ones inserted; nothing is read.
    - Others: ``rows`` are merged into ``current`` (customer -> source -> instant: all
      of the customer's rows, as the caller just read them). A customer whose set
      changes has its rows deleted by ``customer_id`` alone (an index lookup in DuckDB;
      also filtering on ``source`` made it scan the table) and the merged set inserted.
    """
    if not rows and not whole:
        return
    replaced = set(whole)
    merged: dict[str, dict[str, dt.datetime | None]] = {cid: {} for cid in replaced}
    for source, cid, due_at in rows:
        if cid not in merged:
            merged[cid] = dict(current.get(cid, {}))
        merged[cid][source] = due_at
    with store.transaction():
        if replaced:
            _x(
                store,
                render(
                    "DELETE FROM customer_due WHERE {f}",
                    f=store._in_ids(fixed("customer_id"), "ids", len(replaced)),
                ),
                {"ids": sorted(replaced)},
            )
        values: list[tuple[str, str, dt.datetime]] = []
        for cid, dues in merged.items():
            kept = {source: at for source, at in dues.items() if at is not None}
            if cid not in replaced:
                if kept == current.get(cid, {}):
                    continue
                if current.get(cid):
                    _x(store, "DELETE FROM customer_due WHERE customer_id = $cid", {"cid": cid})
            values += [(cid, source, at) for source, at in sorted(kept.items())]
        for block in _chunks(values, 300):
            tuples, params = _values(block, (None, None, "TIMESTAMP"))
            _x(
                store,
                render(
                    "INSERT INTO customer_due (customer_id, source, due_at) VALUES {v}",
                    v=tuples,
                ),
                params,
            )


def due(
    store: Store, until: dt.datetime, limit: int | None = None
) -> list[tuple[str, str, dt.datetime]]:
    """(source, customer_id, due_at) due at or before ``until``, earliest first."""
    sql = (
        "SELECT source, customer_id, due_at FROM customer_due WHERE due_at <= $until "
        "ORDER BY due_at, source, customer_id"
    )
    params: dict[str, object] = {"until": until}
    if limit is not None:
        sql += " LIMIT $limit"
        params["limit"] = int(limit)
    return [(str(c), str(i), d) for c, i, d in store._q(sql, params)]


def next_due_at(store: Store) -> dt.datetime | None:
    """The earliest due instant of any customer, or None."""
    rows = store._q("SELECT MIN(due_at) FROM customer_due")
    value = rows[0][0] if rows else None
    return value if isinstance(value, dt.datetime) else None
