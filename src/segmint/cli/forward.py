"""Sending a CLI command to the ``segmint serve`` that holds its DuckDB file.

DuckDB lets one process hold a file. When a command's open is refused with DuckDB's
lock error and the runtime file next to the database (segmint/runtime.py) names a live
server — the process DuckDB names as the holder, when it names one — the command goes
through that server's API with the runtime file's local admin token instead of failing
(the commands that can: :meth:`segmint.cli.main.AppContext.server`). A command that cannot
go through the API fails with :class:`ServedElsewhere`, which names the server and says
what to do. Nothing falls back silently: a refused request is the command's error.

The client is the standard library's ``http.client`` (the server is local; no
dependency): JSON bodies, a file streamed as the body of an import, and the API's error
body turned back into the CLI's error text and exit status.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode, urlsplit

from segmint import runtime
from segmint.clock import parse_instant
from segmint.errors import ConfigError, SegmintError, StoreLocked

#: How long to keep trying to connect (a server writes its runtime file just before it
#: starts accepting connections).
CONNECT_SECONDS = 10.0
#: A request may take this long (a refresh or a large import runs inside it).
REQUEST_SECONDS = 3600.0


class RemoteError(SegmintError):
    """The server refused the request: its message, with the CLI's exit status (2 for a
    rule error, as when the command runs locally)."""

    def __init__(
        self,
        message: str,
        exit_code: int = 1,
        status: int | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.status = status  # the HTTP status (None: no answer)
        self.error = dict(error or {})  # the API's error: type, message, details

    @property
    def type(self) -> str | None:
        kind = self.error.get("type")
        return None if kind is None else str(kind)


class ServedElsewhere(ConfigError):
    """The database is held by a running ``segmint serve`` and this command cannot go
    through its API."""

    def __init__(self, held: runtime.ServeRuntime, command: str, advice: str | None = None) -> None:
        self.held = held
        what = advice or (
            f"`{command}` cannot go through its API. Stop the server (Ctrl-C in its "
            f"terminal, or `kill {held.pid}`) and run the command again, or use the API "
            f"({held.url}/docs) or the admin page ({held.url}/)"
        )
        super().__init__(f"error: {held.database} is held by {held.describe()}: {what}")


def holder(db_url: str, error: StoreLocked) -> runtime.ServeRuntime | None:
    """The live server holding the file ``error`` was refused, if the runtime file names
    one (and it is the process DuckDB names, when DuckDB names one)."""
    path = runtime.runtime_path(db_url)
    if path is None:
        return None
    held = runtime.read_live(path)
    if held is None or (error.pid is not None and error.pid != held.pid):
        return None
    return held


def check_clock(held: runtime.ServeRuntime, as_of: str | None) -> None:
    """A forwarded command runs at the server's clock: refuse an ``--as-of`` (or
    ``SEGMINT_NOW``) that is not that clock."""
    if as_of is None:
        return
    wanted = parse_instant(as_of)
    if held.as_of is not None and parse_instant(held.as_of, what="the server's clock") == wanted:
        return
    clock = f"its fixed clock {held.as_of}" if held.as_of else "the current time"
    raise ServedElsewhere(
        held,
        "",
        advice=f"commands sent to it run at {clock}, not at --as-of {as_of} (from --as-of "
        "or SEGMINT_NOW). Drop --as-of, or stop the server to work at another instant",
    )


def _message(status: int, payload: Any) -> tuple[str, int]:
    error = payload.get("error") if isinstance(payload, Mapping) else None
    if not isinstance(error, Mapping):
        return f"error: the server answered {status}", 1
    details = error.get("details")
    if error.get("type") in ("RuleError", "RuleLimitError") and isinstance(details, Mapping):
        return str(details.get("rendered") or error.get("message")), 2
    message = str(error.get("message") or f"the server answered {status}")
    if error.get("type") == "ValidationError" and isinstance(details, list) and details:
        message = "; ".join(
            f"{'.'.join(p for p in d.get('loc', []) if p != 'body')}: {d.get('message')}"
            for d in details
        )
    return f"error: {message}", 1


class Server:
    """The API of the server a runtime file names, authenticated as its local admin."""

    def __init__(self, held: runtime.ServeRuntime) -> None:
        self.held = held
        parts = urlsplit(held.url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80

    def describe(self) -> str:
        return self.held.describe()

    def _connect(self) -> http.client.HTTPConnection:
        deadline = time.monotonic() + CONNECT_SECONDS
        while True:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_SECONDS)
            try:
                conn.connect()
                return conn
            except ConnectionRefusedError:
                conn.close()
                if time.monotonic() > deadline or not runtime.pid_alive(self.held.pid):
                    raise RemoteError(
                        f"error: cannot reach {self.describe()}: connection refused "
                        "(has it stopped?)"
                    ) from None
                time.sleep(0.1)
            except OSError as error:
                conn.close()
                raise RemoteError(f"error: cannot reach {self.describe()}: {error}") from None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        file: IO[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        as_text: bool = False,
    ) -> Any:
        """The JSON answer of one request (``as_text``: its body as text); a refusal raises
        :class:`RemoteError` with the message the command would have printed locally."""
        target = path
        if params:
            items = params.items() if isinstance(params, Mapping) else params
            query = [(k, v) for k, v in items if v is not None]
            if query:
                target += "?" + urlencode(query, doseq=True)
        sent: dict[str, str] = {"Authorization": f"Bearer {self.held.token}", **(headers or {})}
        data: bytes | IO[bytes] | None = None
        if file is not None:
            data = file
            sent.setdefault("Content-Type", "application/octet-stream")
            size = Path(file.name).stat().st_size if hasattr(file, "name") else None
            if size is not None:
                sent["Content-Length"] = str(size)
        elif body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        conn = self._connect()
        try:
            conn.request(method, target, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise RemoteError(
                f"error: {self.describe()} did not answer {method} {path}: {error} "
                "(it may or may not have done it: check before running the command again)"
            ) from None
        finally:
            conn.close()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        if response.status >= 400:
            message, code = _message(response.status, payload)
            body = payload.get("error") if isinstance(payload, Mapping) else None
            raise RemoteError(message, code, response.status, body)
        if as_text:
            return raw.decode("utf-8")
        return payload

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def get_text(self, path: str, **params: Any) -> str:
        """A GET whose answer is text (a CSV export), not JSON."""
        return str(self.request("GET", path, params=params, as_text=True))

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)
