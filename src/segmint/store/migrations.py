"""Versioned schema migrations, applied in order by :meth:`Store.init`.

``segmint_meta.schema_version`` records the last applied version. A migration is a list
of DDL statements per dialect; :func:`statements` renders them. To add version N, append
a :class:`Migration` to :data:`MIGRATIONS` — ``init`` upgrades an older database in place
(each migration in the same transaction as its version bump).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from segmint.rules.schema import FieldType
from segmint.store import migrations_targeting


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    build: Callable[[str], list[str]]  # dialect -> DDL statements


def _json_type(dialect: str) -> str:
    return "JSONB" if dialect == "postgres" else "JSON"


def _v1(dialect: str) -> list[str]:
    statements = [
        """CREATE TABLE IF NOT EXISTS attribute_defs (
            name TEXT PRIMARY KEY, type TEXT NOT NULL, declared BOOLEAN NOT NULL DEFAULT FALSE,
            registered_at TIMESTAMP)""",
        """CREATE TABLE IF NOT EXISTS business_accounts (
            id TEXT PRIMARY KEY, name TEXT, created_at TIMESTAMP)""",
        """CREATE TABLE IF NOT EXISTS customers (
            id TEXT PRIMARY KEY, email TEXT, first_name TEXT, last_name TEXT, phone TEXT,
            birth_date DATE, created_at TIMESTAMP, postal_code TEXT, city TEXT, region TEXT,
            country TEXT, business_account TEXT, store TEXT, newsletter_subscribed BOOLEAN,
            tags TEXT[], user_groups TEXT[], updated_at TIMESTAMP)""",
        """CREATE TABLE IF NOT EXISTS products (
            sku TEXT PRIMARY KEY, product_name TEXT, brand TEXT, category TEXT,
            unit_price DECIMAL(18,4))""",
        """CREATE TABLE IF NOT EXISTS orders (
            id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, placed_at TIMESTAMP, status TEXT,
            total DECIMAL(18,4), currency TEXT, store TEXT, item_count INTEGER)""",
        f"""CREATE TABLE IF NOT EXISTS events (
            id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, type TEXT, "at" TIMESTAMP, sku TEXT,
            properties {_json_type(dialect)})""",
        """CREATE TABLE IF NOT EXISTS wishlist_items (
            customer_id TEXT NOT NULL, sku TEXT NOT NULL, added_at TIMESTAMP,
            PRIMARY KEY (customer_id, sku))""",
    ]
    lines = """CREATE TABLE IF NOT EXISTS order_lines (
            order_id TEXT NOT NULL, line_no INTEGER NOT NULL, customer_id TEXT NOT NULL,
            sku TEXT, product_name TEXT, brand TEXT, category TEXT, quantity INTEGER,
            unit_price DECIMAL(18,4), amount DECIMAL(18,4), placed_at TIMESTAMP, status TEXT,
            store TEXT{pk})"""
    if dialect == "postgres":
        # Row stores need indexes for per-customer reads and per-order replacement.
        statements += [
            lines.format(pk=", PRIMARY KEY (order_id, line_no)"),
            "CREATE INDEX IF NOT EXISTS orders_customer_idx ON orders (customer_id)",
            "CREATE INDEX IF NOT EXISTS order_lines_customer_idx ON order_lines (customer_id)",
            "CREATE INDEX IF NOT EXISTS events_customer_idx ON events (customer_id)",
        ]
    else:
        # DuckDB: no ART index at first load (migration 5 adds the per-customer ones); an index
        # would dominate bulk-load time for tens of millions of lines. Uniqueness of
        # (order_id, line_no) is guaranteed by the importer (it replaces whole orders).
        statements.append(lines.format(pk=""))
    return statements


def _v2(dialect: str) -> list[str]:
    """Segments: definitions and their versions, manual members, materialised memberships,
    their history (the change feed), windows' next-change instants and refresh runs."""
    return [
        """CREATE TABLE IF NOT EXISTS segments (
            code TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, kind TEXT NOT NULL,
            user_group TEXT NOT NULL, active BOOLEAN NOT NULL DEFAULT TRUE,
            starts_at TIMESTAMP, ends_at TIMESTAMP, stores TEXT[], rule_text TEXT,
            definition TEXT NOT NULL, version INTEGER NOT NULL,
            created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS segment_versions (
            segment_code TEXT NOT NULL, version INTEGER NOT NULL, definition TEXT NOT NULL,
            created_at TIMESTAMP NOT NULL, PRIMARY KEY (segment_code, version))""",
        """CREATE TABLE IF NOT EXISTS segment_manual (
            segment_code TEXT NOT NULL, customer_id TEXT NOT NULL, mode TEXT NOT NULL,
            added_at TIMESTAMP NOT NULL, PRIMARY KEY (segment_code, customer_id))""",
        """CREATE TABLE IF NOT EXISTS memberships (
            segment_code TEXT NOT NULL, customer_id TEXT NOT NULL, since TIMESTAMP NOT NULL,
            reason TEXT NOT NULL, PRIMARY KEY (segment_code, customer_id))""",
        "CREATE SEQUENCE IF NOT EXISTS membership_history_seq START 1",
        """CREATE TABLE IF NOT EXISTS membership_history (
            seq BIGINT PRIMARY KEY, segment_code TEXT NOT NULL, customer_id TEXT NOT NULL,
            change TEXT NOT NULL, "at" TIMESTAMP NOT NULL, reason TEXT NOT NULL,
            trigger TEXT NOT NULL, run_id BIGINT)""",
        "CREATE INDEX IF NOT EXISTS membership_history_segment_idx "
        'ON membership_history (segment_code, "at")',
        "CREATE INDEX IF NOT EXISTS membership_history_customer_idx "
        'ON membership_history (customer_id, "at")',
        """CREATE TABLE IF NOT EXISTS segment_due (
            segment_code TEXT NOT NULL, customer_id TEXT NOT NULL, due_at TIMESTAMP NOT NULL,
            PRIMARY KEY (segment_code, customer_id))""",
        "CREATE INDEX IF NOT EXISTS segment_due_at_idx ON segment_due (due_at)",
        """CREATE TABLE IF NOT EXISTS refresh_runs (
            id BIGINT PRIMARY KEY, as_of TIMESTAMP NOT NULL, segments TEXT NOT NULL,
            state TEXT NOT NULL, checkpoint TEXT, started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP)""",
        """CREATE VIEW segment_members AS
            SELECT segment_code, customer_id FROM memberships""",
    ]


def _v3(dialect: str) -> list[str]:
    """The service: API keys, admin web users and their sessions (secrets hashed only),
    and a per-database key for the pseudonyms that replace a deleted customer's id in
    memberships and history (``anon-`` + HMAC-SHA256 of the id, docs/api.md)."""
    import secrets

    anon_key = secrets.token_hex(32)  # hex only: safe as a literal
    # PostgreSQL: evaluate reads one customer's memberships (the primary key leads with
    # the segment). DuckDB scans them (zone maps), like the other per-customer reads.
    index = (
        ["CREATE INDEX IF NOT EXISTS memberships_customer_idx ON memberships (customer_id)"]
        if dialect == "postgres"
        else []
    )
    return [
        *index,
        """CREATE TABLE IF NOT EXISTS api_keys (
            id TEXT PRIMARY KEY, name TEXT, role TEXT NOT NULL, secret_hash TEXT NOT NULL,
            created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP, last_used_at TIMESTAMP)""",
        """CREATE TABLE IF NOT EXISTS users (
            id TEXT PRIMARY KEY, username TEXT UNIQUE NOT NULL, password_hash TEXT NOT NULL,
            role TEXT NOT NULL, created_at TIMESTAMP NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS sessions (
            token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, csrf_token TEXT NOT NULL,
            created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP NOT NULL)""",
        "INSERT INTO segmint_meta (key, value) SELECT 'anonymisation_key', "  # noqa: S608 - hex
        + f"'{anon_key}' WHERE NOT EXISTS "
        + "(SELECT 1 FROM segmint_meta WHERE key = 'anonymisation_key')",
    ]


def _v4(dialect: str) -> list[str]:
    """Inherited user groups in rules: the view ``segment_groups`` (each membership with
    its segment's group and targetability, what the rule field ``user_groups`` adds to
    the explicit groups; the compiler applies ``now``), and ``segment_boundaries``: per
    segment, the instant up to which its ``starts_at``/``ends_at`` boundaries have been
    applied to the rules reading its group (the worker's record, so none is done twice;
    no row: up to the segment's ``updated_at``, when a save last made them exact)."""
    return [
        """CREATE VIEW segment_groups AS
            SELECT m.segment_code, m.customer_id, s.user_group, s.active, s.starts_at,
                   s.ends_at
            FROM memberships AS m JOIN segments AS s ON s.code = m.segment_code""",
        """CREATE TABLE IF NOT EXISTS segment_boundaries (
            segment_code TEXT PRIMARY KEY, done_until TIMESTAMP NOT NULL)""",
    ]


def _v5(dialect: str) -> list[str]:
    """Per-customer reads through indexes: the incremental path, the worker and
    evaluate read ONE customer's orders, lines, events, memberships and due instants.
    PostgreSQL had these (bar ``segment_due``) from the start. DuckDB 2's ART indexes
    are cheap to maintain on append and serve ``customer_id IN (…)`` semi-joins with
    few ids as index scans (docs/benchmarks.md: ~190 ms → ~10 ms for one customer's
    profile at 20 M lines); bulk scans (refresh, match) do not use them."""
    tables = ["segment_due"]
    if dialect != "postgres":
        tables = ["orders", "order_lines", "events", "memberships", *tables]
    statements = [
        f"CREATE INDEX IF NOT EXISTS {table}_customer_idx ON {table} (customer_id)"
        for table in tables
    ]
    if dialect != "postgres":
        # Millions of due rows share one instant (e.g. every date-window member leaves
        # at the same midnight): DuckDB's ART keeps them in one leaf, and deleting from
        # it at commit made a 5,000-order incremental batch 7.6 s instead of 2.4 s. The
        # worker's `due_at <= now` reads the table by scan instead (~0.2 s at 17 M rows,
        # once per worker cycle). PostgreSQL's B-tree deduplicates such keys: kept.
        statements.append("DROP INDEX IF EXISTS segment_due_at_idx")
    return statements


def _v6(dialect: str) -> list[str]:
    """Due instants per customer and SOURCE (engine/windows.py) instead of per segment
    and customer: 17 M rows at 1 M customers and 100 segments became about one per
    customer and collection, which is what the refresh's no-change proof and every
    incremental batch join against. An old row carries over as the customer's earliest
    instant (source ``migrated``): waking the customer then is exact or early, and the
    worker or the next full refresh replaces it with the real sources."""
    statements = [
        """CREATE TABLE IF NOT EXISTS customer_due (
            customer_id TEXT NOT NULL, source TEXT NOT NULL, due_at TIMESTAMP NOT NULL,
            PRIMARY KEY (customer_id, source))""",
        "INSERT INTO customer_due (customer_id, source, due_at) SELECT customer_id, "
        "'migrated', MIN(due_at) FROM segment_due GROUP BY customer_id",
        "DROP TABLE segment_due",
    ]
    if dialect == "postgres":
        # The primary key's leading column serves one customer's rows.
        statements.append("CREATE INDEX IF NOT EXISTS customer_due_at_idx ON customer_due (due_at)")
    else:
        # DuckDB looks up one customer through a single-column ART only; no due_at index
        # (see _v5: mass deletes from a leaf shared by millions of rows are slow).
        statements.append(
            "CREATE INDEX IF NOT EXISTS customer_due_customer_idx ON customer_due (customer_id)"
        )
    return statements


def _v7(dialect: str) -> list[str]:
    """DuckDB uses an ART index only for a filter on its whole key. So: no index on
    ``membership_history`` but its primary key — the two ``(…, "at")`` indexes served no
    read (one customer's history is a ~25 ms scan of 9 M rows at 1 M customers and 100
    segments, one segment's a few ms), yet every entry and exit extended them and a first
    refresh rebuilt them (~1.1 s at 2 M entries); and ``wishlist_items`` gets one on
    ``customer_id``, which its ``(customer_id, sku)`` key did not serve (one customer's
    wishlist, read by every one-order update whose segments read it, was a ~4 ms scan).
    PostgreSQL's B-trees serve both reads by their leading column: nothing changes."""
    if dialect == "postgres":
        return []
    return [
        "DROP INDEX IF EXISTS membership_history_segment_idx",
        "DROP INDEX IF EXISTS membership_history_customer_idx",
        "CREATE INDEX IF NOT EXISTS wishlist_items_customer_idx ON wishlist_items (customer_id)",
    ]


def _v8(dialect: str) -> list[str]:
    """DuckDB: ``memberships`` and ``membership_history`` without primary keys.

    A DuckDB checkpoint writes every index of a changed table whole, and each entry
    probed the 9.3 M-key ``(segment_code, customer_id)`` ART at insert and again at
    commit. In a 10,000-order batch that meant ~107,000 entries and ~0.35 s of a ~2.1 s
    batch, then ~2.5-4.4 s per 120,000 orders of checkpoint. Without the keys: ~1.2 s
    per checkpoint and ~6,800 against ~4,700 orders/s (docs/benchmarks.md, sixth
    session). Uniqueness is kept by the writers, not the index: every write is a
    difference against the rows the same transaction read, and a DuckDB file has one
    writing process whose store the service lends to one request at a time. The tests
    check both keys after every test. ``seq`` comes from a sequence. DuckDB cannot drop
    a constraint, so each table is rebuilt (views bind by name and keep working).
    PostgreSQL keeps its keys: its B-trees are updated in place, not rewritten at a
    checkpoint, and the memberships key serves reads of one segment's members."""
    if dialect == "postgres":
        return []
    text, when = "TEXT NOT NULL", "TIMESTAMP NOT NULL"
    memberships = _rebuilt(
        "memberships",
        [("segment_code", text), ("customer_id", text), ("since", when), ("reason", text)],
        "segment_code, customer_id",
    )
    history = _rebuilt(
        "membership_history",
        [
            ("seq", "BIGINT NOT NULL"),
            ("segment_code", text),
            ("customer_id", text),
            ("change", text),
            ('"at"', when),
            ("reason", text),
            ("trigger", text),
            ("run_id", "BIGINT"),
        ],
        "seq",
    )
    index = "CREATE INDEX IF NOT EXISTS memberships_customer_idx ON memberships (customer_id)"
    return [*memberships, index, *history]


def _rebuilt(table: str, columns: list[tuple[str, str]], order: str) -> list[str]:
    """``table`` copied into a new table of exactly ``columns`` ((name, type) pairs: no
    constraint but NOT NULL), in ``order``, and put in its place; the old table's indexes
    go with it."""
    names = ", ".join(name for name, _ in columns)
    ddl = ", ".join(f"{name} {sql_type}" for name, sql_type in columns)
    new = f"{table}_rebuilt"
    return [
        f"CREATE TABLE {new} ({ddl})",
        f"INSERT INTO {new} SELECT {names} FROM {table} ORDER BY {order}",  # noqa: S608 - constants
        f"DROP TABLE {table}",
        f"ALTER TABLE {new} RENAME TO {table}",
    ]


def _v9(dialect: str) -> list[str]:
    """The membership outbox: a write that changes what rules read (an import, a manual
    change, a user group) records the customers it touched IN ITS OWN TRANSACTION; the
    membership update that follows deletes them in ITS transaction. Whatever is left (a
    kill between the two) is brought up to date by the worker's next pass
    (docs/membership.md, "Crashes")."""
    return [
        "CREATE SEQUENCE IF NOT EXISTS membership_outbox_seq START 1",
        """CREATE TABLE IF NOT EXISTS membership_outbox (
            batch_id BIGINT NOT NULL, customer_id TEXT NOT NULL, changes TEXT NOT NULL,
            queued_at TIMESTAMP NOT NULL, PRIMARY KEY (batch_id, customer_id))""",
    ]


def _v12(dialect: str) -> list[str]:
    """Account management and login throttling: a web user can be disabled (their
    sessions end, they cannot log in), and failed web logins are counted per username and
    per client address (services/login.py, docs/web.md "Login throttling")."""
    return [
        "ALTER TABLE users ADD COLUMN IF NOT EXISTS disabled_at TIMESTAMP",
        """CREATE TABLE IF NOT EXISTS login_failures (
            scope TEXT NOT NULL, subject TEXT NOT NULL, failures INTEGER NOT NULL,
            last_failed_at TIMESTAMP NOT NULL, blocked_until TIMESTAMP,
            PRIMARY KEY (scope, subject))""",
    ]


MIGRATIONS: list[Migration] = [
    Migration(1, "initial schema", _v1),
    Migration(2, "segments, memberships and their history", _v2),
    Migration(3, "service: api keys, users, sessions, anonymisation key", _v3),
    Migration(4, "inherited user groups: segment_groups view, segment boundaries", _v4),
    Migration(5, "per-customer indexes for one-customer reads; DuckDB drops due_at index", _v5),
    Migration(6, "due instants per customer and source (customer_due)", _v6),
    Migration(7, "DuckDB: history indexes no read used dropped; wishlist by customer", _v7),
    Migration(8, "DuckDB: memberships and history without primary keys", _v8),
    Migration(9, "membership outbox: touched customers committed with their data", _v9),
    Migration(10, "targeting: levers and their versions", migrations_targeting.v10_levers),
    Migration(
        11,
        "targeting: promo codes, checkouts, redemptions; products.min_price",
        migrations_targeting.v11_redemptions,
    ),
    Migration(12, "web users: disabled_at; failed logins per username and address", _v12),
]


def latest_version() -> int:
    return max(m.version for m in MIGRATIONS)


META_DDL = "CREATE TABLE IF NOT EXISTS segmint_meta (key TEXT PRIMARY KEY, value TEXT)"


def attribute_sql_type(ftype: FieldType) -> str:
    """The column type of a custom attribute (architecture.md: numbers DECIMAL(38,10))."""
    return {
        FieldType.STRING: "TEXT",
        FieldType.NUMBER: "DECIMAL(38,10)",
        FieldType.INTEGER: "BIGINT",
        FieldType.BOOLEAN: "BOOLEAN",
        FieldType.DATE: "DATE",
        FieldType.TIMESTAMP: "TIMESTAMP",
        FieldType.STRING_LIST: "TEXT[]",
    }[ftype]
