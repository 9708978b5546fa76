"""Schema migrations of targeting (TARGETING.md): the lever catalog and its versions.

Kept apart from :mod:`segmint.store.migrations` (which lists them in ``MIGRATIONS``) so
each module stays about one subject."""

from __future__ import annotations


def v10_levers(dialect: str) -> list[str]:
    """Levers (campaigns, promotions, price lists, placements, account portals): the
    current definition of each as its document JSON, and every version with who and when
    (a deletion is a version with no definition). ``levers_version`` in segmint_meta
    counts catalog changes, so a server's compiled catalog knows when to reload."""
    return [
        """CREATE TABLE IF NOT EXISTS levers (
            kind TEXT NOT NULL, code TEXT NOT NULL, version INTEGER NOT NULL,
            definition TEXT NOT NULL, created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL, updated_by TEXT, PRIMARY KEY (kind, code))""",
        """CREATE TABLE IF NOT EXISTS lever_versions (
            kind TEXT NOT NULL, code TEXT NOT NULL, version INTEGER NOT NULL,
            change TEXT NOT NULL, definition TEXT, changed_at TIMESTAMP NOT NULL,
            changed_by TEXT, PRIMARY KEY (kind, code, version))""",
        "INSERT INTO segmint_meta (key, value) SELECT 'levers_version', '0' WHERE NOT EXISTS "
        "(SELECT 1 FROM segmint_meta WHERE key = 'levers_version')",
    ]
