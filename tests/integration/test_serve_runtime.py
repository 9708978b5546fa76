"""The runtime file of a serving app (segmint/runtime.py): written at startup next to the
DuckDB file with mode 0600, its token accepted as an admin key (and only its hash kept
in the app), removed at shutdown; a stale file (pid gone) is ignored and replaced; no
file for PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from segmint import runtime
from segmint.api.app import ServeInfo, create_app
from segmint.cli import forward
from segmint.errors import StoreLocked
from segmint.store.base import Store

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not runtime.pid_alive(child.pid)
    return child.pid


def stale(path: Path, database: str) -> runtime.ServeRuntime:
    left = runtime.ServeRuntime(
        pid=dead_pid(),
        url="http://127.0.0.1:1",
        token="sl_old",
        database=database,
        started_at="2024-01-01T00:00:00Z",
        as_of=None,
        worker=True,
        worker_interval=60.0,
    )
    runtime.write(path, left)
    return left


@pytest.mark.parametrize("store", ["duckdb"], indirect=True)
def test_written_at_startup_private_and_removed_at_shutdown(store: Store, store_url: str) -> None:
    path = runtime.runtime_path(store_url)
    assert path is not None and path.name.endswith(".duckdb.serve.json")
    left = stale(path, store_url)
    assert runtime.read_live(path) is None  # stale: ignored
    info = ServeInfo(url="http://127.0.0.1:8123", as_of=NOW)
    app = create_app(store_url, clock=lambda: NOW, serve=info)
    with TestClient(app) as client:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600, oct(mode)
        held = runtime.read_live(path)
        assert held is not None and held != left  # replaced
        assert (held.pid, held.url, held.as_of) == (os.getpid(), info.url, "2024-05-01T00:00:00Z")
        assert held.database == os.path.abspath(store_url)
        # The token is an admin key; the app keeps only its hash.
        h = {"Authorization": f"Bearer {held.token}"}
        assert client.get("/v1/keys", headers=h).status_code == 200
        state = app.state.segmint
        assert state.local_key_hash == runtime.token_hash(held.token)
        assert held.token not in repr(vars(state))
        assert client.get("/v1/keys", headers={"Authorization": "Bearer sl_old"}).status_code == 401
        assert not any(p.name.endswith(".tmp") for p in path.parent.iterdir())
    assert not path.exists()
    assert app.state.segmint.local_key_hash is None


@pytest.mark.parametrize("store", ["duckdb"], indirect=True)
def test_a_stale_file_does_not_make_a_lock_a_server(store: Store, store_url: str) -> None:
    path = runtime.runtime_path(store_url)
    assert path is not None
    left = stale(path, store_url)
    locked = StoreLocked("error: locked", store_url, None)
    assert forward.holder(store_url, locked) is None
    # A live pid that is not the one DuckDB names as the holder is not the holder either.
    runtime.write(path, runtime.ServeRuntime(**{**vars(left), "pid": os.getpid()}))
    assert forward.holder(store_url, StoreLocked("error: locked", store_url, 1)) is None
    assert forward.holder(store_url, StoreLocked("error: locked", store_url, os.getpid()))


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_no_runtime_file_and_no_local_token_for_postgres(store: Store, store_url: str) -> None:
    assert runtime.runtime_path(store_url) is None
    app = create_app(store_url, clock=lambda: NOW, serve=ServeInfo(url="http://127.0.0.1:1"))
    with TestClient(app) as client:
        assert app.state.segmint.local_key_hash is None
        assert client.get("/v1/keys", headers={"Authorization": "Bearer sl_x"}).status_code == 401
