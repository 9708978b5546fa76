"""segmint/csv_safe.py: OWASP's CSV-injection rule, cell by cell, with the expected
cells written by hand; and ``--format csv`` keeps numbers as numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from segmint.cli.output import render_rows
from segmint.csv_safe import csv_cell, csv_row


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-2+3", "'-2+3"),
        ("-A1", "'-A1"),
        ("+", "'+"),
        ("-", "'-"),
        ("-5", "-5"),
        ("+1.5", "+1.5"),
        ("-2e3", "-2e3"),
        ("-.5", "-.5"),
        ("a=1", "a=1"),
        (" =1", " =1"),
        ("'=1", "'=1"),
        ("", ""),
        (None, ""),
        (-5, "-5"),
        (-1.25, "-1.25"),
        (Decimal("-10.50"), "-10.50"),
        (True, "True"),
    ],
)
def test_cells(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_row() -> None:
    assert csv_row(["=a", None, 3, "b"]) == ["'=a", "", "3", "b"]


def test_render_rows_csv_quotes_text_and_keeps_numbers() -> None:
    rows = [["=1+1", -5, Decimal("-1.5"), ["@a", "b"]], ["-7", None, 2, []]]
    out = render_rows(["id", "n", "amount", "tags"], rows, "csv")
    got = list(csv.reader(io.StringIO(out)))
    assert got == [
        ["id", "n", "amount", "tags"],
        ["'=1+1", "-5", "-1.5", "'@a|b"],
        ["-7", "", "2", ""],
    ]
