"""The columnar profile loader gives exactly the profiles a row-by-row read gives.

The oracle reads each collection with one plain query per table through ``store.query``
(rows with the store's boundary conventions) and builds one item per row with the row
builders of ``store/profile_reads.py``; ``Store.load_profiles`` reads Arrow tables and
builds items per column (``store/arrow_profiles.py``); customers' fields and attributes
likewise. Random data (nulls, non-ASCII
strings, boundary instants, decimals, event properties), whole profiles and the pruned
reads an engine makes, on both stores through the ``store`` fixture.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.model.profile import Profile
from segmint.rules.items import item_fields
from segmint.rules.schema import CUSTOMER_FIELDS
from segmint.store.profile_reads import PROFILE_READS, PRUNABLE, pruned

from .data import datasets
from .rules import rules_for
from .test_engines_agree import load


def row_collections(store: Any, ids: list[str], fields: dict[str, Any] | None) -> dict:
    """customer id -> collection -> items, read row by row (the oracle)."""
    found: dict[str, dict[str, list[Any]]] = {i: {} for i in ids}
    for name, (table, columns, order, build) in PROFILE_READS.items():
        if fields is not None and name not in fields:
            continue
        if fields is not None and name in PRUNABLE:
            kept, build = pruned(name, fields[name])
            columns = ", ".join(kept)
        sql = f"SELECT customer_id{', ' + columns if columns else ''} FROM {table} "
        sql += f"ORDER BY customer_id, {order}"
        for row in store.query(store._placeholders(sql)):
            if row[0] in found:
                found[row[0]].setdefault(name, []).append(build(row[1:]))
    return found


def row_customers(store: Any, ids: list[str]) -> dict[str, tuple[dict, dict]]:
    """customer id -> (fields, attributes), read row by row (the oracle)."""
    names, rows = store._q_named("SELECT * FROM customers")
    found = {}
    for row in rows:
        record = dict(zip(names, row, strict=True))
        fields = {name: record.get(name) for name in CUSTOMER_FIELDS}
        for name in ("tags", "user_groups"):
            if fields[name] is not None:
                fields[name] = list(fields[name])
        attributes = {
            key.removeprefix("attr_"): (list(v) if isinstance(v, (list, tuple)) else v)
            for key, v in record.items()
            if key.startswith("attr_")
        }
        if record["id"] in ids:
            found[record["id"]] = (fields, attributes)
    return found


def _same_values(got: dict, want: dict) -> None:
    assert got == want
    for key, value in got.items():
        assert type(value) is type(want[key]), (key, value, want[key])
        if hasattr(value, "utcoffset") and hasattr(value, "hour"):
            assert value.utcoffset() == want[key].utcoffset(), (key, value)


def _sorted(items: list[Any]) -> list[Any]:
    # A pruned read promises no order within a customer (rules do not depend on it).
    return sorted(items, key=lambda item: repr(dataclasses.astuple(item)))


def check_profiles(profiles: dict[str, Profile], expected: dict, *, ordered: bool) -> None:
    assert sorted(profiles) == sorted(expected)
    for cid, profile in profiles.items():
        for name in PROFILE_READS:
            got = getattr(profile, name)
            want = expected[cid].get(name, [])
            if ordered:
                assert got == want, (cid, name)
            else:
                assert _sorted(got) == _sorted(want), (cid, name)
            # The same Python types as the row read (Decimal, aware UTC datetime, str).
            for a, b in zip(_sorted(got), _sorted(want), strict=True):
                for x, y in zip(dataclasses.astuple(a), dataclasses.astuple(b), strict=True):
                    assert type(x) is type(y), (cid, name, x, y)
                    if hasattr(x, "tzinfo"):
                        assert x.utcoffset() == y.utcoffset(), (cid, name, x, y)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=datasets())
def test_whole_profiles_equal_the_row_read(store, data):
    load(store, data)
    ids = store.customer_ids()
    profiles = store.load_profiles([*ids, "nobody"])
    check_profiles(profiles, row_collections(store, ids, None), ordered=True)
    customers = row_customers(store, ids)
    for cid, profile in profiles.items():
        _same_values(profile.fields, customers[cid][0])
        _same_values(profile.attributes, customers[cid][1])


@st.composite
def examples(draw):
    data = draw(datasets())
    return data, draw(st.lists(rules_for(data.now), min_size=1, max_size=3))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(example=examples())
def test_pruned_profiles_equal_the_row_read(store, example):
    data, rules = example
    load(store, data)
    ids = store.customer_ids()
    fields = item_fields(rules)
    profiles = store.load_profiles(ids, fields.keys(), fields)
    check_profiles(profiles, row_collections(store, ids, fields), ordered=False)
