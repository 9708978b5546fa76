"""The ``segmint`` command: global options, then one sub-command module per area.

Entry points only translate: options in, a service call, output out. Errors derived
from :class:`segmint.errors.SegmintError` are printed and exit with their code.
"""

from __future__ import annotations

import datetime as dt
import sys
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from segmint.bootstrap import database_url, open_store, store_may_exist
from segmint.cli import forward
from segmint.cli.forward import Server
from segmint.clock import resolve_now
from segmint.errors import SegmintError, StoreLocked
from segmint.services.store_clock import stored_clock

if TYPE_CHECKING:
    from segmint.store.base import Store


@dataclass
class AppContext:
    """What every command receives: the store URL and the evaluation instant."""

    db_url: str
    as_of: str | None
    _store: Store | None = field(default=None, repr=False)
    _server: Server | None = field(default=None, repr=False)

    @property
    def now(self) -> dt.datetime:
        """``--as-of`` (or ``SEGMINT_NOW``), else the fixed clock of the server the command
        goes to, else the store's own clock (``segmint clock``), else now."""
        if self.as_of is not None:
            return resolve_now(self.as_of)
        if self._server is None and self._store is None and store_may_exist(self.db_url):
            with suppress(SegmintError):  # a command that needs no store still answers
                self.server()
        if self._server is not None:
            return resolve_now(self._server.held.as_of)
        if self._store is not None:
            with suppress(SegmintError):
                stored = stored_clock(self._store)
                if stored is not None:
                    return stored
        return resolve_now(None)

    def store(self) -> Store:
        """The opened store (initialised lazily by the commands that need it). A DuckDB
        file held by a running ``segmint serve`` fails with an error naming the server
        and what to do (commands that can go through its API ask :meth:`server` first)."""
        if self._store is None:
            try:
                self._store = open_store(self.db_url)
            except StoreLocked as error:
                held = forward.holder(self.db_url, error)
                if held is None:
                    raise
                raise forward.ServedElsewhere(held, _command_path()) from None
        return self._store

    def server(self) -> Server | None:
        """The running ``segmint serve`` holding this DuckDB file, to send the command
        to; None when the store opens here (it is then open for :meth:`store`) or does
        not exist yet. Refuses an ``--as-of`` other than the server's clock."""
        if self._server is not None:
            return self._server
        if self._store is not None or not store_may_exist(self.db_url):
            return None
        try:
            self._store = open_store(self.db_url)
            return None
        except StoreLocked as error:
            held = forward.holder(self.db_url, error)
            if held is None:
                raise
        forward.check_clock(held, self.as_of)
        self._server = Server(held)
        click.echo(
            f"segmint: {held.database} is held by {held.describe()}; "
            "sending the command through its API",
            err=True,
        )
        return self._server

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


pass_app = click.make_pass_decorator(AppContext)


def _command_path() -> str:
    context = click.get_current_context(silent=True)
    return context.command_path if context is not None else "segmint"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db",
    envvar="SEGMINT_DATABASE_URL",
    default=None,
    help="Database URL: duckdb:///path/file.duckdb (default ./segmint.duckdb) or "
    "postgresql://user@host:port/db. Also SEGMINT_DATABASE_URL.",
)
@click.option(
    "--as-of",
    "as_of",
    envvar="SEGMINT_NOW",
    default=None,
    help="Evaluation instant (ISO timestamp); defaults to the store's clock if one is set "
    "(`segmint clock`), else now. Also SEGMINT_NOW.",
)
@click.version_option(package_name="segmint")
@click.pass_context
def cli(ctx: click.Context, db: str | None, as_of: str | None) -> None:
    """segmint: customer segmentation and targeting for commerce."""
    app = AppContext(db_url=database_url(db), as_of=as_of)
    ctx.obj = app
    ctx.call_on_close(app.close)


def _register() -> None:
    # Each area keeps its commands in its own module; importing registers them here.
    from segmint.cli import (
        commands_backtest,
        commands_clock,
        commands_codes,
        commands_customers,
        commands_data,
        commands_demo,
        commands_discovery,
        commands_evaluate,
        commands_levers,
        commands_membership,
        commands_rules,
        commands_segments,
        commands_service,
        commands_users,
    )

    modules = (
        commands_clock,
        commands_backtest,
        commands_codes,
        commands_customers,
        commands_data,
        commands_demo,
        commands_discovery,
        commands_evaluate,
        commands_levers,
        commands_rules,
        commands_segments,
        commands_service,
        commands_users,
    )
    for module in (*modules, commands_membership):
        for command in module.COMMANDS:
            cli.add_command(command)


def main(argv: list[str] | None = None) -> Any:
    _register()
    try:
        return cli.main(args=argv, prog_name="segmint", standalone_mode=False)
    except SegmintError as error:
        click.echo(str(error), err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
