"""Invariants every test's stores must hold at teardown (see tests/conftest.py)."""

from __future__ import annotations

from segmint.errors import StoreError
from segmint.store.base import Store

# The keys DuckDB no longer enforces (migration 8): the writers keep them unique.
UNENFORCED_KEYS = {
    "memberships": ("segment_code", "customer_id"),
    "membership_history": ("seq",),
}


def repeated_keys(store: Store) -> dict[str, int]:
    """Per table of :data:`UNENFORCED_KEYS`, how many keys occur more than once."""
    found: dict[str, int] = {}
    for table, key in UNENFORCED_KEYS.items():
        columns = ", ".join(key)
        [(count,)] = store.query(
            f"SELECT COUNT(*) FROM (SELECT {columns} FROM {table} "
            f"GROUP BY {columns} HAVING COUNT(*) > 1) AS d"
        )
        if count:
            found[table] = int(count)
    return found


def assert_keys_unique(store: Store) -> None:
    """Every test's stores end with unique membership and history keys (checked at
    teardown; skipped for a store the test closed or never initialised)."""
    try:
        if not store.table_exists("memberships"):
            return
        repeated = repeated_keys(store)
    except StoreError:
        return  # closed by the test, or its database is gone
    assert not repeated, f"keys occur more than once: {repeated}"
