"""DuckDB only: a WAL left by a killed writer is replayed and checkpointed once, on the
next open, so later opens (read-only CLI commands) do not replay it again."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from segmint.store.duckdb import DuckDBStore

KILLED_WRITER = textwrap.dedent(
    """
    import os, sys
    from segmint.store.duckdb import DuckDBStore

    store = DuckDBStore(sys.argv[1])
    store.init()
    store.execute(
        "INSERT INTO customers (id, email, created_at) "
        "VALUES ('c1', 'c1@example.com', TIMESTAMP '2024-01-01 00:00:00')"
    )
    os._exit(0)  # like kill -9: no close, no checkpoint
    """
)


def test_a_killed_writers_wal_is_checkpointed_on_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "killed.duckdb"
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], check=True)
    wal = Path(f"{path}.wal")
    assert wal.exists() and wal.stat().st_size > 0

    store = DuckDBStore(path)
    try:
        assert not wal.exists()  # checkpointed at open, before any write of this process
        assert store.query("SELECT id, email FROM customers") == [("c1", "c1@example.com")]
    finally:
        store.close()
    reopened = DuckDBStore(path)
    try:
        assert reopened.query("SELECT COUNT(*) FROM customers") == [(1,)]
    finally:
        reopened.close()
