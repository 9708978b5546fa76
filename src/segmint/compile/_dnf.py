"""An audience as a disjunction of conjunctions of indexable atoms and residual tests.

:func:`conjunctions` rewrites a type-checked rule into an equivalent disjunctive normal
form whose conjunctions hold two kinds of parts:

- **atoms**, the tests an index can answer from a request's facts: membership of a value
  in a source (``IN SEGMENT 's'``, ``user_groups CONTAINS 'g'``, ``country IN ('DE',
  'FR')``, ``context.view = 'business'``, ``context.logged_in``) or a source's presence
  (``context.query.X IS NOT NULL``);
- **negated atoms**, the same tests under NOT (``NOT IN SEGMENT``, ``!=``, ``NOT IN``,
  ``NOT CONTAINS``, ``IS NULL``): the conjunction holds only if none of them does (the
  BE-Index's ∉ predicates). They never make a request a candidate; they reject one;
- **residuals**, every other test, kept as rule sub-trees and compiled as predicates of
  their own (a cart threshold, an aggregate, a string prefix).

The rewrite is an equivalence, never an approximation: NOT is pushed down by De Morgan's
laws (exact under the rule language's two-valued logic, where every negated form is the
negation of its positive one: ``country != 'DE'`` is true for a null country, as "not
(country = 'DE')" is); a sub-tree without any atom stays one residual, so residual tests
do not multiply the conjunctions. Within a conjunction the tests of one source are
combined: a single-valued source's value sets are intersected and the negated values
taken out (``country IN ('DE', 'FR') AND country != 'fr'`` is ``country = 'de'``), an
empty result or a contradiction (``IS NULL`` beside a value test) drops the conjunction,
and tests implied by another are dropped (a presence test beside a value test). A
conjunction implied by another is dropped (absorption), and values of a single-valued
source are merged into one atom (``country = 'DE' OR country = 'FR'``). At most ``cap``
conjunctions are kept per node: a factor whose distribution would pass the cap stays a
residual inside the conjunctions, and a disjunction past the cap becomes one residual
(so an audience beyond the cap is, at worst, one residual test).

Atom values are compared as the Python engine compares them (``segmint.compile.python``):
strings lower-cased with :func:`segmint.rules.text.lower` on both sides, booleans by
identity, segment codes exactly; a null never equals anything.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from segmint.rules.ast import (
    And,
    BoolTest,
    Compare,
    InList,
    InSegment,
    IsNull,
    Literal,
    Not,
    Or,
    Path,
    Rule,
    TextMatch,
    Value,
)
from segmint.rules.groups import FIELD as GROUPS_FIELD
from segmint.rules.schema import DERIVED_FIELDS, FieldType, Schema, field_type
from segmint.rules.text import lower

#: The default bound on the conjunctions of one audience (and of each of its sub-trees).
DEFAULT_CAP = 64


class SourceKind(enum.Enum):
    """Where a request's facts for a source come from."""

    SEGMENTS = "segments"  # Profile.segments (codes, exact case)
    GROUPS = "groups"  # user_groups: explicit + inherited
    FIELD = "field"  # Profile.fields[name]
    ATTRIBUTE = "attribute"  # Profile.attributes[name]
    CONTEXT = "context"  # RequestContext.<name>
    QUERY = "query"  # RequestContext.query[name]


@dataclass(frozen=True)
class Source:
    """One readable value of a request; ``multi`` when it is a list (or the segment set):
    then every element is a fact, and each atom tests one element."""

    kind: SourceKind
    name: str
    multi: bool


SEGMENTS = Source(SourceKind.SEGMENTS, "", True)

#: ``context.*`` / ``cart.*`` paths and the RequestContext attribute each reads.
CONTEXT_ATTRIBUTES = {
    "context.logged_in": "logged_in",
    "context.view": "view",
    "context.store": "store",
    "context.channel": "channel",
    "context.path": "path",
    "cart.subtotal": "cart_subtotal",
    "cart.quantity": "cart_quantity",
}

AtomValue = str | bool


@dataclass(frozen=True)
class Atom:
    """True when the source's value is one of ``values`` (lower-cased strings, booleans
    or segment codes) or, with ``values`` None, when the source is not null."""

    source: Source
    values: frozenset[AtomValue] | None


@dataclass(frozen=True)
class Conjunction:
    """All ``atoms`` hold, none of ``negated`` does, and every ``residuals`` rule is true."""

    atoms: frozenset[Atom] = frozenset()
    residuals: frozenset[Rule] = frozenset()
    negated: frozenset[Atom] = frozenset()

    def implies(self, other: Conjunction) -> bool:
        """Whether every request this one's tests accept, ``other`` accepts too because
        it asks for a subset of them."""
        return (
            other.atoms <= self.atoms
            and other.negated <= self.negated
            and other.residuals <= self.residuals
        )


_TRUE: tuple[Conjunction, ...] = (Conjunction(),)
_FALSE: tuple[Conjunction, ...] = ()


def conjunctions(rule: Rule, schema: Schema, cap: int = DEFAULT_CAP) -> tuple[Conjunction, ...]:
    """``rule`` as a disjunction of :class:`Conjunction` (empty: never true)."""
    if cap < 1:
        raise ValueError(f"cap must be at least 1, not {cap}")
    return tuple(_Rewriter(schema, cap).dnf(rule, False)[0])


# --- atoms ------------------------------------------------------------------------------


def source_of(path: Path, schema: Schema) -> tuple[Source, FieldType] | None:
    """The source a customer-scope path reads, with its type (None: not indexable,
    e.g. a derived field, which is an aggregate)."""
    parts = path.parts
    ftype = field_type(schema, parts, None)
    if ftype is None:
        return None
    multi = ftype is FieldType.STRING_LIST
    if len(parts) == 1:
        if parts[0] in DERIVED_FIELDS:
            return None
        if parts[0] == GROUPS_FIELD:
            return Source(SourceKind.GROUPS, GROUPS_FIELD, True), ftype
        return Source(SourceKind.FIELD, parts[0], multi), ftype
    if parts[0] == "attributes":
        return Source(SourceKind.ATTRIBUTE, parts[1], multi), ftype
    if parts[:2] == ("context", "query"):
        return Source(SourceKind.QUERY, parts[2], False), ftype
    attribute = CONTEXT_ATTRIBUTES.get(path.dotted)
    if attribute is None:
        return None
    return Source(SourceKind.CONTEXT, attribute, False), ftype


def _values_atom(value: Value, items: tuple[Value, ...], schema: Schema) -> Atom | None:
    """``value IN (items)`` as an atom, when value is a single-valued string or boolean
    source and every item a literal of its type."""
    if not isinstance(value, Path):
        return None
    found = source_of(value, schema)
    if found is None or found[0].multi:
        return None
    source, ftype = found
    values: set[AtomValue] = set()
    for item in items:
        if not isinstance(item, Literal):
            return None
        v = item.value
        if ftype is FieldType.STRING and isinstance(v, str):
            values.add(lower(v))
        elif ftype is FieldType.BOOLEAN and isinstance(v, bool):
            values.add(v)
        else:
            return None  # numbers, dates, nulls: residual (the compiler decides)
    return Atom(source, frozenset(values)) if values else None


def atom_of(rule: Rule, negated: bool, schema: Schema) -> tuple[Atom, bool] | bool | None:
    """The atom ``rule`` tests and whether it must hold (False: must not, under an odd
    number of NOTs), a constant, or None for a residual."""
    match rule:
        case InSegment(code):
            return Atom(SEGMENTS, frozenset({code})), not negated
        case BoolTest(Literal(v)):
            return (v is True) != negated
        case BoolTest(Path() as path):
            atom = _values_atom(path, (Literal(True),), schema)
            return None if atom is None else (atom, not negated)
        case Compare(op, left, right) if op in ("=", "!="):
            if isinstance(left, Literal):
                left, right = right, left
            atom = _values_atom(left, (right,), schema)
            return None if atom is None else (atom, (op == "=") != negated)
        case InList(value, items, is_negated):
            atom = _values_atom(value, items, schema)
            return None if atom is None else (atom, is_negated == negated)
        case IsNull(Path() as path, is_negated):
            found = source_of(path, schema)
            return None if found is None else (Atom(found[0], None), is_negated != negated)
        case TextMatch("CONTAINS", Path() as path, Literal(str() as pattern), is_negated):
            found = source_of(path, schema)
            if found is None or not found[0].multi:
                return None  # a substring test
            return Atom(found[0], frozenset({lower(pattern)})), is_negated == negated
    return None


# --- conjunctions -----------------------------------------------------------------------


def simplify(
    atoms: frozenset[Atom], negated: frozenset[Atom]
) -> tuple[frozenset[Atom], frozenset[Atom]] | None:
    """Combine the tests of each source (see the module docstring); None when the
    conjunction can never hold."""
    by_source: dict[Source, tuple[list[Atom], list[Atom]]] = {}
    for atom in atoms:
        by_source.setdefault(atom.source, ([], []))[0].append(atom)
    for atom in negated:
        by_source.setdefault(atom.source, ([], []))[1].append(atom)
    if all(len(pos) + len(neg) == 1 for pos, neg in by_source.values()):
        return atoms, negated
    out_pos: set[Atom] = set()
    out_neg: set[Atom] = set()
    for source, (pos, neg) in by_source.items():
        pos_values = [a.values for a in pos if a.values is not None]
        present = len(pos_values) < len(pos)  # a positive presence test
        neg_values: set[AtomValue] = set()
        for a in neg:
            neg_values.update(a.values or ())
        is_null = any(a.values is None for a in neg)
        if is_null and pos:
            return None  # null, and not null
        if source.multi:
            elements = frozenset().union(*pos_values)
            if elements & neg_values:
                return None
            out_pos.update(Atom(source, frozenset({e})) for e in elements)
            if present and not elements:
                out_pos.add(Atom(source, None))
        elif pos_values:
            common = frozenset.intersection(*pos_values) - neg_values
            if not common:
                return None
            out_pos.add(Atom(source, common))
            continue  # a value in `common` is not null and none of the negated ones
        elif present:
            out_pos.add(Atom(source, None))
        if is_null:
            out_neg.add(Atom(source, None))  # a null source has none of the values
        elif neg_values:
            out_neg.add(Atom(source, frozenset(neg_values)))
    return frozenset(out_pos), frozenset(out_neg)


def _absorb(items: list[Conjunction]) -> list[Conjunction]:
    """Drop duplicates and every conjunction implied by another (it adds no match)."""
    unique = list(dict.fromkeys(items))
    unique.sort(key=lambda c: len(c.atoms) + len(c.negated) + len(c.residuals))
    kept: list[Conjunction] = []
    for c in unique:
        if not any(c.implies(k) for k in kept):
            kept.append(c)
    return kept


def _merge_values(items: list[Conjunction]) -> list[Conjunction]:
    """Single-atom conjunctions over one single-valued source become one atom."""
    singles: dict[Source, set[AtomValue]] = {}
    rest: list[Conjunction] = []
    for c in items:
        if not c.residuals and not c.negated and len(c.atoms) == 1:
            (atom,) = c.atoms
            if not atom.source.multi and atom.values is not None:
                singles.setdefault(atom.source, set()).update(atom.values)
                continue
        rest.append(c)
    merged = [
        Conjunction(frozenset({Atom(source, frozenset(values))}))
        for source, values in singles.items()
    ]
    return merged + rest


@dataclass
class _Rewriter:
    schema: Schema
    cap: int

    def residual(self, rule: Rule, negated: bool) -> tuple[Conjunction, ...]:
        test: Rule = rule
        if negated:
            test = rule.operand if isinstance(rule, Not) else Not(rule)
        return (Conjunction(residuals=frozenset({test})),)

    def dnf(self, rule: Rule, negated: bool) -> tuple[list[Conjunction], bool]:
        """The conjunctions of ``rule`` (negated when ``negated``), and whether the rule
        holds no atom (then it is one residual, or a constant)."""
        if isinstance(rule, Not):
            return self.dnf(rule.operand, not negated)
        if isinstance(rule, And | Or):
            return self.combine(rule, negated)
        found = atom_of(rule, negated, self.schema)
        if found is None:
            return list(self.residual(rule, negated)), True
        if isinstance(found, bool):
            return list(_TRUE if found else _FALSE), False
        atom, positive = found
        if positive:
            return [Conjunction(atoms=frozenset({atom}))], False
        return [Conjunction(negated=frozenset({atom}))], False

    def combine(self, rule: And | Or, negated: bool) -> tuple[list[Conjunction], bool]:
        parts = [(self.dnf(item, negated), item) for item in rule.items]
        if all(atomless for (_, atomless), _ in parts):
            return list(self.residual(rule, negated)), True
        conjunctive = isinstance(rule, And) != negated
        if conjunctive:
            return self.product([(c, item) for (c, _), item in parts], negated), False
        union = _absorb(_merge_values([c for (cs, _), _ in parts for c in cs]))
        if len(union) > self.cap:
            return list(self.residual(rule, negated)), True
        return union, False

    def product(
        self, parts: list[tuple[list[Conjunction], Rule]], negated: bool
    ) -> list[Conjunction]:
        acc: list[Conjunction] = list(_TRUE)
        # Small factors first, so the cap leaves as residual the widest ones.
        for factor, item in sorted(parts, key=lambda p: len(p[0])):
            if not factor:
                return []
            if len(acc) * len(factor) > self.cap:
                factor = list(self.residual(item, negated))
            out: list[Conjunction] = []
            for a in acc:
                for b in factor:
                    tests = simplify(a.atoms | b.atoms, a.negated | b.negated)
                    if tests is not None:
                        out.append(Conjunction(tests[0], a.residuals | b.residuals, tests[1]))
            acc = _absorb(out)
            if not acc:
                return []
        return acc
