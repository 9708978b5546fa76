"""An oracle for stored memberships, independent of the membership engine.

:func:`expected_memberships` answers who should be in every materialized segment at an
instant, from the customer data and the segment definitions alone: it never reads
``memberships``. Each rule is the Python engine's compiled predicate (what ``match``
evaluates); ``IN SEGMENT`` and inherited ``user_groups`` read the oracle's OWN answer
for the other segments, found by iterating to the fixed point (a saved segment graph has
no cycle, so the answer is unique and reached in at most one round per segment).

:func:`membership_problems` compares the stored rows with it (members and reasons), and
:func:`history_problems` checks ``membership_history``: for every (segment, customer),
changes alternate entry and exit starting with an entry, in instants that never go
back, the last one agrees with the stored row (and its ``since``), and a deleted
segment's customers all ended with an exit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from segmint.compile.python import compile_predicate
from segmint.engine.match import match_python
from segmint.model.profile import Profile
from segmint.model.segment import SegmentKind
from segmint.rules import CheckedRule, check, parse
from segmint.store.base import Store
from segmint.store.segments import SegmentRecord, SegmentRepository

INCLUDE, EXCLUDE = "include", "exclude"

#: code -> customer id -> reason (``manual`` or ``rule``)
Memberships = dict[str, dict[str, str]]


def _checked(store: Store, record: SegmentRecord) -> CheckedRule | None:
    text = record.definition.effective_rule
    return None if text is None else check(parse(text), store.rule_schema(), text=text)


def expected_memberships(store: Store, now: dt.datetime) -> Memberships:
    """code -> {customer: reason} of every materialized segment, as it must be at ``now``:
    (rule matches ∪ includes) − excludes, reason ``manual`` for an include; a manual
    segment's includes."""
    repo = SegmentRepository(store)
    records = [r for r in repo.all() if r.definition.kind.materialized]
    schema = store.rule_schema()
    predicates = {}
    for record in records:
        checked = _checked(store, record)
        if checked is not None:
            predicates[record.code] = compile_predicate(checked.rule, schema)
    manual = {r.code: repo.manual(r.code) for r in records}
    # The group a segment's members inherit, while it is targetable at `now`.
    group_of = {r.code: r.definition.group for r in records if r.definition.is_targetable(now)}
    profiles: dict[str, Profile] = store.load_profiles(store.customer_ids())

    answer: Memberships = {r.code: {} for r in records}
    for _ in range(len(records) + 1):
        segments_of: dict[str, set[str]] = {cid: set() for cid in profiles}
        for code, members in answer.items():
            for cid in members:
                segments_of.setdefault(cid, set()).add(code)
        for cid, profile in profiles.items():
            profile.set_segments(segments_of[cid], group_of)
        following: Memberships = {}
        for record in records:
            code = record.code
            includes = {c for c, m in manual[code].items() if m == INCLUDE}
            excludes = {c for c, m in manual[code].items() if m == EXCLUDE}
            wanted = dict.fromkeys(sorted(includes), "manual")
            if record.definition.kind is not SegmentKind.MANUAL:
                predicate = predicates[code]
                for cid, profile in profiles.items():
                    if cid not in wanted and predicate(profile, now):
                        wanted[cid] = "rule"
                for cid in excludes:
                    wanted.pop(cid, None)
            following[code] = wanted
        if following == answer:
            return answer
        answer = following
    raise AssertionError("the segment graph has a cycle: no fixed point of memberships")


def stored_memberships(store: Store) -> Memberships:
    found: Memberships = {}
    rows = store._q("SELECT segment_code, customer_id, reason FROM memberships")
    for code, cid, reason in rows:
        found.setdefault(str(code), {})[str(cid)] = str(reason)
    return found


def membership_problems(store: Store, now: dt.datetime, *, with_match: bool = True) -> list[str]:
    """How the stored memberships differ from :func:`expected_memberships` at ``now``,
    and (unless ``with_match`` is False: it loads every profile once per segment) from
    ``match_python`` of each rule at ``now`` (with includes and excludes)."""
    expected = expected_memberships(store, now)
    stored = stored_memberships(store)
    problems: list[str] = []
    for code in sorted(set(expected) | set(stored)):
        want, have = expected.get(code), stored.get(code, {})
        if want is None:
            problems.append(f"{code}: {len(have)} stored members of no materialized segment")
            continue
        for cid in sorted(set(want) - set(have)):
            problems.append(f"{code}: {cid} should be a member ({want[cid]}), is not")
        for cid in sorted(set(have) - set(want)):
            problems.append(f"{code}: {cid} is a member ({have[cid]}), should not be")
        for cid in sorted(set(want) & set(have)):
            if want[cid] != have[cid]:
                problems.append(f"{code}: {cid} is in for {have[cid]!r}, should be {want[cid]!r}")
    if not with_match:
        return problems
    repo = SegmentRepository(store)
    for record in repo.all():
        checked = _checked(store, record)
        if checked is None or not record.definition.kind.materialized:
            continue
        manual = repo.manual(record.code)
        includes = {c for c, m in manual.items() if m == INCLUDE}
        excludes = {c for c, m in manual.items() if m == EXCLUDE}
        matched = (set(match_python(store, checked, now)) | includes) - excludes
        if matched != set(expected[record.code]):
            problems.append(
                f"{record.code}: match_python at now gives {sorted(matched)}, the oracle "
                f"{sorted(expected[record.code])}"
            )
    return problems


def history_problems(store: Store, now: dt.datetime) -> list[str]:
    """What is wrong with ``membership_history`` against the stored memberships."""
    rows = store._q(
        'SELECT segment_code, customer_id, change, "at", seq FROM membership_history ORDER BY seq'
    )
    last: dict[tuple[str, str], tuple[str, dt.datetime]] = {}
    problems: list[str] = []
    for code, cid, change, at, seq in rows:
        key = (str(code), str(cid))
        previous = last.get(key)
        expected_change = "enter" if previous is None or previous[0] == "exit" else "exit"
        if change != expected_change:
            problems.append(f"{key}: history seq {seq} is a second {change!r} in a row")
        if previous is not None and at < previous[1]:
            problems.append(f"{key}: history seq {seq} at {at} is before the change before it")
        if at > now:
            problems.append(f"{key}: history seq {seq} at {at} is after now ({now})")
        last[key] = (str(change), at)
    members = {
        (str(code), str(cid)): since
        for code, cid, since in store._q("SELECT segment_code, customer_id, since FROM memberships")
    }
    existing = set(SegmentRepository(store).codes())
    for key, (change, at) in sorted(last.items()):
        if change == "enter" and key not in members:
            where = "a deleted segment" if key[0] not in existing else "the segment"
            problems.append(f"{key}: history ends with an entry, but not a member of {where}")
        if change == "enter" and key in members and members[key] != at:
            problems.append(f"{key}: member since {members[key]}, last entry at {at}")
    for key in sorted(set(members) - {k for k, (c, _) in last.items() if c == "enter"}):
        problems.append(f"{key}: a member without an entry that history ends with")
    return problems


def describe(problems: Iterable[str], limit: int = 25) -> str:
    shown = list(problems)
    more = f"\n… and {len(shown) - limit} more" if len(shown) > limit else ""
    return "\n".join(shown[:limit]) + more


def history_at(store: Store, at: dt.datetime) -> dict[str, set[str]]:
    """code -> who history says was a member at ``at`` (changes AT ``at`` count): each
    customer's last change at or before it, by (instant, seq), is an entry."""
    rows = store._q(
        'SELECT segment_code, customer_id, change FROM membership_history WHERE "at" <= $at '
        'ORDER BY "at", seq',
        {"at": at},
    )
    last: dict[tuple[str, str], str] = {}
    for code, cid, change in rows:
        last[(str(code), str(cid))] = str(change)
    found: dict[str, set[str]] = {}
    for (code, cid), change in last.items():
        if change == "enter":
            found.setdefault(code, set()).add(cid)
    return found


def past_problems(store: Store, at: dt.datetime, expected: Memberships) -> list[str]:
    """How history replayed to ``at`` differs from ``expected`` (the oracle's answer at
    ``at``, computed while the data was what it was then)."""
    replayed = history_at(store, at)
    problems = []
    for code, members in sorted(expected.items()):
        have = replayed.get(code, set())
        for cid in sorted(set(members) - have):
            problems.append(f"history at {at}: {code}: {cid} should have been a member")
        for cid in sorted(have - set(members)):
            problems.append(f"history at {at}: {code}: {cid} should not have been a member")
    return problems
