"""The rule language: parse, print, JSON form and type checking (RULES.md).

    >>> from segmint import rules
    >>> rule = rules.parse("orders_count >= 2 and tags contains 'vip'")
    >>> rules.to_text(rule)
    "orders_count >= 2 AND tags CONTAINS 'vip'"

The AST node classes live in :mod:`segmint.rules.ast` (re-exported as ``rules.ast``).
"""

from __future__ import annotations

from segmint.rules import ast
from segmint.rules.checker import CheckedRule, check
from segmint.rules.json_form import from_json, to_json
from segmint.rules.parser import MAX_DEPTH, MAX_LENGTH, parse
from segmint.rules.printer import to_text

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "CheckedRule",
    "ast",
    "check",
    "from_json",
    "parse",
    "to_json",
    "to_text",
]
