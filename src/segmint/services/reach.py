"""Reach: how many known customers a lever audience matches now (the admin pages).

An audience is a rule evaluated per request, so "how many customers" is answered by
what it reads:

- ``None`` (GLOBAL): every known customer (anonymous visitors too, who are not counted);
- a rule over the request alone (``context.*``, ``cart.*``, ``IN SEGMENT`` of a real-time
  segment over the request alone): it depends on the request, no count;
- a rule over stored data only: counted by the SQL engine
  (:func:`segmint.engine.match.match`), as a materialized segment with that rule would be;
- a real-time rule that also reads stored data (``context.view = 'business' AND
  orders_count = 0``): counted over every stored profile with an EMPTY request context
  (no view, store, query or cart), the Python engine's way
  (:func:`~segmint.engine.match.match_python`). A rule that names real-time segments, or
  reads ``user_groups`` while real-time segments exist (their groups), is counted alike
  with each customer's real-time segments evaluated over the empty request, as evaluate
  would (docs/targeting.md, "Who an audience reaches").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from segmint.compile.python import compile_predicate
from segmint.engine import groups
from segmint.engine.match import PROFILE_BATCH, match, match_python
from segmint.errors import RuleError
from segmint.model.profile import RequestContext
from segmint.rules import check, parse
from segmint.rules.checker import CheckedRule
from segmint.rules.groups import reads_user_groups
from segmint.services.evaluate import Catalog
from segmint.services.targeting import reads_customer
from segmint.store.base import Store

__all__ = ["Reach", "audience_reach", "customer_count"]

GLOBAL = "global"
REQUEST = "request"
STORED = "stored"
REALTIME = "realtime"
BROKEN = "broken"


@dataclass(frozen=True)
class Reach:
    """``count`` of the ``total`` known customers (None: it depends on the request, or
    the audience no longer checks); ``how`` says how it was counted, in words."""

    kind: str  # global | request | stored | realtime | broken
    count: int | None
    total: int
    how: str


def customer_count(store: Store) -> int:
    return int(store._q("SELECT COUNT(*) FROM customers")[0][0])


def audience_reach(
    store: Store,
    audience: str | None,
    now: dt.datetime,
    segments: Catalog,
    *,
    total: int | None = None,
) -> Reach:
    """The reach of one audience at ``now``; ``segments`` is the evaluator's catalog
    (which segments are real-time, their predicates in dependency order)."""
    total = customer_count(store) if total is None else total
    if audience is None:
        return Reach(GLOBAL, total, total, "GLOBAL: every customer, and anonymous visitors")
    try:
        checked = check(parse(audience), store.rule_schema(), allow_realtime=True)
    except RuleError as error:
        return Reach(BROKEN, None, total, f"the audience no longer type-checks: {error}")
    named_realtime = checked.segments & {rt.definition.code for rt in segments.realtime}
    if not reads_customer(checked) and checked.segments <= segments.anonymous_segments:
        return Reach(REQUEST, None, total, "depends on the request (reads context/cart only)")
    # real-time segments (named, or giving a group the rule reads) match per request
    through_realtime = bool(named_realtime) or (
        bool(segments.realtime) and reads_user_groups(checked.rule)
    )
    if not checked.realtime and not through_realtime:
        count = len(match(store, checked, now))
        return Reach(STORED, count, total, "from stored data (SQL engine)")
    if not through_realtime:
        how = "real-time rule: counted over stored profiles with an empty request context"
        return Reach(REALTIME, len(match_python(store, checked, now)), total, how)
    how = (
        "reads real-time segments: counted over stored profiles with an empty request "
        "context, real-time segments evaluated alike"
    )
    return Reach(REALTIME, _realtime_count(store, checked, now, segments), total, how)


def _realtime_count(store: Store, checked: CheckedRule, now: dt.datetime, segments: Catalog) -> int:
    """As :func:`match_python`, with the real-time segments each customer matches over an
    empty request (and their groups) added, as evaluate does per request: real-time rules
    see every stored membership and the groups of those targetable now; the audience
    sees the targetable memberships and matched real-time segments, with all their groups."""
    predicate = compile_predicate(checked.rule, store.rule_schema())
    empty = RequestContext()
    group_of = groups.targetable_groups(store, now)
    live = [rt for rt in segments.realtime if rt.definition.is_targetable(now)]
    count = 0
    ids = store.customer_ids()
    for start in range(0, len(ids), PROFILE_BATCH):
        batch = ids[start : start + PROFILE_BATCH]
        profiles = store.load_profiles(batch)
        memberships = groups.memberships_of(store, batch)
        for cid in batch:
            profile = profiles[cid]
            stored = memberships.get(cid, set())
            profile.set_segments(stored, group_of)
            given = {c: group_of[c] for c in stored if c in group_of}
            for rt in live:
                if rt.predicate(profile, now, empty):
                    profile.segments = profile.segments | {rt.definition.code}
                    given[rt.definition.code] = rt.definition.group
            profile.set_segments(given, given)
            if predicate(profile, now, empty):
                count += 1
    return count
