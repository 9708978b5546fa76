"""Case-insensitive string semantics shared by every engine.

RULES.md compares strings "after lower-casing both sides". SQL ``lower()`` in DuckDB and
PostgreSQL applies Unicode *simple* case mapping one character at a time, whereas Python's
``str.lower()`` applies *full* mapping with context (``'İ'`` becomes two characters, a
final ``'Σ'`` becomes ``'ς'``). :func:`lower` reproduces the SQL behaviour so the Python
engine agrees with the databases on every string.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def _lower_char(char: str) -> str:
    lowered = char.lower()
    # a multi-character full mapping (only 'İ' among upper-case letters) takes the
    # simple mapping of its first character, as SQL lower() does
    return lowered if len(lowered) == 1 else lowered[0]


def lower(text: str) -> str:
    """Lower-case ``text`` with per-character simple case mapping (SQL ``lower()``)."""
    if text.isascii():
        return text.lower()
    return "".join(_lower_char(c) for c in text)
