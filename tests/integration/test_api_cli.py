"""``segmint keys`` and ``segmint users`` on both stores, and the demo's segments."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from segmint.cli.main import _register, cli
from segmint.errors import SegmintError
from segmint.rules.schema import FieldType
from segmint.services import auth
from segmint.store.base import Store

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def run(store_url: str, *args: str, input: str | None = None) -> tuple[int, str, str]:
    _register()
    result = CliRunner().invoke(cli, ["--db", store_url, *args], input=input)
    if isinstance(result.exception, SegmintError):  # main() prints it and exits
        return result.exception.exit_code, result.stdout, str(result.exception)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_keys_create_list_revoke(store: Store, store_url: str) -> None:
    code, out, err = run(store_url, "keys", "create", "--role", "ingest", "--name", "orders")
    assert code == 0 and "not shown again" in err
    token = out.strip()
    key = auth.verify_api_key(store, token, NOW)
    assert key is not None and key.role == "ingest" and key.name == "orders"
    stored = store.query("SELECT secret_hash FROM api_keys")
    assert token.split("_")[-1] not in str(stored)  # only a hash is stored
    code, out, _ = run(store_url, "keys", "list", "--format", "json")
    listed = json.loads(out)
    assert [(k["id"], k["role"]) for k in listed] == [(key.id, "ingest")]
    assert "token" not in listed[0] and "secret_hash" not in listed[0]
    assert run(store_url, "keys", "revoke", key.id)[1].strip() == f"key {key.id} revoked"
    assert auth.verify_api_key(store, token, NOW) is None
    assert run(store_url, "keys", "create", "--role", "root")[0] != 0


def test_users_create_and_sessions(store: Store, store_url: str) -> None:
    code, out, _ = run(store_url, "users", "create", "alice", "--password", "correct horse")
    assert code == 0 and "alice" in out
    code, _, _ = run(
        store_url, "users", "create", "bob", "--role", "marketer", input="s3cret-pw\n" * 2
    )
    assert code == 0
    assert run(store_url, "users", "create", "alice", "--password", "another one")[0] == 1
    hashes = [str(r[0]) for r in store.query("SELECT password_hash FROM users ORDER BY username")]
    assert all(h.startswith("$argon2id$") for h in hashes)
    alice = auth.authenticate_user(store, "alice", "correct horse")
    assert alice is not None and alice.role == "admin"
    assert auth.authenticate_user(store, "alice", "wrong") is None
    assert auth.authenticate_user(store, "nobody", "correct horse") is None
    bob = auth.authenticate_user(store, "bob", "s3cret-pw")
    assert bob is not None and bob.role == "marketer"
    token, csrf = auth.create_session(store, alice, NOW, ttl=dt.timedelta(hours=1))
    assert auth.session_user(store, token, NOW) == (alice, csrf)
    assert auth.session_user(store, token, NOW + dt.timedelta(hours=2)) is None
    assert auth.session_user(store, token + "x", NOW) is None
    assert token not in str(store.query("SELECT token_hash FROM sessions"))
    auth.end_session(store, token)
    assert auth.session_user(store, token, NOW) is None


@pytest.mark.parametrize("store", ["duckdb"], indirect=True)
def test_demo_segments_are_valid(store: Store) -> None:
    from segmint.cli.commands_service import demo_segments
    from segmint.services.segments import create_segment

    store.register_attributes({"marital_status": FieldType.STRING})
    for definition in demo_segments():
        assert create_segment(store, definition, NOW).version == 1


def test_serve_answers_on_its_port(tmp_path: Path) -> None:
    db = tmp_path / "served.duckdb"
    code, out, _ = run(str(db), "keys", "create", "--role", "admin")
    assert code == 0
    token = out.strip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SEGMINT_NOW": "2024-05-01T00:00:00Z"}
    segmint = str(Path(sys.executable).parent / "segmint")
    command = [segmint, "--db", str(db), "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/v1/health",
                    headers={"Authorization": f"Bearer {token}"},
                )
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()["info"]["title"]
    finally:
        server.terminate()
        server.wait(timeout=10)
