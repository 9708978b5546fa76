"""``segmint codes generate|list``: a code promotion's promo codes and their uses."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import format_option, render_rows, resolve_format
from segmint.csv_safe import csv_row
from segmint.services import codes as service


@click.group("codes")
def codes_group() -> None:
    """Generate promo codes for a code promotion and list them with their uses."""


@codes_group.command("generate")
@click.argument("promotion")
@click.option("--count", type=int, help="How many codes (or --segment: one per member).")
@click.option("--prefix", default="", help="Written before every code, e.g. SUMMER-.")
@click.option("--length", default=10, show_default=True, help="Random characters per code.")
@click.option("--uses", default=1, show_default=True, help="Orders each code may be used for.")
@click.option("--unlimited", is_flag=True, help="No limit per code (the promotion's still hold).")
@click.option("--segment", help="One code per member of this segment, bound to that customer.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the CSV here (default: standard output).",
)
@pass_app
def generate_command(
    app: AppContext,
    promotion: str,
    count: int | None,
    prefix: str,
    length: int,
    uses: int,
    unlimited: bool,
    segment: str | None,
    output: Path | None,
) -> None:
    """Generate unique codes (CSV out: code, promotion, uses, customer_id)."""
    server = app.server()
    made: list[tuple[str, Any, str | None]]
    if server is not None:
        body = {
            "count": count,
            "prefix": prefix,
            "length": length,
            "uses": None if unlimited else uses,
            "segment": segment,
        }
        answer = server.post(_path(promotion), body)
        made = [(c["code"], c["uses"], c["customer_id"]) for c in answer]
    else:
        generated = service.generate_codes(
            app.store(),
            promotion,
            app.now,
            count=count,
            prefix=prefix,
            length=length,
            uses=None if unlimited else uses,
            segment=segment,
        )
        made = [(c.code, c.uses, c.customer_id) for c in generated]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["code", "promotion", "uses", "customer_id"])
    for code, limit, customer in made:
        writer.writerow(csv_row([code, promotion, limit, customer]))
    if output is None:
        click.echo(buffer.getvalue(), nl=False)
    else:
        output.write_text(buffer.getvalue(), encoding="utf-8")
        click.echo(f"wrote {len(made)} codes for {promotion} to {output}", err=True)


@codes_group.command("list")
@click.argument("promotion")
@format_option()
@pass_app
def list_command(app: AppContext, promotion: str, fmt: str | None) -> None:
    """The promotion's codes (listed and generated) with their uses so far."""
    server = app.server()
    if server is not None:
        rows = [
            (c["code"], c["origin"], c["uses"], c["used"], c["customer_id"])
            for c in server.get(_path(promotion))
        ]
    else:
        rows = [
            (c.code, "listed" if c.listed else "generated", c.uses, c.used, c.customer_id)
            for c in service.list_codes(app.store(), promotion)
        ]
    columns = ["code", "origin", "uses", "used", "customer_id"]
    click.echo(render_rows(columns, rows, resolve_format(fmt)))


def _path(promotion: str) -> str:
    return f"/v1/promotions/{quote(promotion, safe='')}/codes"


COMMANDS = [codes_group]
