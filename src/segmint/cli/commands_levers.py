"""``segmint levers apply|export|list|show|history|delete`` (TARGETING.md §1).

``apply`` validates the whole document first and lists every problem with its JSON path
(exit 2, nothing written); ``--dry-run`` says what would change; ``--prune`` deletes the
levers the document does not list. ``export`` writes the stored catalog back: applying
an export changes nothing.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import click
import yaml

from segmint.cli import remote_levers as remote
from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import dumps, format_option, render_rows, resolve_format
from segmint.errors import ConfigError
from segmint.services import levers as service
from segmint.targeting.document import DocumentError, load_text
from segmint.targeting.model import LeverKind

KINDS = [kind.value for kind in LeverKind]


def who() -> str:
    """Versions made from the command line name the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _exit_for(error: DocumentError) -> None:
    lines = "\n".join(f"  {path}: {message}" for path, message in error.errors)
    count = len(error.errors)
    click.echo(
        f"error: the document was refused ({count} problem{'s' if count > 1 else ''}); "
        f"nothing was written:\n{lines}",
        err=True,
    )
    raise SystemExit(2)


@click.group("levers")
def levers_group() -> None:
    """The lever catalog: promotions, campaigns, price lists, placements, account portals."""


@levers_group.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and list what would change; write nothing.")
@click.option("--prune", is_flag=True, help="Delete the levers the document does not list.")
@format_option()
@pass_app
def apply_command(app: AppContext, file: Path, dry_run: bool, prune: bool, fmt: str | None) -> None:
    """Apply a targeting document (JSON or YAML): all of it, or nothing."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"error: {file}: cannot read it: {error}") from None
    server = app.server()
    try:
        data = load_text(text, file.name)
        if server is not None:
            report = remote.apply_document(server, data, dry_run=dry_run, prune=prune)
        else:
            report = service.apply_document(
                app.store(), data, app.now, who=who(), dry_run=dry_run, prune=prune
            )
    except DocumentError as error:
        _exit_for(error)
        return
    fmt = resolve_format(fmt)
    if fmt != "table":
        rows = [(c.kind, c.code, c.change, c.version) for c in report.changes]
        if fmt == "json":
            click.echo(dumps(report.to_dict()))
        else:
            click.echo(render_rows(["kind", "code", "change", "version"], rows, fmt))
        return
    counts = report.counts()
    verb = "would" if dry_run else "levers"
    for c in report.changes:
        click.echo(f"  {c.change:<7} {LeverKind(c.kind).singular} {c.code} (version {c.version})")
    click.echo(
        f"{'Dry run: ' if dry_run else ''}{verb} "
        f"{'create' if dry_run else 'created'} {counts['create']}, "
        f"{'update' if dry_run else 'updated'} {counts['update']}, "
        f"{'delete' if dry_run else 'deleted'} {counts['delete']}; "
        f"{counts['unchanged']} unchanged"
    )


@levers_group.command("export")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file."
)
@click.option(
    "--yaml", "as_yaml", is_flag=True, help="YAML instead of JSON (also from a .yaml output)."
)
@pass_app
def export_command(app: AppContext, output: Path | None, as_yaml: bool) -> None:
    """Write the stored catalog as one targeting document."""
    server = app.server()
    data = remote.export_document(server) if server else service.export_document(app.store())
    use_yaml = as_yaml or (output is not None and output.suffix in (".yaml", ".yml"))
    text = (
        yaml.safe_dump(data, sort_keys=True, allow_unicode=True)
        if use_yaml
        else json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    )
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Exported the catalog to {output}", err=True)


@levers_group.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="Only levers of this kind.")
@format_option()
@pass_app
def list_command(app: AppContext, kind: str | None, fmt: str | None) -> None:
    """Every lever: kind, code, name, version, last change."""
    server = app.server()
    found = remote.list_levers(server, kind) if server else service.list_levers(app.store(), kind)
    rows = [
        (s.kind, s.code, s.name, s.active, s.version, s.updated_at, s.updated_by) for s in found
    ]
    columns = ["kind", "code", "name", "active", "version", "updated_at", "updated_by"]
    click.echo(render_rows(columns, rows, resolve_format(fmt)))


@levers_group.command("show")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("code")
@pass_app
def show_command(app: AppContext, kind: str, code: str) -> None:
    """One lever's definition (its document form) as JSON."""
    server = app.server()
    data = (
        remote.show_lever(server, kind, code)
        if server
        else service.show_lever(app.store(), kind, code).data
    )
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))


@levers_group.command("history")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("code")
@format_option()
@pass_app
def history_command(app: AppContext, kind: str, code: str, fmt: str | None) -> None:
    """Every version of a lever: who changed it, when, and how."""
    server = app.server()
    rows = [
        (v.version, v.change, v.changed_at, v.changed_by, json.dumps(v.data, sort_keys=True))
        for v in (
            remote.lever_history(server, kind, code)
            if server
            else service.lever_history(app.store(), kind, code)
        )
    ]
    columns = ["version", "change", "changed_at", "changed_by", "definition"]
    click.echo(render_rows(columns, rows, resolve_format(fmt)))


@levers_group.command("delete")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("code")
@pass_app
def delete_command(app: AppContext, kind: str, code: str) -> None:
    """Delete one lever (its versions are kept)."""
    server = app.server()
    if server is not None:
        version = remote.delete_lever(server, kind, code)
    else:
        version = service.delete_lever(app.store(), kind, code, app.now, who=who()).version
    click.echo(f"Deleted {LeverKind(kind).singular} {code} (version {version})")


COMMANDS = [levers_group]
