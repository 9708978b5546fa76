"""Wiring from configuration: which store a ``--db`` URL names, opened and ready."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from segmint.errors import ConfigError

if TYPE_CHECKING:
    from segmint.store.base import Store

DEFAULT_DB_URL = "duckdb:///./segmint.duckdb"


def database_url(explicit: str | None) -> str:
    """``--db`` if given, else ``SEGMINT_DATABASE_URL``, else ``./segmint.duckdb``."""
    return explicit or os.environ.get("SEGMINT_DATABASE_URL") or DEFAULT_DB_URL


def open_store(url: str) -> Store:
    """Open (not initialise) the store a URL names.

    ``duckdb:///relative/or/abs.duckdb`` (three slashes then the path; ``duckdb:///:memory:``
    for a throw-away store), a bare path ending in ``.duckdb``, or ``postgresql://…``.
    """
    if url.startswith(("postgresql://", "postgres://")):
        from segmint.store.postgres import PostgresStore

        return PostgresStore(url)
    if url.startswith("duckdb://"):
        path = url.removeprefix("duckdb://")
        if path.startswith("/./") or path.startswith("/:memory:"):
            path = path[1:]
        if not path:
            raise ConfigError(f"--db: {url!r} names no file (expected duckdb:///path/file.duckdb)")
        from segmint.store.duckdb import DuckDBStore

        return DuckDBStore(path)
    if url.endswith(".duckdb") or url == ":memory:":
        from segmint.store.duckdb import DuckDBStore

        return DuckDBStore(str(Path(url)))
    raise ConfigError(
        f"--db: {url!r} is not a database URL "
        "(expected duckdb:///path/file.duckdb or postgresql://user@host:port/db)"
    )


def store_may_exist(url: str) -> bool:
    """False only when the URL names a DuckDB file that is not there (opening would
    create it), so read-only commands can fall back to the built-in schema."""
    if url.startswith(("postgresql://", "postgres://")):
        return True
    path = url.removeprefix("duckdb://")
    if path.startswith("/./"):
        path = path[1:]
    return path in (":memory:", "/:memory:") or Path(path).exists()


def duckdb_path(url: str) -> str | None:
    """The file a DuckDB URL names (as ``open_store`` opens it); None for PostgreSQL,
    ``:memory:`` and what is not a DuckDB URL."""
    if url.startswith(("postgresql://", "postgres://")):
        return None
    if url.startswith("duckdb://"):
        path = url.removeprefix("duckdb://")
        if path.startswith("/./") or path.startswith("/:memory:"):
            path = path[1:]
    elif url.endswith(".duckdb"):
        path = str(Path(url))
    else:
        return None
    if not path or path == ":memory:":
        return None
    return path
