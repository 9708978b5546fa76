"""Shared fixtures: fresh, initialised stores of both kinds.

- ``store``: parametrized over ``duckdb`` and ``postgres``; a new initialised store per test.
- ``make_store``: a factory ``make_store(kind) -> Store`` (each call a new, initialised,
  empty store; all closed and removed after the test), for suites that need several.
- ``pg_url``: a scratch PostgreSQL DATABASE for this test session, uniquely named (other
  people run tests on the same server at the same time) and dropped at the end.
  ``pg_schema_url(schema)`` gives a URL that works inside one schema of it.

PostgreSQL comes from ``SEGMINT_TEST_POSTGRES_URL`` (default
postgresql://postgres@127.0.0.1:5432/test). If it is unreachable the postgres cases are
skipped — except with ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest

from segmint.store.base import Store
from store_checks import assert_keys_unique

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
STORE_KINDS = ("duckdb", "postgres")


def admin_pg_url() -> str:
    return os.environ.get("SEGMINT_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def with_database(url: str, dbname: str, schema: str | None = None) -> str:
    """``url`` pointing at another database (and, optionally, one schema of it)."""
    parts = urlsplit(url)
    query = parts.query
    if schema is not None:
        option = "options=" + quote(f"-csearch_path={schema}")
        query = f"{query}&{option}" if query else option
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, query, parts.fragment))


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a scratch database created for this session (dropped at the end)."""
    admin = admin_pg_url()
    name = f"segmint_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as error:
        _unavailable(str(error).strip().splitlines()[0])
    try:
        yield with_database(admin, name)
    finally:
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:
            pass  # the server went away; nothing left to clean


@pytest.fixture()
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """``make_store(kind, init=True)``: a new, empty store (``duckdb`` or ``postgres``),
    initialised unless ``init=False``.

    PostgreSQL stores each get their own schema of the session database (dropped after
    the test), so tests never see each other's rows."""
    opened: list[Store] = []
    schemas: list[str] = []
    base_url: list[str] = []

    def make(kind: str, init: bool = True) -> Store:
        store: Store
        if kind == "duckdb":
            from segmint.store.duckdb import DuckDBStore

            store = DuckDBStore(tmp_path / f"segmint_{len(opened)}.duckdb")
        elif kind == "postgres":
            from segmint.store.postgres import PostgresStore

            if not base_url:
                base_url.append(request.getfixturevalue("pg_url"))
            schema = f"t_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(base_url[0], autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            schemas.append(schema)
            store = PostgresStore(
                with_database(base_url[0], urlsplit(base_url[0]).path[1:], schema)
            )
        else:
            raise ValueError(f"unknown store kind {kind!r}")
        opened.append(store)
        if init:
            store.init()
        return store

    yield make
    try:
        for store in opened:
            assert_keys_unique(store)
    finally:
        for store in opened:
            store.close()
    if schemas:
        with psycopg.connect(base_url[0], autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, make_store: Callable[..., Store]) -> Store:
    """A fresh, initialised store of each kind."""
    kind: str = request.param
    return make_store(kind)


@pytest.fixture()
def store_url(store: Store) -> str:
    """A ``--db`` URL naming ``store`` (for CLI tests)."""
    from segmint.store.duckdb import DuckDBStore
    from segmint.store.postgres import PostgresStore

    if isinstance(store, DuckDBStore):
        return str(store.path)  # bootstrap takes a bare path ending in .duckdb
    assert isinstance(store, PostgresStore)
    return store.url
