"""Which of many audiences hold for one request, without testing every audience.

Lever audiences (TARGETING.md §7) are indexed as in the BE-Index (Whang et al.,
"Indexing Boolean Expressions", VLDB 2009). Each audience is rewritten into an equivalent
disjunction of conjunctions (:mod:`segmint.compile._dnf`); a conjunction's **atoms** are
value tests of one request source each (``IN SEGMENT``, ``user_groups CONTAINS``,
equality and ``IN`` lists over string and boolean fields, attributes and context values,
``IS NOT NULL``), and its **residuals** are the other tests (cart thresholds, aggregates,
anything negated), each a compiled predicate shared by every conjunction that holds it.

Conjunctions are partitioned by their number of atoms K, with posting lists of
conjunction ids per (source, value):

- **K = 0** (the Z list of the paper): no atom, a candidate for every request;
- **K = 1**: every conjunction found in the posting list of a fact holds its atom;
- **K ≥ 2**: the counting algorithm: a conjunction holds all its atoms when it is found
  in exactly K of the facts' posting lists. Within a conjunction each atom names a
  different source value (tests of one single-valued source are intersected into one
  atom), so no atom is counted twice; the sizes share one pass that compares each
  conjunction's count with its own K.

A request's facts are read once from the profile and the context (only the sources some
atom reads), their posting lists are concatenated and counted with numpy, and only the
candidates' residuals are evaluated, each at most once per request. The answer is
exact: ``match`` is the set of audiences whose compiled predicate is true, in build
order (the property test in ``tests/unit/compile/test_audience_index.py`` holds it to
that).

An index is immutable; :meth:`AudienceIndex.with_changes` returns a patched copy that
shares what did not change: removed conjunctions are masked out, added ones appended,
and the arrays compacted once a quarter of them are dead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from segmint.compile._dnf import (
    DEFAULT_CAP,
    SEGMENTS,
    AtomValue,
    Conjunction,
    Source,
    SourceKind,
    conjunctions,
)
from segmint.compile.python import Predicate, compile_predicate
from segmint.model.profile import Profile, RequestContext
from segmint.rules.ast import Rule
from segmint.rules.checker import CheckedRule
from segmint.rules.groups import FIELD as GROUPS_FIELD
from segmint.rules.schema import Schema
from segmint.rules.text import lower

K = TypeVar("K", bound=Hashable)

Ids: TypeAlias = npt.NDArray[np.int32]
Mask: TypeAlias = npt.NDArray[np.bool_]
#: The posting lists of one source value: the ids of the conjunctions in the K = 1 and
#: K >= 2 parts that test it, then of those in the K = 0, 1 and >= 2 parts that test it
#: negated (a fact found there rejects the conjunction).
Entry: TypeAlias = tuple[Ids | None, Ids | None, Ids | None, Ids | None, Ids | None]

_EMPTY_IDS: Ids = np.zeros(0, dtype=np.int32)
_ZERO, _ONE, _MULTI = 0, 1, 2
#: The part of each list of an Entry.
_ENTRY_PARTS = (_ONE, _MULTI, _ZERO, _ONE, _MULTI)
# Source kinds as small ints for the per-request loop.
_FIELD, _ATTRIBUTE, _CONTEXT, _QUERY, _GROUPS = range(5)
_KIND_CODE = {
    SourceKind.FIELD: _FIELD,
    SourceKind.ATTRIBUTE: _ATTRIBUTE,
    SourceKind.CONTEXT: _CONTEXT,
    SourceKind.QUERY: _QUERY,
    SourceKind.GROUPS: _GROUPS,
}
#: Below this many dead conjunctions a patched index is not compacted.
_COMPACT_MIN = 256


def reads_customer(checked: CheckedRule) -> bool:
    """Whether the rule reads stored customer data (fields, attributes, user groups,
    collections other than ``cart.lines``, ``IN SEGMENT``): then it cannot hold for an
    anonymous visitor, as ``services.evaluate`` decides ``needs_customer``."""
    return bool(
        checked.segments
        or checked.customer_fields
        or checked.attributes
        or (checked.collections - {"cart.lines"})
    )


@dataclass(frozen=True)
class _Part:
    """The conjunctions with one range of atom counts; ids index these arrays."""

    slots: Ids  # the audience of each conjunction
    need: npt.NDArray[np.int8]  # its number of atoms
    rset: Ids  # its set of residual tests (an index into _State.sets), -1 for none
    guarded: Mask  # it has negated atoms
    alive: Mask
    impure: int = 0  # conjunctions with residuals
    dead: int = 0

    @staticmethod
    def empty() -> _Part:
        no = np.zeros(0, dtype=bool)
        return _Part(_EMPTY_IDS, np.zeros(0, dtype=np.int8), _EMPTY_IDS, no, no)

    def __len__(self) -> int:
        return int(self.slots.size)

    def take(
        self,
        ids: Ids,
        rejecting: list[Ids],
        hits: list[Ids],
        checks: list[tuple[_Part, Ids, Ids]],
    ) -> None:
        """Drop the candidate conjunctions a fact rejects (``rejecting``: the negated
        posting lists of the facts), and split the others into matches (no residual)
        and ones to check."""
        if self.dead:
            ids = ids[self.alive[ids]]
        if rejecting:
            rejected = np.zeros(self.slots.size, dtype=bool)
            rejected[rejecting[0] if len(rejecting) == 1 else np.concatenate(rejecting)] = True
            ids = ids[~rejected[ids]]
        if not self.impure:
            hits.append(self.slots[ids])
            return
        rsets = self.rset[ids]
        pure = rsets < 0
        hits.append(self.slots[ids[pure]])
        if pure.all():
            return
        rest = ~pure
        checks.append((self, ids[rest], rsets[rest]))


@dataclass(frozen=True)
class _State(Generic[K]):
    keys: list[K]  # slot -> key; a removed key keeps its slot until compaction
    slot_of: dict[K, int]  # live keys only
    key_array: npt.NDArray[np.object_]
    slot_alive: Mask
    reads: Mask  # slot -> reads customer data
    parts: tuple[_Part, _Part, _Part]  # K = 0, K = 1, K >= 2
    values: dict[Source, dict[AtomValue, Entry]]
    present: dict[Source, Entry]
    residual_ids: dict[Rule, int]
    predicates: list[Predicate]  # residual id -> its compiled test
    set_ids: dict[tuple[int, ...], int]
    sets: list[tuple[int, ...]]  # the residual ids of each conjunction's residual set
    # derived from the above by _finish, for the per-request path
    probe: tuple[tuple[int, str, bool, dict[AtomValue, Entry], Entry | None], ...] = ()
    segments: dict[AtomValue, Entry] = field(default_factory=dict)
    zero_pure: Ids = field(default_factory=lambda: _EMPTY_IDS)  # slots always matched
    zero_tested: Ids = field(default_factory=lambda: _EMPTY_IDS)  # Z ids with tests

    @property
    def live(self) -> int:
        return len(self.slot_of)


def _empty_state() -> _State[Any]:
    empty = _Part.empty()
    return _State(
        keys=[],
        slot_of={},
        key_array=np.empty(0, dtype=object),
        slot_alive=np.zeros(0, bool),
        reads=np.zeros(0, bool),
        parts=(empty, empty, empty),
        values={},
        present={},
        residual_ids={},
        predicates=[],
        set_ids={},
        sets=[],
    )


class AudienceIndex(Generic[K]):
    """Audiences (rules, or None for GLOBAL) under keys; see the module docstring."""

    __slots__ = ("_cap", "_schema", "_state")

    def __init__(self, schema: Schema, cap: int, state: _State[K]) -> None:
        self._schema = schema
        self._cap = cap
        self._state = state

    @classmethod
    def build(
        cls,
        audiences: Iterable[tuple[K, CheckedRule | None]],
        schema: Schema,
        *,
        cap: int = DEFAULT_CAP,
    ) -> AudienceIndex[K]:
        """Index ``audiences`` (checked with ``allow_realtime=True`` against ``schema``);
        ``cap`` bounds the conjunctions of one audience. Keys must be distinct."""
        empty: AudienceIndex[K] = cls(schema, cap, _empty_state())
        return empty.with_changes(added=audiences)

    def __len__(self) -> int:
        return self._state.live

    def __contains__(self, key: object) -> bool:
        return key in self._state.slot_of

    def keys(self) -> list[K]:
        """Every key, in build order."""
        state = self._state
        return [k for k, alive in zip(state.keys, state.slot_alive.tolist(), strict=True) if alive]

    def reads_customer(self, key: K) -> bool:
        """Whether ``key``'s audience reads stored customer data (see :func:`reads_customer`);
        the caller skips those for an anonymous visitor (or passes ``known=False``)."""
        slot = self._state.slot_of.get(key)
        if slot is None:
            raise KeyError(f"no audience {key!r} in the index")
        return bool(self._state.reads[slot])

    def stats(self) -> dict[str, int]:
        """Sizes, for benchmarks and logs."""
        state = self._state
        zero, one, multi = state.parts
        return {
            "audiences": state.live,
            "conjunctions": sum(len(p) - p.dead for p in state.parts),
            "z_list": len(zero) - zero.dead,
            "k1": len(one) - one.dead,
            "k2_plus": len(multi) - multi.dead,
            "dead": sum(p.dead for p in state.parts),
            "residual_tests": len(state.predicates),
            "posting_keys": sum(len(v) for v in state.values.values()) + len(state.present),
        }

    # ---- matching ----------------------------------------------------------------------

    def match(
        self,
        profile: Profile,
        now: dt.datetime,
        context: RequestContext | None = None,
        *,
        known: bool = True,
    ) -> list[K]:
        """The keys whose audience is true for this request, in build order.

        ``profile.segments`` / ``profile.inherited_groups`` must be set as for the
        compiled predicates (``Profile.set_segments``). ``known=False`` leaves out the
        audiences that read stored customer data (an anonymous visitor)."""
        hits, checks = self._candidates(profile, context)
        if checks:
            self._check(profile, now, context, hits, checks)
        return self._answer(hits, known)

    def candidates(
        self, profile: Profile, context: RequestContext | None = None, *, known: bool = True
    ) -> list[K]:
        """The keys of the audiences with a conjunction whose atoms all hold (the Z list
        included): what ``match`` tests further, in build order."""
        hits, checks = self._candidates(profile, context)
        hits.extend(part.slots[ids] for part, ids, _ in checks)
        return self._answer(hits, known)

    def _answer(self, hits: list[Ids], known: bool) -> list[K]:
        """The keys of the hit slots, once each, in slot (build) order."""
        state = self._state
        hits = [h for h in hits if h.size]
        if not hits:
            return []
        # Sorting the hits and dropping repeats beats np.unique and a mask over every
        # slot by far for the thousands of hits of a large catalog.
        slots = np.sort(np.concatenate(hits) if len(hits) > 1 else hits[0])
        if slots.size > 1:
            repeat = slots[1:] == slots[:-1]
            if repeat.any():
                slots = slots[np.concatenate(([True], ~repeat))]
        if not known:
            slots = slots[~state.reads[slots]]
        result: list[K] = state.key_array[slots].tolist()
        return result

    def _candidates(
        self, profile: Profile, context: RequestContext | None
    ) -> tuple[list[Ids], list[tuple[_Part, Ids, Ids]]]:
        state = self._state
        ones, multis, not_zero, not_one, not_multi = _posting_lists(state, profile, context)
        zero, one, multi = state.parts
        hits: list[Ids] = [state.zero_pure]
        checks: list[tuple[_Part, Ids, Ids]] = []
        if state.zero_tested.size:
            zero.take(state.zero_tested, not_zero, hits, checks)
        if ones:
            ids = ones[0] if len(ones) == 1 else np.concatenate(ones)
            one.take(ids, not_one, hits, checks)
        if len(multis) > 1:  # a K >= 2 conjunction is in at least two lists
            counts = np.bincount(np.concatenate(multis))
            matched = np.flatnonzero(counts == multi.need[: counts.size]).astype(np.int32)
            if matched.size:
                multi.take(matched, not_multi, hits, checks)
        return hits, checks

    def _check(
        self,
        profile: Profile,
        now: dt.datetime,
        context: RequestContext | None,
        hits: list[Ids],
        checks: list[tuple[_Part, Ids, Ids]],
    ) -> None:
        """Add the candidates whose residual tests all hold: each residual set present
        among the candidates is decided once, each residual test evaluated at most once."""
        state = self._state
        predicates, sets = state.predicates, state.sets
        memo: dict[int, bool] = {}

        def holds(rset: int) -> bool:
            for r in sets[rset]:
                value = memo.get(r)
                if value is None:
                    value = memo[r] = predicates[r](profile, now, context)
                if not value:
                    return False
            return True

        ok = np.zeros(len(sets), dtype=bool)
        decided: set[int] = set()
        for part, ids, rsets in checks:
            for rset in np.flatnonzero(np.bincount(rsets)).tolist():
                if rset not in decided:
                    decided.add(rset)
                    ok[rset] = holds(rset)
            hits.append(part.slots[ids[ok[rsets]]])

    # ---- changes -----------------------------------------------------------------------

    def with_changes(
        self,
        added: Iterable[tuple[K, CheckedRule | None]] = (),
        removed: Iterable[K] = (),
    ) -> AudienceIndex[K]:
        """A new index with ``removed`` keys dropped and ``added`` audiences indexed: an
        added key already present replaces its audience in place, a new key comes after
        the others. Equal to building the changed list from scratch (same answers);
        this index is left as it was."""
        state = self._state
        additions = list(added)
        gone = list(removed)
        seen: set[K] = set()
        for key, _ in additions:
            if key in seen:
                raise ValueError(f"audience {key!r} is given twice")
            seen.add(key)
        for key in gone:
            if key not in state.slot_of:
                raise KeyError(f"cannot remove audience {key!r}: it is not in the index")
            if key in seen:
                raise ValueError(f"audience {key!r} is both added and removed")
        replaced = [state.slot_of[k] for k, _ in additions if k in state.slot_of]
        killed = [state.slot_of[k] for k in gone] + replaced
        planned = [(key, self._plan(checked)) for key, checked in additions]
        new = _Patch(state, self._schema).apply(planned, killed, replaced)
        if sum(p.dead for p in new.parts) > max(_COMPACT_MIN, sum(map(len, new.parts)) // 4):
            new = _compact(new)
        return AudienceIndex(self._schema, self._cap, _finish(new))

    def _plan(self, checked: CheckedRule | None) -> tuple[tuple[Conjunction, ...], bool]:
        if checked is None:
            return (Conjunction(),), False  # GLOBAL: everyone, anonymous visitors too
        return conjunctions(checked.rule, self._schema, self._cap), reads_customer(checked)


# ---- the request's facts ---------------------------------------------------------------


def _posting_lists(
    state: _State[Any], profile: Profile, context: RequestContext | None
) -> tuple[list[Ids], list[Ids], list[Ids], list[Ids], list[Ids]]:
    """The posting lists of every fact of the request, by the lists of an Entry."""
    entries: list[Entry] = []
    segments = state.segments
    if segments:
        for code in profile.segments:
            entry = segments.get(code)
            if entry is not None:
                entries.append(entry)
    for kind, name, multi, values, present in state.probe:
        value: Any
        if kind == _FIELD:
            value = profile.fields.get(name)
        elif kind == _ATTRIBUTE:
            value = profile.attributes.get(name)
        elif kind == _CONTEXT:
            value = None if context is None else getattr(context, name)
        elif kind == _QUERY:
            value = None if context is None else context.query.get(name)
        else:  # user_groups: the explicit list, then the inherited groups
            explicit = profile.fields.get(GROUPS_FIELD)
            inherited = profile.inherited_groups
            if explicit is None and not inherited:
                continue
            value = [*(explicit or ()), *inherited]
        if value is None:
            continue
        if present is not None:
            entries.append(present)
        if not values:
            continue
        if multi:
            if isinstance(value, list | tuple):
                for element in {lower(x) for x in value if isinstance(x, str)}:
                    entry = values.get(element)
                    if entry is not None:
                        entries.append(entry)
            continue
        if isinstance(value, str):
            entry = values.get(lower(value))
        elif isinstance(value, bool):
            entry = values.get(value)
        else:
            continue
        if entry is not None:
            entries.append(entry)
    lists: tuple[list[Ids], list[Ids], list[Ids], list[Ids], list[Ids]] = ([], [], [], [], [])
    for entry in entries:
        for ids, out in zip(entry, lists, strict=True):
            if ids is not None:
                out.append(ids)
    return lists


# ---- building and patching -------------------------------------------------------------


@dataclass
class _Growth:
    """Conjunctions appended to one part by a patch."""

    base: int
    slots: list[int] = field(default_factory=list)
    need: list[int] = field(default_factory=list)
    rset: list[int] = field(default_factory=list)
    guarded: list[bool] = field(default_factory=list)

    def add(self, slot: int, atoms: int, rset: int, guarded: bool) -> int:
        self.slots.append(slot)
        self.need.append(atoms)
        self.rset.append(rset)
        self.guarded.append(guarded)
        return self.base + len(self.slots) - 1

    def grown(self, part: _Part, kill: Mask | None) -> _Part:
        alive = part.alive if kill is None else part.alive & ~kill
        dead = part.dead if kill is None else int(alive.size - np.count_nonzero(alive))
        if not self.slots:
            return replace(part, alive=alive, dead=dead)
        return _Part(
            np.concatenate([part.slots, np.array(self.slots, dtype=np.int32)]),
            np.concatenate([part.need, np.array(self.need, dtype=np.int8)]),
            np.concatenate([part.rset, np.array(self.rset, dtype=np.int32)]),
            np.concatenate([part.guarded, np.array(self.guarded, dtype=bool)]),
            np.concatenate([alive, np.ones(len(self.slots), dtype=bool)]),
            part.impure + sum(r >= 0 for r in self.rset),
            dead,
        )


@dataclass
class _Patch:
    """One application of changes to a state (copy on write: the old state stays)."""

    state: _State[Any]
    schema: Schema
    residual_ids: dict[Rule, int] = field(init=False)
    predicates: list[Predicate] = field(init=False)
    set_ids: dict[tuple[int, ...], int] = field(init=False)
    sets: list[tuple[int, ...]] = field(init=False)

    def __post_init__(self) -> None:
        self.residual_ids = dict(self.state.residual_ids)
        self.predicates = list(self.state.predicates)
        self.set_ids = dict(self.state.set_ids)
        self.sets = list(self.state.sets)

    def residual_set(self, rules: frozenset[Rule]) -> int:
        if not rules:
            return -1
        ids: set[int] = set()
        for rule in rules:
            rid = self.residual_ids.get(rule)
            if rid is None:
                rid = self.residual_ids[rule] = len(self.predicates)
                self.predicates.append(compile_predicate(rule, self.schema))
            ids.add(rid)
        key = tuple(sorted(ids))
        sid = self.set_ids.get(key)
        if sid is None:
            sid = self.set_ids[key] = len(self.sets)
            self.sets.append(key)
        return sid

    def apply(
        self,
        planned: list[tuple[Any, tuple[tuple[Conjunction, ...], bool]]],
        killed: list[int],
        replaced: list[int],
    ) -> _State[Any]:
        state = self.state
        keys = list(state.keys)
        slot_of = dict(state.slot_of)
        new_keys: list[Any] = []
        reads = state.reads.copy()
        new_reads: list[bool] = []
        for slot in killed:
            slot_of.pop(keys[slot], None)
        growth = tuple(_Growth(len(p)) for p in state.parts)
        added_values: dict[tuple[Source, AtomValue], _Lists] = {}
        added_present: dict[Source, _Lists] = {}
        for key, (conjs, reads_customer_data) in planned:
            found = state.slot_of.get(key)  # a replaced audience keeps its place
            if found is None:
                slot = len(keys) + len(new_keys)
                new_keys.append(key)
                new_reads.append(reads_customer_data)
            else:
                slot = found
                reads[slot] = reads_customer_data
            slot_of[key] = slot
            for conj in conjs:
                size = len(conj.atoms)
                which = _ZERO if size == 0 else _ONE if size == 1 else _MULTI
                rset = self.residual_set(conj.residuals)
                local = growth[which].add(slot, size, rset, bool(conj.negated))
                for atoms, at in ((conj.atoms, which - 1), (conj.negated, 2 + which)):
                    for atom in atoms:
                        if atom.values is None:
                            added_present.setdefault(atom.source, _lists())[at].append(local)
                            continue
                        for v in atom.values:
                            added_values.setdefault((atom.source, v), _lists())[at].append(local)
        killed_slots = np.array(sorted(set(killed)), dtype=np.int32)
        parts = [
            grow.grown(part, np.isin(part.slots, killed_slots) if killed else None)
            for part, grow in zip(state.parts, growth, strict=True)
        ]
        values = {s: dict(v) for s, v in state.values.items()}
        for (source, v), more in added_values.items():
            by_value = values.setdefault(source, {})
            by_value[v] = _extend(by_value.get(v), more)
        present = dict(state.present)
        for source, more in added_present.items():
            present[source] = _extend(present.get(source), more)
        alive = state.slot_alive.copy()
        removed = set(killed) - set(replaced)
        if removed:
            alive[sorted(removed)] = False
        key_array = np.empty(len(new_keys), dtype=object)
        key_array[:] = new_keys
        return _State(
            keys=keys + new_keys,
            slot_of=slot_of,
            key_array=np.concatenate([state.key_array, key_array]),
            slot_alive=np.concatenate([alive, np.ones(len(new_keys), dtype=bool)]),
            reads=np.concatenate([reads, np.array(new_reads, dtype=bool)]),
            parts=(parts[0], parts[1], parts[2]),
            values=values,
            present=present,
            residual_ids=self.residual_ids,
            predicates=self.predicates,
            set_ids=self.set_ids,
            sets=self.sets,
        )


_Lists: TypeAlias = tuple[list[int], list[int], list[int], list[int], list[int]]


def _lists() -> _Lists:
    return ([], [], [], [], [])


def _extend(entry: Entry | None, more: _Lists) -> Entry:
    old = entry if entry is not None else (None, None, None, None, None)
    a, b, c, d, e = (_append(ids, extra) for ids, extra in zip(old, more, strict=True))
    return (a, b, c, d, e)


def _append(ids: Ids | None, more: list[int]) -> Ids | None:
    if not more:
        return ids
    extra = np.array(more, dtype=np.int32)
    return extra if ids is None else np.concatenate([ids, extra])


def _compact(state: _State[Any]) -> _State[Any]:
    """The same index without dead slots, conjunctions, residual sets and tests."""
    slot_map = (np.cumsum(state.slot_alive) - 1).astype(np.int32)
    alive_slots = state.slot_alive.tolist()
    keys = [k for k, alive in zip(state.keys, alive_slots, strict=True) if alive]
    used_sets = sorted({int(r) for p in state.parts for r in np.unique(p.rset[p.alive]) if r >= 0})
    used_tests = sorted({r for sid in used_sets for r in state.sets[sid]})
    test_map = {old: new for new, old in enumerate(used_tests)}
    sets = [tuple(test_map[r] for r in state.sets[sid]) for sid in used_sets]
    set_map = np.full(len(state.sets) + 1, -1, dtype=np.int32)  # the last: -1 stays -1
    set_map[used_sets] = np.arange(len(used_sets), dtype=np.int32)
    parts: list[_Part] = []
    id_maps: list[Ids] = []
    for part in state.parts:
        keep = part.alive
        id_maps.append((np.cumsum(keep) - 1).astype(np.int32))
        rset = set_map[part.rset[keep]]
        parts.append(
            _Part(
                slot_map[part.slots[keep]],
                part.need[keep],
                rset,
                part.guarded[keep],
                keep[keep],
                int(np.count_nonzero(rset >= 0)),
            )
        )

    def remap(entry: Entry) -> Entry | None:
        out: list[Ids | None] = []
        for ids, which in zip(entry, _ENTRY_PARTS, strict=True):
            if ids is not None:
                ids = id_maps[which][ids[state.parts[which].alive[ids]]]
            out.append(ids if ids is not None and ids.size else None)
        if all(ids is None for ids in out):
            return None
        return (out[0], out[1], out[2], out[3], out[4])

    values: dict[Source, dict[AtomValue, Entry]] = {}
    for source, by_value in state.values.items():
        kept = {v: e for v, e in ((v, remap(e)) for v, e in by_value.items()) if e is not None}
        if kept:
            values[source] = kept
    present = {s: e for s, e in ((s, remap(e)) for s, e in state.present.items()) if e is not None}
    rule_of = {rid: rule for rule, rid in state.residual_ids.items()}
    return _State(
        keys=keys,
        slot_of={k: i for i, k in enumerate(keys)},
        key_array=state.key_array[state.slot_alive],
        slot_alive=np.ones(len(keys), dtype=bool),
        reads=state.reads[state.slot_alive],
        parts=(parts[0], parts[1], parts[2]),
        values=values,
        present=present,
        residual_ids={rule_of[old]: new for old, new in test_map.items()},
        predicates=[state.predicates[old] for old in used_tests],
        set_ids={s: i for i, s in enumerate(sets)},
        sets=sets,
    )


def _finish(state: _State[Any]) -> _State[Any]:
    """Derive the per-request structures: the source probe, the Z list's groups."""
    sources = [s for s in {*state.values, *state.present} if s != SEGMENTS]
    sources.sort(key=lambda s: (s.kind.value, s.name))
    probe = tuple(
        (
            _KIND_CODE[s.kind],
            s.name,
            s.multi,
            state.values.get(s, {}),
            state.present.get(s),
        )
        for s in sources
    )
    zero = state.parts[_ZERO]
    untested = zero.alive & (zero.rset < 0) & ~zero.guarded
    return replace(
        state,
        probe=probe,
        segments=state.values.get(SEGMENTS, {}),
        zero_pure=zero.slots[untested],
        zero_tested=np.flatnonzero(zero.alive & ~untested).astype(np.int32),
    )
