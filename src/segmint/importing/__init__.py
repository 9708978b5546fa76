"""Importing customers, orders, events, products and accounts from files or Arrow tables.

Public API: :func:`import_file`, :func:`import_arrow`, :class:`ImportReport`.
"""

from segmint.importing.api import import_arrow, import_file
from segmint.importing.columns import KINDS
from segmint.importing.reader import FORMATS
from segmint.importing.report import ImportReport, Progress, TableCounts

__all__ = [
    "FORMATS",
    "KINDS",
    "ImportReport",
    "Progress",
    "TableCounts",
    "import_arrow",
    "import_file",
]
