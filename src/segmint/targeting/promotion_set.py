"""The promotions of a catalog prepared once for pricing many carts: sorted in §4's order
(priority, higher first, then code), each with what does not depend on the request (the
currencies its amounts are bound to, whether its schedule can refuse it at all), the
codes promotions list and the ``best_of`` groups. Pure, no I/O.

:func:`~segmint.targeting.pricing.price_cart` accepts a plain sequence of promotions too
and builds this on each call; a caller that prices many carts against one catalog builds
it once (as it compiles the rules once).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable
from dataclasses import dataclass

from segmint.targeting.benefits import value_currencies
from segmint.targeting.model import (
    AccountPortal,
    OrderBenefit,
    Promotion,
    Schedule,
    Trigger,
)

#: An account's auto discount is promotion ``account:<id>`` (lever codes have no ':').
ACCOUNT_PREFIX = "account:"


def normalize_code(code: str) -> str:
    """Codes match case-insensitively after trimming."""
    return code.strip().lower()


def account_promotion(account: AccountPortal) -> Promotion | None:
    """The account's ``auto_discount`` as the automatic order promotion ``account:<id>``."""
    auto = account.auto_discount
    if auto is None:
        return None
    return Promotion(
        code=f"{ACCOUNT_PREFIX}{account.id}",
        benefit=OrderBenefit(auto.value),
        name=f"{account.id} account discount",
        schedule=Schedule(priority=auto.priority),
    )


@dataclass(frozen=True)
class Entry:
    promotion: Promotion
    key: tuple[int, str]  # the sort key: (-priority, code)
    currencies: frozenset[str]  # its amounts apply only to carts in one of these (empty: any)
    always: bool  # active, no dates, no stores: its schedule never refuses it
    own: bool  # an account's auto discount (no audience, never GLOBAL)
    #: GLOBAL, automatic, always active, no campaign, no currency, no limit: only an
    #: account that takes no GLOBAL promotions can refuse it
    plain: bool = False

    @classmethod
    def of(cls, p: Promotion) -> Entry:
        s = p.schedule
        currencies = frozenset(value_currencies(p.benefit))
        always = s.active and s.starts_at is None and s.ends_at is None and not s.stores
        own = p.code.startswith(ACCOUNT_PREFIX)
        plain = (
            always
            and not own
            and not currencies
            and p.audience is None
            and p.campaign is None
            and p.trigger is Trigger.AUTOMATIC
            and p.usage_limit is None
            and p.per_customer_limit is None
        )
        return cls(p, (-s.priority, p.code), currencies, always, own, plain)


@dataclass(frozen=True)
class PromotionSet:
    entries: tuple[Entry, ...]  # in §4's order
    by_code: dict[str, Promotion]
    listed: dict[str, tuple[str, ...]]  # a listed code (normalized) -> its code promotions

    @classmethod
    def build(cls, promotions: Iterable[Promotion]) -> PromotionSet:
        entries = sorted((Entry.of(p) for p in promotions), key=lambda e: e.key)
        by_code = {e.promotion.code: e.promotion for e in entries}
        if len(by_code) != len(entries):
            raise ValueError("promotion codes must be unique")
        listed: dict[str, list[str]] = {}
        for e in entries:
            if e.promotion.trigger is Trigger.CODE:
                for code in e.promotion.codes:
                    owners = listed.setdefault(normalize_code(code), [])
                    if e.promotion.code not in owners:
                        owners.append(e.promotion.code)
        return cls(tuple(entries), by_code, {k: tuple(v) for k, v in listed.items()})

    @functools.cached_property
    def positions(self) -> dict[str, int]:
        return {e.promotion.code: i for i, e in enumerate(self.entries)}

    def subset(self, codes: Iterable[str]) -> PromotionSet:
        """The promotions named by ``codes`` (unknown codes ignored), in this set's order;
        ``listed`` is shared (pricing keeps only the owners the subset holds)."""
        at = self.positions
        kept = sorted({at[c] for c in codes if c in at})
        entries = tuple(self.entries[i] for i in kept)
        return PromotionSet(entries, {e.promotion.code: e.promotion for e in entries}, self.listed)

    def for_account(self, account: AccountPortal | None) -> tuple[Entry, ...]:
        """The entries with the account's auto discount in its place, if it has one."""
        own = account_promotion(account) if account is not None else None
        if own is None:
            return self.entries
        entry = Entry.of(own)
        at = bisect.bisect_left([e.key for e in self.entries], entry.key)
        return (*self.entries[:at], entry, *self.entries[at:])
