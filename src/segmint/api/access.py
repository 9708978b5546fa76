"""Who may call what: ONE table, endpoint -> allowed roles. It drives the ``authorize``
dependency and the role-matrix test (every endpoint x every role)."""

from __future__ import annotations

ADMIN = frozenset({"admin"})
MARKETER = frozenset({"admin", "marketer"})
INGEST = frozenset({"admin", "ingest"})
STOREFRONT = frozenset({"admin", "storefront"})
ANY_KEY = frozenset({"admin", "marketer", "ingest", "storefront"})

#: (method, path template) -> roles allowed. A route missing here is refused to everyone.
ACCESS: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/v1/health"): ANY_KEY,
    # keys, web users, the in-process worker, row counts
    ("GET", "/v1/keys"): ADMIN,
    ("POST", "/v1/keys"): ADMIN,
    ("DELETE", "/v1/keys/{key_id}"): ADMIN,
    ("GET", "/v1/users"): ADMIN,
    ("POST", "/v1/users"): ADMIN,
    ("POST", "/v1/users/{username}/disable"): ADMIN,
    ("POST", "/v1/users/{username}/enable"): ADMIN,
    ("DELETE", "/v1/users/{username}"): ADMIN,
    ("POST", "/v1/users/{username}/password"): ADMIN,
    ("GET", "/v1/admin/worker"): ADMIN,
    ("POST", "/v1/admin/worker/run"): ADMIN,
    ("GET", "/v1/stats"): MARKETER,
    # customers: read by marketers, written by ingestion
    ("GET", "/v1/customers"): MARKETER,
    ("GET", "/v1/customers/{customer_id}"): MARKETER,
    ("GET", "/v1/customers/{customer_id}/segments"): MARKETER,
    ("PUT", "/v1/customers/{customer_id}"): INGEST,
    ("DELETE", "/v1/customers/{customer_id}"): INGEST,
    ("POST", "/v1/customers/batch"): INGEST,
    ("PUT", "/v1/customers/{customer_id}/groups/{group}"): INGEST,
    ("DELETE", "/v1/customers/{customer_id}/groups/{group}"): INGEST,
    # ingestion
    ("POST", "/v1/orders"): INGEST,
    ("POST", "/v1/orders/batch"): INGEST,
    ("POST", "/v1/events"): INGEST,
    ("POST", "/v1/events/batch"): INGEST,
    ("POST", "/v1/products/batch"): ADMIN,  # catalog data: not "customers, orders, events"
    ("POST", "/v1/accounts/batch"): ADMIN,
    # whole files, as `segmint import` takes them
    ("POST", "/v1/customers/import"): INGEST,
    ("POST", "/v1/orders/import"): INGEST,
    ("POST", "/v1/events/import"): INGEST,
    ("POST", "/v1/products/import"): ADMIN,
    ("POST", "/v1/accounts/import"): ADMIN,
    # custom attributes: listed for marketers, dropped by admins (a schema change)
    ("GET", "/v1/attributes"): MARKETER,
    ("DELETE", "/v1/attributes/{name}"): ADMIN,
    # segments
    ("GET", "/v1/segments"): MARKETER,
    ("POST", "/v1/segments"): MARKETER,
    ("POST", "/v1/segments/preview"): MARKETER,
    ("POST", "/v1/segments/refresh"): MARKETER,
    ("GET", "/v1/segments/{code}"): MARKETER,
    ("PUT", "/v1/segments/{code}"): MARKETER,
    ("DELETE", "/v1/segments/{code}"): MARKETER,
    ("GET", "/v1/segments/{code}/members"): MARKETER,
    ("POST", "/v1/segments/{code}/members/add"): MARKETER,
    ("POST", "/v1/segments/{code}/members/remove"): MARKETER,
    ("GET", "/v1/segments/{code}/history"): MARKETER,
    ("GET", "/v1/changes"): MARKETER,
    # rules
    ("POST", "/v1/rules/check"): MARKETER,
    ("GET", "/v1/rules/schema"): MARKETER,
    # value discovery: the fields a rule reads and the values the data holds
    ("GET", "/v1/schema"): MARKETER,
    ("GET", "/v1/values"): MARKETER,
    ("GET", "/v1/segments/{code}/members/export"): MARKETER,
    ("POST", "/v1/rules/match"): MARKETER,
    ("POST", "/v1/explain"): MARKETER,
    # targeting
    ("POST", "/v1/evaluate"): STOREFRONT,
    ("POST", "/v1/checkout"): STOREFRONT,
    ("POST", "/v1/orders/{order_id}/cancel"): INGEST,
    # the lever catalog: marketers write it, storefront keys only evaluate
    ("GET", "/v1/levers"): MARKETER,
    ("PUT", "/v1/levers"): MARKETER,
    ("GET", "/v1/promotions/{code}/codes"): MARKETER,
    ("POST", "/v1/promotions/{code}/codes"): MARKETER,
    ("POST", "/v1/promotions/simulate"): MARKETER,
    ("GET", "/v1/promotions/simulate/{job_id}"): MARKETER,
    **{
        (method, template.format(kind=kind)): MARKETER
        for kind in ("campaigns", "promotions", "price-lists", "placements", "account-portals")
        for method, template in (
            ("GET", "/v1/{kind}"),
            ("GET", "/v1/{kind}/{{code}}"),
            ("PUT", "/v1/{kind}/{{code}}"),
            ("DELETE", "/v1/{kind}/{{code}}"),
            ("GET", "/v1/{kind}/{{code}}/history"),
        )
    },
}


def allowed_roles(method: str, path: str) -> frozenset[str] | None:
    return ACCESS.get((method.upper(), path))
