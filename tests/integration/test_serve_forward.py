"""CLI commands while a real ``segmint serve`` subprocess holds a DuckDB file: they go
through its API (the runtime file's address and token) and their effects are checked
through the API with an independent key; a command that cannot go through names the
holder; after a clean stop the file is free again, and after a kill -9 the stale runtime
file is ignored and replaced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from segmint import runtime
from segmint.cli.main import _register, cli
from segmint.errors import SegmintError

NOW = "2024-05-01T00:00:00Z"
ORDERS = (
    "order_id,customer_id,placed_at,total\n"
    "o1,c1,2024-04-01T00:00:00Z,120\n"
    "o2,c1,2024-04-02T00:00:00Z,30\n"
    "o3,c2,2024-04-03T00:00:00Z,50\n"
)
RULE = "SUM(orders.total WHERE placed_at WITHIN 365d) > 100"
SEGMINT = [sys.executable, "-c", "from segmint.cli.main import main; main()"]


def cli_run(db: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The command in this test's process (not the server's): the file is held elsewhere."""
    _register()
    result = CliRunner(env=env).invoke(cli, ["--db", str(db), *args])
    if isinstance(result.exception, SegmintError):
        return result.exception.exit_code, result.stdout, str(result.exception)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def subprocess_run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as its own process, as in another terminal."""
    env = {**os.environ, "SEGMINT_NOW": NOW}
    return subprocess.run(
        [*SEGMINT, "--db", str(db), *args], env=env, capture_output=True, text=True, timeout=120
    )


def start(db: Path, *, now: str | None = NOW) -> tuple[subprocess.Popen[str], runtime.ServeRuntime]:
    env = {k: v for k, v in os.environ.items() if k != "SEGMINT_NOW"}
    if now is not None:
        env["SEGMINT_NOW"] = now
    command = [*SEGMINT, "--db", str(db), "serve", "--port", "0", "--interval", "0.2"]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    path = runtime.runtime_path(str(db))
    assert path is not None
    deadline = time.monotonic() + 60
    while True:
        held = runtime.read_live(path)
        if held is not None and held.pid == server.pid:
            try:
                if httpx.get(f"{held.url}/openapi.json", timeout=2).status_code == 200:
                    return server, held
            except httpx.TransportError:
                pass
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)


def stop(server: subprocess.Popen[str]) -> None:
    if server.poll() is None:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.duckdb"
    (tmp_path / "orders.csv").write_text(ORDERS)
    (tmp_path / "bad.csv").write_text(ORDERS.replace(",120\n", ",lots\n"))
    assert cli_run(path, "init")[0] == 0
    return path


@pytest.fixture()
def served(db: Path) -> Iterator[tuple[Path, runtime.ServeRuntime, dict[str, str]]]:
    code, out, _ = cli_run(db, "keys", "create", "--role", "admin", "--name", "checker")
    assert code == 0
    server, held = start(db)
    try:
        yield db, held, {"Authorization": f"Bearer {out.strip()}"}
    finally:
        stop(server)


def api(held: runtime.ServeRuntime, h: dict[str, str], method: str, path: str, **kw: Any) -> Any:
    response = httpx.request(method, held.url + path, headers=h, timeout=30, **kw)
    assert response.status_code < 400, response.text
    return response.json()


def test_commands_go_through_the_server(
    served: tuple[Path, runtime.ServeRuntime, dict[str, str]],
) -> None:
    db, held, h = served
    env = {"SEGMINT_NOW": NOW}
    created = subprocess_run(db, "segments", "create", "big", "--name", "Big", "--rule", RULE)
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("Segment created: big (version 1)")
    assert f"pid {held.pid}" in created.stderr and "through its API" in created.stderr
    imported = subprocess_run(db, "import", "orders", str(db.parent / "orders.csv"))
    assert imported.returncode == 0, imported.stderr
    assert "3 rows read" in imported.stdout and "1 entered" in imported.stdout

    # Checked through the API with a key of our own, against a hand-computed answer.
    stats = api(held, h, "GET", "/v1/stats")["counts"]
    assert (stats["orders"], stats["customers"]) == (3, 2)
    assert api(held, h, "GET", "/v1/segments/big/members")["items"] == ["c1"]
    assert api(held, h, "POST", "/v1/rules/match", json={"rule": RULE})["customers"] == ["c1"]

    # More of the README's commands, from this process.
    code, out, _ = cli_run(db, "segments", "members", "big", "--format", "json", env=env)
    assert (code, out.strip()) == (0, '{"count": 1, "customers": ["c1"]}')
    # issue 18 through the server: the readable members CSV, fields, values, warnings
    code, out, _ = cli_run(db, "segments", "members", "big", "--format", "csv", env=env)
    assert code == 0 and out.splitlines()[1].startswith("c1,,,2,150.00,,2024-04-02T00:00:00Z,")
    code, out, _ = cli_run(db, "values", "orders.status", "--format", "json", env=env)
    assert code == 0 and '"values": [{"value": "completed", "count": 2, "label": null}]' in out
    code, out, _ = cli_run(db, "fields", "--scope", "derived", "--format", "csv", env=env)
    assert code == 0 and "total_spent,number,derived,False,False," in out
    code, out, _ = cli_run(db, "rules", "check", "EXISTS(orders WHERE status = 'paid')", env=env)
    assert code == 0 and out.splitlines() == [
        "ok (materializable)",
        "warning: no order has status 'paid' at 1:30",
    ]
    code, out, _ = cli_run(
        db, "match", "orders_count >= 1", "--engine", "python", "--format", "table", env=env
    )
    assert code == 0 and "(2 customers)" in out
    code, out, _ = cli_run(db, "explain", "c2", RULE, env=env)
    assert code == 0 and "does NOT match" in out
    code, out, _ = cli_run(db, "segments", "update", "big", "--name", "Bigger", env=env)
    assert code == 0 and "version 2" in out
    code, out, _ = cli_run(db, "worker", "--once", env=env)
    assert code == 0 and out.startswith("as of 2024-05-01T00:00:00+00:00:")
    code, out, _ = cli_run(db, "keys", "create", "--role", "storefront", "--name", "shop")
    assert code == 0
    storefront = {"Authorization": f"Bearer {out.strip()}"}
    assert httpx.post(f"{held.url}/v1/evaluate", json={}, headers=storefront).status_code == 200
    code, _, _ = cli_run(db, "users", "create", "alice", "--password", "long enough")
    assert code == 0
    users = api(held, h, "GET", "/v1/users")
    assert [(u["username"], u["role"]) for u in users] == [("alice", "admin")]
    code, out, _ = cli_run(db, "users", "list", "--format", "csv")
    assert code == 0 and out.splitlines()[1].startswith("alice,admin,")
    # Account management goes through it too (issue 19).
    assert (
        cli_run(db, "users", "create", "bob", "--password", "long enough", "--role", "marketer")[0]
        == 0
    )
    assert cli_run(db, "users", "disable", "bob")[1].strip() == "user bob disabled"
    assert api(held, h, "GET", "/v1/users")[1]["disabled_at"] is not None
    assert cli_run(db, "users", "enable", "bob")[1].strip() == "user bob enabled"
    code, out, err = cli_run(db, "users", "reset-password", "bob")
    assert code == 0 and "not shown again" in err and len(out.strip()) >= 12
    code, _, err = cli_run(db, "users", "delete", "alice")
    assert code != 0 and "last enabled admin" in err
    assert cli_run(db, "users", "delete", "bob")[1].strip() == "user bob deleted"

    # Refusals come back as the command's own errors, and change nothing.
    code, _, err = cli_run(db, "import", "orders", str(db.parent / "bad.csv"), env=env)
    assert code == 1 and "nothing was imported" in err and "'lots'" in err
    code, _, err = cli_run(db, "match", "ordrs_count >= 1", env=env)
    assert code == 2 and "did you mean 'orders_count'?" in err and "^" in err
    # A command that cannot go through the API names the holder and what to do.
    code, _, err = cli_run(db, "demo-data", "synthetic", "--customers", "5")
    assert code == 1
    assert f"pid {held.pid}" in err and held.url in err and "Stop the server" in err
    code, _, err = cli_run(db, "--as-of", "2030-01-01", "segments", "list")
    assert code == 1 and f"pid {held.pid}" in err and "--as-of 2030-01-01" in err
    # `segmint worker` keeps running passes, each inside the server, until interrupted.
    command = [*SEGMINT, "--db", str(db), "worker", "--interval", "0.2"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    loop = subprocess.Popen(command, env={**os.environ, **env}, text=True, **pipes)
    assert loop.stdout is not None
    try:
        passes = [loop.stdout.readline() for _ in range(2)]
        assert all(line.startswith("as of 2024-05-01T00:00:00+00:00: ") for line in passes)
    finally:
        loop.send_signal(signal.SIGINT)
        loop.wait(timeout=30)
    assert loop.returncode in (0, 130)  # interrupted asleep, or mid-request
    assert api(held, h, "GET", "/v1/stats")["counts"]["customers"] == 2


def test_free_again_after_a_clean_stop_and_a_stale_file_after_kill(db: Path) -> None:
    path = runtime.runtime_path(str(db))
    assert path is not None
    server, held = start(db)
    try:
        assert cli_run(db, "segments", "create", "vip", "--name", "VIP", "--manual")[0] == 0
    finally:
        stop(server)
    assert not path.exists()
    code, out, err = cli_run(db, "segments", "list", "--format", "csv")
    assert code == 0 and "vip,VIP,manual" in out and "through its API" not in err

    server, held = start(db)
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=30)
    assert path.exists() and runtime.read_live(path) is None  # left behind, stale
    code, out, err = cli_run(db, "segments", "list", "--format", "csv")
    assert code == 0 and "vip,VIP,manual" in out and "through its API" not in err
    again, renewed = start(db)
    try:
        assert renewed.pid == again.pid != held.pid and renewed.token != held.token
        code, out, err = cli_run(db, "segments", "show", "vip", "--format", "json")
        assert code == 0 and '"code": "vip"' in out
        assert f"pid {again.pid}" in err and "through its API" in err
    finally:
        stop(again)


LEVERS = {
    "promotions": [
        {
            "code": "summer",
            "trigger": "code",
            "codes": ["SUMMER10"],
            "benefit": {"type": "order", "percentage": "10"},
        }
    ],
    "placements": [
        {
            "code": "home",
            "type": "news_feed",
            "items": [
                {"code": "big-news", "audience": "IN SEGMENT 'big'", "content": {"t": "Big"}},
                {"code": "all", "audience": None, "content": {"t": "News"}},
            ],
        }
    ],
}


def test_levers_evaluate_and_codes_go_through_the_server(
    served: tuple[Path, runtime.ServeRuntime, dict[str, str]],
) -> None:
    db, held, h = served
    env = {"SEGMINT_NOW": NOW}
    folder = db.parent
    (folder / "levers.json").write_text(json.dumps(LEVERS))
    assert cli_run(db, "import", "orders", str(folder / "orders.csv"), env=env)[0] == 0
    assert cli_run(db, "segments", "create", "big", "--name", "Big", "--rule", RULE)[0] == 0
    document = str(folder / "levers.json")
    code, out, _ = cli_run(db, "levers", "apply", document, "--dry-run", "--format", "table")
    assert code == 0 and "Dry run: would create 2" in out
    assert not any(api(held, h, "GET", "/v1/levers").values())  # nothing written
    code, out, _ = cli_run(db, "levers", "apply", document, "--format", "table")
    assert code == 0 and "levers created 2, updated 0, deleted 0; 0 unchanged" in out
    assert [p["code"] for p in api(held, h, "GET", "/v1/placements")] == ["home"]
    code, out, _ = cli_run(db, "levers", "list", "--format", "csv")
    assert code == 0 and out.splitlines()[1:] == [
        line for line in out.splitlines()[1:] if line.endswith(",key:cli")
    ]
    assert [line.split(",")[:2] for line in out.splitlines()[1:]] == [
        ["placements", "home"],
        ["promotions", "summer"],
    ]
    code, out, _ = cli_run(db, "levers", "export")
    assert code == 0 and json.loads(out)["placements"][0]["code"] == "home"
    bad = {"promotions": [{"code": "x", "benefit": {"type": "order", "percentage": "150"}}]}
    (folder / "bad.json").write_text(json.dumps(bad))
    args = ["--db", str(db), "levers", "apply", str(folder / "bad.json")]
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 2 and "promotions[0].benefit.percentage" in refused.stderr

    (folder / "req.jsonl").write_text('{"customer_id": "c1"}\n{"customer_id": "c2"}\n')
    code, out, _ = cli_run(db, "evaluate", "--request", str(folder / "req.jsonl"), env=env)
    assert code == 0
    answers = [json.loads(line) for line in out.splitlines()]
    for answer, customer in zip(answers, ("c1", "c2"), strict=True):
        direct = api(held, h, "POST", "/v1/evaluate", json={"customer_id": customer})
        assert answer == direct
    assert sorted(i["item"] for i in answers[0]["placements"]["home"]) == ["all", "big-news"]
    assert [i["item"] for i in answers[1]["placements"]["home"]] == ["all"]

    code, out, _ = cli_run(db, "codes", "generate", "summer", "--count", "3", "--prefix", "S-")
    assert code == 0 and len(out.splitlines()) == 4
    listed = api(held, h, "GET", "/v1/promotions/summer/codes")
    assert {c["code"] for c in listed} >= {line.split(",")[0] for line in out.splitlines()[1:]}
    code, out, _ = cli_run(db, "codes", "list", "summer", "--format", "csv")
    assert code == 0 and len(out.splitlines()) == 1 + 4  # the listed code and 3 generated


def test_a_server_keeps_the_stores_clock(db: Path) -> None:
    """``segmint clock set`` fixes the store's clock; a server started without
    ``--as-of`` or ``SEGMINT_NOW`` answers at it, and so do the commands it forwards."""
    assert cli_run(db, "clock", "set", "2018-01-01")[0] == 0
    server, held = start(db, now=None)
    try:
        assert held.as_of == "2018-01-01T00:00:00Z"
        code, out, err = cli_run(db, "clock", "set", "2019-01-01")
        assert code != 0 and "Stop the server" in err  # the clock is the store's, not the API's
        env = {k: v for k, v in os.environ.items() if k != "SEGMINT_NOW"}
        code, out, err = cli_run(db, "segments", "list", "--format", "json", env=env)
        assert code == 0 and json.loads(out) == [], err
    finally:
        stop(server)
