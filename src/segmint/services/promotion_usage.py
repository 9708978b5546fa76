"""What promotions have used of their limits and their campaigns' budgets (TARGETING.md
§4), for the admin pages' budget meters: *used / left*.

Counts come from the redemption rows (``store.redemptions``), released ones left out, as
checkout counts them: a promotion's ``usage_limit`` against the orders that redeemed it,
a campaign's ``budget.spend`` against the discount its promotions granted and
``budget.usage`` against the orders that redeemed any of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from segmint.services.levers import default_currency
from segmint.store.base import Store
from segmint.store.levers import LeverRepository
from segmint.store.redemptions import RedemptionRepository
from segmint.targeting import money

__all__ = ["Meter", "meters"]


@dataclass(frozen=True)
class Meter:
    """One limit: ``used`` of ``limit`` (money in ``currency``, else a count)."""

    what: str  # "uses" (the promotion's usage_limit), "campaign spend", "campaign orders"
    used: Decimal | int
    limit: Decimal | int
    currency: str | None = None
    campaign: str | None = None

    @property
    def left(self) -> Decimal | int:
        """What is left (never below zero)."""
        left = self.limit - self.used
        return left if left > 0 else self.limit - self.limit

    @property
    def percent(self) -> int:
        """How full, 0..100, for the bar."""
        if self.limit <= 0:
            return 100
        return min(100, int(Decimal(self.used) * 100 / Decimal(self.limit)))


def _spend(data: Mapping[str, Any]) -> Decimal | None:
    spend = data.get("spend")
    return Decimal(str(spend)) if spend is not None else None


def meters(store: Store, promotions: Iterable[Mapping[str, Any]]) -> dict[str, list[Meter]]:
    """Promotion code -> its meters (its own usage limit, then its campaign's budget);
    promotions given as their stored document data. Three grouped queries in all."""
    store.require_schema()
    wanted = list(promotions)
    campaigns = {r.code: r.data for r in LeverRepository(store).all("campaigns")}
    named = sorted({str(p["campaign"]) for p in wanted if p.get("campaign") in campaigns})
    repo = RedemptionRepository(store)
    limited = [str(p["code"]) for p in wanted if p.get("usage_limit") is not None]
    uses = repo.promotion_uses(limited)
    totals = repo.campaign_totals(named)
    currency = default_currency(store)
    out: dict[str, list[Meter]] = {}
    for p in wanted:
        code = str(p["code"])
        found: list[Meter] = []
        if p.get("usage_limit") is not None:
            found.append(Meter("uses", uses.get(code, 0), int(p["usage_limit"])))
        campaign = p.get("campaign")
        budget = campaigns.get(str(campaign), {}).get("budget") if campaign else None
        if campaign and budget:
            spent, orders = totals.get(str(campaign), (Decimal(0), 0))
            spend = _spend(budget)
            if spend is not None:
                unit = str(budget.get("currency") or currency)
                spent = money.round_half_up(spent, unit)  # the store keeps 4 digits
                found.append(
                    Meter("campaign spend", spent, spend, currency=unit, campaign=str(campaign))
                )
            if budget.get("usage") is not None:
                found.append(
                    Meter("campaign orders", orders, int(budget["usage"]), campaign=str(campaign))
                )
        out[code] = found
    return out
