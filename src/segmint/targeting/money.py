"""Money (TARGETING.md §2): decimal amounts in a currency's minor units, rounded half-up.

Amounts are ``Decimal``; never floats. A currency's minor digits come from Babel's CLDR
tables (docs/decisions.md says why a maintained table rather than our own): 2 for USD
and EUR, 0 for JPY, 3 for KWD. Amounts are computed on exact decimals and rounded ONCE
per computed amount, with :func:`round_half_up`; allocations work in whole minor units
(:mod:`segmint.targeting.allocation`).
"""

from __future__ import annotations

import functools
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import get_currency_precision, list_currencies

from segmint.errors import ConfigError

DEFAULT_CURRENCY = "USD"

_CODE = re.compile(r"^[A-Z]{3}$")
#: A decimal amount as JSON carries it: optional sign, digits, optional fraction.
_AMOUNT = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


class MoneyError(ConfigError):
    """A currency or an amount that is not acceptable; the message names what and why."""


@functools.cache
def _known() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 currency code (upper case) Babel knows."""
    return bool(_CODE.match(code)) and code in _known()


def check_currency(code: object) -> str:
    """``code`` if it is a known currency, else :class:`MoneyError`."""
    if not isinstance(code, str) or not is_currency(code):
        raise MoneyError(f"{code!r} is not an ISO 4217 currency code (e.g. 'USD', 'EUR', 'JPY')")
    return code


@functools.cache
def digits(currency: str) -> int:
    """Minor digits of ``currency`` (2 for USD, 0 for JPY, 3 for KWD)."""
    return int(get_currency_precision(check_currency(currency)))


@functools.cache
def quantum(currency: str) -> Decimal:
    """The minor unit as a Decimal exponent: ``Decimal('0.01')`` for USD, ``1`` for JPY."""
    return Decimal(1).scaleb(-digits(currency))


def round_half_up(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half-up (away from zero on a tie) to the currency's minor unit."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def to_minor(amount: Decimal, currency: str) -> int:
    """A whole amount in minor units (``Decimal('12.50')`` USD -> 1250). The amount must
    already have at most the currency's digits."""
    scaled = amount.scaleb(digits(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{amount} has more digits than {currency} allows ({digits(currency)})")
    return int(scaled)


def from_minor(units: int, currency: str) -> Decimal:
    """Minor units back to an amount with exactly the currency's digits."""
    return (Decimal(units).scaleb(-digits(currency))).quantize(quantum(currency))


def fits(amount: Decimal, currency: str) -> bool:
    """Whether ``amount`` has at most the currency's minor digits."""
    exponent = amount.as_tuple().exponent
    if not isinstance(exponent, int):  # NaN or infinity
        return False
    return exponent >= -digits(currency) or amount == round_half_up(amount, currency)


def parse_amount(text: object, currency: str | None = None, *, negative: bool = False) -> Decimal:
    """A decimal amount from its JSON form: a string such as ``"12.50"`` (integers are
    accepted too; floats never, they are not exact). With ``currency``, refuse more
    digits than it allows. Negative amounts only with ``negative=True``."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise MoneyError(f'expected a decimal amount as a string, e.g. "12.50", not {text!r}')
    raw = str(text).strip()
    if not _AMOUNT.match(raw):
        raise MoneyError(f'{raw!r} is not a decimal amount (e.g. "12.50")')
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid text
        raise MoneyError(f"{raw!r} is not a decimal amount") from None
    if value < 0 and not negative:
        raise MoneyError(f"{raw} is negative")
    if currency is not None and not fits(value, currency):
        raise MoneyError(
            f"{raw} has more digits than {currency} allows ({digits(currency)} after the point)"
        )
    return value


def format_amount(amount: Decimal, currency: str) -> str:
    """The JSON form: exactly the currency's minor digits, no exponent (``"6.00"``)."""
    text = format(amount, "f")
    places = digits(currency)
    # already exact (every amount pricing computes is): its text has exactly `places`
    # digits after the point — read from the text, as as_tuple() costs twice the format
    if places:
        if len(text) > places and text[-places - 1] == ".":
            return text
    elif "." not in text and amount.as_tuple().exponent == 0:
        return text
    return format(round_half_up(amount, currency), "f")
