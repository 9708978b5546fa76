"""``segmint customers show|segments|groups``: a customer's profile, segments and user
groups, and the explicit group assignments (locally, or through a running server)."""

from __future__ import annotations

from typing import Any

import click

from segmint.cli import remote_segments as remote
from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import dumps, format_option, render_rows, resolve_format, to_jsonable
from segmint.clock import parse_instant
from segmint.services import user_groups as groups_service


@click.group("customers")
def customers_group() -> None:
    """A customer's profile, segments and user groups."""


@customers_group.command("show")
@click.argument("customer_id")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text")
@pass_app
def customer_show_command(app: AppContext, customer_id: str, fmt: str) -> None:
    """Profile with derived fields, segments (since, why) and user groups (sources)."""
    server = app.server()
    if server is not None:
        o = remote.customer_overview(server, customer_id)
    else:
        o = groups_service.customer_overview(app.store(), customer_id, app.now)
    if fmt == "json":
        click.echo(dumps(o.to_dict()))
        return
    click.echo(f"customer {o.id}")
    for key, value in {
        **o.profile,
        **{f"attributes.{k}": v for k, v in o.attributes.items()},
    }.items():
        if value is not None and key != "id":
            click.echo(f"  {key}: {_plain(value)}")
    click.echo("derived:")
    for key, value in o.derived.items():
        click.echo(f"  {key}: {_plain(value)}")
    click.echo("segments:")
    for s in o.segments:
        state = "" if s.targetable else f" [{s.status}: not targetable]"
        click.echo(f"  {s.code} since {_plain(s.since)} ({s.reason}){state}")
    click.echo("user groups:")
    for g in o.user_groups:
        click.echo(f"  {g.group} ({', '.join(g.sources)})")


@customers_group.command("segments")
@click.argument("customer_id")
@click.option("--at", "at", help="The segments at this instant, from history.")
@format_option()
@pass_app
def customer_segments_command(
    app: AppContext, customer_id: str, at: str | None, fmt: str | None
) -> None:
    """Codes of the segments CUSTOMER_ID is in (or was in --at an instant)."""
    instant = parse_instant(at, what="--at") if at else None
    server = app.server()
    if server is not None:
        codes = remote.segments_of(server, customer_id, instant)
    else:
        codes = groups_service.segments_of(app.store(), customer_id, instant)
    fmt = resolve_format(fmt)
    if fmt == "json":
        click.echo(dumps({"count": len(codes), "segments": codes}))
    else:
        click.echo(render_rows(["segment"], [[c] for c in codes], fmt))


def _plain(value: Any) -> str:
    value = to_jsonable(value)
    if value is None:
        return "null"
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


@customers_group.group("groups")
def groups_group() -> None:
    """Assign or unassign a customer's explicit user groups."""


@groups_group.command("add")
@click.argument("customer_id")
@click.argument("group")
@pass_app
def groups_add_command(app: AppContext, customer_id: str, group: str) -> None:
    server = app.server()
    if server is not None:
        added = remote.set_group(server, customer_id, group, assign=True)
    else:
        added = groups_service.assign_group(app.store(), customer_id, group, app.now)
    click.echo(f"{customer_id}: group {group} " + ("assigned" if added else "was already assigned"))


@groups_group.command("remove")
@click.argument("customer_id")
@click.argument("group")
@pass_app
def groups_remove_command(app: AppContext, customer_id: str, group: str) -> None:
    server = app.server()
    if server is not None:
        removed = remote.set_group(server, customer_id, group, assign=False)
    else:
        removed = groups_service.unassign_group(app.store(), customer_id, group, app.now)
    click.echo(f"{customer_id}: group {group} " + ("unassigned" if removed else "was not assigned"))


COMMANDS: list[click.Command] = [customers_group]
