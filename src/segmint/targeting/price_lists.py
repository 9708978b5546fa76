"""Which price list prices each cart line (TARGETING.md §3.2): pure, no I/O.

Among the price lists that apply (active, in dates, in the store, audience true — the
caller's audience callback decides the last — and in the cart's currency) and list the
line's sku with a ``min_quantity`` <= the line's quantity, the one with the highest
priority wins, then the one giving the lower price, then the lower code; within it the
entry with the largest ``min_quantity`` sets the price. A line no list prices keeps its
own unit price. Skus compare exactly (they are identifiers).

:class:`PriceIndex` is built once per catalog (entries by sku, largest ``min_quantity``
first), so pricing a line reads only the lists that name its sku.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from segmint.targeting.cart import Cart, PriceListRejection, Reason
from segmint.targeting.model import PriceEntry, PriceList
from segmint.targeting.schedules import refusal

#: (reason, detail) when a lever's audience is false; None when it is true.
Audience = Callable[[PriceList], tuple[str, str] | None]


@dataclass(frozen=True)
class _Listing:
    price_list: PriceList
    entries: tuple[PriceEntry, ...]  # one sku's entries, largest min_quantity first

    def entry(self, quantity: int) -> PriceEntry | None:
        for entry in self.entries:
            if entry.min_quantity <= quantity:
                return entry
        return None


@dataclass(frozen=True)
class PriceIndex:
    lists: tuple[PriceList, ...]  # by code
    by_sku: dict[str, tuple[_Listing, ...]]

    @classmethod
    def build(cls, price_lists: Iterable[PriceList]) -> PriceIndex:
        ordered = sorted(price_lists, key=lambda pl: pl.code)
        codes = [pl.code for pl in ordered]
        if len(set(codes)) != len(codes):
            raise ValueError("price list codes must be unique")
        by_sku: dict[str, list[_Listing]] = {}
        for pl in ordered:
            entries: dict[str, list[PriceEntry]] = {}
            for entry in pl.prices:
                entries.setdefault(entry.sku, []).append(entry)
            for sku, found in entries.items():
                found.sort(key=lambda e: -e.min_quantity)
                by_sku.setdefault(sku, []).append(_Listing(pl, tuple(found)))
        return cls(tuple(ordered), {sku: tuple(v) for sku, v in by_sku.items()})


@dataclass(frozen=True)
class LinePrices:
    unit_prices: tuple[Decimal, ...]  # after price lists, one per line
    price_lists: tuple[str | None, ...]  # the winner's code, one per line
    rejected: tuple[PriceListRejection, ...]  # with explain: every list that priced no line


def _everyone(_: PriceList) -> None:
    return None


def resolve(
    cart: Cart,
    index: PriceIndex,
    now: dt.datetime,
    store: str | None,
    *,
    audience: Audience = _everyone,
    explain: bool = False,
) -> LinePrices:
    """Each line's unit price and the list that set it."""
    applicable: set[str] = set()
    rejected: list[PriceListRejection] = []
    for pl in index.lists:
        what = f"price list {pl.code!r}"
        why = refusal(pl.schedule, now, store, what)
        if why is None and pl.currency != cart.currency:
            why = (Reason.CURRENCY, f"{what} is in {pl.currency}; the cart is in {cart.currency}")
        if why is None and pl.audience is not None:
            why = audience(pl)
        if why is None:
            applicable.add(pl.code)
        elif explain:
            rejected.append(PriceListRejection(pl.code, *why))
    prices: list[Decimal] = []
    winners: list[str | None] = []
    offered: dict[str, list[str]] = {}  # list code -> the lines it listed but lost
    for i, line in enumerate(cart.lines):
        best: tuple[int, Decimal, str] | None = None
        contenders: list[str] = []
        for listing in index.by_sku.get(line.sku, ()):
            pl = listing.price_list
            if pl.code not in applicable:
                continue
            entry = listing.entry(line.quantity)
            if entry is None:
                continue
            if explain:
                contenders.append(pl.code)
            key = (-pl.schedule.priority, entry.price, pl.code)
            if best is None or key < best:
                best = key
        if best is None:
            prices.append(line.unit_price)
            winners.append(None)
            continue
        prices.append(best[1])
        winners.append(best[2])
        if explain:
            for code in contenders:
                if code != best[2]:
                    offered.setdefault(code, []).append(f"{cart.line_id(i)} ({best[2]})")
    if explain:
        won = set(winners)
        for pl in index.lists:
            if pl.code not in applicable or pl.code in won:
                continue
            if pl.code in offered:
                lines = ", ".join(offered[pl.code])
                detail = f"another price list won every line it lists: {lines}"
                rejected.append(PriceListRejection(pl.code, Reason.BETTER_OFFER, detail))
            else:
                detail = "it lists none of the cart's skus at their quantities"
                rejected.append(PriceListRejection(pl.code, Reason.NO_ITEMS, detail))
        rejected.sort(key=lambda r: r.price_list)
    return LinePrices(tuple(prices), tuple(winners), tuple(rejected))
