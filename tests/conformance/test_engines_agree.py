"""The Python engine and the SQL engine of each store give identical member sets.

Random data (nulls, empty collections, non-ASCII case, boundary instants, decimal money,
segments giving user groups — targetable or not at ``now`` — and their memberships) and
random rules (``user_groups``, explicit and inherited, and ``IN SEGMENT`` among them); the
SQL side evaluates all rules of an example in one fused pass (``compile_many``), the Python
side one compiled predicate per rule over loaded profiles.
Runs once per store through the ``store`` fixture (DuckDB and PostgreSQL).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.compile.python import compile_predicate
from segmint.compile.sql import SqlCompiler
from segmint.engine.groups import attach_segments
from segmint.importing import import_arrow
from segmint.rules import check, to_text
from segmint.rules.items import item_fields
from segmint.rules.schema import FieldType

from .data import Dataset, datasets
from .rules import rules_for

DATA_TABLES = (
    "memberships",
    "segments",
    "wishlist_items",
    "events",
    "order_lines",
    "orders",
    "customers",
    "products",
)

#: Declared up front: an example whose values are all null must not make the importer
#: infer (and register) another type.
ATTRIBUTES = {"tier": FieldType.STRING, "score": FieldType.NUMBER, "married": FieldType.BOOLEAN}


def load(store, data: Dataset) -> None:
    if set(ATTRIBUTES) - set(store.attributes()):
        store.register_attributes(ATTRIBUTES, declared=True)
    for table in DATA_TABLES:
        store.execute(f"DELETE FROM {table}")
    for kind, table in data.tables().items():
        if table.num_rows:
            import_arrow(store, kind, table, source=f"conformance-{kind}")
    # Segments and memberships as the segments core stores them (what IN SEGMENT and the
    # inherited part of user_groups read), written directly: no engine decides them here.
    for code, group, active, starts, ends in data.segments:
        store._x(
            "INSERT INTO segments (code, name, kind, user_group, active, starts_at, ends_at, "
            "definition, version, created_at, updated_at) VALUES ($c, $c, 'manual', $g, $a, "
            "$s, $e, '{}', 1, $t, $t)",
            {"c": code, "g": group, "a": active, "s": starts, "e": ends, "t": data.now},
        )
    for code, cid in data.memberships:
        store._x(
            "INSERT INTO memberships (segment_code, customer_id, since, reason) "
            "VALUES ($c, $i, $t, 'manual')",
            {"c": code, "i": cid, "t": data.now},
        )


def python_members(store, rule, now, *, pruned: bool = False) -> list[str]:
    """Members by the Python engine; ``pruned``: over profiles holding only the item
    columns the rule reads (as the one-customer incremental path loads them)."""
    schema = store.rule_schema()
    predicate = compile_predicate(rule, schema)
    fields = item_fields([rule]) if pruned else None
    profiles = store.load_profiles(store.customer_ids(), item_fields=fields)
    attach_segments(store, profiles, now)  # memberships, and groups targetable at now
    return sorted(cid for cid, profile in profiles.items() if predicate(profile, now))


@st.composite
def examples(draw):
    data = draw(datasets())
    rules = draw(st.lists(rules_for(data.now), min_size=1, max_size=6))
    return data, rules


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(example=examples())
def test_python_and_sql_agree(store, example):
    data, rules = example
    load(store, data)
    schema = store.rule_schema()
    for rule in rules:
        check(rule, schema, allow_realtime=False)  # generated rules are well-typed
    query = SqlCompiler(store.dialect, schema).compile_many(
        {f"r{i}": rule for i, rule in enumerate(rules)}, data.now
    )
    rows = store.query(query.sql, query.params)
    for index, rule in enumerate(rules):
        sql_members = sorted(str(row[0]) for row in rows if row[index + 1])
        expected = python_members(store, rule, data.now)
        assert sql_members == expected, (
            f"{store.dialect} disagrees with Python on: {to_text(rule)}\n"
            f"now={data.now.isoformat()}\nsql={sql_members}\npython={expected}"
        )
        assert python_members(store, rule, data.now, pruned=True) == expected, (
            f"pruned item columns change the answer of: {to_text(rule)}"
        )
