"""Lever use cases (TARGETING.md §1): apply and export the targeting document, one lever
per kind, list, show, history, delete, and which levers read a segment.

A document is validated whole (:func:`segmint.targeting.document.read_document`) against
the store's schema, segments and the levers it does not replace, then written in ONE
transaction, set-based: every lever is upserted by code (a new version only if it
changed), and with ``prune`` the levers absent from the document are deleted. Nothing is
written if anything is wrong. References between levers (a promotion's campaign, a
placement item's ``when_near``) are kept whole: deleting what a remaining lever names is
refused, naming it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from segmint.errors import ConfigError, ConflictError, NotFoundError, RuleError
from segmint.rules import parse
from segmint.rules.groups import observed_groups
from segmint.services.segment_graph import referenced_segments
from segmint.store.base import Store
from segmint.store.levers import LeverRepository, LeverRow, LeverVersion
from segmint.store.redemptions import RedemptionRepository
from segmint.store.segments import SegmentRepository
from segmint.targeting import document as doc
from segmint.targeting import money
from segmint.targeting.model import (
    AccountPortal,
    Campaign,
    Lever,
    LeverKind,
    Placement,
    PriceList,
    Promotion,
    TargetingDocument,
    key_of,
    kind_of,
)

__all__ = [
    "ApplyReport",
    "LeverChange",
    "apply_document",
    "audience_problem",
    "check_lever",
    "current_document",
    "default_currency",
    "delete_lever",
    "export_document",
    "lever_history",
    "lever_rows",
    "levers_reading_segment",
    "list_levers",
    "put_lever",
    "rule_problem",
    "show_lever",
]


@dataclass(frozen=True)
class LeverChange:
    kind: str
    code: str
    change: str  # create | update | delete
    version: int


@dataclass(frozen=True)
class ApplyReport:
    changes: list[LeverChange]
    unchanged: int
    dry_run: bool

    def counts(self) -> dict[str, int]:
        found = {"create": 0, "update": 0, "delete": 0}
        for c in self.changes:
            found[c.change] += 1
        return {**found, "unchanged": self.unchanged}

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            **self.counts(),
            "changes": [
                {"kind": c.kind, "code": c.code, "change": c.change, "version": c.version}
                for c in self.changes
            ],
        }


def default_currency(store: Store) -> str:
    """The store's default currency (``segmint_meta.default_currency``, default USD)."""
    rows = store._q("SELECT value FROM segmint_meta WHERE key = 'default_currency'")
    return str(rows[0][0]) if rows else money.DEFAULT_CURRENCY


def _segments(store: Store) -> dict[str, bool]:
    return {r.code: r.definition.kind.materialized for r in SegmentRepository(store).all()}


def _read(
    store: Store, data: Mapping[str, Any], known: Mapping[LeverKind, set[str]]
) -> TargetingDocument:
    return doc.read_document(
        data,
        store.rule_schema(),
        segments=_segments(store),
        known=known,
        default_currency=default_currency(store),
    )


def current_document(store: Store) -> TargetingDocument:
    """The stored catalog as a document. A stored lever that no longer reads (a rule over
    an attribute dropped since) is left out: it applies to nobody."""
    store.require_schema()
    levers = _parse_rows(store, LeverRepository(store).all())
    return TargetingDocument(
        campaigns=tuple(x for x in levers if isinstance(x, Campaign)),
        promotions=tuple(x for x in levers if isinstance(x, Promotion)),
        price_lists=tuple(x for x in levers if isinstance(x, PriceList)),
        placements=tuple(x for x in levers if isinstance(x, Placement)),
        accounts=tuple(x for x in levers if isinstance(x, AccountPortal)),
    )


def export_document(store: Store) -> dict[str, Any]:
    """The stored levers as one targeting document (applying it changes nothing)."""
    store.require_schema()
    grouped: dict[str, list[dict[str, Any]]] = {kind.value: [] for kind in LeverKind}
    for row in LeverRepository(store).all():
        grouped[row.kind].append(row.data)
    return {kind: sorted(items, key=_key_of_data) for kind, items in grouped.items()}


def _key_of_data(data: Mapping[str, Any]) -> str:
    return str(data.get("code", data.get("id", "")))


# ---- references between levers ------------------------------------------------------------


def _names(lever: Lever) -> Iterator[tuple[LeverKind, str]]:
    """The other levers this one names."""
    if isinstance(lever, Promotion) and lever.campaign:
        yield LeverKind.CAMPAIGN, lever.campaign
    if isinstance(lever, Placement):
        for item in lever.items:
            if item.when_near:
                yield LeverKind.PROMOTION, item.when_near


def _refusals(remaining: list[Lever], deleted: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """(path, message) for each remaining lever that names a deleted one."""
    problems: list[tuple[str, str]] = []
    for lever in remaining:
        for kind, code in _names(lever):
            if (kind.value, code) in deleted:
                problems.append(
                    (
                        f"{kind.value}[{code}]",
                        f"cannot delete {kind.singular} {code!r}: "
                        f"{kind_of(lever).singular} {key_of(lever)!r} names it",
                    )
                )
    return problems


def _codes_taken(promotions: list[Promotion], others: list[Lever]) -> list[tuple[str, str]]:
    """Promo codes are unique over every promotion (ignoring case and surrounding space)."""
    owner: dict[str, str] = {}
    for lever in others:
        if isinstance(lever, Promotion):
            for code in lever.codes:
                owner[code.strip().lower()] = lever.code
    problems = []
    for promotion in promotions:
        for code in promotion.codes:
            other = owner.get(code.strip().lower())
            if other is not None and other != promotion.code:
                problems.append(
                    (
                        f"promotions[{promotion.code}].codes",
                        f"code {code!r} is already a code of promotion {other!r}",
                    )
                )
    return problems


# ---- apply ------------------------------------------------------------------------------


def apply_document(
    store: Store,
    data: Mapping[str, Any],
    now: dt.datetime,
    *,
    who: str | None,
    dry_run: bool = False,
    prune: bool = False,
) -> ApplyReport:
    """Validate the whole document, then upsert every lever (a version only for those
    that changed) and, with ``prune``, delete the levers it does not list — in one
    transaction, or (``dry_run``) only report what would change. Raises
    :class:`~segmint.targeting.document.DocumentError` listing every problem."""
    store.require_schema()
    repo = LeverRepository(store)
    with store.writer_lock(), store.transaction():
        stored = repo.all()
        listed = _listed_keys(data)
        outside = [r for r in stored if (r.kind, r.code) not in listed]
        kept = outside if not prune else []
        known: dict[LeverKind, set[str]] = {}
        for row in kept:
            known.setdefault(LeverKind(row.kind), set()).add(row.code)
        document = _read(store, data, known)
        levers = document.levers()
        kept_levers = _parse_rows(store, kept)
        problems = _codes_taken(list(document.promotions), kept_levers)
        wanted: dict[tuple[str, str], Mapping[str, Any] | None] = {
            (kind_of(lever).value, key_of(lever)): doc.lever_to_data(lever) for lever in levers
        }
        if prune:
            deleted = {(r.kind, r.code) for r in outside}
            wanted.update(dict.fromkeys(deleted))
        if problems:
            raise doc.DocumentError(problems)
        changes = repo.apply(wanted, now, who, write=not dry_run)
        if not dry_run:
            _forget_codes(store, changes)
    unchanged = len(levers) - sum(1 for c in changes if c[2] != "delete")
    return ApplyReport([LeverChange(*c) for c in changes], unchanged=unchanged, dry_run=dry_run)


def _listed_keys(data: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The (kind, code) the document lists, read leniently (validation comes after)."""
    found: set[tuple[str, str]] = set()
    if not isinstance(data, Mapping):
        return found
    for kind in LeverKind:
        items = data.get(kind.value)
        if isinstance(items, list):
            key = "id" if kind is LeverKind.ACCOUNT else "code"
            for item in items:
                if isinstance(item, Mapping) and isinstance(item.get(key), str):
                    found.add((kind.value, item[key]))
    return found


def _parse_rows(store: Store, rows: list[LeverRow]) -> list[Lever]:
    """Stored levers as data, leniently (one that no longer reads is left out)."""
    schema = store.rule_schema()
    segments = _segments(store)
    known = {LeverKind(k): v for k, v in LeverRepository(store).codes().items()}
    currency = default_currency(store)
    references = doc.known_references(known)  # once, not per lever
    out: list[Lever] = []
    for row in rows:
        try:
            out.append(
                doc.lever_from_data(
                    LeverKind(row.kind),
                    row.data,
                    schema,
                    segments=segments,
                    known=known,
                    default_currency=currency,
                    references=references,
                )
            )
        except ConfigError:
            continue
    return out


# ---- one lever ----------------------------------------------------------------------------


def _kind(kind: str) -> LeverKind:
    try:
        return LeverKind(kind)
    except ValueError:
        names = ", ".join(k.value for k in LeverKind)
        raise ConfigError(f"error: lever kind {kind!r}: expected one of {names}") from None


def put_lever(
    store: Store,
    kind: str,
    code: str,
    data: Mapping[str, Any],
    now: dt.datetime,
    *,
    who: str | None,
    expected_version: int | None = None,
) -> tuple[Lever, LeverChange | None]:
    """Create or replace one lever (the API's resource per kind); None when unchanged.

    ``expected_version``: the version the caller read (a newer one is refused with
    :class:`ConflictError`); ``0`` means the lever must not exist yet (a create that
    must not replace another's lever)."""
    store.require_schema()
    lever_kind = _kind(kind)
    repo = LeverRepository(store)
    with store.writer_lock(), store.transaction():
        current = repo.get(lever_kind.value, code)
        if expected_version == 0 and current is not None:
            raise ConflictError(
                f"error: {lever_kind.singular} {code!r} already exists "
                f"(version {current.version}): choose another code or edit it"
            )
        if expected_version and (current is None or current.version != expected_version):
            have = "does not exist" if current is None else f"is at version {current.version}"
            raise ConflictError(
                f"error: {lever_kind.singular} {code!r} {have}, not version {expected_version}: "
                "read it again and retry"
            )
        lever = _checked(store, repo, lever_kind, code, data)
        changes = repo.apply({(lever_kind.value, code): doc.lever_to_data(lever)}, now, who)
    return lever, (LeverChange(*changes[0]) if changes else None)


def check_lever(store: Store, kind: str, code: str, data: Mapping[str, Any]) -> Lever:
    """Validate one lever as :func:`put_lever` would, writing nothing (raises
    :class:`~segmint.targeting.document.DocumentError` with every problem)."""
    store.require_schema()
    return _checked(store, LeverRepository(store), _kind(kind), code, data)


def _checked(
    store: Store, repo: LeverRepository, lever_kind: LeverKind, code: str, data: Mapping[str, Any]
) -> Lever:
    known = {LeverKind(k): v for k, v in repo.codes().items()}
    lever = doc.lever_from_data(
        lever_kind,
        data,
        store.rule_schema(),
        segments=_segments(store),
        known=known,
        default_currency=default_currency(store),
    )
    if key_of(lever) != code:
        raise ConfigError(
            f"error: {lever_kind.singular} code: the body says {key_of(lever)!r}, the path {code!r}"
        )
    if isinstance(lever, Promotion):
        others = _parse_rows(
            store, [r for r in repo.all() if (r.kind, r.code) != (lever_kind.value, code)]
        )
        problems = _codes_taken([lever], others)
        if problems:
            raise doc.DocumentError(problems)
    return lever


def delete_lever(
    store: Store,
    kind: str,
    code: str,
    now: dt.datetime,
    *,
    who: str | None,
    expected_version: int | None = None,
) -> LeverChange:
    """Delete one lever (its versions stay); refused while a remaining lever names it."""
    store.require_schema()
    lever_kind = _kind(kind)
    repo = LeverRepository(store)
    with store.writer_lock(), store.transaction():
        current = repo.require(lever_kind.value, code, lever_kind.singular)
        if expected_version is not None and current.version != expected_version:
            raise ConflictError(
                f"error: {lever_kind.singular} {code!r} is at version {current.version}, "
                f"not {expected_version}: read it again and retry"
            )
        others = _parse_rows(
            store, [r for r in repo.all() if (r.kind, r.code) != (lever_kind.value, code)]
        )
        refusals = _refusals(others, {(lever_kind.value, code)})
        if refusals:
            raise ConfigError("error: " + "; ".join(message for _, message in refusals))
        changes = repo.apply({(lever_kind.value, code): None}, now, who)
        _forget_codes(store, changes)
    return LeverChange(*changes[0])


def _forget_codes(store: Store, changes: Sequence[tuple[Any, ...]]) -> None:
    """A deleted promotion's generated codes go with it (a promotion created again under
    its code must not inherit them); its redemptions stay, as history."""
    for change in changes:
        kind, code, action = change[0], change[1], change[2]
        if kind == LeverKind.PROMOTION.value and action == "delete":
            RedemptionRepository(store).delete_codes_of(code)


# ---- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeverSummary:
    kind: str
    code: str
    name: str
    version: int
    updated_at: dt.datetime
    updated_by: str | None
    active: bool


def list_levers(store: Store, kind: str | None = None) -> list[LeverSummary]:
    store.require_schema()
    wanted = _kind(kind).value if kind is not None else None
    return [
        LeverSummary(
            r.kind,
            r.code,
            str(r.data.get("name", "")),
            r.version,
            r.updated_at,
            r.updated_by,
            bool(r.data.get("active", True)),
        )
        for r in LeverRepository(store).all(wanted)
    ]


def lever_rows(store: Store, kind: str) -> list[LeverRow]:
    """Every stored lever of one kind, as its document data with version and who."""
    store.require_schema()
    return LeverRepository(store).all(_kind(kind).value)


def audience_problem(store: Store, text: str) -> RuleError | None:
    """What is wrong with an audience, as saving its lever would say; None if valid."""
    store.require_schema()
    return doc.check_audience(text, store.rule_schema(), segments=_segments(store))


def rule_problem(store: Store, text: str, scope: doc.RuleScope = "request") -> RuleError | None:
    """What is wrong with a lever's rule, as saving it would say; None if valid.
    ``request``: an audience or a condition; ``line``: a benefit's target, buy or get."""
    store.require_schema()
    return doc.check_rule(text, store.rule_schema(), segments=_segments(store), scope=scope)


def show_lever(store: Store, kind: str, code: str) -> LeverRow:
    store.require_schema()
    lever_kind = _kind(kind)
    return LeverRepository(store).require(lever_kind.value, code, lever_kind.singular)


def lever_history(store: Store, kind: str, code: str) -> list[LeverVersion]:
    store.require_schema()
    lever_kind = _kind(kind)
    versions = LeverRepository(store).versions(lever_kind.value, code)
    if not versions:
        raise NotFoundError(f"error: {lever_kind.singular} {code!r} has no history")
    return versions


# ---- the segment guard -----------------------------------------------------------------------


def request_rules(lever: Lever) -> Iterator[tuple[str, str]]:
    """(where, rule text) of every rule over the request a lever holds: its audience,
    its condition, its items' audiences (benefit targets read one cart line only)."""
    label = f"{kind_of(lever).singular} {key_of(lever)!r}"
    audience = getattr(lever, "audience", None)
    if audience:
        yield label, audience
    if isinstance(lever, Promotion) and lever.condition:
        yield f"{label} (condition)", lever.condition
    if isinstance(lever, Placement):
        for item in lever.items:
            if item.audience:
                yield f"{label}, item {item.code!r}", item.audience


def levers_reading_segment(store: Store, code: str, group: str) -> list[str]:
    """Where levers read segment ``code``: by ``IN SEGMENT`` or by testing the group it
    gives (``user_groups CONTAINS 'group'``). A rule reading every group (any other use
    of ``user_groups``) does not pin one segment, as for segments (segment_graph)."""
    found: list[str] = []
    for lever in _parse_rows(store, LeverRepository(store).all()):
        for where, text in request_rules(lever):
            try:
                rule = parse(text)
            except RuleError:
                continue
            groups = observed_groups(rule)
            if code in referenced_segments(rule) or (
                groups is not None and group.lower() in {g.lower() for g in groups}
            ):
                found.append(where)
    return found


def levers_by_segment(store: Store, groups: Mapping[str, str]) -> dict[str, list[str]]:
    """:func:`levers_reading_segment` for many segments at once (code -> its user group):
    each lever's rules are parsed once (the segment list shows every segment's readers)."""
    found: dict[str, list[str]] = {code: [] for code in groups}
    by_group: dict[str, list[str]] = {}
    for code, group in groups.items():
        by_group.setdefault(group.lower(), []).append(code)
    for lever in _parse_rows(store, LeverRepository(store).all()):
        for where, text in request_rules(lever):
            try:
                rule = parse(text)
            except RuleError:
                continue
            readers = set(referenced_segments(rule)) & found.keys()
            observed = observed_groups(rule)
            if observed is not None:
                for g in observed:
                    readers.update(by_group.get(g.lower(), ()))
            for code in sorted(readers):
                found[code].append(where)
    return found
