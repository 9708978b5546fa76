"""Running the CLI in a test: its exit code and what it printed, and a store's URL for --db."""

from __future__ import annotations

import pytest

from segmint.cli.main import main
from segmint.store.base import Store
from segmint.store.duckdb import DuckDBStore
from segmint.store.postgres import PostgresStore


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``segmint ARGS`` in this process: (exit code, stdout, stderr)."""
    code = 0
    try:
        main(list(args))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def url_of(store: Store) -> str:
    """What ``--db`` takes to open the same store."""
    if isinstance(store, DuckDBStore):
        return store.path
    assert isinstance(store, PostgresStore)
    return store.url
