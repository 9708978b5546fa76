"""Which user groups a rule can observe through the field ``user_groups``.

``user_groups`` is the customer's EFFECTIVE groups: the explicit ones plus the group of
every targetable segment the customer is a member of. So a rule reading it depends on
segment memberships, and the membership engine must know on which segments: those whose
group the rule can tell apart.

- Every use of ``user_groups`` is a membership test with a string literal
  (``user_groups CONTAINS 'vip'``, ``NOT CONTAINS``, under any ``AND``/``OR``/``NOT``):
  the rule observes exactly those groups (lower-cased as rules compare strings).
- Any other use (``IS NULL``, ``CONTAINS`` a field): the answer may change with any group,
  so the rule observes every group (``None``).
"""

from __future__ import annotations

from segmint.rules import ast
from segmint.rules.text import lower

FIELD = "user_groups"

#: ``observed_groups`` for a rule that may observe any group.
ALL: None = None


def _is_field(node: ast.Node) -> bool:
    return isinstance(node, ast.Path) and node.parts == (FIELD,)


def reads_user_groups(rule: ast.Rule) -> bool:
    """Whether the rule reads the customer field ``user_groups`` at all."""
    return _visit(rule, set()) is not False


def observed_groups(rule: ast.Rule) -> frozenset[str] | None:
    """The lower-cased groups the rule can observe, or ``None`` for every group (an empty
    set: it does not read ``user_groups``)."""
    found: set[str] = set()
    result = _visit(rule, found)
    return None if result is None else frozenset(found)


def _visit(node: ast.Node, found: set[str]) -> bool | None:
    """Collect literal groups into ``found``; ``None`` as soon as a use is not a literal
    membership test, else whether ``user_groups`` was read."""
    if isinstance(node, ast.TextMatch) and _is_field(node.value):
        pattern = node.pattern
        if node.op == "CONTAINS" and isinstance(pattern, ast.Literal):
            if isinstance(pattern.value, str):
                found.add(lower(pattern.value))
            return True  # `CONTAINS null` is false whatever the groups: observes nothing
        return None
    if isinstance(node, ast.Aggregate):
        return False  # inside WHERE, names are item fields: no customer field is visible
    if _is_field(node):
        return None  # any use not handled above
    read = False
    for child in ast.children(node):
        result = _visit(child, found)
        if result is None:
            return None
        read = read or result
    return read
