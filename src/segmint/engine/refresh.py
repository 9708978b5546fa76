"""Batch refresh: all segments in one fused pass per dependency layer, the difference
written in checkpointed, customer-id-ordered batches; resumable after kill -9.

A run:

1. is recorded in ``refresh_runs`` (``as_of``, the segment codes as JSON, ``state``
   ``running``, ``checkpoint`` NULL) in its own transaction;
2. for each layer (segments after those they read through ``IN SEGMENT``): the layer's
   rules are compiled into ONE query (``compile_many``), run once into a temp table, and
   turned into the TARGET ``(segment_code, customer_id, reason)`` = (rule matches ∪
   manual includes) − manual excludes; the next due instants of windowed segments into a
   second temp table (:mod:`segmint.engine.windows`);
3. customers are split into ranges by id; each range is ONE transaction that writes the
   difference between target and current rows (entries, exits, reason changes, due
   instants — :func:`segmint.store.memberships.apply_target`) AND advances the run's
   checkpoint ``{"layer": L, "after": last id}``;
4. the run is marked ``done``.

Why a kill at any moment loses nothing and doubles nothing: a batch and its checkpoint
commit together, so after a kill the checkpoint names exactly the last applied batch. The
next refresh finds the ``running`` run, recomputes the layer's target with the SAME
``as_of`` (deterministic for the same data), and continues after the checkpoint. The
difference is also computed against the current rows, so even re-applying a batch would
write nothing — history cannot get a duplicate entry.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from segmint.compile.sql import SqlCompiler
from segmint.engine import changed, windows, worker
from segmint.engine.plans import (
    SegmentPlan,
    layers,
    load_plans,
    q,
    utc,
    window_specs,
    with_dependents,
    x,
)
from segmint.engine.runs import RefreshReport, boundaries, run_report, start_run, unfinished_run
from segmint.engine.windows import WindowSpec
from segmint.rules.schema import Schema
from segmint.store import memberships
from segmint.store.base import Store
from segmint.store.sqltext import fixed, ident, in_staged, render

#: progress(step, done, total) after each committed batch.
Progress = Callable[[str, int, int], None]

BATCH_SIZE = 250_000
WIDE, TARGET, DUE_WIDE, DUE, CHANGED = (
    "segmint_m_wide",
    "segmint_m_target",
    "segmint_m_duew",
    "segmint_m_due",
    "segmint_m_changed",
)


# ---- targets -------------------------------------------------------------------------


def _recreate(store: Store, name: str, columns: Sequence[tuple[str, str]]) -> None:
    store.execute(render("DROP TABLE IF EXISTS {n}", n=ident(name)))
    cols = ", ".join(f"{c} {t}" for c, t in columns)
    store.execute(render("CREATE TEMP TABLE {n} ({c})", n=ident(name), c=fixed(cols)))


def _create_as(store: Store, name: str, columns: Sequence[tuple[str, str]], select: str) -> str:
    """Drop temp table ``name`` and return the statement creating it from ``select``
    (whose output columns are ``columns``, typed by CASTs). PostgreSQL plans the SELECT
    of ``CREATE TABLE … AS`` in parallel, never that of ``INSERT … SELECT``: the fused pass
    is most of a refresh, and a second core nearly halves it."""
    store.execute(render("DROP TABLE IF EXISTS {n}", n=ident(name)))
    cols = ", ".join(f"CAST(q.{c} AS {t}) AS {c}" for c, t in columns)
    return str(
        render(
            "CREATE TEMP TABLE {n} AS SELECT {c} FROM ({s}) AS q",
            n=ident(name),
            c=fixed(cols),
            s=fixed(select),
        )
    )


def drop_temp(store: Store) -> None:
    for name in (WIDE, TARGET, DUE_WIDE, DUE, CHANGED, memberships.DIFF):
        store.execute(render("DROP TABLE IF EXISTS {n}", n=ident(name)))


@dataclass
class Targets:
    """A layer's target as SQL over the temp tables WIDE and DUE_WIDE: ``rows`` selects
    ``(segment_code, customer_id, reason)``, ``due`` selects ``(source, customer_id,
    due_at)`` for the due ``sources`` this layer computes (None: none), both with
    ``params``."""

    rows: str | None
    due: str | None
    params: dict[str, object]
    sources: list[str] = field(default_factory=list)
    #: WIDE holds only the customers whose rows differ (engine/changed.py)
    filtered: bool = False

    def materialize(self, store: Store, only_ids: str | None = None) -> None:
        """Fill TARGET and DUE (for the customers of the staged ``only_ids`` table, or
        all)."""
        scope = in_staged("u.customer_id", only_ids)
        for table, sql in ((TARGET, self.rows), (DUE, self.due)):
            if sql is not None:
                x(
                    store,
                    render(
                        "INSERT INTO {t} SELECT * FROM ({q}) AS u WHERE {s}",
                        t=ident(table),
                        q=fixed(sql),
                        s=scope,
                    ),
                    self.params,
                )
        if store.dialect == "postgres":
            store.execute("ANALYZE segmint_m_target")
            store.execute("ANALYZE segmint_m_due")


def layer_sources(plans: Sequence[SegmentPlan], specs: Mapping[str, WindowSpec]) -> list[str]:
    """The due sources a layer's pass recomputes: the collections its rules read (the
    pass reads them anyway) and PROFILE (customer fields and constants: no collection)."""
    read = {
        windows.source_of(c) for p in plans if p.checked is not None for c in p.checked.collections
    }
    return [s for s in windows.sources(specs) if s == windows.PROFILE or s in read]


def build_targets(
    store: Store,
    schema: Schema,
    plans: Sequence[SegmentPlan],
    now: dt.datetime,
    catalog: Mapping[str, SegmentPlan],
    *,
    ids_table: str | None = None,
    ids_count: int | None = None,
    materialize: bool = True,
    only_changed: bool = False,
) -> Targets:
    """Fill temp tables TARGET (who should be in) and DUE (next due instants of the
    layer's sources over every windowed segment of ``catalog``) for ``plans`` (one
    layer) at ``now``: one fused pass over the store (restricted to the customers of
    ``ids_table`` when given, ``ids_count`` of them). With ``materialize=False`` only
    the wide results are stored; the caller materializes (some of) them with the
    returned :class:`Targets`. With ``only_changed`` (a refresh), WIDE may keep only the
    customers whose rows differ from the store (``Targets.filtered``,
    engine/changed.py)."""
    codes = [p.code for p in plans]
    rules = {p.code: p.checked.rule for p in plans if p.checked is not None}
    specs = window_specs(catalog)
    wanted = layer_sources(plans, specs)
    # The collections' due instants ride along in the rules' grouped subqueries.
    fused = windows.fused_values(specs, wanted, now, store.dialect) if wanted and rules else None
    values = [(f"v_{i}", "TIMESTAMP") for i in range(len(fused or ()))]
    columns = None if fused is None else {s: f"v_{i}" for i, (s, _) in enumerate(fused)}
    wide = [("id", "TEXT"), *((f"r_{i}", "BOOLEAN") for i in range(len(rules))), *values]
    # A small staged batch is probed through the store's B-trees (compile.dialects.in_ids).
    probe = ids_table is not None and ids_count is not None and ids_count <= store.probe_ids
    manual = int(
        q(
            store,
            render(
                "SELECT COUNT(*) FROM segment_manual AS s WHERE {c}",
                c=store._in_list(fixed("s.segment_code"), "codes"),
            ),
            {"codes": codes},
        )[0][0]
    )
    # Whether WIDE keeps only the customers whose rows differ (engine/changed.py): the
    # due instants must then be columns of the pass (or need no collection).
    filtered = (
        only_changed
        and bool(rules)
        and (columns is not None or all(s == windows.PROFILE for s in wanted))
    )
    if rules:
        compiled = SqlCompiler(store.dialect, schema).compile_many(
            rules,
            now,
            only_ids_in=ids_table,
            ordered=False,
            values=[v for _, v in fused or ()],
            # the filtered pass reads r_i where NULL acts as FALSE, and coalesces its output
            two_valued=not filtered,
            probe_ids=probe,
        )
        sql, pass_params = compiled.sql, dict(compiled.params)
        if filtered:
            expected, due_params = windows.due_expressions(
                specs, wanted, now, schema.timezone, columns or {}, "f", store.dialect
            )
            sql, own = changed.changed_wide(
                store,
                compiled.sql,
                codes,
                list(rules),
                list(zip(wanted, expected, strict=True)),
                len(values),
                manual > 0,
                windows.needs_customers(specs, wanted),
            )
            pass_params.update(own)
            pass_params.update(due_params if wanted else {})
        store.execute(_create_as(store, WIDE, wide, sql), pass_params)
    else:
        _recreate(store, WIDE, wide)
    scope = in_staged("s.customer_id", ids_table)
    params: dict[str, object] = {f"c{i}": code for i, code in enumerate(rules)}
    params["codes"] = codes
    parts = [
        render(
            "SELECT CAST($c{i} AS TEXT) AS segment_code, w.id AS customer_id, 0 AS inc "
            "FROM segmint_m_wide AS w WHERE w.r_{i}",
            i=fixed(str(i)),
        )
        for i in range(len(rules))
    ]
    # Named here too: in a layer of manual segments only, this part comes first and names
    # the UNION's columns.
    parts.append(
        render(
            "SELECT s.segment_code, s.customer_id, 1 AS inc FROM segment_manual AS s "
            "WHERE s.mode = 'include' AND {c} AND {s}",
            c=store._in_list(fixed("s.segment_code"), "codes"),
            s=scope,
        )
    )
    _recreate(
        store, TARGET, [("segment_code", "TEXT"), ("customer_id", "TEXT"), ("reason", "TEXT")]
    )
    rows: str | None = None
    if not manual:
        # No includes or excludes: the rule matches are the target as they are.
        if rules:
            rows = render(
                "SELECT u.segment_code, u.customer_id, CAST('rule' AS TEXT) AS reason "
                "FROM ({parts}) AS u",
                parts=fixed(" UNION ALL ".join(parts[:-1])),
            )
    else:
        rows = render(
            "SELECT u.segment_code, u.customer_id, "
            "CASE WHEN MAX(u.inc) = 1 THEN 'manual' ELSE 'rule' END AS reason "
            "FROM ({parts}) AS u WHERE NOT EXISTS (SELECT 1 FROM segment_manual "
            "AS e WHERE e.mode = 'exclude' AND e.segment_code = u.segment_code "
            "AND e.customer_id = u.customer_id) GROUP BY u.segment_code, u.customer_id",
            parts=fixed(" UNION ALL ".join(parts)),
        )
    due = _build_due(store, schema, specs, wanted, now, ids_table, params, columns, filtered, probe)
    targets = Targets(rows, due, params, wanted, filtered)
    if materialize:
        targets.materialize(store)
    return targets


def _build_due(
    store: Store,
    schema: Schema,
    specs: Mapping[str, WindowSpec],
    wanted: Sequence[str],
    now: dt.datetime,
    ids_table: str | None,
    params: dict[str, object],
    columns: Mapping[str, str] | None,
    present_only: bool = False,
    probe: bool = False,
) -> str | None:
    """Fill DUE_WIDE (one column per source of ``wanted``) and return the SQL unpivoting
    it (its parameters added to ``params``); None without sources. With ``columns`` (the
    fused pass's due aggregates in WIDE) no collection is read again; ``present_only``:
    WIDE may hold ids with no customer row (a filtered WIDE), which get no due rows;
    ``probe``: a small staged batch on PostgreSQL (``compile.dialects.in_ids``)."""
    _recreate(store, DUE, [("source", "TEXT"), ("customer_id", "TEXT"), ("due_at", "TIMESTAMP")])
    if not wanted:
        return None
    if columns is not None:
        sql, due_params = windows.due_from_wide(
            specs, wanted, now, schema.timezone, columns, WIDE, store.dialect, present_only
        )
    else:
        sql, due_params = windows.due_query(
            specs, wanted, now, schema.timezone, ids_table, store.dialect, probe=probe
        )
    due_wide = [("id", "TEXT"), *((f"due_{i}", "TIMESTAMP") for i in range(len(wanted)))]
    x(store, _create_as(store, DUE_WIDE, due_wide, str(sql)), due_params)
    parts = [
        render(
            "SELECT CAST($ds{i} AS TEXT) AS source, id AS customer_id, due_{i} AS due_at "
            "FROM segmint_m_duew WHERE due_{i} IS NOT NULL",
            i=fixed(str(i)),
        )
        for i in range(len(wanted))
    ]
    params.update({f"ds{i}": s for i, s in enumerate(wanted)})
    return " UNION ALL ".join(parts)


def changed_customers(store: Store, codes: Sequence[str], targets: Targets) -> int:
    """Fill temp table CHANGED (``id``) with every customer whose memberships (or reason)
    of ``codes`` or due instants of the targets' sources differ from ``targets``, in ONE
    statement over all customers (the targets are read where they are computed, not
    copied); returns how many. The batches then write only those customers: a refresh
    that changes nothing writes nothing but its checkpoint, one that changes a few
    writes them in one small transaction."""
    _recreate(store, CHANGED, [("id", "TEXT")])
    empty = "SELECT CAST(NULL AS TEXT) AS {k}, CAST(NULL AS TEXT) AS customer_id, {v} WHERE FALSE"
    rows = targets.rows or empty.format(k="segment_code", v="CAST(NULL AS TEXT) AS reason")
    due = targets.due or empty.format(k="source", v="CAST(NULL AS TIMESTAMP) AS due_at")
    x(
        store,
        render(
            "INSERT INTO {ch} SELECT DISTINCT u.id FROM ("
            "SELECT COALESCE(t.customer_id, m.customer_id) AS id FROM ({t}) AS t FULL OUTER JOIN "
            "(SELECT * FROM memberships AS m WHERE {cm}) AS m "
            "ON t.segment_code = m.segment_code AND t.customer_id = m.customer_id "
            "WHERE m.customer_id IS NULL OR t.customer_id IS NULL OR t.reason <> m.reason "
            "UNION ALL SELECT COALESCE(t.customer_id, d.customer_id) FROM ({d}) AS t "
            "FULL OUTER JOIN (SELECT * FROM customer_due AS d WHERE {cd}) AS d "
            "ON t.source = d.source AND t.customer_id = d.customer_id "
            "WHERE t.customer_id IS NULL OR d.customer_id IS NULL OR t.due_at <> d.due_at"
            ") AS u",
            ch=ident(CHANGED),
            t=fixed(rows),
            d=fixed(due),
            cm=store._in_list(fixed("m.segment_code"), "codes"),
            cd=store._in_list(fixed("d.source"), "sources"),
        ),
        {**targets.params, "codes": list(codes), "sources": targets.sources},
    )
    return _changed_count(store)


def _changed_from_wide(store: Store) -> int:
    """Fill CHANGED from a filtered WIDE (its ids are exactly the changed customers)."""
    _recreate(store, CHANGED, [("id", "TEXT")])
    x(store, render("INSERT INTO {ch} SELECT id FROM {w}", ch=ident(CHANGED), w=ident(WIDE)))
    return _changed_count(store)


def _changed_count(store: Store) -> int:
    if store.dialect == "postgres":
        store.execute(render("ANALYZE {ch}", ch=ident(CHANGED)))
    return int(q(store, render("SELECT COUNT(*) FROM {ch}", ch=ident(CHANGED)))[0][0])


def apply_layer(
    store: Store,
    codes: Sequence[str],
    sources: Sequence[str],
    scope: memberships.Scope,
    at: dt.datetime,
    trigger: str,
    run_id: int | None,
) -> dict[str, tuple[int, int]]:
    """Write the difference between the temp targets and the store, for ``scope``;
    (entered, exited) per segment that changed."""
    changes = memberships.apply_target(store, TARGET, codes, scope, at, trigger, run_id)
    memberships.apply_due_target(store, DUE, sources, scope)
    return changes


# ---- runs ----------------------------------------------------------------------------


def run_refresh(
    store: Store,
    codes: Sequence[str] | None,
    now: dt.datetime,
    *,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> RefreshReport:
    """Refresh ``codes`` (None: every materialized segment) and the segments that read
    them, as of ``now``. A run left unfinished (killed, or queued with a segment save) is
    first RESUMED with its own as_of and segments; the requested refresh then runs too
    unless the resumed run already was exactly it. The report merges both
    (``resumed=True``). Before either, what is due by its as_of is applied (the refresh
    recomputes due instants as of its as_of: one already due would be lost), and the
    whole refresh holds the writer lock."""
    store.require_schema()
    with store.writer_lock():
        first: RefreshReport | None = None
        pending = unfinished_run(store)
        if pending is not None:
            first = _resume(store, pending, progress, batch_size)
        as_of = utc(now)
        worker.process_due(store, as_of)
        schema = store.rule_schema()
        plans = load_plans(store, schema)
        wanted = list(plans) if codes is None else [c for c in codes if c in plans]
        run_codes = sorted(with_dependents(plans, wanted))
        if first is not None and pending is not None:
            _, pending_as_of, pending_codes, _ = pending
            if pending_as_of == as_of and set(run_codes) <= set(pending_codes):
                return first
        run_id = start_run(store, run_codes, as_of)
        _execute(store, schema, plans, run_id, as_of, run_codes, {}, progress, batch_size)
        report = run_report(store, run_id, run_codes, first is not None, as_of)
    if first is not None:
        for code, (e, o) in first.per_segment.items():
            e2, o2 = report.per_segment.get(code, (0, 0))
            report.per_segment[code] = (e + e2, o + o2)
        report.entered += first.entered
        report.exited += first.exited
    return report


def queue_run(store: Store, codes: Sequence[str], now: dt.datetime) -> int:
    """Record a refresh of ``codes`` and their dependents as of ``now`` without running it
    (inside the caller's transaction): a segment save queues its refresh with the new
    definition, so a kill before the refresh leaves a run that the next refresh or
    worker pass resumes."""
    plans = load_plans(store)
    run_codes = sorted(with_dependents(plans, [c for c in codes if c in plans]))
    return start_run(store, run_codes, utc(now))


def resume_unfinished(
    store: Store, *, progress: Progress | None = None, batch_size: int = BATCH_SIZE
) -> RefreshReport | None:
    """Finish a run left unfinished, if any (the worker calls this every pass)."""
    with store.writer_lock():
        pending = unfinished_run(store)
        return None if pending is None else _resume(store, pending, progress, batch_size)


def _resume(
    store: Store,
    pending: tuple[int, dt.datetime, list[str], dict[str, object]],
    progress: Progress | None,
    batch_size: int,
) -> RefreshReport:
    run_id, pending_as_of, pending_codes, checkpoint = pending
    worker.process_due(store, pending_as_of)
    schema = store.rule_schema()
    plans = load_plans(store, schema)
    _execute(
        store, schema, plans, run_id, pending_as_of, pending_codes, checkpoint, progress, batch_size
    )
    return run_report(store, run_id, pending_codes, True, pending_as_of)


def _execute(
    store: Store,
    schema: Schema,
    plans: Mapping[str, SegmentPlan],
    run_id: int,
    as_of: dt.datetime,
    run_codes: Sequence[str],
    checkpoint: Mapping[str, object],
    progress: Progress | None,
    batch_size: int,
) -> None:
    start_layer = int(str(checkpoint.get("layer", 0)))
    after = checkpoint.get("after")
    ordered = layers(plans, [c for c in run_codes if c in plans])
    ranges: list[tuple[str | None, str | None]] | None = None  # computed when needed
    try:
        for index, layer in enumerate(ordered):
            if index < start_layer:
                continue
            targets = build_targets(
                store,
                schema,
                [plans[c] for c in layer],
                as_of,
                plans,
                materialize=False,
                only_changed=True,
            )
            # Only customers whose rows differ are written (the difference is against the
            # current rows, so ranges applied before a kill have none left). A few: one
            # transaction; none: just the checkpoint.
            if targets.filtered:
                changed = _changed_from_wide(store)
            else:
                changed = changed_customers(store, layer, targets)
            if changed:
                targets.materialize(store, CHANGED)
            todo: list[tuple[str | None, str | None]] = [(None, None)]
            if changed > batch_size:
                if ranges is None:
                    bounds = boundaries(store, batch_size)
                    ranges = list(zip([None, *bounds], [*bounds, None], strict=True))
                todo = ranges
                if index == start_layer and after is not None:
                    # Continue after the checkpoint; ids are compared by the database
                    # only (its collation), so find the boundary rather than comparing
                    # in Python.
                    done_upto = str(after)
                    starts = [lo for lo, _ in ranges]
                    todo = (
                        ranges[starts.index(done_upto) :]
                        if done_upto in starts
                        else [(done_upto, None)]
                    )
            # A first refresh (or a new broad segment) writes millions of rows: the store
            # may suspend secondary indexes across its batches and build them after.
            with store.bulk_write(_write_sizes(store) if changed else {}):
                for done, (lo, hi) in enumerate(todo, start=1):
                    scope = memberships.Scope(after=lo, upto=hi, ids_table=CHANGED)
                    mark = {"layer": index, "after": hi} if hi is not None else {"layer": index + 1}
                    with store.transaction():
                        if changed:
                            apply_layer(
                                store, layer, targets.sources, scope, as_of, "refresh", run_id
                            )
                        x(
                            store,
                            "UPDATE refresh_runs SET checkpoint = $c WHERE id = $id",
                            {"c": json.dumps(mark), "id": run_id},
                        )
                    if progress is not None:
                        progress(f"layer {index + 1}/{len(ordered)}", done, len(todo))
        with store.transaction():
            if set(plans) <= set(run_codes):
                # Every source of the catalog was recomputed: rows of a source no windowed
                # segment reads any more (or migrated ones) are stale.
                kept = list(windows.sources(window_specs(plans)))
                stale = render(
                    "DELETE FROM customer_due WHERE NOT ({c})",
                    c=store._in_list(fixed("source"), "sources"),
                )
                x(store, stale if kept else "DELETE FROM customer_due", {"sources": kept})
            x(
                store,
                "UPDATE refresh_runs SET state = 'done', finished_at = $t WHERE id = $id",
                {"t": dt.datetime.now(dt.UTC), "id": run_id},
            )
    finally:
        drop_temp(store)


def _write_sizes(store: Store) -> dict[str, int]:
    """About how many rows a layer's batches write per table: every target row of a
    changed customer may be an entry (a membership and a history row), every due row a
    new one. Exits are not counted: a refresh that mostly empties segments is rare."""
    target, due = (
        int(q(store, render("SELECT COUNT(*) FROM {t}", t=ident(name)))[0][0])
        for name in (TARGET, DUE)
    )
    return {"memberships": target, "membership_history": target, "customer_due": due}
