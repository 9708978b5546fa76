"""CSV cells a spreadsheet shows and never runs (OWASP "CSV injection").

Every CSV segmint writes for people to open (``--format csv`` listings, generated codes,
the promotion page's ``codes.csv``) passes its cells through :func:`csv_cell`. A text
cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is what Excel,
LibreOffice and Google Sheets evaluate as a formula (``=HYPERLINK(...)``, ``+cmd|...``,
``@SUM(...)``, DDE payloads); such a cell gets a leading single quote, which the
spreadsheets show as text. Numbers stay numbers: a number value, and a text that is
only a decimal number (``-5``, ``+1.5``, ``-2e3``), is written as it is, since a
spreadsheet reads it as that number and nothing else; ``-2+3`` or ``-A1`` are formulas
and get the quote.

This module has no dependencies, so the CLI, the web pages and the services may all
use it (docs/decisions.md, "CSV exports").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

#: The first characters that make a spreadsheet evaluate a cell (OWASP's list).
FORMULA_STARTS = frozenset("=+-@\t\r")

#: A text a spreadsheet reads as a plain number: optional sign, digits, optional
#: fraction and exponent; nothing else.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def csv_cell(value: object) -> str:
    """The text of one CSV cell for ``value``: None is empty; numbers as they are; a
    text a spreadsheet would evaluate as a formula gets a leading ``'``."""
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    if text[:1] in FORMULA_STARTS and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_row(values: Iterable[object]) -> list[str]:
    """:func:`csv_cell` of each value of a row."""
    return [csv_cell(v) for v in values]
