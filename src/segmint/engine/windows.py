"""Exact time windows: the next instant at which a rule's answer can change.

A rule that reads ``now`` (``WITHIN 30d``, ``> -90d``, ``now``) changes its answer for a
customer only when ``shift(now, -D)`` (or ``now`` itself) crosses a timestamp the rule
compares it with. Those timestamps are the customer's data — item timestamps of the
collections the rule reads (orders/lines ``placed_at``, events ``at``, wishlist
``added_at``), timestamp customer fields — and the rule's own literals. For a value ``v``
and a duration ``D`` the crossing instants are the smallest ``n`` with
``shift(n, -D) >= v`` (a ``>``/``<=`` test flips there) and with ``shift(n, -D) > v``
(``>=``/``<``), i.e. the first one for ``v + 1µs``; ``D = 0`` covers ``now`` itself (a
future-dated order becomes current). For h/d/w that is ``v + D``; for months and years
calendar clamping can make ``v + D`` too early (31 Jan + 1m = 29 Feb, but
``29 Feb 12:00 - 1m`` is 29 Jan, still before 31 Jan): then the answer is the next day
start (1 Mar 00:00). :func:`first_instant` computes it exactly with ``timeutil.shift``.

- :func:`next_due` (Python, exact): the smallest candidate after ``now`` for one profile.
- :func:`due_query` (SQL, for batches): the same instants per collection (month
  arithmetic with the same clamping, then the same next-day-start correction), over the
  ORDERS for a rule reading lines (a line's placed_at is its order's) — a superset of the
  values, so the instant is exact or EARLY, never late. At an early instant the worker
  re-evaluates and computes the exact next candidate from there: one extra evaluation,
  never a skipped or repeated change.

A rule comparing a DATE field with a relative time compares calendar days of the store's
time zone; those answers change when ``shift(now, -D)`` crosses a local midnight, which
is customer-independent and handled like a literal.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from segmint.model.profile import Profile
from segmint.rules import CheckedRule, timeutil
from segmint.rules.ast import (
    Aggregate,
    Compare,
    Duration,
    Literal,
    Path,
    RelativeTime,
    Within,
    walk,
)
from segmint.rules.schema import CUSTOMER_FIELDS, FieldType, Schema
from segmint.store.sqltext import Fragment, fixed, ident, render

MICRO = dt.timedelta(microseconds=1)
ZERO = Duration(0, "h")
#: The timestamp of each collection's items that rules can compare with ``now``.
TIME_FIELDS = {"orders": "placed_at", "lines": "placed_at", "events": "at", "wishlist": "added_at"}
TABLES = {
    "orders": "orders",
    "lines": "order_lines",
    "events": "events",
    "wishlist": "wishlist_items",
}
_EXACT = {"h": dt.timedelta(hours=1), "d": dt.timedelta(days=1), "w": dt.timedelta(weeks=1)}


@dataclass(frozen=True)
class WindowSpec:
    """What makes one rule's answer time-dependent."""

    durations: tuple[Duration, ...]  # every relative duration, plus ZERO
    collections: tuple[str, ...]  # collections read that carry a timestamp
    fields: tuple[str, ...]  # timestamp customer fields: "created_at", "attributes.x"
    constants: tuple[dt.datetime, ...]  # timestamp literals, day starts of date literals
    date_durations: tuple[Duration, ...]  # durations meeting a DATE field (local days)


def window_spec(checked: CheckedRule, schema: Schema) -> WindowSpec | None:
    """The rule's window spec, or None when its answer never depends on ``now``."""
    if not checked.uses_now:
        return None
    durations: set[Duration] = {ZERO}
    constants: set[dt.datetime] = set()
    for node in walk(checked.rule):
        if isinstance(node, Within):
            durations.add(Duration(node.duration.amount, node.duration.unit))
        elif isinstance(node, RelativeTime) and node.ago is not None:
            durations.add(Duration(node.ago.amount, node.ago.unit))
        elif isinstance(node, Literal):
            value = node.value
            if isinstance(value, dt.datetime):
                constants.add(value.astimezone(dt.UTC))
            elif isinstance(value, dt.date):
                constants.update(timeutil.day_range(value, schema.timezone))
    fields: list[str] = []
    has_dates = False
    for name in sorted(checked.customer_fields):
        ftype = CUSTOMER_FIELDS.get(name)
        if ftype is FieldType.TIMESTAMP:
            fields.append(name)
        has_dates |= ftype is FieldType.DATE
    for name in sorted(checked.attributes):
        ftype = schema.attributes.get(name)
        if ftype is FieldType.TIMESTAMP:
            fields.append(f"attributes.{name}")
        has_dates |= ftype is FieldType.DATE
    ordered = tuple(sorted(durations, key=lambda d: (d.unit, d.amount)))
    return WindowSpec(
        durations=ordered,
        # A line's placed_at is a copy of its order's: the orders (4x fewer rows) carry
        # every timestamp the lines do, so they stand in for them.
        collections=tuple(
            sorted(
                {"orders" if c == "lines" else c for c in checked.collections} & TIME_FIELDS.keys()
            )
        ),
        fields=tuple(fields),
        constants=tuple(sorted(constants)),
        date_durations=ordered if has_dates else (),
    )


def first_instant(value: dt.datetime, duration: Duration) -> dt.datetime:
    """The smallest instant ``n`` with ``shift(n, duration) >= value`` (``shift`` going back,
    as ``-D`` does in a rule)."""
    exact = _EXACT.get(duration.unit)
    if exact is not None:
        return value + duration.amount * exact
    months = duration.amount * (12 if duration.unit == "y" else 1)
    candidate = timeutil.add_months(value, months)
    if timeutil.shift(candidate, duration) < value:
        # Clamped to a shorter month: nothing before the next day start reaches back far
        # enough (the whole clamped day maps before ``value``).
        day = candidate.date() + dt.timedelta(days=1)
        candidate = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return candidate


def _values(spec: WindowSpec, profile: Profile) -> list[dt.datetime]:
    values: list[dt.datetime] = []
    for collection in spec.collections:
        field = TIME_FIELDS[collection]
        for item in getattr(profile, collection):
            v = getattr(item, field)
            if v is not None:
                values.append(v)
    for name in spec.fields:
        if name.startswith("attributes."):
            v = profile.attributes.get(name.removeprefix("attributes."))
        else:
            v = profile.fields.get(name)
        if isinstance(v, dt.datetime):
            values.append(v if v.tzinfo is not None else v.replace(tzinfo=dt.UTC))
    values.extend(spec.constants)
    values.sort()
    return values


def _first_after(values: Sequence[dt.datetime], duration: Duration, now: dt.datetime) -> Any:
    """min over v of {first_instant(v, D), first_instant(v + 1µs, D)} that is > now."""
    exact = _EXACT.get(duration.unit)
    if exact is not None or duration.amount == 0:
        delta = duration.amount * (exact or dt.timedelta(0))
        # v + D > now  <=>  v > now - D; and v + D == now gives the +1µs variant: now + 1µs.
        i = bisect.bisect_left(values, now - delta)
        if i < len(values) and values[i] == now - delta:
            return now + MICRO
        return values[i] + delta if i < len(values) else None
    # Calendar units: first_instant is monotone in v; start a little before the crossing.
    start = bisect.bisect_left(values, timeutil.shift(now, duration) - dt.timedelta(days=2))
    best: dt.datetime | None = None
    for v in values[start:]:
        for base in (v, v + MICRO):
            n = first_instant(base, duration)
            if n > now and (best is None or n < best):
                best = n
        if first_instant(v, duration) > now:
            break  # every later value gives a later instant
    return best


def next_due(
    spec: WindowSpec, profile: Profile | None, now: dt.datetime, timezone: str
) -> dt.datetime | None:
    """The exact next instant after ``now`` at which the rule's answer for this customer
    can change (None: never, with the data as it is)."""
    values = _values(spec, profile) if profile is not None else list(spec.constants)
    best: dt.datetime | None = None
    for duration in spec.durations:
        n = _first_after(values, duration, now)
        if n is not None and (best is None or n < best):
            best = n
    for duration in spec.date_durations:
        # The calendar day of now - D changes at the next local midnight after it.
        day = timeutil.local_date(timeutil.shift(now, duration), timezone)
        midnight = timeutil.day_start(day + dt.timedelta(days=1), timezone)
        n = first_instant(midnight, duration)
        if n > now and (best is None or n < best):
            best = n
    return best


def global_due(spec: WindowSpec, now: dt.datetime, timezone: str) -> dt.datetime | None:
    """The part of :func:`next_due` that does not depend on the customer."""
    return next_due(spec, None, now, timezone)


#: A duration as SQL sees it: ("x", timedelta) for h/d/w, ("m", months) for m/y.
_Key = tuple[str, Any]
Key = _Key


def _key(duration: Duration) -> _Key:
    exact = _EXACT.get(duration.unit)
    if exact is not None or duration.amount == 0:
        return ("x", duration.amount * (exact or dt.timedelta(0)))
    return ("m", duration.amount * (12 if duration.unit == "y" else 1))


def _reach(key: _Key) -> dt.timedelta:
    """An upper bound of the duration (for the "recent enough" prefilter)."""
    return key[1] if key[0] == "x" else dt.timedelta(days=31 * key[1] + 1)


def due_query(
    specs: Mapping[str, WindowSpec],
    now: dt.datetime,
    timezone: str,
    ids_table: str | None,
    dialect: str = "duckdb",
) -> tuple[Fragment, dict[str, object], list[str]]:
    """SQL (``$name`` placeholders) computing, for every customer (or those of the staged
    ``ids_table``), one column ``due_<i>`` per segment of ``specs``: the next due instant
    after ``now`` (NULL: none). One grouped subquery per collection, shared by all
    segments; only items recent enough to give a future instant are read. Calendar units
    are computed exactly as :func:`first_instant` does (the database's month arithmetic
    clamps to the month's end like ``timeutil.add_months``). Returns (sql, params, codes
    in column order)."""
    params: dict[str, object] = {"now": now, "now1": now + MICRO}
    names: dict[_Key, str] = {}

    def first(column: str, key: _Key) -> str:
        """The smallest n with shift(n, -D) >= column, as SQL."""
        if key not in names:
            names[key] = f"dd{len(names)}"
            params[names[key]] = key[1]
        p = names[key]
        if key[0] == "x":
            return f"({column} + ${p})"
        months = (
            f"make_interval(months => CAST(${p} AS INTEGER))"
            if dialect == "postgres"
            else f"to_months(CAST(${p} AS INTEGER))"
        )
        ahead = f"({column} + {months})"
        # Clamped to a shorter month: the whole clamped day maps before the value.
        return (
            f"(CASE WHEN {ahead} - {months} < {column} "
            f"THEN date_trunc('day', {ahead}) + INTERVAL '1 day' ELSE {ahead} END)"
        )

    by_collection: dict[str, set[_Key]] = {}
    for spec in specs.values():
        for coll in spec.collections:
            by_collection.setdefault(coll, set()).update(_key(d) for d in spec.durations)
    joins: list[str] = []
    columns: dict[tuple[str, _Key], str] = {}
    for coll, keys in sorted(by_collection.items()):
        field = f'"{TIME_FIELDS[coll]}"'
        aggs = []
        for key in sorted(keys, key=repr):
            name = f"{coll}_{len(columns)}"
            columns[(coll, key)] = name
            n = first(field, key)
            aggs.append(f"MIN(CASE WHEN {n} >= $now THEN {n} END) AS {name}")
        oldest = f"since_{coll}"
        params[oldest] = now - max(_reach(k) for k in keys)
        # Every piece is a constant of this module, a generated name or a bound $param.
        joins.append(
            render(
                "LEFT JOIN (SELECT customer_id, {aggs} FROM {table} WHERE {field} >= {oldest} "
                "AND {scope} GROUP BY customer_id) AS {g} ON {g}.customer_id = c.id",
                aggs=fixed(", ".join(aggs)),
                table=ident(TABLES[coll]),
                field=fixed(field),
                oldest=fixed(f"${oldest}"),
                scope=_in_ids("customer_id", ids_table),
                g=ident(f"g_{coll}"),
            )
        )
    outputs = _outputs(
        specs, now, timezone, params, first, lambda coll, key: f"g_{coll}.{columns[(coll, key)]}"
    )
    sql = render(
        "SELECT c.id, {outputs} FROM customers AS c {joins} WHERE {scope}",
        outputs=fixed(", ".join(outputs)),
        joins=fixed(" ".join(joins)),
        scope=_in_ids("c.id", ids_table),
    )
    return fixed(sql), params, list(specs)


def _outputs(
    specs: Mapping[str, WindowSpec],
    now: dt.datetime,
    timezone: str,
    params: dict[str, object],
    first: Callable[[str, _Key], str],
    collection_due: Callable[[str, _Key], str],
) -> list[str]:
    """One ``due_<i>`` column per segment of ``specs``: the LEAST of its candidates —
    ``collection_due(coll, key)`` (the collection's next instant, NULL: none), the
    customer fields' and the customer-independent ones."""
    outputs = []
    for index, code in enumerate(specs):
        spec = specs[code]
        parts: list[str] = []
        for coll in spec.collections:
            parts += [collection_due(coll, _key(du)) for du in spec.durations]
        for name in spec.fields:
            column = f'c."attr_{name[11:]}"' if name.startswith("attributes.") else f'c."{name}"'
            for du in spec.durations:
                n = first(column, _key(du))
                parts.append(f"CASE WHEN {n} >= $now THEN {n} END")
        fixed_due = global_due(spec, now, timezone)
        if fixed_due is not None:
            params[f"g{index}"] = fixed_due
            parts.append(f"CAST($g{index} AS TIMESTAMP)")
        least = f"LEAST({', '.join(parts)})" if len(parts) > 1 else parts[0] if parts else "NULL"
        # An instant equal to now already happened: its +1µs variant is the candidate.
        outputs.append(
            f"CASE WHEN {least} = $now THEN CAST($now1 AS TIMESTAMP) ELSE {least} END "
            f"AS due_{index}"
        )
    return outputs


def fused_values(specs: Mapping[str, WindowSpec]) -> list[tuple[str, _Key, Aggregate]] | None:
    """The collection part of the due instants as aggregates the rules' own fused pass can
    compute (``compile_many(values=…)``): for every (collection, duration D) read,
    ``MIN(time WHERE time >= -D)`` — its ``+ D`` is the smallest ``v + D >= now``, i.e.
    exactly what :func:`due_query` computes with ``MIN(CASE …)``. Only for h/d/w (a
    calendar duration's first instant is not ``v + D``): None when any spec has one."""
    found: dict[tuple[str, _Key], Duration] = {}
    for spec in specs.values():
        for du in spec.durations:
            key = _key(du)
            if key[0] != "x":
                return None
            for coll in spec.collections:
                found.setdefault((coll, key), du)
    values = []
    for (coll, key), du in sorted(found.items(), key=repr):
        field = TIME_FIELDS[coll]
        ago = RelativeTime(ago=du if du.amount else None)
        where = Compare(op=">=", left=Path(parts=(field,)), right=ago)
        values.append((coll, key, Aggregate("MIN", (coll,), field, where)))
    return values


def due_from_wide(
    specs: Mapping[str, WindowSpec],
    now: dt.datetime,
    timezone: str,
    columns: Mapping[tuple[str, _Key], str],
    wide: str,
) -> tuple[Fragment, dict[str, object], list[str]]:
    """Like :func:`due_query`, but over a table ``wide`` (``id`` and the columns of
    :func:`fused_values`, named by ``columns``) that the rules' fused pass filled: no
    collection is read again (customers only when a rule compares a timestamp field)."""
    params: dict[str, object] = {"now": now, "now1": now + MICRO}
    names: dict[_Key, str] = {}

    def first(column: str, key: _Key) -> str:
        assert key[0] == "x"
        if key not in names:
            names[key] = f"dd{len(names)}"
            params[names[key]] = key[1]
        return f"({column} + ${names[key]})"

    outputs = _outputs(
        specs,
        now,
        timezone,
        params,
        first,
        lambda coll, key: first(f"w.{columns[(coll, key)]}", key),
    )
    join = " JOIN customers AS c ON c.id = w.id" if any(s.fields for s in specs.values()) else ""
    sql = render(
        "SELECT w.id, {outputs} FROM {wide} AS w{join}",
        outputs=fixed(", ".join(outputs)),
        wide=ident(wide),
        join=fixed(join),
    )
    return fixed(sql), params, list(specs)


def _in_ids(column: str, ids_table: str | None) -> Fragment:
    if ids_table is None:
        return fixed("TRUE")
    return fixed(render('{c} IN (SELECT "id" FROM {t})', c=fixed(column), t=ident(ids_table)))
