"""``segmint init``, ``segmint import KIND FILE`` and ``segmint stats``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import dumps, format_option, render_mapping, resolve_format
from segmint.errors import ConfigError
from segmint.importing import FORMATS, KINDS
from segmint.services.ingest import import_and_update

_F = TypeVar("_F", bound=Callable[..., Any])


def _format_option() -> Callable[[_F], _F]:
    return format_option()


@click.command("init")
@pass_app
def init_command(app: AppContext) -> None:
    """Create the database schema, or upgrade an older one in place (safe to repeat)."""
    store = app.store()
    before = store.schema_version()
    version = store.init()
    if before is None:
        click.echo(f"created schema version {version}")
    elif before < version:
        click.echo(f"upgraded schema from version {before} to {version}")
    else:
        click.echo(f"schema version {version} is up to date")


def _parse_mapping(items: tuple[str, ...]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            raise ConfigError(f"--map: {item!r} is not SRC=DST")
        if src in mapping:
            raise ConfigError(f"--map: column {src!r} is mapped twice")
        mapping[src] = dst
    return mapping


@click.command("import")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="File format (default: from the extension .csv, .jsonl/.ndjson, .parquet).",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="SRC=DST",
    help="Rename a column of the file before importing (repeatable).",
)
@click.option(
    "--date-format",
    "date_format",
    default=None,
    metavar="FMT",
    help="strptime format for dates and timestamps (e.g. %d/%m/%Y); ISO 8601 still accepted.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_app
def import_command(
    app: AppContext,
    kind: str,
    file: str,
    fmt: str | None,
    maps: tuple[str, ...],
    date_format: str | None,
    as_json: bool,
) -> None:
    """Import a file of KIND (customers, orders, events, products, accounts).

    All or nothing: a file with any bad row is refused whole, listing the rows."""
    mapping = _parse_mapping(maps)
    store = app.store()
    store.require_schema()
    # Imports then re-evaluates the touched customers' memberships (services/ingest.py).
    report, update = import_and_update(
        store, kind, file, app.now, fmt=fmt, mapping=mapping, date_format=date_format
    )
    if as_json:
        click.echo(dumps({**report.to_dict(), "memberships": update.to_dict()}))
    else:
        click.echo(report.summary())
        if update.segments:
            click.echo(
                f"  memberships: {update.customers} customers re-evaluated in "
                f"{len(update.segments)} segments, {update.entered} entered, "
                f"{update.exited} exited"
            )


@click.command("stats")
@_format_option()
@pass_app
def stats_command(app: AppContext, fmt: str | None) -> None:
    """Row counts: customers, orders, lines, events, products, accounts, …"""
    store = app.store()
    store.require_schema()
    click.echo(render_mapping(dict(store.stats()), resolve_format(fmt)))


COMMANDS: list[click.Command] = [init_command, import_command, stats_command]
