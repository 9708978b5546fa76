"""Running the app under uvicorn for ``segmint serve`` and ``segmint demo``.

The listening socket is bound here, before the app starts: a taken port fails at once,
``--port 0`` gets a free one, and the runtime file (segmint/runtime.py) names the port
actually bound. The socket listens before the app's startup writes that file, so a CLI
command that reads it at once queues its connection instead of being refused.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket

import click

from segmint.api.worker import WorkerSettings
from segmint.errors import ConfigError


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        raise ConfigError(f"error: cannot listen on {host}:{port}: {error}") from None
    return sock


def _log_to_stderr() -> None:
    """segmint's own messages (the in-process worker's start, stop and failed passes) in
    the server's log, formatted like uvicorn's."""
    logger = logging.getLogger("segmint")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def local_url(host: str, port: int) -> str:
    """Where a client on this machine reaches a server listening on ``host``."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    if address.is_unspecified:  # 0.0.0.0 or ::, every interface: loopback works
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    text = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{text}:{port}"


def serve(
    db_url: str, host: str, port: int, as_of: dt.datetime | None, worker: WorkerSettings
) -> None:
    """Serve the app over ``db_url`` until interrupted (Ctrl-C, SIGTERM: a clean stop
    that stops the worker and removes the runtime file)."""
    import uvicorn

    from segmint.api.app import ServeInfo, create_app

    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    url = local_url(host, bound)
    clock = (lambda: as_of) if as_of is not None else None
    app = create_app(db_url, clock=clock, worker=worker, serve=ServeInfo(url=url, as_of=as_of))
    schedule = f"worker every {worker.interval:g} s" if worker.enabled else "no worker"
    click.echo(f"segmint: serving {url}/ (API under /v1; {schedule})", err=True)
    _log_to_stderr()
    config = uvicorn.Config(app, log_level="info", access_log=False, workers=1)
    uvicorn.Server(config).run(sockets=[sock])
