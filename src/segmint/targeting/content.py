"""``{{path}}`` substitution in placement content (TARGETING.md §6): plain text only.

Every string anywhere in an item's content (nested objects and lists included) may hold
``{{path}}``: a customer field (``{{first_name}}``), an attribute (``{{attributes.tier}}``),
a request value (``{{context.view}}``, ``{{context.query.ref}}``), a cart value
(``{{cart.subtotal}}``, ``{{cart.quantity}}``) or ``{{missing}}`` (a near miss's missing
amount). Substitution is one pass of text replacement: a substituted value is never scanned
again, nothing is evaluated, and no markup is interpreted (the storefront escapes as it
renders). A path with no value becomes the empty string, so a visitor never sees braces.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+)*)\s*\}\}")

#: A resolver: the text for a path, or None when the request has no value for it.
Resolve = Callable[[str], str | None]


def placeholders(content: Any) -> set[str]:
    """Every path the content's strings refer to."""
    found: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, str):
            found.update(m.group(1) for m in _PLACEHOLDER.finditer(value))
        elif isinstance(value, dict):
            for v in value.values():
                visit(v)
        elif isinstance(value, list):
            for v in value:
                visit(v)

    visit(content)
    return found


def render(content: Any, resolve: Resolve) -> Any:
    """A copy of ``content`` with every ``{{path}}`` replaced by its text."""

    def text(match: re.Match[str]) -> str:
        return resolve(match.group(1)) or ""

    def visit(value: Any) -> Any:
        if isinstance(value, str):
            return _PLACEHOLDER.sub(text, value) if "{{" in value else value
        if isinstance(value, dict):
            return {k: visit(v) for k, v in value.items()}
        if isinstance(value, list):
            return [visit(v) for v in value]
        return value

    return visit(content)


def as_text(value: Any, digits: int | None = None) -> str | None:
    """A value as it is substituted: amounts with ``digits`` decimals (as in JSON, no
    currency sign), booleans as ``true``/``false``, lists joined by commas."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        if digits is not None:
            return f"{value.quantize(Decimal(1).scaleb(-digits)):f}"
        return f"{value:f}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(t for t in (as_text(v, digits) for v in value) if t is not None)
    if hasattr(value, "isoformat"):
        return str(value.isoformat()).replace("+00:00", "Z")
    return str(value)
