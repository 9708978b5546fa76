"""``segmint fields`` and ``segmint values FIELD``: what a rule can read, and the values
the store holds for a field (services/discovery.py). Sent to the running server that
holds the DuckDB file, if one does (``GET /v1/schema``, ``GET /v1/values``)."""

from __future__ import annotations

from typing import Any

import click

from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import dumps, format_option, render_rows, resolve_format
from segmint.services import discovery

_FIELD_COLUMNS = ["name", "type", "scope", "realtime", "values", "customers"]
_VALUE_COLUMNS = ["value", "count", "label"]


@click.command("fields")
@click.option("--scope", default=None, help="Only this scope: customer, attribute, lines, …")
@format_option()
@pass_app
def fields_command(app: AppContext, scope: str | None, fmt: str | None) -> None:
    """Every field a rule may read: its type, where it lives, whether `segmint values`
    lists its values and, for custom attributes, how many customers have one."""
    server = app.server()
    if server is not None:
        rows: list[dict[str, Any]] = list(server.get("/v1/schema")["fields"])
    else:
        rows = [f.to_dict() for f in discovery.fields(app.store())]
    if scope is not None:
        rows = [r for r in rows if r["scope"] == scope]
    fmt = resolve_format(fmt)
    if fmt == "json":
        click.echo(dumps(rows))
        return
    click.echo(render_rows(_FIELD_COLUMNS, [[r[c] for c in _FIELD_COLUMNS] for r in rows], fmt))


@click.command("values")
@click.argument("field")
@click.option("--prefix", default="", help="Only values (or product/account names) starting so.")
@click.option(
    "--limit",
    type=click.IntRange(1, discovery.MAX_LIMIT),
    default=discovery.DEFAULT_LIMIT,
    show_default=True,
)
@format_option()
@pass_app
def values_command(app: AppContext, field: str, prefix: str, limit: int, fmt: str | None) -> None:
    """The distinct values of FIELD (e.g. lines.brand, lines.sku, country, tags,
    attributes.tier, segment) with how many customers have each, most frequent first."""
    server = app.server()
    if server is not None:
        page = dict(server.get("/v1/values", field=field, prefix=prefix, limit=limit))
    else:
        page = discovery.values(app.store(), field, prefix=prefix, limit=limit).to_dict()
    fmt = resolve_format(fmt)
    if fmt == "json":
        click.echo(dumps(page))
        return
    rows = [[v[c] for c in _VALUE_COLUMNS] for v in page["values"]]
    click.echo(render_rows(_VALUE_COLUMNS, rows, fmt))
    if fmt == "table":
        shown = len(page["values"])
        click.echo(
            f"({shown} of {page['matched']} matching, {page['distinct']} distinct; "
            f"count: {page['counts']})"
        )


COMMANDS: list[click.Command] = [fields_command, values_command]
