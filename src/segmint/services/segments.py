"""Segment use cases: create/update/delete/list/show, preview, manual members, members
at an instant, history and the change feed. User groups and the customer overview live in
:mod:`segmint.services.user_groups`.

Saving a segment type-checks its rule against the store's schema, checks its
``IN SEGMENT`` references (they must exist, must be materialized, and must not form a
cycle), stores a new version, then brings memberships up to date AT ONCE (the membership
engine's ``refresh_segments`` for rule-based kinds and for every segment that depends on
the saved one), so a saved segment is never stale.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from segmint.engine import match as match_engine
from segmint.engine.refresh import queue_run, resume_unfinished
from segmint.errors import ConfigError, ConflictError, NotFoundError, RuleError
from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.rules import CheckedRule, check, parse, to_text
from segmint.services.levers import levers_reading_segment
from segmint.services.segment_graph import SegmentGraph, cycle_message
from segmint.services.segment_graph import referenced_segments as referenced_segments
from segmint.store import outbox
from segmint.store.memberships import set_reason
from segmint.store.outbox import Work
from segmint.store.segments import (
    EXCLUDE,
    INCLUDE,
    SegmentRecord,
    SegmentRepository,
    SegmentVersion,
)
from segmint.store.segments import Change as Change  # re-exported for the CLI

if TYPE_CHECKING:
    from segmint.services.membership import RefreshReport
    from segmint.store.base import Store

#: At most this many unknown ids are named in an error (then "… and N more").
MAX_LISTED_IDS = 20


# ---- results --------------------------------------------------------------------------


@dataclass(frozen=True)
class SaveResult:
    """What a create/update did: the stored definition and version, and the membership
    changes of the segment itself (``entered``/``exited``) and of its dependents."""

    definition: SegmentDefinition
    version: int
    entered: int
    exited: int
    dependents: tuple[str, ...] = ()
    changed: bool = True  # False: an update identical to the stored definition


@dataclass(frozen=True)
class Preview:
    """Who a definition would select, without saving. For an edit, ``entering`` and
    ``leaving`` compare with the current members (all ids, sorted)."""

    count: int
    sample: list[str]
    current_count: int
    entering: list[str]
    leaving: list[str]


@dataclass(frozen=True)
class SegmentSummary:
    record: SegmentRecord
    status: str
    members: int


@dataclass(frozen=True)
class SegmentDetails:
    record: SegmentRecord
    status: str
    members: int
    includes: int
    excludes: int
    references: list[str]
    referrers: list[str]
    versions: list[SegmentVersion]


@dataclass(frozen=True)
class ManualResult:
    """A manual add/remove: ids asked for, and the membership changes it made."""

    requested: int
    entered: int
    exited: int


@dataclass(frozen=True)
class ChangePage:
    """A page of the change feed; ``cursor`` is the seq to pass as ``since`` next."""

    changes: list[Change]
    cursor: int


# ---- rules, references and cycles -----------------------------------------------------


def _graph(repo: SegmentRepository) -> SegmentGraph:
    """Every stored segment and what it reads (IN SEGMENT and user groups)."""
    return SegmentGraph.of(r.definition for r in repo.all())


def _canonical(definition: SegmentDefinition) -> SegmentDefinition:
    """Store the purchase item fragment in canonical form: one parsed rule printed back,
    so wrapping it in parentheses inside the compiled rule can never change its meaning."""
    purchase = definition.purchase
    if purchase is None or purchase.items is None:
        return definition
    canonical = to_text(parse(purchase.items))
    return definition.with_changes(purchase=dataclasses.replace(purchase, items=canonical))


def _check(store: Store, definition: SegmentDefinition, graph: SegmentGraph) -> CheckedRule | None:
    """Type-check the definition's rule and its references, and refuse a cycle; None for
    a manual segment (it reads nothing, so it cannot close a cycle)."""
    text = definition.effective_rule
    if text is None:
        return None
    schema = store.rule_schema()
    checked = check(parse(text), schema, text=text, allow_realtime=True)
    if definition.kind is SegmentKind.REALTIME and not checked.realtime:
        raise ConfigError(
            "error: segment rule: a real-time segment must read request context "
            "(context.* or cart.*); this rule reads only stored data, so make it a rule "
            "segment (--rule without --realtime) and it will be materialized"
        )
    if definition.kind is not SegmentKind.REALTIME and checked.realtime:
        try:
            check(parse(text), schema, text=text, allow_realtime=False)
        except RuleError as error:
            raise RuleError(
                error.message,
                error.text,
                error.start,
                error.end,
                expected="only stored customer data; a rule reading context. or cart. fields "
                "is a real-time segment (--realtime)",
            ) from None
    kinds = {r.code: r.definition.kind for r in SegmentRepository(store).all()}
    for ref in sorted(checked.segments):
        if ref == definition.code:
            continue  # a cycle, refused above
        if ref not in kinds:
            raise NotFoundError(f"error: segment rule: IN SEGMENT {ref!r}: no such segment")
        if definition.kind.materialized and not kinds[ref].materialized:
            raise ConfigError(
                f"error: segment rule: IN SEGMENT {ref!r}: a real-time segment has no stored "
                "members, so only a real-time segment can reference it"
            )
    _check_cycles(graph, definition)
    return checked


def _check_cycles(graph: SegmentGraph, definition: SegmentDefinition) -> None:
    """Refuse a save that would make a segment read itself, through IN SEGMENT or user
    groups (as a reader of groups, or by giving a group that a reader it reaches reads)."""
    cycle = graph.with_definition(definition).find_cycle(definition.code)
    if cycle:
        raise ConfigError(cycle_message(cycle))


# ---- memberships after a save -----------------------------------------------------------
#
# Every use case that changes memberships runs under the store's writer lock (so two
# writers never diff against the same rows) and commits its own rows together with what
# the membership update still has to do: a save queues its refresh run, a manual change
# or delete queues its customers in the outbox (store/outbox.py). A kill before the
# update leaves that work for the next refresh or worker pass, never stale memberships.


def _plan_save(
    store: Store,
    repo: SegmentRepository,
    definition: SegmentDefinition,
    now: dt.datetime,
    readers: Sequence[str],
) -> tuple[int, int]:
    """Inside the save's transaction: a rule-based segment queues the refresh of itself,
    its dependents and ``readers`` (the segments reading the group it gives or gave); a
    manual or real-time one gets its members at once (includes, or none) and queues the
    refresh of its dependents and readers if anything moved. (entered, exited)."""
    code = definition.code
    deps = _graph(repo).dependents(code)
    again = sorted(set(readers) - {code})
    if definition.kind in (SegmentKind.RULE, SegmentKind.PURCHASE):
        queue_run(store, [code, *deps, *again], now)
        return 0, 0
    current = set(repo.member_ids(code))
    desired = set(repo.manual(code, INCLUDE)) if definition.kind is SegmentKind.MANUAL else set()
    entered, exited = _apply(
        store,
        code,
        [(c, "manual") for c in sorted(desired - current)],
        sorted(current - desired),
        now,
        "definition",
    )
    todo = sorted(set(deps if entered or exited else ()) | set(again))
    if todo:
        queue_run(store, todo, now)
    return entered, exited


def _finish_save(
    store: Store, definition: SegmentDefinition, entered: int, exited: int, now: dt.datetime
) -> SaveResult:
    """Run the queued refresh (and any other left unfinished before it) and report."""
    repo = SegmentRepository(store)
    code = definition.code
    rule_based = definition.kind in (SegmentKind.RULE, SegmentKind.PURCHASE)
    if rule_based:
        entered = exited = 0
    while (report := resume_unfinished(store)) is not None:
        if rule_based:
            e, o = report.per_segment.get(code, (0, 0))
            entered, exited = entered + e, exited + o
    deps = tuple(_graph(repo).dependents(code))
    return SaveResult(definition, repo.require(code).version, entered, exited, deps)


def _apply(
    store: Store,
    code: str,
    enters: Sequence[tuple[str, str]],
    exits: Sequence[str],
    now: dt.datetime,
    trigger: str,
) -> tuple[int, int]:
    if not enters and not exits:
        return 0, 0
    from segmint.store.memberships import apply_changes

    return apply_changes(store, code, enters, exits, now, trigger)


def _due_first(store: Store, now: dt.datetime) -> None:
    """Apply what is due by ``now`` under the definitions as they were, before a save
    changes them (the save's refresh recomputes due instants as of ``now``)."""
    from segmint.services.membership import process_due

    process_due(store, now)


def _gives_group(definition: SegmentDefinition) -> tuple[object, ...]:
    """What decides which group a segment's members inherit, and when."""
    d = definition
    return (d.kind.materialized, d.group.lower(), d.active, d.starts_at, d.ends_at)


# ---- create, update, delete, list, show -------------------------------------------------


def create_segment(store: Store, definition: SegmentDefinition, now: dt.datetime) -> SaveResult:
    """Validate and store a new segment (version 1), then compute its members."""
    store.require_schema()
    repo = SegmentRepository(store)
    definition = _canonical(definition)
    with store.writer_lock():
        if repo.get(definition.code) is not None:
            raise ConflictError(
                f"error: segment code: {definition.code!r} already exists (use `segments update`)"
            )
        _check(store, definition, _graph(repo))
        _due_first(store, now)
        with store.transaction():
            repo.insert(definition, now)
            entered, exited = _plan_save(store, repo, definition, now, ())
        return _finish_save(store, definition, entered, exited, now)


def update_segment(
    store: Store,
    definition: SegmentDefinition,
    now: dt.datetime,
    *,
    expected_version: int | None = None,
) -> SaveResult:
    """Store ``definition`` as the next version of the segment with its code (the old
    definition stays in the version history), then make memberships exact. When what its
    members inherit changes (group, active flag, dates, kind), the segments reading the
    old or the new group are refreshed too, and its boundaries count as applied up to
    ``now`` (the worker applies later ones). With ``expected_version`` (an ``If-Match``)
    an update of any other current version is refused with :class:`ConflictError`;
    concurrent updates are serialized by the writer lock."""
    store.require_schema()
    repo = SegmentRepository(store)
    definition = _canonical(definition)
    with store.writer_lock():
        current = repo.require(definition.code)
        if expected_version is not None and expected_version != current.version:
            raise ConflictError(
                f"error: segment {definition.code!r} is at version {current.version}, not "
                f"{expected_version}: it changed since it was read; read it again and retry"
            )
        if definition == current.definition:
            # Nothing to version and nothing to recalculate.
            return SaveResult(definition, current.version, 0, 0, changed=False)
        graph = _graph(repo)
        _check(store, definition, graph)
        readers: list[str] = []
        regrouped = _gives_group(definition) != _gives_group(current.definition)
        if regrouped:
            after = graph.with_definition(definition)
            readers = sorted(
                {*graph.dependents(definition.code), *after.dependents(definition.code)}
            )
        _due_first(store, now)
        done_until = repo.boundaries_done(definition.code)
        with store.transaction():
            repo.update(definition, now)
            # The update moves updated_at, which stands for "boundaries done" when no row
            # says otherwise: keep the old mark unless this save makes the readers exact.
            mark = now if regrouped or done_until is None else done_until
            repo.set_boundaries_done(definition.code, mark)
            entered, exited = _plan_save(store, repo, definition, now, readers)
        return _finish_save(store, definition, entered, exited, now)


def delete_segment(
    store: Store, code: str, now: dt.datetime, *, expected_version: int | None = None
) -> int:
    """Delete a segment nobody references. Its members exit (trigger ``definition``, so
    the change feed tells) and the segments reading its group are re-evaluated for them;
    its history and versions stay. Returns how many exited."""
    store.require_schema()
    repo = SegmentRepository(store)
    with store.writer_lock():
        current = repo.require(code)
        if expected_version is not None and expected_version != current.version:
            raise ConflictError(
                f"error: segment {code!r} is at version {current.version}, not "
                f"{expected_version}: it changed since it was read; read it again and retry"
            )
        readers = levers_reading_segment(store, code, current.definition.group)
        if readers:
            raise ConfigError(
                f"error: segment {code!r} cannot be deleted: it is read by "
                + "; ".join(readers)
                + " (change those levers first, or deactivate the segment instead)"
            )
        graph = _graph(repo)
        refs = graph.referrers(code)
        if refs:
            names = ", ".join(refs)
            raise ConfigError(
                f"error: segment {code!r} cannot be deleted: it is referenced by segment"
                f"{'s' if len(refs) > 1 else ''} {names} (IN SEGMENT '{code}')"
            )
        _due_first(store, now)  # what was due before the deletion happens first
        leaving = repo.member_ids(code)
        deps = graph.dependents(code)  # no IN SEGMENT referrer: the readers of its group
        with store.transaction():
            _, exited = _apply(store, code, [], leaving, now, "definition")
            repo.delete(code)
            batch = outbox.queue_ids(store, leaving, Work(codes=tuple(deps))) if deps else None
        if batch is not None:
            from segmint.engine.incremental import reevaluate

            reevaluate(store, leaving, now, changed=None, codes=deps, outbox_batches=[batch])
    return exited


def find_segment(store: Store, code: str) -> SegmentRecord | None:
    store.require_schema()
    return SegmentRepository(store).get(code)


def get_segment(store: Store, code: str) -> SegmentRecord:
    store.require_schema()
    return SegmentRepository(store).require(code)


def list_segments(store: Store, now: dt.datetime) -> list[SegmentSummary]:
    store.require_schema()
    repo = SegmentRepository(store)
    counts = repo.member_counts()
    return [SegmentSummary(r, r.definition.status(now), counts.get(r.code, 0)) for r in repo.all()]


def show_segment(store: Store, code: str, now: dt.datetime) -> SegmentDetails:
    store.require_schema()
    repo = SegmentRepository(store)
    record = repo.require(code)
    graph = _graph(repo)
    manual = repo.manual(code)
    return SegmentDetails(
        record=record,
        status=record.definition.status(now),
        members=repo.member_count(code),
        includes=sum(1 for m in manual.values() if m == INCLUDE),
        excludes=sum(1 for m in manual.values() if m == EXCLUDE),
        references=graph.references(code),
        referrers=graph.referrers(code),
        versions=repo.versions(code),
    )


# ---- preview ------------------------------------------------------------------------------


def desired_members(
    store: Store, definition: SegmentDefinition, checked: CheckedRule | None, now: dt.datetime
) -> set[str]:
    """Who the definition selects now: the rule's matches (SQL engine) plus manual
    includes, minus manual excludes (an exclude wins); a manual segment's includes."""
    repo = SegmentRepository(store)
    manual = repo.manual(definition.code) if repo.get(definition.code) else {}
    includes = {c for c, m in manual.items() if m == INCLUDE}
    excludes = {c for c, m in manual.items() if m == EXCLUDE}
    if checked is None:
        return includes
    matched = set(match_engine.match_sql(store, checked, now))
    return (matched | includes) - excludes


def preview_segment(
    store: Store, definition: SegmentDefinition, now: dt.datetime, *, sample: int = 10
) -> Preview:
    """Count and sample the members ``definition`` would have, without saving; for an
    existing code, also who would enter and who would leave."""
    store.require_schema()
    if definition.kind is SegmentKind.REALTIME:
        raise ConfigError(
            "error: a real-time segment is evaluated per request (it reads request context), "
            "so it has no members to preview; try its rule with `segmint explain`"
        )
    repo = SegmentRepository(store)
    definition = _canonical(definition)
    checked = _check(store, definition, _graph(repo))
    desired = desired_members(store, definition, checked, now)
    current = set(repo.member_ids(definition.code))
    ordered = sorted(desired)
    return Preview(
        count=len(ordered),
        sample=ordered[: max(0, sample)],
        current_count=len(current),
        entering=sorted(desired - current),
        leaving=sorted(current - desired),
    )


# ---- manual members -------------------------------------------------------------------------


def read_ids_file(path: str | Path) -> list[str]:
    """Customer ids from a file: one per line, or CSV with an ``id`` or ``customer_id``
    column (blank lines and surrounding spaces ignored)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ConfigError(f"error: --file: cannot read {str(path)!r}: {error.strerror}") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = [h.strip().lower() for h in next(csv.reader([lines[0]]))]
    column = next((c for c in ("customer_id", "id") if c in header), None)
    if column is None:
        return [line.strip() for line in lines]
    index = header.index(column)
    ids = []
    for row in csv.reader(io.StringIO("\n".join(lines[1:]))):
        if len(row) > index and row[index].strip():
            ids.append(row[index].strip())
    return ids


def _clean_ids(ids: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for raw in ids:
        cid = raw.strip()
        if cid:
            seen.setdefault(cid, None)
    if not seen:
        raise ConfigError("error: no customer ids given")
    return list(seen)


def _require_customers(repo: SegmentRepository, ids: Sequence[str]) -> None:
    unknown = repo.unknown_customers(ids)
    if unknown:
        shown = ", ".join(unknown[:MAX_LISTED_IDS])
        more = (
            f" … and {len(unknown) - MAX_LISTED_IDS} more" if len(unknown) > MAX_LISTED_IDS else ""
        )
        raise NotFoundError(
            f"error: {len(unknown)} unknown customer id{'s' if len(unknown) > 1 else ''}, "
            f"nothing was changed: {shown}{more}"
        )


def _manual_target(repo: SegmentRepository, code: str) -> SegmentRecord:
    record = repo.require(code)
    if record.definition.kind is SegmentKind.REALTIME:
        raise ConfigError(
            f"error: segment {code!r} is real-time: it has no stored members to add or remove"
        )
    return record


def add_members(store: Store, code: str, ids: Iterable[str], now: dt.datetime) -> ManualResult:
    """Add customers to a segment: the members of a manual segment, or includes on top of
    a rule (an include replaces an exclude). Unknown ids refuse the whole call."""
    store.require_schema()
    repo = SegmentRepository(store)
    _manual_target(repo, code)
    wanted = _clean_ids(ids)
    _require_customers(repo, wanted)
    with store.writer_lock():
        _due_first(store, now)
        with store.transaction():
            repo.set_manual(code, wanted, INCLUDE, now)
            current = set(repo.member_ids(code))
            enters = [(c, "manual") for c in sorted(set(wanted) - current)]
            entered, exited = _apply(store, code, enters, [], now, "manual")
            # Members the rule had already selected are now in as included.
            set_reason(store, code, sorted(set(wanted) & current), "manual")
            batch = _queue_dependents(store, repo, code, [c for c, _ in enters])
        _refresh_dependents(store, repo, code, now, [c for c, _ in enters], batch)
    return ManualResult(len(wanted), entered, exited)


def remove_members(store: Store, code: str, ids: Iterable[str], now: dt.datetime) -> ManualResult:
    """Remove customers: from a manual segment's set, or as excludes of a rule segment
    (an exclude wins over the rule). Unknown ids refuse the whole call."""
    store.require_schema()
    repo = SegmentRepository(store)
    record = _manual_target(repo, code)
    wanted = _clean_ids(ids)
    _require_customers(repo, wanted)
    with store.writer_lock():
        _due_first(store, now)
        with store.transaction():
            if record.definition.kind is SegmentKind.MANUAL:
                repo.clear_manual(code, wanted)
            else:
                repo.set_manual(code, wanted, EXCLUDE, now)
            leaving = sorted(set(wanted) & set(repo.member_ids(code)))
            entered, exited = _apply(store, code, [], leaving, now, "manual")
            batch = _queue_dependents(store, repo, code, leaving)
        _refresh_dependents(store, repo, code, now, leaving, batch)
    return ManualResult(len(wanted), entered, exited)


def _queue_dependents(
    store: Store, repo: SegmentRepository, code: str, ids: Sequence[str]
) -> int | None:
    """Inside a manual change's transaction: the customers whose membership of ``code``
    moved, for the segments that read it (IN SEGMENT or its group)."""
    deps = _graph(repo).dependents(code) if ids else []
    return outbox.queue_ids(store, ids, Work(codes=tuple(deps))) if deps else None


def _refresh_dependents(
    store: Store,
    repo: SegmentRepository,
    code: str,
    now: dt.datetime,
    ids: Sequence[str],
    batch: int | None,
) -> None:
    # Segments that read `IN SEGMENT code` or its group must see the change at once:
    # re-evaluate just the customers whose membership changed, for those segments (and
    # theirs, in order).
    deps = _graph(repo).dependents(code) if ids else []
    if deps:
        from segmint.engine.incremental import reevaluate

        batches = [batch] if batch is not None else []
        reevaluate(store, ids, now, changed=None, codes=deps, outbox_batches=batches)


def refresh(
    store: Store,
    codes: Sequence[str] | None,
    now: dt.datetime,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> RefreshReport:
    """Batch refresh through the membership engine (None = every materialized segment)."""
    store.require_schema()
    if codes:
        repo = SegmentRepository(store)
        for code in codes:
            repo.require(code)
    from segmint.services.membership import refresh_segments

    return refresh_segments(store, codes or None, now, progress=progress)


# ---- reading members, history, changes ----------------------------------------------------


def members(store: Store, code: str, at: dt.datetime | None = None) -> list[str]:
    """Current member ids, sorted; with ``at``, the members at that instant (history)."""
    store.require_schema()
    repo = SegmentRepository(store)
    if at is None:
        repo.require(code)
        return repo.member_ids(code)
    if repo.get(code) is None and not repo.history(code, limit=1):
        raise NotFoundError(f"error: segment {code!r} does not exist and has no history")
    return repo.members_at(code, at)


def history(
    store: Store, code: str, *, customer_id: str | None = None, limit: int | None = None
) -> list[Change]:
    store.require_schema()
    repo = SegmentRepository(store)
    rows = repo.history(code, customer_id=customer_id, limit=limit)
    if not rows and repo.get(code) is None:
        raise NotFoundError(f"error: segment {code!r} does not exist and has no history")
    return rows


def last_changes(store: Store) -> dict[str, dt.datetime]:
    """code -> instant of the segment's last membership change (entry or exit), from
    history; segments that never had one are absent. One grouped query (the admin list)."""
    store.require_schema()
    rows = store._q('SELECT segment_code, MAX("at") FROM membership_history GROUP BY segment_code')
    return {str(code): at for code, at in rows if isinstance(at, dt.datetime)}


def changes(store: Store, since: int = 0, limit: int = 1000) -> ChangePage:
    """Entries and exits after cursor ``since``, in order; resume from ``cursor``."""
    store.require_schema()
    if since < 0:
        raise ConfigError(f"error: --since: {since} is not a cursor (a number >= 0)")
    if limit < 1:
        raise ConfigError(f"error: --limit: {limit} must be at least 1")
    rows = SegmentRepository(store).changes(since, limit)
    return ChangePage(rows, rows[-1].seq if rows else since)
