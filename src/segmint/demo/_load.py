"""Importing a stream of ``(kind, table)`` chunks through the public importer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from segmint.importing.report import Progress
    from segmint.store.base import Store

KINDS = ("accounts", "products", "customers", "orders", "lines", "events")


def _labelled(progress: Progress | None, label: str) -> Progress | None:
    if progress is None:
        return None
    inner = progress

    def show(step: str, done: int, total: int) -> None:
        inner(f"{label} {step}", done, total)

    return show


def import_chunks(
    store: Store,
    chunks: Iterable[tuple[str, pa.Table]],
    *,
    source: str,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Import each chunk with :func:`segmint.importing.import_arrow`; returns the rows
    imported per kind (``orders`` counts distinct orders, ``lines`` their rows: a chunk
    always holds whole orders)."""
    from segmint.importing import import_arrow

    counts = dict.fromkeys(KINDS, 0)
    for part, (kind, table) in enumerate(chunks, start=1):
        label = f"{kind} #{part}"
        import_arrow(
            store, kind, table, source=f"{source} {label}", progress=_labelled(progress, label)
        )
        if kind == "orders":
            counts["lines"] += table.num_rows
            counts["orders"] += len(table.column("order_id").unique())
        else:
            counts[kind] += table.num_rows
    return counts
