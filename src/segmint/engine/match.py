"""Who matches a rule now: the SQL engine (the store evaluates) and the Python engine
(profiles loaded in batches, each tested by the compiled predicate). Both must agree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

from segmint.compile.python import compile_predicate
from segmint.compile.sql import CompiledQuery, SqlCompiler
from segmint.engine import groups
from segmint.rules import CheckedRule
from segmint.rules.groups import reads_user_groups
from segmint.rules.items import item_fields
from segmint.rules.schema import Schema
from segmint.store.base import Store

ENGINES = ("sql", "python")

#: Profiles loaded per round trip by the Python engine: large enough to amortise the
#: queries, small enough to keep memory flat on big stores.
PROFILE_BATCH = 20_000


def compile_match_query(store: Store, checked: CheckedRule, now: dt.datetime) -> CompiledQuery:
    return SqlCompiler(store.dialect, store.rule_schema()).compile_match(checked.rule, now)


def match_sql(store: Store, checked: CheckedRule, now: dt.datetime) -> list[str]:
    query = compile_match_query(store, checked, now)
    return [str(row[0]) for row in store.query(query.sql, query.params)]


def _batches(ids: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def match_python(
    store: Store, checked: CheckedRule, now: dt.datetime, schema: Schema | None = None
) -> list[str]:
    predicate = compile_predicate(checked.rule, schema or store.rule_schema())
    # Memberships (IN SEGMENT) and inherited groups (user_groups) only when the rule
    # reads them: two small queries per batch otherwise saved.
    memberships = bool(checked.segments) or reads_user_groups(checked.rule)
    group_of = groups.targetable_groups(store, now) if memberships else {}
    # Only the collections and item columns the rule reads (a customer's other data
    # cannot change its answer): most of a load is building items.
    fields = item_fields([checked.rule])
    members: list[str] = []
    for ids in _batches(store.customer_ids(), PROFILE_BATCH):
        profiles = store.load_profiles(ids, fields.keys(), fields)
        if memberships:
            for cid, codes in groups.memberships_of(store, ids).items():
                profiles[cid].set_segments(codes, group_of)
        members.extend(cid for cid in ids if predicate(profiles[cid], now))
    return sorted(members)


def match(store: Store, checked: CheckedRule, now: dt.datetime, engine: str = "sql") -> list[str]:
    """The sorted ids of every customer for whom the rule holds at ``now``."""
    if engine == "python":
        return match_python(store, checked, now)
    return sorted(match_sql(store, checked, now))
