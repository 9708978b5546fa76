"""Value discovery: every field a rule may read, and the values the store holds for it.

``fields`` lists what a rule can read (RULES.md §1) with its type, where it lives and,
for custom attributes, how many customers have a value. ``values`` answers the distinct
values of one field with how many customers have each (catalog fields: how many
products), filtered by a case-insensitive prefix — what autocomplete and ``segmint
values`` show. ``rule_warnings`` reads the same values to flag a comparison with a value
no customer or line has ("no line has category 'BEER/ALE' — did you mean 'BEERS/ALES'?").

Distinct values are computed once per store and field with one ``GROUP BY`` and kept in
memory (sorted twice: by count for an empty prefix, by lower-cased text for a prefix, so
an answer is a bisect and a slice). An import through :mod:`segmint.services.ingest`
drops the entries of the tables it wrote (:func:`invalidate`); writes by another process
(a second CLI against the same PostgreSQL) are seen after :data:`CACHE_SECONDS`.
"""

from __future__ import annotations

import bisect
import difflib
import heapq
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segmint.errors import ConfigError, RuleError
from segmint.model.segment import SegmentDefinition
from segmint.rules import ast, parse
from segmint.rules.schema import (
    COLLECTIONS,
    CONTEXT_FIELDS,
    CUSTOMER_FIELDS,
    DERIVED_FIELDS,
    REALTIME_COLLECTIONS,
    FieldType,
    Schema,
)
from segmint.rules.text import lower as rule_lower
from segmint.store.base import ATTR_PREFIX, Store
from segmint.store.sqltext import fixed, ident, render

#: How long a computed value list is trusted without an import through this process.
CACHE_SECONDS = 300.0
#: The same for segment codes and member counts (changed by saves, not imports).
SEGMENT_CACHE_SECONDS = 10.0
#: The most values one answer lists.
MAX_LIMIT = 1000
DEFAULT_LIMIT = 20

#: What each import kind writes, as store tables (``segmint import KIND``).
IMPORT_TABLES: dict[str, frozenset[str]] = {
    "customers": frozenset({"customers", "attribute_defs"}),
    "orders": frozenset({"orders", "order_lines"}),
    "events": frozenset({"events", "wishlist_items"}),
    "products": frozenset({"products"}),
    "accounts": frozenset({"business_accounts"}),
}

#: The collection behind a rule's item scope, and how one of its items is named in a warning.
_COLLECTION_TABLES: dict[str, tuple[str, str]] = {
    "orders": ("orders", "order"),
    "lines": ("order_lines", "line"),
    "events": ("events", "event"),
    "wishlist": ("wishlist_items", "wishlist item"),
    "cart.lines": ("products", "product"),
}

#: Customer fields whose values are worth listing (not ids, names, e-mails or dates).
_CUSTOMER_VALUE_FIELDS = (
    "country",
    "region",
    "city",
    "postal_code",
    "store",
    "business_account",
    "newsletter_subscribed",
    "tags",
    "user_groups",
)
#: Item fields whose values are worth listing, per collection.
_ITEM_VALUE_FIELDS: dict[str, tuple[str, ...]] = {
    "orders": ("status", "currency", "store"),
    "lines": ("brand", "category", "sku", "product_name", "status", "store"),
    "events": ("type", "sku"),
    "wishlist": ("sku",),
    "cart.lines": ("brand", "category", "sku", "product_name"),
}
#: Types whose values are listed; numbers, dates and timestamps are ranges, not choices.
_LISTABLE = frozenset({FieldType.STRING, FieldType.STRING_LIST, FieldType.BOOLEAN})


@dataclass(frozen=True)
class FieldInfo:
    """One field a rule may read, named as a rule writes it.

    ``scope`` is ``customer``, ``derived``, ``attribute``, ``context`` or a collection
    (``lines``, ``orders``…: the field is read inside ``EXISTS(lines WHERE …)`` and the
    like); ``values`` says whether :func:`values` lists its values."""

    name: str
    type: str
    scope: str
    realtime: bool
    values: bool
    customers: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "scope": self.scope,
            "realtime": self.realtime,
            "values": self.values,
            "customers": self.customers,
        }


@dataclass(frozen=True)
class ValueCount:
    value: str | bool
    count: int
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "count": self.count, "label": self.label}


@dataclass(frozen=True)
class ValuesPage:
    """Distinct values of ``field`` matching ``prefix``, most frequent first."""

    field: str
    type: str
    counts: str  # what `count` counts: "customers" or "products"
    distinct: int  # distinct values of the field in the store
    matched: int  # of which match the prefix
    values: list[ValueCount]

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "type": self.type,
            "counts": self.counts,
            "distinct": self.distinct,
            "matched": self.matched,
            "values": [v.to_dict() for v in self.values],
        }


@dataclass(frozen=True)
class RuleWarning:
    """A rule that is valid but probably not what was meant (it reads a value the data
    does not have), positioned like a :class:`~segmint.errors.RuleError`."""

    message: str
    start: int
    end: int
    line: int
    column: int
    suggestion: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "start": self.start,
            "end": self.end,
            "line": self.line,
            "column": self.column,
            "suggestion": self.suggestion,
        }

    def render(self) -> str:
        return f"warning: {self.message} at {self.line}:{self.column}"


# ---- the value sources ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """How to read one field's distinct values: SQL giving (value, count[, label])."""

    sql: str
    tables: frozenset[str]
    type: FieldType
    counts: str = "customers"
    ttl: float = CACHE_SECONDS


def _customer_source(column: str, ftype: FieldType) -> _Source:
    col = ident(column)
    if ftype is FieldType.STRING_LIST:
        sql = render(
            "SELECT v, COUNT(DISTINCT id) FROM (SELECT id, UNNEST({c}) AS v FROM customers) AS t "
            "WHERE v IS NOT NULL GROUP BY v",
            c=col,
        )
    elif column == "business_account":
        sql = (
            "SELECT c.business_account, COUNT(*), MAX(a.name) FROM customers AS c "
            "LEFT JOIN business_accounts AS a ON a.id = c.business_account "
            "WHERE c.business_account IS NOT NULL GROUP BY c.business_account"
        )
        return _Source(sql, frozenset({"customers", "business_accounts"}), ftype)
    else:
        sql = render(
            "SELECT {c}, COUNT(*) FROM customers WHERE {c} IS NOT NULL GROUP BY {c}", c=col
        )
    return _Source(sql, frozenset({"customers"}), ftype)


def _item_source(collection: str, name: str) -> _Source:
    table, _noun = _COLLECTION_TABLES[collection]
    col = ident(name)
    ftype = COLLECTIONS[collection][name]
    if collection == "cart.lines":  # the catalog: what a cart can hold
        label = ", MAX(product_name)" if name == "sku" else ""
        sql = render(
            "SELECT {c}, COUNT(*){l} FROM products WHERE {c} IS NOT NULL GROUP BY {c}",
            c=col,
            l=fixed(label),
        )
        return _Source(sql, frozenset({"products"}), ftype, counts="products")
    if name == "sku" and collection != "lines":
        # events and wishlists carry no product name: the catalog's
        sql = render(
            "SELECT x.sku, COUNT(DISTINCT x.customer_id), MAX(p.product_name) FROM {t} AS x "
            "LEFT JOIN products AS p ON p.sku = x.sku WHERE x.sku IS NOT NULL GROUP BY x.sku",
            t=ident(table),
        )
        return _Source(sql, frozenset({table, "products"}), ftype)
    label = ", MAX(product_name)" if name == "sku" else ""
    sql = render(
        "SELECT {c}, COUNT(DISTINCT customer_id){l} FROM {t} WHERE {c} IS NOT NULL GROUP BY {c}",
        c=col,
        l=fixed(label),
        t=ident(table),
    )
    return _Source(sql, frozenset({table}), ftype)


_SEGMENT_SOURCE = _Source(
    "SELECT s.code, COUNT(m.customer_id), MAX(s.name) FROM segments AS s "
    "LEFT JOIN memberships AS m ON m.segment_code = s.code GROUP BY s.code",
    frozenset({"segments", "memberships"}),
    FieldType.STRING,
    # saves and refreshes change these without an import: seconds, not minutes
    ttl=SEGMENT_CACHE_SECONDS,
)

#: The pseudo-field of ``IN SEGMENT 'code'``.
SEGMENT_FIELD = "segment"


def _source(schema: Schema, name: str) -> _Source:
    """The source of a field's values; a ConfigError naming the field otherwise."""
    if name == SEGMENT_FIELD:
        return _SEGMENT_SOURCE
    if name in _CUSTOMER_VALUE_FIELDS:
        return _customer_source(name, CUSTOMER_FIELDS[name])
    if name.startswith("attributes."):
        attr = name.removeprefix("attributes.")
        ftype = schema.attributes.get(attr)
        if ftype is None:
            raise ConfigError(
                f"error: no attribute {attr!r}{_did_you_mean(attr, schema.attributes)}"
            )
        if ftype not in _LISTABLE:
            raise ConfigError(
                f"error: {name} is {ftype.value}: values are listed for text, list and "
                "boolean fields only"
            )
        return _customer_source(ATTR_PREFIX + attr, ftype)
    for collection, names in _ITEM_VALUE_FIELDS.items():
        prefix = collection + "."
        if name.startswith(prefix) and name.removeprefix(prefix) in names:
            return _item_source(collection, name.removeprefix(prefix))
    bare = [f"{c}.{name}" for c, names in _ITEM_VALUE_FIELDS.items() if name in names]
    if bare:
        raise ConfigError(f"error: {name!r} is a field of items: use {' or '.join(bare)}")
    raise ConfigError(
        f"error: no values are listed for {name!r}"
        f"{_did_you_mean(name, value_field_names(schema))} (see `segmint fields`)"
    )


def value_field_names(schema: Schema) -> list[str]:
    """Every field :func:`values` answers for."""
    names = [SEGMENT_FIELD, *_CUSTOMER_VALUE_FIELDS]
    names += [f"attributes.{a}" for a, t in schema.attributes.items() if t in _LISTABLE]
    names += [f"{c}.{n}" for c, fields in _ITEM_VALUE_FIELDS.items() for n in fields]
    return names


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---- the cache ---------------------------------------------------------------------------


@dataclass
class _Entry:
    by_count: list[ValueCount]  # most frequent first, then by value
    keys: list[tuple[str, int]]  # (lower-cased value, index into by_count), sorted
    label_keys: list[tuple[str, int]]  # the same for labels (product names, account names)
    exact: frozenset[str]  # every value as lower-cased text (rules compare so)
    tables: frozenset[str]
    at: float


@dataclass
class _Cache:
    entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_CACHE = _Cache()


def store_key(store: Store) -> str:
    """What identifies a store's data across connections (the pool lends several)."""
    url = getattr(store, "url", None)
    if isinstance(url, str):
        return url
    path = getattr(store, "path", None)
    if isinstance(path, str) and path != ":memory:":
        return "duckdb://" + str(Path(path).resolve())
    return f"object:{id(store)}"


def invalidate(store: Store, tables: Iterable[str] | None = None) -> None:
    """Forget the cached values read from ``tables`` (all of this store's if None)."""
    key = store_key(store)
    wanted = None if tables is None else frozenset(tables)
    with _CACHE.lock:
        for entry_key in list(_CACHE.entries):
            if entry_key[0] != key:
                continue
            if wanted is None or _CACHE.entries[entry_key].tables & wanted:
                del _CACHE.entries[entry_key]


def invalidate_import(store: Store, kind: str) -> None:
    """After ``segmint import KIND``: forget what that import may have changed."""
    invalidate(store, IMPORT_TABLES.get(kind, frozenset()) | {"memberships"})


def _text(value: str | bool) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _load(store: Store, name: str, source: _Source) -> _Entry:
    key = (store_key(store), name)
    now = time.monotonic()
    with _CACHE.lock:
        entry = _CACHE.entries.get(key)
    if entry is not None and now - entry.at < source.ttl:
        return entry
    rows = store.query(store._placeholders(source.sql))
    values = [
        ValueCount(
            value=bool(row[0]) if source.type is FieldType.BOOLEAN else str(row[0]),
            count=int(row[1]),
            label=str(row[2]) if len(row) > 2 and row[2] is not None else None,
        )
        for row in rows
    ]
    values.sort(key=lambda v: (-v.count, _text(v.value)))
    # lower-cased as rules compare strings (rules/text.py: the databases' simple mapping)
    keys = sorted((rule_lower(_text(v.value)), i) for i, v in enumerate(values))
    label_keys = sorted((rule_lower(v.label), i) for i, v in enumerate(values) if v.label)
    exact = frozenset(key for key, _ in keys)
    entry = _Entry(values, keys, label_keys, exact, source.tables, now)
    with _CACHE.lock:
        _CACHE.entries[key] = entry
    return entry


def _prefixed(keys: list[tuple[str, int]], prefix: str) -> Iterator[int]:
    start = bisect.bisect_left(keys, (prefix, -1))
    for index in range(start, len(keys)):
        text, position = keys[index]
        if not text.startswith(prefix):
            return
        yield position


# ---- the use cases -----------------------------------------------------------------------


def fields(store: Store) -> list[FieldInfo]:
    """Every field a rule may read on this store, built-ins first, with attribute counts."""
    store.require_schema()
    schema = store.rule_schema()
    listed = set(value_field_names(schema))
    out = [
        FieldInfo(n, t.value, "customer", False, n in listed) for n, t in CUSTOMER_FIELDS.items()
    ]
    out += [FieldInfo(n, t.value, "derived", False, False) for n, t in DERIVED_FIELDS.items()]
    if schema.attributes:
        counts = _attribute_counts(store, list(schema.attributes))
        out += [
            FieldInfo(f"attributes.{a}", t.value, "attribute", False, t in _LISTABLE, counts[a])
            for a, t in schema.attributes.items()
        ]
    out.append(FieldInfo(SEGMENT_FIELD, "string", "segment", False, True))
    for collection, item_fields in COLLECTIONS.items():
        realtime = collection in REALTIME_COLLECTIONS
        for n, t in item_fields.items():
            qualified = f"{collection}.{n}"
            out.append(FieldInfo(qualified, t.value, collection, realtime, qualified in listed))
    out += [FieldInfo(n, t.value, "context", True, False) for n, t in CONTEXT_FIELDS.items()]
    return out


def _attribute_counts(store: Store, names: list[str]) -> dict[str, int]:
    parts = ", ".join(render("COUNT({c})", c=ident(ATTR_PREFIX + n)).strip() for n in names)
    row = store.query(f"SELECT {parts} FROM customers")[0]  # noqa: S608 - quoted identifiers
    return {n: int(c) for n, c in zip(names, row, strict=True)}


def values(store: Store, name: str, *, prefix: str = "", limit: int = DEFAULT_LIMIT) -> ValuesPage:
    """The distinct values of field ``name`` starting with ``prefix`` (case-insensitive; a
    product's or account's name matches too), most frequent first."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ConfigError(f"error: --limit must be between 1 and {MAX_LIMIT}, not {limit}")
    store.require_schema()
    source = _source(store.rule_schema(), name)
    entry = _load(store, name, source)
    wanted = rule_lower(prefix)
    if not wanted:
        chosen = entry.by_count[:limit]
        matched = len(entry.by_count)
    else:
        positions = set(_prefixed(entry.keys, wanted))
        positions.update(_prefixed(entry.label_keys, wanted))
        matched = len(positions)
        chosen = [entry.by_count[i] for i in heapq.nsmallest(limit, positions)]
    return ValuesPage(
        field=name,
        type=source.type.value,
        counts=source.counts,
        distinct=len(entry.by_count),
        matched=matched,
        values=chosen,
    )


# ---- warnings ----------------------------------------------------------------------------

#: Above this many values a "did you mean" compares only those sharing the first letter.
_CLOSE_CANDIDATES = 5000


def rule_warnings(store: Store, text: str) -> list[RuleWarning]:
    """Comparisons in a (valid) rule with a value the store has for no customer, line,
    order, event or product, each with the closest value it does have."""
    store.require_schema()
    schema = store.rule_schema()
    rule = parse(text)
    found: list[RuleWarning] = []
    for scope, node, path, literals in _comparisons(rule, None):
        name = _field_name(scope, path)
        try:
            source = _source(schema, name)
        except ConfigError:
            continue
        if isinstance(node, ast.TextMatch) and source.type is not FieldType.STRING_LIST:
            continue  # CONTAINS on a string is a substring test: any value may hold it
        entry = _load(store, name, source)
        for literal in literals:
            if not isinstance(literal.value, str) or rule_lower(literal.value) in entry.exact:
                continue
            found.append(_warning(text, scope, path, literal, node, entry))
    return found


def _comparisons(
    rule: ast.Rule, scope: str | None
) -> Iterator[tuple[str | None, ast.Rule, ast.Path, list[ast.Literal]]]:
    """Each positive equality-like test of a field with string literals, with its scope.

    Negated tests (``!=``, ``NOT IN``, ``NOT …``) are left out: excluding a value the data
    does not have yet is deliberate (a purchase segment's ``status NOT IN ('cancelled',
    …)``), and always true, so it cannot empty a segment."""
    match rule:
        case ast.And(items) | ast.Or(items):
            for item in items:
                yield from _comparisons(item, scope)
        case ast.Not(_operand):
            pass
        case ast.Compare("=", left, right):
            if isinstance(left, ast.Path) and isinstance(right, ast.Literal):
                yield scope, rule, left, [right]
            elif isinstance(right, ast.Path) and isinstance(left, ast.Literal):
                yield scope, rule, right, [left]
            for side in (left, right):
                if isinstance(side, ast.Aggregate) and side.where is not None:
                    yield from _comparisons(side.where, side.collection_name)
        case ast.Compare(_op, left, right):
            for side in (left, right):
                if isinstance(side, ast.Aggregate) and side.where is not None:
                    yield from _comparisons(side.where, side.collection_name)
        case ast.InList(value, items, negated=False) if isinstance(value, ast.Path):
            yield scope, rule, value, list(items)
        case ast.TextMatch("CONTAINS", value, pattern, negated=False) if isinstance(
            value, ast.Path
        ) and isinstance(pattern, ast.Literal):
            yield scope, rule, value, [pattern]  # a list's element (rule_warnings checks)
        case ast.InSegment(code):
            if scope is None:
                path = ast.Path((SEGMENT_FIELD,), span=rule.span)
                yield scope, rule, path, [ast.Literal(code, span=rule.span)]
        case ast.BoolTest(value) if isinstance(value, ast.Aggregate) and value.where is not None:
            yield from _comparisons(value.where, value.collection_name)
        case _:
            pass


def _field_name(scope: str | None, path: ast.Path) -> str:
    return path.dotted if scope is None else f"{scope}.{path.dotted}"


def _warning(
    text: str,
    scope: str | None,
    path: ast.Path,
    literal: ast.Literal,
    node: ast.Rule,
    entry: _Entry,
) -> RuleWarning:
    value = str(literal.value)
    suggestion = _closest(value, entry)
    if isinstance(node, ast.InSegment):
        message = f"no segment has code '{value}'"
    else:
        noun = "customer" if scope is None else _COLLECTION_TABLES[scope][1]
        message = f"no {noun} has {path.dotted} '{value}'"
    if suggestion is not None:
        message += f" — did you mean '{suggestion}'?"
    span = literal.span or node.span
    start, end = (span.start, span.end) if span is not None else (0, len(text))
    line_start = text.rfind("\n", 0, start) + 1
    return RuleWarning(
        message=message,
        start=start,
        end=end,
        line=text.count("\n", 0, start) + 1,
        column=start - line_start + 1,
        suggestion=suggestion,
    )


def _closest(value: str, entry: _Entry) -> str | None:
    """The value closest to ``value`` (difflib, on lower-cased text as rules compare)."""
    lower = rule_lower(value)
    keys = entry.keys
    if len(keys) > _CLOSE_CANDIDATES and lower:
        keys = [keys[i] for i in range(len(keys)) if keys[i][0][:1] == lower[:1]]
    originals = {text: _text(entry.by_count[i].value) for text, i in keys}
    close = difflib.get_close_matches(lower, list(originals), n=1, cutoff=0.6)
    return originals[close[0]] if close else None


def segment_warnings(store: Store, definition: SegmentDefinition) -> list[RuleWarning]:
    """:func:`rule_warnings` of a segment's rule (its compiled purchase rule for a
    purchase segment; positions are then in that text); none for a manual one."""
    text = definition.effective_rule
    if text is None:
        return []
    try:
        return rule_warnings(store, text)
    except RuleError:  # a saved rule parses; a definition being typed may not
        return []
