"""Promo codes (TARGETING.md §4): generated codes for a ``code`` promotion, listed with
their uses.

A promotion's codes are those its definition lists plus those generated here (kept in
``promo_codes``). Generated codes are random over an alphabet without look-alike
characters (no 0/O, 1/I/L), upper case, unique over every promotion's codes, listed or
generated; matching is case-insensitive after trimming. ``segment=`` makes one code per
member of a segment, bound to that customer (anyone else entering it gets
``code_recipient``).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Any

from segmint.errors import ConfigError, NotFoundError
from segmint.services import segments as segment_service
from segmint.store.base import Store
from segmint.store.levers import LeverRepository
from segmint.store.redemptions import PromoCode, RedemptionRepository, normalize_code

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
MAX_COUNT = 1_000_000
_PREFIX = re.compile(r"^[A-Za-z0-9_-]{0,20}$")


@dataclass(frozen=True)
class CodeUsage:
    code: str
    promotion: str
    uses: int | None  # the code's own limit
    used: int
    customer_id: str | None
    listed: bool  # written in the promotion's definition (not generated)


def _promotion(store: Store, code: str) -> dict[str, Any]:
    row = LeverRepository(store).get("promotions", code)
    if row is None:
        raise NotFoundError(f"error: promotion {code!r} does not exist")
    return row.data


def listed_codes(store: Store) -> dict[str, str]:
    """Normalized listed code -> promotion, over every promotion's definition."""
    found: dict[str, str] = {}
    for row in LeverRepository(store).all("promotions"):
        for code in row.data.get("codes") or ():
            found[normalize_code(str(code))] = row.code
    return found


def generate_codes(
    store: Store,
    promotion: str,
    now: dt.datetime,
    *,
    count: int | None = None,
    prefix: str = "",
    length: int = 10,
    uses: int | None = 1,
    segment: str | None = None,
) -> list[PromoCode]:
    """Generate and store codes for a ``code`` promotion, in one transaction: ``count``
    of them, or one per member of ``segment`` (bound to that member)."""
    store.require_schema()
    data = _promotion(store, promotion)
    if data.get("trigger") != "code":
        raise ConfigError(f"error: promotion {promotion!r} is automatic; codes need trigger: code")
    if not _PREFIX.match(prefix):
        raise ConfigError("error: --prefix: at most 20 letters, digits, '-' or '_'")
    if not 6 <= length <= 32:
        raise ConfigError(f"error: --length: between 6 and 32, not {length}")
    if uses is not None and uses < 1:
        raise ConfigError(f"error: --uses: at least 1, not {uses}")
    if segment is not None:
        if count is not None:
            raise ConfigError("error: --count and --segment: give one (a segment makes one each)")
        recipients: list[str | None] = list(segment_service.members(store, segment))
    else:
        if count is None or not 1 <= count <= MAX_COUNT:
            raise ConfigError(f"error: --count: between 1 and {MAX_COUNT:,}, not {count}")
        recipients = [None] * count
    # 31^6 ≈ 887 M: even the shortest codes leave a million far from crowded; a collision
    # (with a stored code or within the batch) is simply drawn again.
    repo = RedemptionRepository(store)
    with store.writer_lock(), store.transaction():
        taken = set(listed_codes(store))
        made: dict[str, PromoCode] = {}
        pending = list(recipients)
        while pending:
            drawn = [
                (normalize_code(prefix) + "".join(secrets.choice(ALPHABET) for _ in range(length)))
                for _ in pending
            ]
            stored = repo.existing_codes(drawn)
            retry: list[str | None] = []
            for code, customer in zip(drawn, pending, strict=True):
                if code in taken or code in stored or code in made:
                    retry.append(customer)
                    continue
                made[code] = PromoCode(code, promotion, uses, customer, now)
            pending = retry
        codes = list(made.values())
        repo.add_codes(codes)
    return codes


def list_codes(store: Store, promotion: str) -> list[CodeUsage]:
    """The promotion's codes with their uses: listed ones first, then generated."""
    store.require_schema()
    data = _promotion(store, promotion)
    repo = RedemptionRepository(store)
    listed = [normalize_code(str(c)) for c in data.get("codes") or ()]
    used = repo.code_uses(listed)
    out = [CodeUsage(c, promotion, None, used.get(c, 0), None, True) for c in listed]
    for code, n in repo.codes_of(promotion):
        out.append(CodeUsage(code.code, promotion, code.uses, n, code.customer_id, False))
    return out
