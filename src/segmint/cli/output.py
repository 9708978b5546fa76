"""Rendering listings as table, JSON or CSV (every listing command takes ``--format``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import click

from segmint.csv_safe import csv_cell, csv_row

FORMATS = ("table", "json", "csv")

F = TypeVar("F", bound=Callable[..., Any])


def format_option(default: str | None = None) -> Callable[[F], F]:
    """``--format table|json|csv``; table on a terminal, json when piped, unless given."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=default,
        help="Output format (default: table on a terminal, json otherwise).",
    )


def resolve_format(fmt: str | None) -> str:
    if fmt:
        return fmt
    return "table" if sys.stdout.isatty() else "json"


def to_jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        # exact: integers print without a fraction, others as their decimal text
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), ensure_ascii=False, indent=None)


def _cell(value: Any) -> str:
    value = to_jsonable(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    return str(value)


def _csv_cell(value: Any) -> str:
    """A cell of ``--format csv``: numbers as numbers, text a spreadsheet would run as a
    formula quoted (segmint/csv_safe.py)."""
    plain = to_jsonable(value)
    if isinstance(plain, (int, float)) and not isinstance(plain, bool):
        return csv_cell(plain)
    return csv_cell(_cell(value))


def render_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str) -> str:
    """A listing of rows in the chosen format."""
    materialized = [list(r) for r in rows]
    if fmt == "json":
        return dumps([dict(zip(columns, r, strict=True)) for r in materialized])
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(csv_row(columns))
        writer.writerows([_csv_cell(v) for v in r] for r in materialized)
        return buf.getvalue().rstrip("\n")
    cells = [[_cell(v) for v in r] for r in materialized]
    widths = [len(c) for c in columns]
    for r in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, r, strict=True)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join([line, rule, *body])


def render_mapping(data: dict[str, Any], fmt: str) -> str:
    """A single record (e.g. stats) in the chosen format."""
    if fmt == "json":
        return dumps(data)
    return render_rows(["name", "value"], list(data.items()), fmt)
