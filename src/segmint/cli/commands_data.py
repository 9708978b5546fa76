"""``segmint init``, ``import KIND FILE``, ``stats`` and ``attributes list|drop``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import click

from segmint.cli.forward import Server
from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import dumps, format_option, render_mapping, render_rows, resolve_format
from segmint.errors import ConfigError, ImportError_
from segmint.importing import FORMATS, KINDS
from segmint.importing.reader import detect_format
from segmint.services import attributes as attributes_service
from segmint.services.ingest import import_and_update

_F = TypeVar("_F", bound=Callable[..., Any])


def _format_option() -> Callable[[_F], _F]:
    return format_option()


@click.command("init")
@pass_app
def init_command(app: AppContext) -> None:
    """Create the database schema, or upgrade an older one in place (safe to repeat)."""
    server = app.server()
    if server is not None:
        # `segmint serve` created or upgraded the schema when it started.
        click.echo(f"schema version {server.get('/v1/stats')['schema_version']} is up to date")
        return
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
    server = app.server()
    if server is not None:
        # The whole file goes to the server, which imports it as below (one transaction).
        sent = import_through(server, kind, file, fmt, mapping, date_format)
        _echo_import(sent["report"], sent["memberships"], sent["summary"], as_json)
        return
    store = app.store()
    store.require_schema()
    # Imports then re-evaluates the touched customers' memberships (services/ingest.py).
    report, update = import_and_update(
        store, kind, file, app.now, fmt=fmt, mapping=mapping, date_format=date_format
    )
    _echo_import(report.to_dict(), update.to_dict(), report.summary(), as_json)


def _echo_import(
    report: dict[str, Any], update: dict[str, Any], summary: str, as_json: bool
) -> None:
    if as_json:
        click.echo(dumps({**report, "memberships": update}))
        return
    click.echo(summary)
    if update["segments"]:
        click.echo(
            f"  memberships: {update['customers']} customers re-evaluated in "
            f"{len(update['segments'])} segments, {update['entered']} entered, "
            f"{update['exited']} exited"
        )


def import_through(
    server: Server,
    kind: str,
    file: str,
    fmt: str | None,
    mapping: dict[str, str],
    date_format: str | None,
) -> dict[str, Any]:
    """``POST /v1/{kind}/import`` with the file as the body (the server's answer)."""
    if not Path(file).is_file():
        raise ImportError_(file, [], 0, note="no such file")
    params: list[tuple[str, Any]] = [
        ("format", detect_format(file, fmt)),
        ("source", file),
        ("date_format", date_format),
        *(("map", f"{src}={dst}") for src, dst in mapping.items()),
    ]
    with open(file, "rb") as body:
        answer: dict[str, Any] = server.request(
            "POST", f"/v1/{kind}/import", params=params, file=body
        )
    return answer


@click.command("stats")
@_format_option()
@pass_app
def stats_command(app: AppContext, fmt: str | None) -> None:
    """Row counts: customers, orders, lines, events, products, accounts, …"""
    server = app.server()
    if server is not None:
        counts = dict(server.get("/v1/stats")["counts"])
    else:
        store = app.store()
        store.require_schema()
        counts = dict(store.stats())
    click.echo(render_mapping(counts, resolve_format(fmt)))


@click.group("attributes")
def attributes_group() -> None:
    """Custom attributes: list them, drop one nothing reads."""


@attributes_group.command("list")
@_format_option()
@pass_app
def attributes_list(app: AppContext, fmt: str | None) -> None:
    """Registered attributes: name, type, declared, customers with a value."""
    server = app.server()
    if server is not None:
        rows = list(server.get("/v1/attributes"))
    else:
        rows = [vars(a) for a in attributes_service.list_attributes(app.store())]
    columns = ("name", "type", "declared", "customers")
    click.echo(render_rows(columns, [[r[c] for c in columns] for r in rows], resolve_format(fmt)))


@attributes_group.command("drop")
@click.argument("name")
@pass_app
def attributes_drop(app: AppContext, name: str) -> None:
    """Drop attribute NAME and its values (refused while a segment or lever reads it)."""
    server = app.server()
    if server is not None:
        note = server.request("DELETE", f"/v1/attributes/{quote(name, safe='')}").get("note")
    else:
        store = app.store()
        attributes_service.drop_attribute(store, name)
        note = attributes_service.column_slots_note(store)
    click.echo(f"dropped attribute {name!r}" + (f" ({note})" if note else ""))


COMMANDS: list[click.Command] = [init_command, import_command, stats_command, attributes_group]
