"""What segments read of each other, for saves: references, dependents and cycles.

A segment's rule reads another segment's memberships in two ways:

- ``IN SEGMENT 'code'`` names it;
- ``user_groups`` includes the group of every targetable segment the customer is a member
  of, so a rule reading ``user_groups`` reads the materialized segments whose group it
  can observe (:func:`segmint.rules.groups.observed_groups`): those whose group is one it
  tests with ``CONTAINS 'literal'``, or all of them for any other use.

Both are edges of one graph. A save is refused when it would close a cycle (the answer of
a segment would depend on itself); a save re-evaluates the segments reaching the saved
one (:meth:`SegmentGraph.dependents`). Deleting is refused only while a segment is named
by ``IN SEGMENT``: a rule reading a group reads the group, not a particular segment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from segmint.errors import RuleError
from segmint.model.segment import SegmentDefinition
from segmint.rules import ast, parse
from segmint.rules.groups import observed_groups


def referenced_segments(rule: ast.Rule) -> set[str]:
    """Codes named by ``IN SEGMENT`` (it cannot occur inside an aggregate's WHERE)."""
    match rule:
        case ast.And(items) | ast.Or(items):
            return set().union(*(referenced_segments(i) for i in items))
        case ast.Not(operand):
            return referenced_segments(operand)
        case ast.InSegment(code):
            return {code}
    return set()


@dataclass(frozen=True)
class Node:
    """A segment as the graph sees it."""

    code: str
    materialized: bool
    group: str
    refs: frozenset[str]  # IN SEGMENT codes
    observed: frozenset[str] | None  # groups read through user_groups (None: every group)

    @classmethod
    def of(cls, definition: SegmentDefinition) -> Node:
        refs: frozenset[str] = frozenset()
        observed: frozenset[str] | None = frozenset()
        text = definition.effective_rule
        if text is not None:
            try:
                rule = parse(text)
            except RuleError:  # a stored rule always parsed when saved; be lenient on reads
                rule = None
            if rule is not None:
                refs = frozenset(referenced_segments(rule))
                observed = observed_groups(rule)
        return cls(definition.code, definition.kind.materialized, definition.group, refs, observed)


@dataclass(frozen=True)
class Edge:
    """``source`` reads ``target``: through IN SEGMENT (``group`` None) or through the
    user group ``group`` that ``target`` gives its members."""

    source: str
    target: str
    group: str | None = None
    every_group: bool = False  # the source reads user_groups otherwise than CONTAINS 'x'

    def describe(self) -> str:
        if self.group is None:
            return f"{self.source} has IN SEGMENT '{self.target}'"
        if self.every_group:
            return (
                f"{self.source} reads every user group (user_groups used otherwise than "
                f"CONTAINS 'a literal'), so also '{self.group}', which {self.target} gives "
                "its members"
            )
        return (
            f"{self.source} reads user group '{self.group}', which {self.target} gives its members"
        )


class SegmentGraph:
    """Every stored segment (optionally with one definition replaced) and its edges."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self.nodes = {n.code: n for n in nodes}
        self._by_group: dict[str, list[str]] = {}
        for node in sorted(self.nodes.values(), key=lambda n: n.code):
            if node.materialized:
                self._by_group.setdefault(node.group.lower(), []).append(node.code)

    @classmethod
    def of(cls, definitions: Iterable[SegmentDefinition]) -> SegmentGraph:
        return cls(Node.of(d) for d in definitions)

    def with_definition(self, definition: SegmentDefinition) -> SegmentGraph:
        """The graph once ``definition`` is saved (added or replacing its code)."""
        nodes = {**self.nodes, definition.code: Node.of(definition)}
        return SegmentGraph(nodes.values())

    def edges(self, code: str) -> list[Edge]:
        """What ``code`` reads: IN SEGMENT references, then segments by group; sorted."""
        node = self.nodes.get(code)
        if node is None:
            return []
        out = [Edge(code, ref) for ref in sorted(node.refs)]
        if node.observed is None:
            targets = [n for n in sorted(self.nodes) if self.nodes[n].materialized]
            out += [Edge(code, t, self.nodes[t].group, every_group=True) for t in targets]
        else:
            for group in sorted(node.observed):
                out += [Edge(code, t, self.nodes[t].group) for t in self._by_group.get(group, [])]
        return out

    def references(self, code: str) -> list[str]:
        """The codes ``code`` names with IN SEGMENT, sorted."""
        node = self.nodes.get(code)
        return sorted(node.refs) if node is not None else []

    def referrers(self, code: str) -> list[str]:
        """The segments naming ``code`` with IN SEGMENT, sorted."""
        return sorted(c for c, n in self.nodes.items() if code in n.refs and c != code)

    def dependents(self, code: str) -> list[str]:
        """Every segment reaching ``code`` (IN SEGMENT or user groups, transitively), in
        dependency order (a segment after everything it reads)."""
        readers: dict[str, set[str]] = {}
        for source in self.nodes:
            for edge in self.edges(source):
                readers.setdefault(edge.target, set()).add(source)
        found: set[str] = set()
        frontier = [code]
        while frontier:
            for reader in readers.get(frontier.pop(), ()):
                if reader not in found and reader != code:
                    found.add(reader)
                    frontier.append(reader)
        ordered: list[str] = []
        placed: set[str] = set()

        def visit(c: str, stack: set[str]) -> None:
            if c in placed or c in stack:
                return  # a cycle (only rules saved before v4 can have one): any order
            stack.add(c)
            for target in sorted({e.target for e in self.edges(c)} & found):
                visit(target, stack)
            stack.discard(c)
            placed.add(c)
            ordered.append(c)

        for c in sorted(found):
            visit(c, set())
        return ordered

    def find_cycle(self, start: str) -> list[Edge] | None:
        """A path of edges from ``start`` back to ``start``, or None."""
        path: list[Edge] = []
        seen: set[str] = set()

        def walk(node: str) -> bool:
            for edge in self.edges(node):
                if edge.target == start:
                    path.append(edge)
                    return True
                if edge.target in seen:
                    continue
                seen.add(edge.target)
                path.append(edge)
                if walk(edge.target):
                    return True
                path.pop()
            return False

        return path if walk(start) else None


def cycle_message(cycle: list[Edge]) -> str:
    """``IN SEGMENT makes a cycle: a -> b -> a``, or, through a group, the same path with
    every step explained (naming the group)."""
    chain = " -> ".join([cycle[0].source, *(e.target for e in cycle)])
    if all(e.group is None for e in cycle):
        return f"error: segment rule: IN SEGMENT makes a cycle: {chain}"
    steps = "; ".join(e.describe() for e in cycle)
    return (
        f"error: segment rule: user groups make a cycle: {chain} ({steps}); a segment's "
        "answer cannot depend on itself"
    )
