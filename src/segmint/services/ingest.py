"""Import, then bring the touched customers' memberships up to date at once.

What an import changes decides which segments are re-evaluated: orders change
``orders`` and ``lines`` (and the derived fields), events change ``events`` and
``wishlist``, customers change customer fields and attributes. Products and accounts
change nothing a rule reads about a customer (lines keep the product data they were
imported with), so they re-evaluate nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmint.importing import import_arrow, import_file
from segmint.importing.report import ImportReport
from segmint.services import discovery
from segmint.services.membership import UpdateReport, process_due, reevaluate_customers
from segmint.store.base import Store
from segmint.store.outbox import Work

if TYPE_CHECKING:
    import pyarrow as pa

#: What each import kind changes, in the vocabulary of ``reevaluate_customers``.
CHANGES: dict[str, frozenset[str]] = {
    "orders": frozenset({"orders", "lines"}),
    "events": frozenset({"events", "wishlist"}),
    "customers": frozenset({"customer"}),
}


def import_and_update(
    store: Store,
    kind: str,
    path_or_table: str | Path | pa.Table,
    now: dt.datetime,
    **import_options: Any,
) -> tuple[ImportReport, UpdateReport]:
    """Import a file (path) or an Arrow table (``source=`` names it, default "arrow"),
    then re-evaluate every customer it touched, recording changes at ``now`` with
    trigger ``incremental``. The import commits its rows together with the touched
    customers in the membership outbox (store/outbox.py); the update clears them in its
    own transaction. A kill between the two leaves the batch for the worker's next pass,
    which brings those customers up to date with no manual refresh."""
    changed = CHANGES.get(kind)
    if changed is not None:
        # What was due by now happens under the data as it was, before the import changes it
        # (a re-dated order must not rewrite the past), as a segment save does.
        process_due(store, now)
    queue = Work(changed=changed) if changed is not None else None
    if isinstance(path_or_table, (str, Path)):
        report = import_file(store, kind, path_or_table, queue=queue, **import_options)
    else:
        options = {"source": "arrow", **import_options}
        report = import_arrow(store, kind, path_or_table, queue=queue, **options)
    # the distinct values autocomplete offers are read again on the next ask
    discovery.invalidate_import(store, kind)
    if kind == "orders" and report.customer_ids:
        # an order imported as cancelled gives back the uses and spend of its checkout
        from segmint.services.orders import release_cancelled

        release_cancelled(store, now)
    if changed is None or not report.customer_ids:
        return report, UpdateReport(customers=0, segments=[])
    batches = [report.outbox_batch] if report.outbox_batch is not None else []
    update = reevaluate_customers(
        store, report.customer_ids, now, changed=changed, outbox_batches=batches
    )
    return report, update
