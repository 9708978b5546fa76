"""Safe assembly of SQL text: identifiers are validated and quoted, values are never spliced.

Every dynamic part of a statement built by the store or the importer goes through
:func:`ident` (or :func:`idents`), and :func:`render` accepts only those validated
fragments, so user data can reach SQL text only as a bound parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from segmint.errors import StoreError

# Table and column names segmint creates: lower-case, digits, underscore (attribute
# columns are ``attr_`` + a name already checked against ``schema.ATTRIBUTE_NAME``).
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Fragment(str):
    """A piece of SQL text that is known to be safe (validated identifier or fixed text)."""

    __slots__ = ()


def ident(name: str) -> Fragment:
    """A validated, double-quoted identifier."""
    if not _IDENT.match(name):
        raise StoreError(f"invalid SQL identifier {name!r}")
    return Fragment(f'"{name}"')


def idents(names: Iterable[str], prefix: str = "") -> Fragment:
    """A comma-separated list of quoted identifiers, each optionally qualified."""
    qual = f"{ident(prefix)}." if prefix else ""
    return Fragment(", ".join(qual + ident(n) for n in names))


def fixed(text: str) -> Fragment:
    """Mark constant SQL text (written in this code base, never user input) as safe."""
    return Fragment(text)


def render(template: str, **parts: Fragment) -> str:
    """Fill ``{name}`` slots of a constant template with safe fragments only."""
    for key, value in parts.items():
        if not isinstance(value, Fragment):
            raise TypeError(f"SQL slot {key!r} must be a Fragment, got {type(value).__name__}")
    return template.format(**parts)


def in_staged(column: str, table: str | None, *, probe: bool = False, key: str = "id") -> Fragment:
    """``column IN`` the ``key`` column of a staged table, or TRUE (every row) for None.
    With ``probe`` (PostgreSQL, a small batch over an indexed ``column``, see
    ``Store.probe_ids``): ``= ANY(ARRAY(…))``, probed through the B-tree instead of
    scanning the table (see ``compile.dialects.in_ids``). Never over a scanned table:
    there the array is searched for every row."""
    if table is None:
        return Fragment("TRUE")
    form = "{c} = ANY(ARRAY(SELECT {k} FROM {t}))" if probe else "{c} IN (SELECT {k} FROM {t})"
    return Fragment(render(form, c=fixed(column), k=ident(key), t=ident(table)))
