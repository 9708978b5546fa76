"""RULES.md §2 examples answered on the real Complete Journey data, both engines agreeing.

The data covers 2017, so rules are evaluated as of 2018-01-01. Examples that name fields
the data set does not have (occupation, request context) are left out; those naming values
it does not have (brand 'Acme', business accounts) are kept and must answer zero.
"""

from __future__ import annotations

import datetime as dt

import pytest

from segmint.compile.python import compile_predicate
from segmint.engine.match import match_sql
from segmint.services.rules import check_rule
from segmint.store.duckdb import DuckDBStore

pytestmark = pytest.mark.slow

NOW = dt.datetime(2018, 1, 1, tzinfo=dt.UTC)

#: (rule, whether Complete Journey has members for it)
EXAMPLES = [
    ("business_account IN ('acme', 'globex') AND orders_count >= 1", False),
    ("business_account IS NOT NULL AND business_account NOT IN ('acme')", False),
    ("SUM(orders.total WHERE placed_at WITHIN 365d) > 300", True),
    ("EXISTS(lines WHERE brand = 'Acme' AND placed_at WITHIN 90d)", False),
    ("EXISTS(lines WHERE brand = 'Private' AND placed_at WITHIN 90d)", True),
    (
        "total_spent >= 100 AND EXISTS(lines WHERE category = 'BEERS/ALES' "
        "AND placed_at BETWEEN 2017-01-01 AND 2017-03-31)",
        True,
    ),
    ("COUNT(events WHERE type = 'product_view' AND sku = 'SKU-42' AND at WITHIN 30d) > 2", False),
    ("EXISTS(wishlist WHERE sku = 'SKU-9')", False),
    ("NOT EXISTS(orders WHERE placed_at WITHIN 180d) AND orders_count >= 3", True),
    ("attributes.marital_status = 'married' AND total_spent > 1000", True),
]


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory):
    from segmint.demo.complete_journey import load_complete_journey

    store = DuckDBStore(str(tmp_path_factory.mktemp("cj") / "cj.duckdb"))
    store.init()
    load_complete_journey(store)
    profiles = store.load_profiles(store.customer_ids())
    yield store, profiles
    store.close()


@pytest.mark.parametrize(("text", "has_members"), EXAMPLES)
def test_rules_examples_on_complete_journey(journey, text, has_members):
    store, profiles = journey
    schema = store.rule_schema()
    checked = check_rule(text, schema, allow_realtime=False)
    sql_members = sorted(match_sql(store, checked, NOW))
    predicate = compile_predicate(checked.rule, schema)
    python_members = sorted(cid for cid, p in profiles.items() if predicate(p, NOW))
    assert sql_members == python_members
    assert bool(sql_members) is has_members
