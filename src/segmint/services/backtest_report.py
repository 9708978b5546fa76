"""The report of a simulation on past orders: what each promotion would have cost and whom
it would have reached, side by side (issue 21).

:class:`ReportBuilder` folds the stream of :class:`~segmint.services.backtest.OrderOutcome`
as it comes (nothing per order is kept but the customers reached), so memory does not grow
with the number of orders. :func:`simulate` runs a whole simulation and answers the report.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from segmint.services import backtest
from segmint.services.backtest import OrderOutcome, Progress, Variant
from segmint.services.levers import default_currency
from segmint.store.base import Store
from segmint.targeting import money
from segmint.targeting.model import TargetingDocument

TOP = 10  # segments and SKUs listed


@dataclass
class _Tally:
    """One variant's running totals."""

    code: str
    orders: int = 0
    customers: set[str] = field(default_factory=set)
    discount: Decimal = Decimal(0)
    revenue: Decimal = Decimal(0)  # of the orders reached
    only: int = 0  # orders no other variant reaches
    ran_out: dt.date | None = None
    weeks: dict[dt.date, tuple[int, Decimal]] = field(default_factory=dict)
    segments: Counter[str] = field(default_factory=Counter)
    skus: dict[str, tuple[int, Decimal]] = field(default_factory=dict)
    near: int = 0
    near_subtotal: list[Decimal] = field(default_factory=lambda: [Decimal(0), Decimal(0)])
    near_quantity: list[int] = field(default_factory=lambda: [0, 0])


def _week(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())  # its Monday


@dataclass
class ReportBuilder:
    variants: Sequence[str]
    start: dt.datetime
    end: dt.datetime
    currency: str
    alone: bool = False
    orders: int = 0
    customers: set[str] = field(default_factory=set)
    revenue: Decimal = Decimal(0)
    skipped: int = 0  # orders in another currency than the report's
    counts: backtest.RunCounts = field(default_factory=backtest.RunCounts)
    tallies: list[_Tally] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tallies = [_Tally(code) for code in self.variants]

    def add(self, outcome: OrderOutcome) -> None:
        order = outcome.order
        if order.cart.currency != self.currency:
            self.skipped += 1
            return
        self.orders += 1
        self.customers.add(order.customer_id)
        self.revenue += order.revenue
        reached: list[bool] = []
        week = _week(order.placed_at.date())
        segments = [s.code for s in outcome.evaluation.segments]
        for tally, priced, refused in zip(
            self.tallies, outcome.priced, outcome.budget_refused, strict=True
        ):
            if priced is None:  # the variant could not apply nor be near
                reached.append(False)
                continue
            applied = [a for a in priced.promotions if a.code == tally.code]
            amount = sum((a.amount + a.shipping for a in applied), Decimal(0))
            hit = amount > 0
            reached.append(hit)
            if refused and tally.ran_out is None:
                tally.ran_out = order.placed_at.date()
            if hit:
                tally.orders += 1
                tally.customers.add(order.customer_id)
                tally.discount += amount
                tally.revenue += order.revenue
                n, d = tally.weeks.get(week, (0, Decimal(0)))
                tally.weeks[week] = (n + 1, d + amount)
                tally.segments.update(segments)
                for line in priced.lines:
                    share = sum(
                        (x.amount for x in line.discounts if x.promotion == tally.code), Decimal(0)
                    )
                    if share > 0:
                        n, d = tally.skus.get(line.sku, (0, Decimal(0)))
                        tally.skus[line.sku] = (n + 1, d + share)
            for near in priced.near:
                if near.promotion != tally.code:
                    continue
                tally.near += 1
                subtotal = near.missing.get("cart.subtotal")
                if isinstance(subtotal, Decimal):
                    tally.near_subtotal[0] += subtotal
                    tally.near_subtotal[1] += 1
                quantity = near.missing.get("cart.quantity")
                if isinstance(quantity, int):
                    tally.near_quantity[0] += quantity
                    tally.near_quantity[1] += 1
        if sum(reached) == 1:
            self.tallies[reached.index(True)].only += 1

    def report(self) -> SimulationReport:
        return SimulationReport(self)


@dataclass(frozen=True)
class SimulationReport:
    builder: ReportBuilder

    def _amount(self, value: Decimal) -> str:
        return money.format_amount(
            money.round_half_up(value, self.builder.currency), self.builder.currency
        )

    def _share(self, part: Decimal, whole: Decimal) -> str | None:
        if whole == 0:
            return None
        return str((part * 100 / whole).quantize(Decimal("0.01")))

    def variant(self, tally: _Tally) -> dict[str, Any]:
        near_subtotal = (
            self._amount(tally.near_subtotal[0] / tally.near_subtotal[1])
            if tally.near_subtotal[1]
            else None
        )
        near_quantity = (
            str(
                (Decimal(tally.near_quantity[0]) / tally.near_quantity[1]).quantize(Decimal("0.01"))
            )
            if tally.near_quantity[1]
            else None
        )
        skus = sorted(tally.skus.items(), key=lambda kv: (-kv[1][1], kv[0]))[:TOP]
        segments = sorted(tally.segments.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
        return {
            "promotion": tally.code,
            "orders_reached": tally.orders,
            "customers_reached": len(tally.customers),
            "discount": self._amount(tally.discount),
            "revenue_reached": self._amount(tally.revenue),
            "discount_share_percent": self._share(tally.discount, tally.revenue),
            "average_discount": self._amount(tally.discount / tally.orders)
            if tally.orders
            else None,
            "budget_ran_out": tally.ran_out.isoformat() if tally.ran_out else None,
            "only_this_one": tally.only,
            "near_misses": {
                "orders": tally.near,
                "average_missing_subtotal": near_subtotal,
                "average_missing_quantity": near_quantity,
            },
            "weeks": [
                {"week": week.isoformat(), "orders": n, "discount": self._amount(d)}
                for week, (n, d) in sorted(tally.weeks.items())
            ],
            "top_segments": [{"segment": code, "orders": n} for code, n in segments],
            "top_skus": [
                {"sku": sku, "orders": n, "discount": self._amount(d)} for sku, (n, d) in skus
            ],
        }

    def to_dict(self) -> dict[str, Any]:
        b = self.builder
        return {
            "from": b.start.isoformat().replace("+00:00", "Z"),
            "to": b.end.isoformat().replace("+00:00", "Z"),
            "alone": b.alone,
            "currency": b.currency,
            "orders": b.orders,
            "customers": len(b.customers),
            "revenue": self._amount(b.revenue),
            "skipped_other_currency": b.skipped,
            "skipped_without_cart": b.counts.without_cart,
            "promotions": [self.variant(t) for t in b.tallies],
        }

    def weeks(self) -> list[str]:
        """Every week some variant reached an order in, sorted (the chart's x axis)."""
        return sorted({w.isoformat() for t in self.builder.tallies for w in t.weeks})


#: The rows of the side-by-side table and CSV: (label, key in a variant's dict).
SUMMARY_ROWS: tuple[tuple[str, str], ...] = (
    ("orders reached", "orders_reached"),
    ("customers reached", "customers_reached"),
    ("discount", "discount"),
    ("revenue of the orders reached", "revenue_reached"),
    ("discount share of that revenue %", "discount_share_percent"),
    ("average discount per order reached", "average_discount"),
    ("budget ran out on", "budget_ran_out"),
    ("orders only this one reaches", "only_this_one"),
)


def summary_rows(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The report as one row per measure and one column per promotion (table and CSV)."""
    variants = data["promotions"]
    columns = ["measure", *(v["promotion"] for v in variants)]
    rows: list[list[Any]] = [
        ["orders in the period", *(data["orders"] for _ in variants)],
        [
            "orders left out (no priced line)",
            *(data["skipped_without_cart"] for _ in variants),
        ],
        ["customers in the period", *(data["customers"] for _ in variants)],
    ]
    rows += [[label, *(v[key] for v in variants)] for label, key in SUMMARY_ROWS]
    rows.append(["near misses (orders)", *(v["near_misses"]["orders"] for v in variants)])
    rows.append(
        [
            "near misses: average subtotal missing",
            *(v["near_misses"]["average_missing_subtotal"] for v in variants),
        ]
    )
    rows.append(
        [
            "near misses: average quantity missing",
            *(v["near_misses"]["average_missing_quantity"] for v in variants),
        ]
    )
    weeks = sorted({w["week"] for v in variants for w in v["weeks"]})
    for week in weeks:
        cells = []
        for v in variants:
            found = next((w for w in v["weeks"] if w["week"] == week), None)
            cells.append(f"{found['discount']} ({found['orders']})" if found else "")
        rows.append([f"week of {week}: discount (orders)", *cells])
    for i in range(max((len(v["top_segments"]) for v in variants), default=0)):
        cells = [
            f"{v['top_segments'][i]['segment']} ({v['top_segments'][i]['orders']})"
            if i < len(v["top_segments"])
            else ""
            for v in variants
        ]
        rows.append([f"top segment {i + 1} (orders)", *cells])
    for i in range(max((len(v["top_skus"]) for v in variants), default=0)):
        cells = [
            f"{v['top_skus'][i]['sku']} ({v['top_skus'][i]['discount']})"
            if i < len(v["top_skus"])
            else ""
            for v in variants
        ]
        rows.append([f"top SKU {i + 1} (discount)", *cells])
    return columns, rows


def simulate(
    store: Store,
    codes: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    *,
    drafts: TargetingDocument | None = None,
    alone: bool = False,
    progress: Progress | None = None,
) -> SimulationReport:
    """Simulate ``codes`` (saved promotions or drafts) on the orders of ``[start, end)``."""
    variants: list[Variant] = backtest.build_variants(store, codes, drafts, alone=alone)
    builder = ReportBuilder(
        [v.code for v in variants], start, end, default_currency(store), alone=alone
    )
    for outcome in backtest.run(store, variants, start, end, progress, counts=builder.counts):
        builder.add(outcome)
    return builder.report()
