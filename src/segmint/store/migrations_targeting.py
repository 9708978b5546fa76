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


def v11_redemptions(dialect: str) -> list[str]:
    """Promo codes, checkouts and redemptions (TARGETING.md §4), and products' ``min_price``
    (the floor no discount takes a unit below, §2).

    ``promo_codes`` holds generated codes (a promotion's listed codes stay in its
    definition), normalized (trimmed, upper case), with their own ``uses`` limit and, for
    a code made for one segment member, its recipient. ``checkouts`` records each order's
    answer once (a repeated checkout answers it again); ``redemptions`` one row per
    (order, promotion applied), released when the order is cancelled."""
    return [
        """CREATE TABLE IF NOT EXISTS promo_codes (
            code TEXT PRIMARY KEY, promotion TEXT NOT NULL, uses INTEGER,
            customer_id TEXT, created_at TIMESTAMP NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS promo_codes_promotion ON promo_codes (promotion)",
        """CREATE TABLE IF NOT EXISTS checkouts (
            order_id TEXT PRIMARY KEY, customer_id TEXT, answer TEXT NOT NULL,
            created_at TIMESTAMP NOT NULL, cancelled_at TIMESTAMP)""",
        """CREATE TABLE IF NOT EXISTS redemptions (
            order_id TEXT NOT NULL, promotion TEXT NOT NULL, code TEXT, customer_id TEXT,
            campaign TEXT, amount DECIMAL(18,4) NOT NULL, currency TEXT NOT NULL,
            release_on_cancel BOOLEAN NOT NULL, created_at TIMESTAMP NOT NULL,
            released_at TIMESTAMP, PRIMARY KEY (order_id, promotion))""",
        "CREATE INDEX IF NOT EXISTS redemptions_promotion ON redemptions (promotion)",
        "CREATE INDEX IF NOT EXISTS redemptions_code ON redemptions (code)",
        "CREATE INDEX IF NOT EXISTS redemptions_campaign ON redemptions (campaign)",
        "ALTER TABLE products ADD COLUMN IF NOT EXISTS min_price DECIMAL(18,4)",
    ]
