"""What an import did, and how it shows progress."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: ``progress(step, done, total)``: called as each step of an import finishes.
Progress = Callable[[str, int, int], None]

STEPS = ("read", "validate", "build", "load")


@dataclass
class TableCounts:
    """Rows of one table written by an import (``deleted`` for replaced order lines and
    wishlist items)."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0


@dataclass
class ImportReport:
    """The outcome of one file: ``rows_read`` data rows; ``inserted``/``updated`` count
    the kind's main records (customers, orders, events, products or accounts);
    ``tables`` has the numbers per table written."""

    kind: str
    source: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    tables: dict[str, TableCounts] = field(default_factory=dict)
    attributes_registered: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Sorted ids of the customers whose data the import wrote (customers, orders and
    #: events kinds): who the membership engine re-evaluates.
    customer_ids: list[str] = field(default_factory=list)
    #: The membership outbox batch holding those customers, committed with the rows
    #: (store/outbox.py); None when the caller queued none.
    outbox_batch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "rows_read": self.rows_read,
            "inserted": self.inserted,
            "updated": self.updated,
            "tables": {
                name: {"inserted": c.inserted, "updated": c.updated, "deleted": c.deleted}
                for name, c in self.tables.items()
            },
            "attributes_registered": list(self.attributes_registered),
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        parts = [
            f"{self.source}: {self.rows_read} rows read, {self.kind}: "
            f"{self.inserted} inserted, {self.updated} updated"
        ]
        for name, c in self.tables.items():
            extra = f", {c.deleted} replaced" if c.deleted else ""
            parts.append(f"  {name}: {c.inserted} inserted, {c.updated} updated{extra}")
        if self.attributes_registered:
            parts.append("  new attributes: " + ", ".join(self.attributes_registered))
        parts.append(f"  in {self.seconds:.2f}s")
        return "\n".join(parts)


def terminal_progress() -> Progress | None:
    """A progress bar on stderr, only when stderr is a terminal (never when piped)."""
    if not sys.stderr.isatty():
        return None

    def show(step: str, done: int, total: int) -> None:
        width = 24
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r[{'#' * filled}{'-' * (width - filled)}] {step:<10}")
        if done >= total:
            sys.stderr.write("\r" + " " * (width + 14) + "\r")
        sys.stderr.flush()

    return show
