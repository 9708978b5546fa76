"""A deterministic, realistic synthetic commerce data set of any size.

``generate(customers, orders, events, seed)`` yields ``(kind, pyarrow.Table)`` chunks in
the import file formats of ``docs/architecture.md`` (``accounts``, ``products``,
``customers``, ``orders`` — one row per line — and ``events``); ``load_synthetic`` imports
them chunk by chunk through :func:`segmint.importing.import_arrow`, so memory stays bounded
by one chunk whatever the size.

Everything is vectorised with numpy and Arrow compute: no Python loop runs per row. The
same seed always gives the same tables (every chunk draws from its own
``numpy.random.Generator`` seeded by ``(seed, stream, chunk)``), and every row has a
deterministic id, so loading the same seed again changes nothing. All times fall before
the fixed :data:`REFERENCE_INSTANT` (2025-01-01T00:00:00Z, never "now"): evaluate rules
with relative windows ``--as-of 2025-01-01T00:00:00Z``.

The model (see ``docs/demo-data.md``):

- a catalog of :data:`PRODUCTS` skus over 14 categories and 10 brands (``Acme``,
  ``Globex``, the ``Private Label`` …), log-normal list prices per category and a
  Zipf-like popularity, so a few products sell a lot;
- each customer has a log-normal purchase propensity (15% never order); orders pick their
  customer in proportion to it, so orders per customer are heavily skewed and the top 10%
  of customers hold about half of the spend;
- 1–6 lines per order (mean ~4), quantities mostly 1 (B2B buyers order by the case),
  amounts = list price × quantity, exact to the cent; statuses 90% ``completed``, then
  ``cancelled``, ``refunded``, ``failed``;
- orders are placed between the customer's ``created_at`` and the reference instant, within
  the last two years; events within the last year;
- ~3% of customers belong to a business account (at most 200 accounts), in two stores
  (``eu`` with EUR, ``us`` with USD), with tags, newsletter opt-in and the custom
  attributes ``loyalty_tier`` (string), ``birth_year`` (number) and ``favorite_category``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from segmint.demo import _vocab as V
from segmint.demo._arrow import (
    AnyArray,
    IntArray,
    ids,
    money_from_cents,
    pc,
    pick,
    pick_nullable,
    string_lists,
    timestamps_from_micros,
)
from segmint.demo._load import import_chunks
from segmint.errors import ConfigError

if TYPE_CHECKING:
    from segmint.importing.report import Progress
    from segmint.store.base import Store

#: Every generated time lies before this instant (deterministic: never the wall clock).
REFERENCE_INSTANT = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
PRODUCTS = 5_000
CUSTOMERS_PER_CHUNK = 250_000
ORDERS_PER_CHUNK = 250_000  # ~1 M lines per chunk
EVENTS_PER_CHUNK = 1_000_000
MAX_ACCOUNTS = 200
B2B_SHARE = 0.03
NEVER_ORDER_SHARE = 0.15

_DAY_US = 86_400 * 1_000_000
_REF_US = int(REFERENCE_INSTANT.timestamp()) * 1_000_000
_ORDER_WINDOW_US = 730 * _DAY_US
_EVENT_WINDOW_US = 365 * _DAY_US
_CUSTOMER_WINDOW_US = 3 * 365 * _DAY_US

# Independent random streams: changing one kind's size never changes another kind's draws.
_BASE, _CATALOG, _CUSTOMERS, _ORDERS, _EVENTS, _ACCOUNTS = range(6)

FloatArray = npt.NDArray[np.float64]


def _rng(seed: int, stream: int, chunk: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, stream, chunk])


def _choice(rng: np.random.Generator, weights: tuple[float, ...], n: int) -> IntArray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int64)


def _sample(cdf: FloatArray, u: FloatArray) -> IntArray:
    """Indices drawn in proportion to the weights whose normalised cumulative sum is ``cdf``."""
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1).astype(np.int64)


def _cdf(weights: FloatArray) -> FloatArray:
    cdf: FloatArray = np.cumsum(weights, dtype=np.float64)
    cdf /= cdf[-1]
    return cdf


@dataclass(frozen=True)
class _Catalog:
    sku: AnyArray
    product_name: AnyArray
    brand: AnyArray
    category: AnyArray
    price_cents: IntArray
    popularity_cdf: FloatArray

    def table(self) -> pa.Table:
        return pa.table(
            {
                "sku": self.sku,
                "product_name": self.product_name,
                "brand": self.brand,
                "category": self.category,
                "unit_price": money_from_cents(self.price_cents),
            }
        )


def _catalog(seed: int) -> _Catalog:
    rng = _rng(seed, _CATALOG)
    n = PRODUCTS
    cat = _choice(rng, tuple(c.weight for c in V.CATEGORIES), n)
    brand = _choice(rng, V.BRAND_WEIGHTS, n)
    median = np.array([c.median_cents for c in V.CATEGORIES], dtype=np.float64)[cat]
    sigma = np.array([c.sigma for c in V.CATEGORIES], dtype=np.float64)[cat]
    raw = median * np.exp(sigma * rng.standard_normal(n))
    # shelf prices end in 9: 2.49, 12.99, 39.99
    price = np.maximum(np.round(raw / 10.0).astype(np.int64) * 10 - 1, 49)
    # product type within the category, then a variant number to tell products apart
    n_types = np.array([len(c.types) for c in V.CATEGORIES], dtype=np.int64)
    type_offset = np.concatenate([[0], np.cumsum(n_types)[:-1]])
    type_idx = type_offset[cat] + rng.integers(0, 1 << 30, n) % n_types[cat]
    all_types = [t for c in V.CATEGORIES for t in c.types]
    numbers = np.arange(1, n + 1, dtype=np.int64)
    name = pc.binary_join_element_wise(
        pick(V.BRANDS, brand),
        pick(all_types, type_idx),
        pc.cast(pa.array(rng.integers(1, 100, n)), pa.string()),
        " ",
    )
    # Zipf-like popularity over a random ranking of the catalog
    rank = rng.permutation(n) + 1
    popularity = 1.0 / rank.astype(np.float64) ** 0.9
    return _Catalog(
        sku=ids("SKU-", numbers, 5),
        product_name=name,
        brand=pick(V.BRANDS, brand),
        category=pick([c.name for c in V.CATEGORIES], cat),
        price_cents=price,
        popularity_cdf=_cdf(popularity),
    )


def _account_count(customers: int) -> int:
    return max(1, min(MAX_ACCOUNTS, customers // 50))


@dataclass(frozen=True)
class _Population:
    """Per-customer values other kinds depend on, drawn once for all customers."""

    propensity: FloatArray  # relative order rate (0 = never orders)
    browse: FloatArray  # relative event rate
    created_us: IntArray
    store: IntArray  # index into V.STORES
    account: IntArray  # index into the accounts, -1 for consumers
    order_cdf: FloatArray
    event_cdf: FloatArray


def _population(seed: int, customers: int) -> _Population:
    rng = _rng(seed, _BASE)
    n = customers
    propensity = np.exp(1.3 * rng.standard_normal(n))
    propensity[rng.random(n) < NEVER_ORDER_SHARE] = 0.0
    browse = np.exp(1.0 * rng.standard_normal(n)) + 0.5 * propensity
    created = _REF_US - 1 - (rng.random(n) * _CUSTOMER_WINDOW_US).astype(np.int64)
    store = _choice(rng, V.STORE_WEIGHTS, n)
    n_accounts = _account_count(n)
    acc_weights = 1.0 / np.arange(1, n_accounts + 1, dtype=np.float64) ** 0.8
    account = _sample(_cdf(acc_weights), rng.random(n))
    account[rng.random(n) >= B2B_SHARE] = -1
    if not propensity.any():
        propensity[:] = 1.0
    return _Population(
        propensity=propensity,
        browse=browse,
        created_us=created,
        store=store,
        account=account,
        order_cdf=_cdf(propensity),
        event_cdf=_cdf(browse),
    )


def _accounts_table(seed: int, customers: int) -> pa.Table:
    n = _account_count(customers)
    rng = _rng(seed, _ACCOUNTS)
    numbers = np.arange(1, n + 1, dtype=np.int64)
    named = min(n, len(V.NAMED_ACCOUNTS))
    id_col = pc.if_else(
        pa.array(numbers <= named),
        pick_nullable(
            [a for a, _ in V.NAMED_ACCOUNTS], np.where(numbers <= named, numbers - 1, -1)
        ),
        ids("acct-", numbers, 4),
    )
    name_col = pc.if_else(
        pa.array(numbers <= named),
        pick_nullable(
            [b for _, b in V.NAMED_ACCOUNTS], np.where(numbers <= named, numbers - 1, -1)
        ),
        ids("Account ", numbers, 4),
    )
    created = _REF_US - _CUSTOMER_WINDOW_US - (rng.random(n) * 365 * _DAY_US).astype(np.int64)
    return pa.table({"id": id_col, "name": name_col, "created_at": timestamps_from_micros(created)})


def _customers_table(
    seed: int, chunk: int, lo: int, hi: int, pop: _Population, account_ids: AnyArray
) -> pa.Table:
    rng = _rng(seed, _CUSTOMERS, chunk)
    n = hi - lo
    numbers = np.arange(lo + 1, hi + 1, dtype=np.int64)
    store = pop.store[lo:hi]
    account = pop.account[lo:hi]
    propensity = pop.propensity[lo:hi]
    is_us = store == V.STORES.index("us")

    first = rng.integers(0, len(V.FIRST_NAMES), n)
    last = rng.integers(0, len(V.LAST_NAMES), n)
    first_col = pick(V.FIRST_NAMES, first)
    last_col = pick(V.LAST_NAMES, last)
    local = pc.utf8_lower(
        pc.replace_substring(
            pc.binary_join_element_wise(first_col, last_col, "."), pattern=" ", replacement=""
        )
    )
    email = pc.binary_join_element_wise(
        local, pc.cast(pa.array(numbers), pa.string()), pa.scalar("@example.com"), ""
    )
    phone_valid = rng.random(n) < 0.7
    phone = pc.if_else(
        pa.array(phone_valid),
        pc.binary_join_element_wise(
            pc.if_else(pa.array(is_us), pa.scalar("+1 555 "), pa.scalar("+49 555 ")),
            pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 10_000_000, n)), pa.string()), 7, "0"),
            "",
        ),
        pa.scalar(None, pa.string()),
    )

    # places: eu customers in one of the EU countries, us customers in a US city
    eu_country = _choice(rng, tuple(c[1] for c in V.EU_COUNTRIES), n)
    city_slot = rng.integers(0, 1 << 30, n)
    eu_city_counts = np.array([len(c[2]) for c in V.EU_COUNTRIES], dtype=np.int64)
    eu_city_offset = np.concatenate([[0], np.cumsum(eu_city_counts)[:-1]])
    eu_city = eu_city_offset[eu_country] + city_slot % eu_city_counts[eu_country]
    us_city = city_slot % len(V.US_CITIES)
    country = pc.if_else(
        pa.array(is_us), pa.scalar("US"), pick([c[0] for c in V.EU_COUNTRIES], eu_country)
    )
    city = pc.if_else(
        pa.array(is_us),
        pick([c for c, _ in V.US_CITIES], us_city),
        pick([city for c in V.EU_COUNTRIES for city in c[2]], eu_city),
    )
    region = pick_nullable([r for _, r in V.US_CITIES], np.where(is_us, us_city, -1))
    postal = pc.utf8_lpad(pc.cast(pa.array(rng.integers(1000, 100_000, n)), pa.string()), 5, "0")

    # birth date: 85% known, ages 18..85 at the reference instant
    born_known = rng.random(n) < 0.85
    born_days = (_REF_US // _DAY_US) - (rng.random(n) * (67 * 365.25) + 18 * 365.25).astype(
        np.int64
    )
    birth_date = pa.array(born_days.astype(np.int32), type=pa.date32(), mask=~born_known)
    birth_year = pc.year(birth_date)

    # propensity rank drives loyalty tier and vip; non-buyers have no tier
    ordering = propensity > 0
    quantile = _quantiles(pop.propensity)[lo:hi]
    tier = np.select(
        [~ordering, quantile >= 0.97, quantile >= 0.85, quantile >= 0.5], [-1, 3, 2, 1], 0
    )
    newsletter = rng.random(n) < 0.45
    flags = np.column_stack(
        [
            ordering & (quantile >= 0.98),  # vip
            newsletter,  # newsletter
            account >= 0,  # wholesale
            rng.random(n) < 0.05,  # early-access
            rng.random(n) < 0.08,  # gift-buyer
            rng.random(n) < 0.005,  # staff
        ]
    )
    favorite = rng.integers(0, len(V.CATEGORIES), n)
    return pa.table(
        {
            "id": ids("C", numbers, 8),
            "email": email,
            "first_name": first_col,
            "last_name": last_col,
            "phone": phone,
            "birth_date": birth_date,
            "created_at": timestamps_from_micros(pop.created_us[lo:hi]),
            "postal_code": postal,
            "city": city,
            "region": region,
            "country": country,
            "business_account": pc.take(
                account_ids, pa.array(np.where(account < 0, 0, account), mask=account < 0)
            ),
            "store": pick(V.STORES, store),
            "newsletter_subscribed": pa.array(newsletter),
            "tags": string_lists(V.TAGS, flags),
            "attributes.loyalty_tier": pick_nullable(V.LOYALTY_TIERS, tier),
            "attributes.birth_year": pc.cast(birth_year, pa.int64()),
            "attributes.favorite_category": pick([c.name for c in V.CATEGORIES], favorite),
        }
    )


def _quantiles(values: FloatArray) -> FloatArray:
    """Each value's rank among all values, in [0, 1)."""
    order = np.argsort(values, kind="stable")
    rank = np.empty(len(values), dtype=np.float64)
    rank[order] = np.arange(len(values), dtype=np.float64) / max(1, len(values))
    return rank


def _window_start(created: IntArray, window_us: int) -> IntArray:
    return np.maximum(created, _REF_US - window_us)


def _orders_table(
    seed: int, chunk: int, lo: int, hi: int, pop: _Population, cat: _Catalog
) -> pa.Table:
    rng = _rng(seed, _ORDERS, chunk)
    n = hi - lo
    cust = _sample(pop.order_cdf, rng.random(n))
    start = _window_start(pop.created_us[cust], _ORDER_WINDOW_US)
    placed = start + (rng.random(n) * (_REF_US - start)).astype(np.int64)
    status = _choice(rng, V.STATUS_WEIGHTS, n)
    store = pop.store[cust]
    b2b = pop.account[cust] >= 0

    n_lines = _choice(rng, V.LINE_COUNT_WEIGHTS, n) + 1
    line_order = np.repeat(np.arange(n, dtype=np.int64), n_lines)
    n_total = len(line_order)
    product = _sample(cat.popularity_cdf, rng.random(n_total))
    quantity = rng.geometric(0.7, n_total).astype(np.int64)  # 1 most often
    case = rng.integers(6, 25, n_total)
    quantity = np.where(b2b[line_order], quantity * case, quantity)
    unit_cents = cat.price_cents[product]
    amount_cents = unit_cents * quantity
    starts = np.concatenate([[0], np.cumsum(n_lines)[:-1]])
    total_cents = np.add.reduceat(amount_cents, starts)

    take_order = pa.array(line_order)
    take_product = pa.array(product)
    return pa.table(
        {
            "order_id": pc.take(ids("O", np.arange(lo + 1, hi + 1, dtype=np.int64), 9), take_order),
            "customer_id": pc.take(ids("C", cust + 1, 8), take_order),
            "placed_at": timestamps_from_micros(placed[line_order]),
            "status": pick(V.STATUSES, status[line_order]),
            "total": money_from_cents(total_cents[line_order]),
            "currency": pick(V.CURRENCIES, store[line_order]),
            "store": pick(V.STORES, store[line_order]),
            "sku": pc.take(cat.sku, take_product),
            "product_name": pc.take(cat.product_name, take_product),
            "brand": pc.take(cat.brand, take_product),
            "category": pc.take(cat.category, take_product),
            "quantity": pa.array(quantity),
            "unit_price": money_from_cents(unit_cents),
            "amount": money_from_cents(amount_cents),
        }
    )


def _events_table(
    seed: int, chunk: int, lo: int, hi: int, pop: _Population, cat: _Catalog
) -> pa.Table:
    rng = _rng(seed, _EVENTS, chunk)
    n = hi - lo
    cust = _sample(pop.event_cdf, rng.random(n))
    start = _window_start(pop.created_us[cust], _EVENT_WINDOW_US)
    # skewed towards recent activity
    at = start + (rng.random(n) ** 0.7 * (_REF_US - start)).astype(np.int64)
    at = np.minimum(at, _REF_US - 1)
    kind = _choice(rng, V.EVENT_WEIGHTS, n)
    product = _sample(cat.popularity_cdf, rng.random(n))
    t = {name: kind == i for i, name in enumerate(V.EVENT_TYPES)}

    # a wishlist_remove undoes an earlier wishlist_add of this chunk: same customer and sku
    adds = np.flatnonzero(t["wishlist_add"])
    removes = np.flatnonzero(t["wishlist_remove"])
    if len(removes):
        if len(adds):
            source = adds[rng.integers(0, len(adds), len(removes))]
            cust[removes] = cust[source]
            product[removes] = product[source]
            gap = (rng.random(len(removes)) * (_REF_US - at[source])).astype(np.int64)
            at[removes] = np.minimum(at[source] + 1 + gap, _REF_US - 1)
        else:
            kind[removes] = V.EVENT_TYPES.index("product_view")
            t["product_view"][removes] = True
            t["wishlist_remove"][removes] = False

    has_sku = ~(t["page_view"] | t["search"])
    sku = pc.take(cat.sku, pa.array(np.where(has_sku, product, 0), mask=~has_sku))
    source = np.where(t["product_view"], rng.integers(0, len(V.VIEW_SOURCES), n), -1)
    path = np.where(t["page_view"], rng.integers(0, len(V.PAGE_PATHS), n), -1)
    query = np.where(t["search"], rng.integers(0, len(V.SEARCH_QUERIES), n), -1)
    return pa.table(
        {
            "id": ids("E", np.arange(lo + 1, hi + 1, dtype=np.int64), 10),
            "customer_id": ids("C", cust + 1, 8),
            "type": pick(V.EVENT_TYPES, kind),
            "at": timestamps_from_micros(at),
            "sku": sku,
            "properties.source": pick_nullable(V.VIEW_SOURCES, source),
            "properties.path": pick_nullable(V.PAGE_PATHS, path),
            "properties.query": pick_nullable(V.SEARCH_QUERIES, query),
        }
    )


def _chunks(total: int, size: int) -> Iterator[tuple[int, int, int]]:
    for chunk, lo in enumerate(range(0, total, size)):
        yield chunk, lo, min(lo + size, total)


def _check(customers: int, orders: int, events: int, seed: int) -> None:
    for name, value in (("customers", customers), ("orders", orders), ("events", events)):
        if value < 0:
            raise ConfigError(f"--{name}: {value} must not be negative")
    if seed < 0:
        raise ConfigError(f"--seed: {seed} must not be negative")
    if customers == 0 and (orders or events):
        raise ConfigError("--customers: orders and events need at least one customer")


def generate(customers: int, orders: int, events: int, seed: int) -> Iterator[tuple[str, pa.Table]]:
    """Yield the data set as ``(kind, table)`` chunks, in import order: ``accounts``,
    ``products``, then ``customers``, ``orders`` (one row per line) and ``events`` in chunks
    of at most :data:`CUSTOMERS_PER_CHUNK` customers, :data:`ORDERS_PER_CHUNK` orders and
    :data:`EVENTS_PER_CHUNK` events. Same arguments, same tables."""
    _check(customers, orders, events, seed)
    if customers == 0:
        return
    accounts = _accounts_table(seed, customers)
    yield "accounts", accounts
    catalog = _catalog(seed)
    yield "products", catalog.table()
    pop = _population(seed, customers)
    for chunk, lo, hi in _chunks(customers, CUSTOMERS_PER_CHUNK):
        yield (
            "customers",
            _customers_table(seed, chunk, lo, hi, pop, accounts.column("id").combine_chunks()),
        )
    for chunk, lo, hi in _chunks(orders, ORDERS_PER_CHUNK):
        yield "orders", _orders_table(seed, chunk, lo, hi, pop, catalog)
    for chunk, lo, hi in _chunks(events, EVENTS_PER_CHUNK):
        yield "events", _events_table(seed, chunk, lo, hi, pop, catalog)


def load_synthetic(
    store: Store,
    customers: int,
    orders: int,
    events: int,
    seed: int,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Generate and import the data set chunk by chunk; returns what was loaded.

    The store must be initialised. Returns ``{"customers", "orders", "lines", "events",
    "products", "accounts", "seed", "reference_instant", "seconds"}``.
    """
    started = time.perf_counter()
    counts = import_chunks(
        store,
        generate(customers, orders, events, seed),
        source=f"synthetic(seed={seed})",
        progress=progress,
    )
    return {
        **counts,
        "seed": seed,
        "reference_instant": REFERENCE_INSTANT,
        "seconds": round(time.perf_counter() - started, 3),
    }


__all__ = [
    "CUSTOMERS_PER_CHUNK",
    "EVENTS_PER_CHUNK",
    "ORDERS_PER_CHUNK",
    "PRODUCTS",
    "REFERENCE_INSTANT",
    "generate",
    "load_synthetic",
]
