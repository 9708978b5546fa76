"""The runtime file of a running ``segmint serve`` over a DuckDB file.

DuckDB lets one process hold a database file, so while ``serve`` runs every other
``segmint`` process is refused the file. ``serve`` therefore writes, next to the database
(``shop.duckdb`` -> ``shop.duckdb.serve.json``), where it listens, its pid and a local
admin token; a CLI command refused the file reads it and sends its work to the server
through the API (cli/forward.py). The file is created with mode 0600 (readable by its
owner only: the token is an admin credential), replaced atomically, and removed when the
server stops. A file whose pid is gone (a killed server) is stale: ignored and replaced.

Only the token's SHA-256 stays in the server's memory; the token itself is never stored
in the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from segmint.bootstrap import duckdb_path

SUFFIX = ".serve.json"
#: Prefix of a local admin token (an API key is ``sk_…``).
TOKEN_PREFIX = "sl_"


@dataclass(frozen=True)
class ServeRuntime:
    """What a running server tells the CLI about itself."""

    pid: int
    url: str  # where a local client reaches it, e.g. http://127.0.0.1:8000
    token: str  # a local admin token (Authorization: Bearer …)
    database: str  # the DuckDB file, absolute
    started_at: str
    #: The server's fixed evaluation instant (``--as-of``/``SEGMINT_NOW``), ISO; None: it
    #: evaluates at the current time.
    as_of: str | None
    #: Whether it runs the worker's schedule in-process, and every how many seconds.
    worker: bool
    worker_interval: float

    def describe(self) -> str:
        return f"segmint serve (pid {self.pid}, {self.url})"


def runtime_path(db_url: str) -> Path | None:
    """The runtime file of the DuckDB file ``db_url`` names (None: PostgreSQL or
    ``:memory:``, which need none)."""
    path = duckdb_path(db_url)
    if path is None:
        return None
    return Path(os.path.abspath(path + SUFFIX))


def new_token() -> tuple[str, str]:
    """(token, its SHA-256 hex): 32 random bytes, URL-safe."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one of another user counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def write(path: Path, runtime: ServeRuntime) -> None:
    """Write the file atomically with mode 0600, replacing any earlier one (a stale file:
    the server writing it holds the database, so no other server can be using it)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with suppress(FileNotFoundError):
        temporary.unlink()
    # O_EXCL with mode 0600: the file never exists with wider permissions, whatever the
    # umask (which can only narrow the mode).
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, json.dumps(asdict(runtime), indent=2).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def read(path: Path) -> ServeRuntime | None:
    """The runtime file's content, or None if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ServeRuntime(
            pid=int(data["pid"]),
            url=str(data["url"]),
            token=str(data["token"]),
            database=str(data["database"]),
            started_at=str(data["started_at"]),
            as_of=None if data.get("as_of") is None else str(data["as_of"]),
            worker=bool(data.get("worker", False)),
            worker_interval=float(data.get("worker_interval", 0.0)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_live(path: Path) -> ServeRuntime | None:
    """The runtime file of a server that is still running; None if there is none or its
    process is gone (a stale file, left by a killed server)."""
    runtime = read(path)
    if runtime is None or not pid_alive(runtime.pid):
        return None
    return runtime


def remove(path: Path, pid: int) -> None:
    """Remove the file if it is still the one process ``pid`` wrote."""
    runtime = read(path)
    if runtime is not None and runtime.pid == pid:
        with suppress(FileNotFoundError):
            path.unlink()


def now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
