"""The ``segmint`` command: global options, then one sub-command module per area.

Entry points only translate: options in, a service call, output out. Errors derived
from :class:`segmint.errors.SegmintError` are printed and exit with their code.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from segmint.bootstrap import database_url, open_store
from segmint.clock import resolve_now
from segmint.errors import SegmintError

if TYPE_CHECKING:
    from segmint.store.base import Store


@dataclass
class AppContext:
    """What every command receives: the store URL and the evaluation instant."""

    db_url: str
    as_of: str | None
    _store: Store | None = field(default=None, repr=False)

    @property
    def now(self) -> dt.datetime:
        return resolve_now(self.as_of)

    def store(self) -> Store:
        """The opened store (initialised lazily by the commands that need it)."""
        if self._store is None:
            self._store = open_store(self.db_url)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


pass_app = click.make_pass_decorator(AppContext)


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
    help="Evaluation instant (ISO timestamp); defaults to now. Also SEGMINT_NOW.",
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
        commands_codes,
        commands_data,
        commands_demo,
        commands_evaluate,
        commands_levers,
        commands_membership,
        commands_rules,
        commands_segments,
        commands_service,
    )

    modules = (
        commands_codes,
        commands_data,
        commands_demo,
        commands_evaluate,
        commands_levers,
        commands_rules,
        commands_segments,
        commands_service,
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
