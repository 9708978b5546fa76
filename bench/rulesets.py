"""Twenty realistic segment rules over the synthetic data set, and the hand-written DuckDB
query a data engineer would write for the same twenty questions (the baseline).

The baseline is deliberately strong: exact-case comparisons (``brand = 'Acme'``), one
GROUP BY per table with FILTER clauses, no NULL guards beyond what the answer needs.
"""

from __future__ import annotations

import datetime as dt

REFERENCE_NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

SINGLE_RULE = "SUM(lines.amount WHERE category = 'wine' AND placed_at WITHIN 365d) > 300"

SINGLE_BASELINE = """
SELECT customer_id FROM order_lines
WHERE category = 'wine' AND placed_at > $d365 AND placed_at <= $now
GROUP BY customer_id HAVING SUM(amount) > 300
ORDER BY customer_id
"""

RULES: dict[str, str] = {
    "big_spenders_year": "SUM(orders.total WHERE placed_at WITHIN 365d) > 300",
    "acme_90d": "EXISTS(lines WHERE brand = 'Acme' AND placed_at WITHIN 90d)",
    "viewers_30d": "COUNT(events WHERE type = 'product_view' AND at WITHIN 30d) > 2",
    "lifetime_1000": "total_spent >= 1000",
    "frequent": "orders_count >= 10",
    "lapsed": "NOT EXISTS(orders WHERE placed_at WITHIN 180d) AND orders_count >= 3",
    "wine_year": "EXISTS(lines WHERE category = 'wine' AND placed_at WITHIN 365d)",
    "coffee_100": "SUM(lines.amount WHERE category = 'coffee') > 100",
    "vip": "tags CONTAINS 'vip'",
    "accounts_but_acme": "business_account IS NOT NULL AND business_account NOT IN ('acme')",
    "eu_500": "store = 'eu' AND total_spent > 500",
    "private_label_20": "COUNT(lines WHERE brand = 'Private Label') >= 20",
    "wishlisters": "EXISTS(wishlist)",
    "aov_80": "average_order_value > 80",
    "active_30d": "last_order_at WITHIN 30d",
    "new_90d": "first_order_at > -90d",
    "one_big_order": "MAX(orders.total) > 250",
    "refunders": "COUNT(orders WHERE status = 'refunded') >= 2",
    "gold_regulars": "attributes.loyalty_tier IN ('gold', 'platinum') AND orders_count >= 5",
    "beer_newsletter": (
        "EXISTS(lines WHERE category = 'beer' AND placed_at WITHIN 30d) AND newsletter_subscribed"
    ),
}

_OK = "status NOT IN ('cancelled', 'refunded', 'failed')"

FUSED_BASELINE = f"""
WITH o AS (
  SELECT customer_id,
    SUM(total) FILTER (WHERE placed_at > $d365 AND placed_at <= $now) AS spent_year,
    SUM(total) FILTER (WHERE {_OK}) AS spent,
    COUNT(*) FILTER (WHERE {_OK}) AS n_ok,
    COUNT(*) FILTER (WHERE placed_at > $d180 AND placed_at <= $now) AS n_180,
    MAX(placed_at) FILTER (WHERE {_OK}) AS last_at,
    MIN(placed_at) FILTER (WHERE {_OK}) AS first_at,
    MAX(total) AS max_total,
    COUNT(*) FILTER (WHERE status = 'refunded') AS n_refunded
  FROM orders GROUP BY customer_id
), l AS (
  SELECT customer_id,
    COUNT(*) FILTER (WHERE brand = 'Acme' AND placed_at > $d90 AND placed_at <= $now) AS acme_90,
    COUNT(*) FILTER (WHERE category = 'wine' AND placed_at > $d365 AND placed_at <= $now) AS wine_y,
    SUM(amount) FILTER (WHERE category = 'coffee') AS coffee,
    COUNT(*) FILTER (WHERE brand = 'Private Label') AS private_label,
    COUNT(*) FILTER (WHERE category = 'beer' AND placed_at > $d30 AND placed_at <= $now) AS beer_30
  FROM order_lines GROUP BY customer_id
), e AS (
  SELECT customer_id, COUNT(*) AS views_30 FROM events
  WHERE type = 'product_view' AND "at" > $d30 AND "at" <= $now GROUP BY customer_id
), w AS (
  SELECT DISTINCT customer_id FROM wishlist_items
)
SELECT c.id,
  o.spent_year > 300,
  l.acme_90 > 0,
  e.views_30 > 2,
  o.spent >= 1000,
  o.n_ok >= 10,
  COALESCE(o.n_180, 0) = 0 AND o.n_ok >= 3,
  l.wine_y > 0,
  l.coffee > 100,
  list_contains(c.tags, 'vip'),
  c.business_account IS NOT NULL AND c.business_account <> 'acme',
  c.store = 'eu' AND o.spent > 500,
  l.private_label >= 20,
  w.customer_id IS NOT NULL,
  o.spent / o.n_ok > 80,
  o.last_at > $d30 AND o.last_at <= $now,
  o.first_at > $d90,
  o.max_total > 250,
  o.n_refunded >= 2,
  c.attr_loyalty_tier IN ('gold', 'platinum') AND o.n_ok >= 5,
  l.beer_30 > 0 AND c.newsletter_subscribed
FROM customers c
LEFT JOIN o ON o.customer_id = c.id
LEFT JOIN l ON l.customer_id = c.id
LEFT JOIN e ON e.customer_id = c.id
LEFT JOIN w ON w.customer_id = c.id
"""


def baseline_params(now: dt.datetime, sql: str | None = None) -> dict[str, dt.datetime]:
    """The instants the hand-written queries use (only those ``sql`` names, if given:
    DuckDB refuses unused parameters)."""
    naive = now.astimezone(dt.UTC).replace(tzinfo=None)
    params = {
        "now": naive,
        "d30": naive - dt.timedelta(days=30),
        "d90": naive - dt.timedelta(days=90),
        "d180": naive - dt.timedelta(days=180),
        "d365": naive - dt.timedelta(days=365),
    }
    if sql is None:
        return params
    return {k: v for k, v in params.items() if f"${k}" in sql}
