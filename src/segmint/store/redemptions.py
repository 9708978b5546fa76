"""Promo codes, checkouts and redemptions in a store (migration 11).

Counts are read from the redemption rows themselves (not from counters kept beside
them), so a count can never drift from what was redeemed. Checkouts that could exceed a
limit take :meth:`RedemptionRepository.lock` on the promotions and campaigns they touch
before counting: on PostgreSQL transaction-scoped advisory locks (taken in sorted order,
so two checkouts never wait on each other in a cycle); DuckDB has one writing connection,
which the service lends to one request at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from segmint.store.base import Store

#: First key of the advisory locks taken on promotions and campaigns (PostgreSQL).
REDEMPTION_LOCK = 736569


def normalize_code(code: str) -> str:
    """Codes are matched case-insensitively after trimming (TARGETING.md §4)."""
    return code.strip().upper()


@dataclass(frozen=True)
class PromoCode:
    code: str
    promotion: str
    uses: int | None
    customer_id: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class Redemption:
    order_id: str
    promotion: str
    code: str | None
    customer_id: str | None
    campaign: str | None
    amount: Decimal
    currency: str
    release_on_cancel: bool


@dataclass(frozen=True)
class CheckoutRecord:
    order_id: str
    customer_id: str | None
    answer: str
    created_at: dt.datetime
    cancelled_at: dt.datetime | None


def _in(name: str, values: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """``name IN ($v0, $v1, …)`` with its parameters (never spliced values)."""
    params = {f"v{i}": v for i, v in enumerate(values)}
    marks = ", ".join(f"$v{i}" for i in range(len(values)))
    return f"{name} IN ({marks})", params


class RedemptionRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ---- codes ------------------------------------------------------------------------

    def add_codes(self, codes: Sequence[PromoCode]) -> None:
        """Insert generated codes (inside the caller's transaction)."""
        for c in codes:
            self.store._x(
                "INSERT INTO promo_codes (code, promotion, uses, customer_id, created_at) "
                "VALUES ($c, $p, $u, $cu, $t)",
                {
                    "c": c.code,
                    "p": c.promotion,
                    "u": c.uses,
                    "cu": c.customer_id,
                    "t": c.created_at,
                },
            )

    def existing_codes(self, codes: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(codes), 500):
            where, params = _in("code", codes[start : start + 500])
            rows = self.store._q(f"SELECT code FROM promo_codes WHERE {where}", params)  # noqa: S608
            found.update(str(r[0]) for r in rows)
        return found

    def find_codes(self, codes: Sequence[str]) -> dict[str, PromoCode]:
        if not codes:
            return {}
        where, params = _in("code", codes)
        rows = self.store._q(
            "SELECT code, promotion, uses, customer_id, created_at FROM promo_codes "  # noqa: S608
            f"WHERE {where}",
            params,
        )
        return {str(r[0]): PromoCode(str(r[0]), str(r[1]), r[2], r[3], r[4]) for r in rows}

    def codes_of(self, promotion: str) -> list[tuple[PromoCode, int]]:
        """The promotion's generated codes, each with its uses so far."""
        rows = self.store._q(
            "SELECT c.code, c.promotion, c.uses, c.customer_id, c.created_at, "
            "(SELECT COUNT(*) FROM redemptions r WHERE r.code = c.code "
            "AND r.released_at IS NULL) FROM promo_codes c WHERE c.promotion = $p ORDER BY c.code",
            {"p": promotion},
        )
        return [(PromoCode(str(r[0]), str(r[1]), r[2], r[3], r[4]), int(r[5])) for r in rows]

    def delete_codes_of(self, promotion: str) -> None:
        self.store._x("DELETE FROM promo_codes WHERE promotion = $p", {"p": promotion})

    # ---- counts -------------------------------------------------------------------------

    def lock(self, keys: Iterable[str]) -> None:
        """Serialize checkouts over these promotions/campaigns until the transaction ends."""
        self.store.lock_keys(REDEMPTION_LOCK, sorted(set(keys)))

    def promotion_uses(self, promotions: Sequence[str]) -> dict[str, int]:
        """Orders that redeemed each promotion (not released)."""
        if not promotions:
            return {}
        where, params = _in("promotion", promotions)
        rows = self.store._q(
            f"SELECT promotion, COUNT(*) FROM redemptions WHERE {where} "  # noqa: S608
            "AND released_at IS NULL GROUP BY promotion",
            params,
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def code_uses(self, codes: Sequence[str]) -> dict[str, int]:
        if not codes:
            return {}
        where, params = _in("code", codes)
        rows = self.store._q(
            f"SELECT code, COUNT(*) FROM redemptions WHERE {where} "  # noqa: S608
            "AND released_at IS NULL GROUP BY code",
            params,
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def customer_uses(self, customer_id: str, promotions: Sequence[str]) -> dict[str, int]:
        if not promotions:
            return {}
        where, params = _in("promotion", promotions)
        rows = self.store._q(
            f"SELECT promotion, COUNT(*) FROM redemptions WHERE {where} "  # noqa: S608
            "AND customer_id = $cid AND released_at IS NULL GROUP BY promotion",
            {**params, "cid": customer_id},
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def campaign_totals(self, campaigns: Sequence[str]) -> dict[str, tuple[Decimal, int]]:
        """(discount granted, orders) per campaign, not released."""
        if not campaigns:
            return {}
        where, params = _in("campaign", campaigns)
        rows = self.store._q(
            f"SELECT campaign, COALESCE(SUM(amount), 0), COUNT(DISTINCT order_id) "  # noqa: S608
            f"FROM redemptions WHERE {where} AND released_at IS NULL GROUP BY campaign",
            params,
        )
        return {str(r[0]): (Decimal(r[1]), int(r[2])) for r in rows}

    # ---- checkouts ----------------------------------------------------------------------

    def checkout(self, order_id: str) -> CheckoutRecord | None:
        rows = self.store._q(
            "SELECT order_id, customer_id, answer, created_at, cancelled_at FROM checkouts "
            "WHERE order_id = $o",
            {"o": order_id},
        )
        if not rows:
            return None
        r = rows[0]
        return CheckoutRecord(str(r[0]), r[1], str(r[2]), r[3], r[4])

    def record(
        self,
        order_id: str,
        customer_id: str | None,
        answer: str,
        redemptions: Sequence[Redemption],
        now: dt.datetime,
    ) -> None:
        """Record a checkout and its redemptions (inside the caller's transaction)."""
        self.store._x(
            "INSERT INTO checkouts (order_id, customer_id, answer, created_at) "
            "VALUES ($o, $c, $a, $t)",
            {"o": order_id, "c": customer_id, "a": answer, "t": now},
        )
        for r in redemptions:
            self.store._x(
                "INSERT INTO redemptions (order_id, promotion, code, customer_id, campaign, "
                "amount, currency, release_on_cancel, created_at) "
                "VALUES ($o, $p, $code, $c, $camp, $a, $cur, $rel, $t)",
                {
                    "o": r.order_id,
                    "p": r.promotion,
                    "code": r.code,
                    "c": r.customer_id,
                    "camp": r.campaign,
                    "a": r.amount,
                    "cur": r.currency,
                    "rel": r.release_on_cancel,
                    "t": now,
                },
            )

    def cancel(self, order_id: str, now: dt.datetime) -> int:
        """Mark the order's checkout cancelled and release its releasable redemptions;
        how many were released (0 when already cancelled or never checked out)."""
        record = self.checkout(order_id)
        if record is None or record.cancelled_at is not None:
            return 0
        released = self.store._count(
            "SELECT COUNT(*) FROM redemptions WHERE order_id = $o AND release_on_cancel "
            "AND released_at IS NULL",
            {"o": order_id},
        )
        self.store._x(
            "UPDATE redemptions SET released_at = $t WHERE order_id = $o AND release_on_cancel "
            "AND released_at IS NULL",
            {"o": order_id, "t": now},
        )
        self.store._x(
            "UPDATE checkouts SET cancelled_at = $t WHERE order_id = $o", {"o": order_id, "t": now}
        )
        return released

    def redemptions_of(self, order_id: str) -> list[tuple[Redemption, dt.datetime | None]]:
        rows = self.store._q(
            "SELECT order_id, promotion, code, customer_id, campaign, amount, currency, "
            "release_on_cancel, released_at FROM redemptions WHERE order_id = $o "
            "ORDER BY promotion",
            {"o": order_id},
        )
        return [
            (
                Redemption(
                    str(r[0]), str(r[1]), r[2], r[3], r[4], Decimal(r[5]), str(r[6]), bool(r[7])
                ),
                r[8],
            )
            for r in rows
        ]
