"""Which fields of which collection's items a rule reads.

A customer with thousands of order lines costs milliseconds per column to read through an
index (DuckDB fetches row by row), so the one-customer path reads only the columns its
rules use. Derived fields are expanded first (``total_spent`` reads ``orders.total`` and
``orders.status``), then every aggregate contributes its field and the item fields its
``WHERE`` tests (``properties.x`` counts as ``properties``).
"""

from __future__ import annotations

from collections.abc import Iterable

from segmint.rules import ast
from segmint.rules.derived import expand_derived


def item_fields(rules: Iterable[ast.Rule]) -> dict[str, frozenset[str]]:
    """collection -> the item fields the rules read (a collection they do not read is
    absent; one read only through ``COUNT``/``EXISTS`` without a filter maps to an empty
    set)."""
    found: dict[str, set[str]] = {}
    for rule in rules:
        for node in ast.walk(expand_derived(rule)):
            if not isinstance(node, ast.Aggregate):
                continue
            fields = found.setdefault(node.collection_name, set())
            if node.field is not None:
                fields.add(node.field)
            if node.where is not None:
                fields.update(n.parts[0] for n in ast.walk(node.where) if isinstance(n, ast.Path))
    return {c: frozenset(f) for c, f in found.items()}
