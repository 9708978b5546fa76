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

- :func:`next_due` (Python, exact): the smallest candidate after ``now`` for one rule.
- What is stored is per customer and SOURCE (see "per-customer due instants" below):
  :func:`customer_dues` (Python, exact), :func:`due_query` (SQL, a separate pass, exact
  for calendar units too) and :func:`fused_values` (SQL, one aggregate per collection in
  the rules' own pass, for h/d/w). Orders stand in for lines (a line's placed_at is its
  order's): a superset of the values, so an instant is exact or EARLY, never late. At an
  early instant the worker re-evaluates and computes the exact next candidate from there:
  one extra evaluation, never a skipped or repeated change.

A rule comparing a DATE field with a relative time compares calendar days of the store's
time zone; those answers change when ``shift(now, -D)`` crosses a local midnight, which
is customer-independent and handled like a literal.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from sqlglot import exp

from segmint.compile import dialects
from segmint.compile.sql import Bind, GroupedValue
from segmint.model.profile import Profile
from segmint.rules import CheckedRule, timeutil
from segmint.rules.ast import (
    Duration,
    Literal,
    RelativeTime,
    Within,
    walk,
)
from segmint.rules.schema import CUSTOMER_FIELDS, FieldType, Schema
from segmint.store.sqltext import Fragment, fixed, ident, in_staged, render

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
Built = tuple[exp.Expr, exp.Expr | None]
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


# ---- per-customer due instants, by source -------------------------------------------
#
# What is stored is not one instant per (segment, customer) but, per customer, one per
# SOURCE of time-dependence: each collection a windowed rule reads ("orders" standing in
# for lines, "events", "wishlist") and PROFILE (timestamp customer fields, timestamp
# literals and local-day boundaries). A source's instant is the minimum over EVERY
# windowed segment of the catalog of that segment's next instant from that source's
# values, so the customer's earliest row is the earliest instant at which any of its
# answers can change. Waking a customer there and re-evaluating all its windowed
# segments is exact (no answer changes before it); one that turns out not to change is
# an early wake-up, harmless. A source is a pure function of its own data, so a path
# that saw only orders change recomputes only the "orders" row.

PROFILE = "profile"


def source_of(collection: str) -> str:
    """The due source of a collection (a line's timestamp is its order's)."""
    return "orders" if collection == "lines" else collection


def sources(specs: Mapping[str, WindowSpec]) -> tuple[str, ...]:
    """The due sources of a catalog's window specs, sorted."""
    found: set[str] = set()
    for spec in specs.values():
        found.update(source_of(c) for c in spec.collections)
        if spec.fields or spec.constants or spec.date_durations:
            found.add(PROFILE)
    return tuple(sorted(found))


def _durations(specs: Mapping[str, WindowSpec]) -> dict[str, set[Duration]]:
    """collection source -> every duration a spec reading it uses."""
    found: dict[str, set[Duration]] = {}
    for spec in specs.values():
        for coll in spec.collections:
            found.setdefault(source_of(coll), set()).update(spec.durations)
    return found


def _profile_specs(specs: Mapping[str, WindowSpec]) -> list[WindowSpec]:
    """The specs' customer-field and constant parts (their collections left out)."""
    unique = {
        replace(spec, collections=())
        for spec in specs.values()
        if spec.fields or spec.constants or spec.date_durations
    }
    return sorted(unique, key=repr)


def customer_dues(
    specs: Mapping[str, WindowSpec],
    profile: Profile,
    now: dt.datetime,
    timezone: str,
    only: Collection[str] | None = None,
) -> dict[str, dt.datetime | None]:
    """The exact next instant after ``now`` of each source (of ``only``, when given) for
    this customer: None when no answer can change through it any more."""
    result: dict[str, dt.datetime | None] = {}
    for source, durations in sorted(_durations(specs).items()):
        if only is not None and source not in only:
            continue
        field = TIME_FIELDS[source]
        values = sorted(
            v for item in getattr(profile, source) if (v := getattr(item, field)) is not None
        )
        result[source] = earliest(_first_after(values, d, now) for d in durations)
    profile_specs = _profile_specs(specs)
    if profile_specs and (only is None or PROFILE in only):
        result[PROFILE] = earliest(next_due(s, profile, now, timezone) for s in profile_specs)
    return result


def earliest(instants: Iterable[dt.datetime | None]) -> dt.datetime | None:
    found = [i for i in instants if i is not None]
    return min(found) if found else None


#: A duration as SQL sees it: ("x", timedelta) for h/d/w, ("m", months) for m/y.
_Key = tuple[str, Any]


def _key(duration: Duration) -> _Key:
    exact = _EXACT.get(duration.unit)
    if exact is not None or duration.amount == 0:
        return ("x", duration.amount * (exact or dt.timedelta(0)))
    return ("m", duration.amount * (12 if duration.unit == "y" else 1))


def _reach(key: _Key) -> dt.timedelta:
    """An upper bound of the duration (for the "recent enough" prefilter)."""
    return key[1] if key[0] == "x" else dt.timedelta(days=31 * key[1] + 1)


class _Firsts:
    """``first(column, key)``: the smallest n with shift(n, -D) >= column, as SQL with
    the durations bound as ``$ddN`` parameters (month arithmetic clamped like
    ``timeutil.add_months``, then corrected to the next day start as
    :func:`first_instant` does)."""

    def __init__(self, params: dict[str, object], dialect: str) -> None:
        self.params = params
        self.dialect = dialect
        self.names: dict[_Key, str] = {}

    def __call__(self, column: str, key: _Key) -> str:
        if key not in self.names:
            self.names[key] = f"dd{len(self.names)}"
            self.params[self.names[key]] = key[1]
        p = self.names[key]
        if key[0] == "x":
            return f"({column} + ${p})"
        months = (
            f"make_interval(months => CAST(${p} AS INTEGER))"
            if self.dialect == "postgres"
            else f"to_months(CAST(${p} AS INTEGER))"
        )
        ahead = f"({column} + {months})"
        # Clamped to a shorter month: the whole clamped day maps before the value.
        return (
            f"(CASE WHEN {ahead} - {months} < {column} "
            f"THEN date_trunc('day', {ahead}) + INTERVAL '1 day' ELSE {ahead} END)"
        )


def _least(parts: Sequence[str]) -> str:
    # LEAST ignores NULLs in DuckDB and PostgreSQL alike.
    return f"LEAST({', '.join(parts)})" if len(parts) > 1 else parts[0] if parts else "NULL"


def _outputs(
    specs: Mapping[str, WindowSpec],
    wanted: Sequence[str],
    now: dt.datetime,
    timezone: str,
    first: _Firsts,
    collection_due: Callable[[str], str],
) -> list[str]:
    """One expression per source of ``wanted``: ``collection_due(source)`` (the
    collection's next instant, NULL: none) or, for PROFILE, the LEAST of the customer
    fields' candidates (of ``c``, the customer row) and the customer-independent
    instant."""
    outputs = []
    for source in wanted:
        if source != PROFILE:
            value = collection_due(source)
        else:
            parts: list[str] = []
            pairs: dict[str, set[_Key]] = {}
            for spec in specs.values():
                for name in spec.fields:
                    pairs.setdefault(name, set()).update(_key(d) for d in spec.durations)
            for name, keys in sorted(pairs.items()):
                attribute = name.startswith("attributes.")
                column = f'c."attr_{name[11:]}"' if attribute else f'c."{name}"'
                for key in sorted(keys, key=repr):
                    n = first(column, key)
                    parts.append(f"CASE WHEN {n} >= $now THEN {n} END")
            fixed_due = earliest(global_due(s, now, timezone) for s in _profile_specs(specs))
            if fixed_due is not None:
                first.params["global_due"] = fixed_due
                parts.append("CAST($global_due AS TIMESTAMP)")
            value = _least(parts)
        # An instant equal to now already happened: its +1µs variant is the candidate.
        outputs.append(f"CASE WHEN {value} = $now THEN CAST($now1 AS TIMESTAMP) ELSE {value} END")
    return outputs


def _aliased(outputs: Sequence[str]) -> str:
    return ", ".join(f"{o} AS due_{i}" for i, o in enumerate(outputs))


def needs_customers(specs: Mapping[str, WindowSpec], wanted: Sequence[str]) -> bool:
    return PROFILE in wanted and any(s.fields for s in specs.values())


def due_query(
    specs: Mapping[str, WindowSpec],
    wanted: Sequence[str],
    now: dt.datetime,
    timezone: str,
    ids_table: str | None,
    dialect: str = "duckdb",
    *,
    probe: bool = False,
) -> tuple[Fragment, dict[str, object]]:
    """SQL (``$name`` placeholders) computing, for every customer (or those of the staged
    ``ids_table``), one column ``due_<i>`` per source of ``wanted``: its next due instant
    after ``now`` (NULL: none). One grouped subquery per collection; only items recent
    enough to give a future instant are read. Calendar units are computed exactly as
    :func:`first_instant` does. (The fused pass uses :func:`fused_values` instead when
    every duration is h/d/w.)"""
    params: dict[str, object] = {"now": now, "now1": now + MICRO}
    first = _Firsts(params, dialect)
    joins: list[str] = []
    by_source = _durations(specs)
    for source in wanted:
        if source == PROFILE:
            continue
        field = f'"{TIME_FIELDS[source]}"'
        keys = sorted({_key(d) for d in by_source[source]}, key=repr)
        candidates = []
        for key in keys:
            n = first(field, key)
            candidates.append(f"CASE WHEN {n} >= $now THEN {n} END")
        oldest = f"since_{source}"
        params[oldest] = now - max(_reach(k) for k in keys)
        # Every piece is a constant of this module, a generated name or a bound $param.
        joins.append(
            render(
                "LEFT JOIN (SELECT customer_id, MIN({least}) AS due FROM {table} "
                "WHERE {field} >= {oldest} AND {scope} GROUP BY customer_id) AS {g} "
                "ON {g}.customer_id = c.id",
                least=fixed(_least(candidates)),
                table=ident(TABLES[source]),
                field=fixed(field),
                oldest=fixed(f"${oldest}"),
                scope=in_staged("customer_id", ids_table, probe=probe),
                g=ident(f"g_{source}"),
            )
        )
    outputs = _outputs(specs, wanted, now, timezone, first, lambda s: f"g_{s}.due")
    sql = render(
        "SELECT c.id, {outputs} FROM customers AS c {joins} WHERE {scope}",
        outputs=fixed(_aliased(outputs)),
        joins=fixed(" ".join(joins)),
        scope=in_staged("c.id", ids_table, probe=probe),
    )
    return fixed(sql), params


def fused_values(
    specs: Mapping[str, WindowSpec], wanted: Sequence[str], now: dt.datetime, dialect: str
) -> list[tuple[str, GroupedValue]] | None:
    """The collection sources of ``wanted`` as aggregates the rules' own fused pass can
    compute (``compile_many(values=…)``), one per collection: with the durations sorted
    ascending, an item's earliest instant is ``t + D`` for the SMALLEST D with
    ``t + D >= now`` (``t + D`` grows with D), so ``MIN(CASE WHEN t >= now - D1 THEN t +
    D1 WHEN t >= now - D2 THEN t + D2 … END)`` over the items with ``t >= now - Dmax`` is
    exactly the minimum over (item, D). Only for h/d/w (a calendar duration's first
    instant is not ``t + D``): None when any spec has one. Where the dialect has cheap
    epoch microseconds (``dialects.has_epoch_micros``) the sums are of integers, and the
    minimum is turned back into a timestamp once per customer: h/d/w are fixed numbers
    of microseconds, so the instant is the same."""
    by_source = _durations(specs)
    values: list[tuple[str, GroupedValue]] = []
    for source in wanted:
        if source == PROFILE:
            continue
        keys = list({_key(d) for d in by_source[source]})
        if any(k[0] != "x" for k in keys):
            return None
        keys.sort(key=lambda k: k[1])
        values.append((source, _chain(source, keys, now, dialect)))
    return values


def _chain(source: str, keys: Sequence[_Key], now: dt.datetime, dialect: str) -> GroupedValue:
    """The CASE chain of :func:`fused_values` over ``source``; in epoch microseconds,
    turned back into a timestamp outside the grouping, where the dialect has them (one
    decision for both halves)."""
    field = TIME_FIELDS[source]
    micros = dialects.has_epoch_micros(dialect)

    def build(bind: Bind) -> Built:
        column = exp.column(field, quoted=True)
        case = exp.Case()
        for key in keys:
            shifted = (
                exp.Add(
                    this=dialects.epoch_micros(dialect, column.copy()),
                    expression=bind(key[1] // MICRO),
                )
                if micros
                else exp.Add(this=column.copy(), expression=bind(key[1]))
            )
            case = case.when(exp.GTE(this=column.copy(), expression=bind(now - key[1])), shifted)
        oldest = exp.GTE(this=column.copy(), expression=bind(now - keys[-1][1]))
        return exp.Min(this=case), oldest

    return GroupedValue(
        source, build, partial(dialects.from_epoch_micros, dialect) if micros else None
    )


def due_from_wide(
    specs: Mapping[str, WindowSpec],
    wanted: Sequence[str],
    now: dt.datetime,
    timezone: str,
    columns: Mapping[str, str],
    wide: str,
    dialect: str = "duckdb",
    present_only: bool = False,
) -> tuple[Fragment, dict[str, object]]:
    """Like :func:`due_query`, but over a table ``wide`` (``id`` and the columns of
    :func:`fused_values`, named by ``columns``) that the rules' fused pass filled: no
    collection is read again (customers only when PROFILE reads a timestamp field, or
    ``present_only``: ``wide`` may hold ids with no customer row, which get none)."""
    outputs, params = due_expressions(specs, wanted, now, timezone, columns, "w", dialect)
    join = (
        " JOIN customers AS c ON c.id = w.id"
        if present_only or needs_customers(specs, wanted)
        else ""
    )
    sql = render(
        "SELECT w.id, {outputs} FROM {wide} AS w{join}",
        outputs=fixed(_aliased(outputs)),
        wide=ident(wide),
        join=fixed(join),
    )
    return fixed(sql), params


def due_expressions(
    specs: Mapping[str, WindowSpec],
    wanted: Sequence[str],
    now: dt.datetime,
    timezone: str,
    columns: Mapping[str, str],
    table: str,
    dialect: str,
) -> tuple[list[str], dict[str, object]]:
    """The due instant of each source of ``wanted`` as an SQL expression (``$name``
    parameters, returned) over the fused pass's columns of ``table`` (named by
    ``columns``) and, when :func:`needs_customers`, the customer row ``c``."""
    params: dict[str, object] = {"now": now, "now1": now + MICRO}
    first = _Firsts(params, dialect)
    outputs = _outputs(specs, wanted, now, timezone, first, lambda s: f"{table}.{columns[s]}")
    return outputs, params
