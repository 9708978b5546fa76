"""A segment's members as a marketer reads them: name, e-mail, orders, total spent, last
order, member since and why — sortable, ids in natural order (c2 before c10), and the
same rows as CSV for the admin page's download, ``segmint segments members --format
csv`` and ``GET /v1/segments/{code}/members/export``.

The order figures are the derived fields' definitions (rules/derived.py): successful
orders only (a status other than cancelled, refunded or failed, compared lower-cased as
rules compare strings; no status counts as successful).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from segmint.csv_safe import csv_cell
from segmint.engine import explain as explain_engine
from segmint.engine import groups
from segmint.errors import ConfigError
from segmint.rules import check, parse
from segmint.rules.schema import UNSUCCESSFUL_STATUSES
from segmint.services import segments as segments_service
from segmint.store.base import Store

#: The columns of the table and of its CSV, in order.
COLUMNS = (
    "customer_id",
    "name",
    "email",
    "orders",
    "total_spent",
    "currency",
    "last_order_at",
    "member_since",
    "why",
)
#: What ``sort`` accepts: a column name (``-`` before it: descending).
SORTABLE = (
    "customer_id",
    "name",
    "email",
    "orders",
    "total_spent",
    "last_order_at",
    "member_since",
)

_MEMBER_ROWS = (
    "SELECT m.customer_id, c.first_name, c.last_name, c.email, m.since, m.reason, "
    "COUNT(o.id), SUM(o.total), MAX(o.placed_at), MIN(o.currency), "
    "COUNT(DISTINCT o.currency) "
    "FROM memberships AS m LEFT JOIN customers AS c ON c.id = m.customer_id "
    "LEFT JOIN orders AS o ON o.customer_id = m.customer_id "
    "AND (o.status IS NULL OR lower(o.status) NOT IN ('cancelled', 'refunded', 'failed')) "
    "WHERE m.segment_code = $code "
    "GROUP BY m.customer_id, c.first_name, c.last_name, c.email, m.since, m.reason"
)
# the statuses written above are the derived fields' (rules/schema.py)
assert UNSUCCESSFUL_STATUSES == ("cancelled", "refunded", "failed")

_REASONS = {"rule": "matches the rule", "manual": "added by hand"}
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class MemberRow:
    customer_id: str
    name: str
    email: str | None
    orders: int
    total_spent: Decimal
    currency: str | None  # None when the orders are in several currencies (or none)
    last_order_at: dt.datetime | None
    member_since: dt.datetime
    why: str

    def cells(self) -> list[Any]:
        return [getattr(self, c) for c in COLUMNS]


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """``c2`` before ``c10``: digit runs compare as numbers, the rest as text."""
    return tuple(
        (1, int(part)) if index % 2 else (0, part) for index, part in enumerate(_DIGITS.split(text))
    )


def member_rows(
    store: Store, code: str, *, sort: str = "customer_id", q: str = ""
) -> list[MemberRow]:
    """Every current member of ``code`` with its figures, sorted by ``sort``; ``q`` keeps
    the members whose id, name or e-mail contains it (case-insensitive)."""
    descending = sort.startswith("-")
    column = sort.removeprefix("-")
    if column not in SORTABLE:
        raise ConfigError(f"error: --sort: {sort!r} is not one of {', '.join(SORTABLE)}")
    segments_service.get_segment(store, code)  # NotFoundError names the code
    rows = [_row(r) for r in store._q(_MEMBER_ROWS, {"code": code})]
    needle = q.strip().lower()
    if needle:
        rows = [
            r
            for r in rows
            if needle in r.customer_id.lower()
            or needle in r.name.lower()
            or needle in (r.email or "").lower()
        ]
    rows.sort(key=lambda r: natural_key(r.customer_id))  # ties: by id, in natural order
    if column != "customer_id":
        present = [r for r in rows if getattr(r, column) not in (None, "")]
        absent = [r for r in rows if getattr(r, column) in (None, "")]
        key: Callable[[MemberRow], Any] = _SORT_KEYS.get(column, lambda r: getattr(r, column))
        present.sort(key=key, reverse=descending)
        return present + absent  # no value: last either way
    if descending:
        rows.reverse()
    return rows


_SORT_KEYS: dict[str, Callable[[MemberRow], Any]] = {
    "name": lambda r: r.name.lower(),
    "email": lambda r: (r.email or "").lower(),
}


def _row(r: Sequence[Any]) -> MemberRow:
    first, last = r[1] or "", r[2] or ""
    return MemberRow(
        customer_id=str(r[0]),
        name=f"{first} {last}".strip(),
        email=r[3],
        orders=int(r[6]),
        total_spent=Decimal(r[7]) if r[7] is not None else Decimal(0),
        currency=str(r[9]) if r[9] is not None and int(r[10]) == 1 else None,
        last_order_at=r[8],
        member_since=r[4],
        why=_REASONS.get(str(r[5]), str(r[5])),
    )


def to_csv(rows: Sequence[MemberRow]) -> str:
    """The rows as CSV with a header: money as its exact decimal text (two places),
    instants as ISO 8601 UTC; ``customer_id`` first, so the file is also an id list that
    ``segments add --file`` reads."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row.cells()])
    return buf.getvalue()


def money_text(value: Decimal) -> str:
    """Exact decimal text with at least two places: 12.50, 0.1234 (never rounded)."""
    cents = value.quantize(Decimal("0.01"))
    return str(cents) if cents == value else str(value.normalize())


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return money_text(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return csv_cell(value)  # a text a spreadsheet would run gets a leading quote


#: At most this many held conditions make up a member's "why" on the page.
WHY_CONDITIONS = 3


def explain_members(
    store: Store, code: str, ids: Sequence[str], now: dt.datetime
) -> dict[str, list[str]]:
    """Why each of ``ids`` (a page of members) is in a rule segment: the conditions of
    its rule that hold for them, each as the explain tree words it ("total spent is
    412.50 (derived from successful orders)"). Members added by hand, and segments
    without a rule, get nothing here (their row says so)."""
    definition = segments_service.get_segment(store, code).definition
    text = definition.effective_rule
    if text is None or not ids:
        return {}
    schema = store.rule_schema()
    rule = check(parse(text), schema, text=text, allow_realtime=False).rule
    profiles = store.load_profiles(list(ids))
    groups.attach_segments(store, profiles, now)
    found: dict[str, list[str]] = {}
    for cid, profile in profiles.items():
        explanation = explain_engine.explain(rule, profile, now, schema)
        if explanation.result:
            found[cid] = _held(explanation.steps)
    return found


def _held(steps: Sequence[explain_engine.ExplainStep]) -> list[str]:
    """The held leaves of an explain tree, in words (the part before "; must be …")."""
    words: list[str] = []
    for index, step in enumerate(steps):
        is_leaf = index + 1 == len(steps) or steps[index + 1].depth <= step.depth
        if step.value and is_leaf:
            words.append(step.sentence.split("; ")[0].removesuffix(": so it holds"))
        if len(words) == WHY_CONDITIONS:
            break
    return words


def customer_count(store: Store) -> int:
    """How many customers the store has (a segment's share is of these)."""
    return int(store._q("SELECT COUNT(*) FROM customers")[0][0])
