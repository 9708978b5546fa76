"""The visual builder (src/segmint/web/static/builder.js) round-trips every rule through
its model: the JSON tree of a rule, turned into the builder's groups and conditions and
back, is the same tree (so switching between builder and text never changes a rule), for
random conformance rules and for the seeds' example segments — which the builder shows
entirely as pickers. The builder's own code runs, under Node."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.rules import rules_for
from segmint.rules import parse, to_json

BUILDER = Path(__file__).resolve().parents[3] / "src/segmint/web/static/builder.js"
NODE = shutil.which("node")
SCRIPT = """
const b = require(process.argv[1]);
let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((tree) => {
    const model = b.toModel(tree);
    return { back: b.fromModel(model), pickers: b.allPickers(model), model };
  });
  process.stdout.write(JSON.stringify(out));
});
"""

if NODE is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("node is needed for the builder's round-trip test")
    pytest.skip("node is not installed", allow_module_level=True)


def through_builder(trees: list[Any]) -> list[dict[str, Any]]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, "-e", SCRIPT, str(BUILDER)],
        input=json.dumps(trees),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out: list[dict[str, Any]] = json.loads(done.stdout)
    return out


SEEDS = {
    "married + occupation": (
        "attributes.married = true AND attributes.occupation = 'Boat builder'",
        ["field", "field"],
    ),
    "spent $300 in a year": ("SUM(orders.total WHERE placed_at WITHIN 365d) > 300", ["spent"]),
    "bought a brand in 90 days": (
        "EXISTS(lines WHERE brand = 'National' AND placed_at WITHIN 90d)",
        ["bought"],
    ),
    "viewed a product more than twice": (
        "COUNT(events WHERE type = 'product_view' AND sku = 'P-1' AND at WITHIN 30d) > 2",
        ["viewed"],
    ),
    "wishlist": ("EXISTS(wishlist WHERE sku = 'P-1')", ["wishlist"]),
    "B2B accounts except one": (
        "business_account IS NOT NULL AND business_account NOT IN ('acme')",
        ["field", "field"],
    ),
    "spent and bought, or a segment": (
        "(SUM(orders.total WHERE placed_at WITHIN 30d) > 200 AND "
        "EXISTS(lines WHERE brand = 'National' AND placed_at WITHIN 30d)) OR IN SEGMENT 'vip'",
        ["group", "segment"],
    ),
    "none of": (
        "NOT (tags CONTAINS 'staff' OR email ENDS WITH '@example.com')",
        ["field", "field"],
    ),
}


@pytest.mark.parametrize("name", list(SEEDS))
def test_the_seeds_examples_are_pickers_and_come_back_identical(name: str) -> None:
    text, kinds = SEEDS[name]
    tree = to_json(parse(text))
    [answer] = through_builder([tree])
    assert answer["back"] == tree
    assert answer["pickers"], answer["model"]
    assert [item["kind"] for item in answer["model"]["items"]] == kinds


def test_a_rule_no_picker_shows_is_kept_as_it_is() -> None:
    tree = to_json(parse("AVG(lines.unit_price WHERE brand = 'X') > 3 AND orders_count >= 2"))
    [answer] = through_builder([tree])
    assert answer["back"] == tree and not answer["pickers"]
    assert [i["kind"] for i in answer["model"]["items"]] == ["raw", "field"]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rules_for(dt.datetime(2024, 5, 1, tzinfo=dt.UTC)), min_size=60, max_size=60))
def test_random_conformance_rules_come_back_identical(rules: list[Any]) -> None:
    trees = [to_json(rule) for rule in rules]
    for tree, answer in zip(trees, through_builder(trees), strict=True):
        assert answer["back"] == tree, json.dumps(tree)
