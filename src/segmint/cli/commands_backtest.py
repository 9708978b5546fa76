"""``segmint promotions simulate CODE… --from DATE --to DATE`` (issue 21): what promotions
would have cost on the real orders of a past period, side by side.

When a running ``segmint serve`` holds the DuckDB file, the command runs as the server's
job (``POST /v1/promotions/simulate``) and polls it. The progress bar is click's own
(``click.progressbar``: click is the CLI's library already), written to stderr and only
when stderr is a terminal, so a piped report stays clean.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from segmint.cli.forward import RemoteError, Server
from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import dumps, format_option, render_rows, resolve_format
from segmint.errors import ConfigError
from segmint.services import backtest
from segmint.services.backtest import Progress
from segmint.services.backtest_report import simulate, summary_rows
from segmint.targeting.document import DocumentError, load_text


@click.group("promotions")
def promotions_group() -> None:
    """Promotions: simulate them on past orders before they go live."""


@contextmanager
def _progress_bar() -> Iterator[Progress | None]:
    if not sys.stderr.isatty():
        yield None
        return
    bar: Any = None
    with click.progressbar(length=1, label="orders", file=sys.stderr) as shown:
        bar = shown

        def step(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        yield step


@promotions_group.command("simulate")
@click.argument("codes", nargs=-1)
@click.option("--from", "start", required=True, help="First day (or instant) of the period.")
@click.option("--to", "end", required=True, help="Last day of the period (or the instant it ends).")
@click.option(
    "--document",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A targeting document of draft promotions (and campaigns), not applied.",
)
@click.option("--alone", is_flag=True, help="Price each promotion alone, without the live ones.")
@format_option()
@pass_app
def simulate_command(
    app: AppContext,
    codes: tuple[str, ...],
    start: str,
    end: str,
    document: Path | None,
    alone: bool,
    fmt: str | None,
) -> None:
    """Replay the period's successful orders as carts under each promotion CODE, as each
    customer stood at the moment of each order; report the cost side by side."""
    first, last = backtest.period(start, end)
    data_in = None
    if document is not None:
        try:
            data_in = load_text(document.read_text(encoding="utf-8"), document.name)
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"error: {document}: cannot read it: {error}") from None
    server = app.server()
    if server is not None:  # the server holds the store: run it as its job
        body = {"promotions": list(codes), "from": start, "to": end, "alone": alone}
        with _progress_bar() as progress:
            data = _through(server, {**body, "document": data_in}, progress)
    else:
        store = app.store()
        drafts = None
        if data_in is not None:
            try:
                drafts = backtest.read_drafts(store, data_in)
            except DocumentError as error:
                lines = "\n".join(f"  {path}: {message}" for path, message in error.errors)
                raise ConfigError(
                    f"error: {document}: the document was refused:\n{lines}"
                ) from None
        with _progress_bar() as progress:
            report = simulate(
                store, codes, first, last, drafts=drafts, alone=alone, progress=progress
            )
        data = report.to_dict()
    fmt = resolve_format(fmt)
    if fmt == "json":
        click.echo(dumps(data))
        return
    columns, rows = summary_rows(data)
    click.echo(render_rows(columns, rows, fmt))


def _through(server: Server, body: dict[str, Any], progress: Progress | None) -> Any:
    """The report of the server's job for ``body``, polled until done."""
    job = server.post("/v1/promotions/simulate", body)
    while job["status"] == "running":
        time.sleep(0.25)
        job = server.get(f"/v1/promotions/simulate/{job['id']}")
        if progress is not None and job["progress"]["total"]:
            progress(job["progress"]["done"], job["progress"]["total"])
    if job["status"] != "done":
        raise RemoteError(str(job["error"]))
    return job["report"]


COMMANDS = [promotions_group]
