"""User groups and the customer overview.

A customer's effective user groups are computed when read, never stored merged: the
explicit groups (``customers.user_groups``) together with the group of every TARGETABLE
segment (active and within its dates) the customer is a member of. Each group keeps its
sources, so the five cases of the segments issue hold by construction:

1. every segment a customer is in contributes its group;
2./3. a group both inherited and explicit appears once, with both sources (whatever the
   order they arrived in);
4. removing the explicit assignment leaves the segment source;
5. leaving the segment leaves the explicit source.

Groups compare case-insensitively (as rule strings do); the explicit spelling is shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segmint.compile.python import evaluate_node
from segmint.errors import ConfigError, NotFoundError
from segmint.rules.derived import DERIVED
from segmint.store import outbox
from segmint.store.outbox import Work
from segmint.store.segments import SegmentRepository

if TYPE_CHECKING:
    from segmint.store.base import Store

EXPLICIT = "explicit"


@dataclass
class UserGroup:
    """One effective group: explicit or not, and the segments it is inherited from."""

    group: str
    explicit: bool = False
    segments: list[str] = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        """``explicit`` and/or ``segment:CODE`` for each segment, in that order."""
        return ([EXPLICIT] if self.explicit else []) + [f"segment:{c}" for c in self.segments]

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "sources": self.sources}


@dataclass(frozen=True)
class CustomerSegment:
    code: str
    name: str
    since: dt.datetime
    reason: str
    status: str
    targetable: bool
    user_group: str


@dataclass(frozen=True)
class CustomerOverview:
    id: str
    profile: dict[str, Any]
    attributes: dict[str, Any]
    derived: dict[str, Any]
    segments: list[CustomerSegment]
    user_groups: list[UserGroup]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "profile": self.profile,
            "attributes": self.attributes,
            "derived": self.derived,
            "segments": [s.__dict__ for s in self.segments],
            "user_groups": [g.to_dict() for g in self.user_groups],
        }


def _customer_segments(store: Store, customer_id: str, now: dt.datetime) -> list[CustomerSegment]:
    repo = SegmentRepository(store)
    records = {r.code: r.definition for r in repo.all()}
    result = []
    for m in repo.memberships_of(customer_id):
        definition = records.get(m.segment_code)
        if definition is None:  # memberships of a deleted segment do not survive it
            continue
        result.append(
            CustomerSegment(
                code=m.segment_code,
                name=definition.name,
                since=m.since,
                reason=m.reason,
                status=definition.status(now),
                targetable=definition.is_targetable(now),
                user_group=definition.group,
            )
        )
    return result


def _merge(explicit: list[str], segments: list[CustomerSegment]) -> list[UserGroup]:
    groups: dict[str, UserGroup] = {}
    for name in explicit:
        groups.setdefault(name.lower(), UserGroup(name)).explicit = True
    for s in segments:
        if s.targetable:
            entry = groups.setdefault(s.user_group.lower(), UserGroup(s.user_group))
            entry.segments.append(s.code)
    return [groups[k] for k in sorted(groups)]


def user_groups(store: Store, customer_id: str, now: dt.datetime) -> list[UserGroup]:
    """The customer's effective user groups with their sources, sorted by group."""
    store.require_schema()
    explicit = SegmentRepository(store).explicit_groups(customer_id)
    if explicit is None:
        raise NotFoundError(f"error: customer {customer_id!r} does not exist")
    return _merge(explicit, _customer_segments(store, customer_id, now))


def _group_name(group: str) -> str:
    name = group.strip()
    if not name:
        raise ConfigError("error: user group: an empty name")
    return name


def assign_group(store: Store, customer_id: str, group: str, now: dt.datetime) -> bool:
    """Assign ``group`` explicitly; False if it already was (never duplicated)."""
    store.require_schema()
    name = _group_name(group)
    repo = SegmentRepository(store)
    with store.transaction():
        explicit = repo.explicit_groups(customer_id)
        if explicit is None:
            raise NotFoundError(f"error: customer {customer_id!r} does not exist")
        if name.lower() in {g.lower() for g in explicit}:
            return False
        repo.set_explicit_groups(customer_id, [*explicit, name], now)
        batch = outbox.queue_ids(store, [customer_id], _GROUPS_CHANGED)
    _reevaluate(store, customer_id, now, batch)
    return True


def unassign_group(store: Store, customer_id: str, group: str, now: dt.datetime) -> bool:
    """Remove an explicit assignment; False if there was none. A group inherited from a
    segment stays (it is not an assignment)."""
    store.require_schema()
    name = _group_name(group).lower()
    repo = SegmentRepository(store)
    with store.transaction():
        explicit = repo.explicit_groups(customer_id)
        if explicit is None:
            raise NotFoundError(f"error: customer {customer_id!r} does not exist")
        kept = [g for g in explicit if g.lower() != name]
        if len(kept) == len(explicit):
            return False
        repo.set_explicit_groups(customer_id, kept, now)
        batch = outbox.queue_ids(store, [customer_id], _GROUPS_CHANGED)
    _reevaluate(store, customer_id, now, batch)
    return True


_GROUPS_CHANGED = Work(changed=frozenset({"user_groups"}))


def _reevaluate(store: Store, customer_id: str, now: dt.datetime, batch: int | None) -> None:
    # Rules reading the `user_groups` field see the explicit groups: keep their
    # memberships exact at once, like any other change to a customer (the change and its
    # outbox batch committed together, store/outbox.py).
    from segmint.services.membership import reevaluate_customers

    reevaluate_customers(
        store,
        [customer_id],
        now,
        changed=_GROUPS_CHANGED.changed,
        outbox_batches=[batch] if batch is not None else [],
    )


def segments_of(store: Store, customer_id: str, at: dt.datetime | None = None) -> list[str]:
    """Codes of the segments the customer is in now, or was in at instant ``at``
    (from history: exact, including segments deleted since)."""
    store.require_schema()
    repo = SegmentRepository(store)
    if repo.explicit_groups(customer_id) is None and not repo.segments_at(customer_id, at or _END):
        raise NotFoundError(f"error: customer {customer_id!r} does not exist")
    if at is None:
        return [m.segment_code for m in repo.memberships_of(customer_id)]
    return repo.segments_at(customer_id, at)


_END = dt.datetime.max.replace(tzinfo=dt.UTC)


def customer_overview(store: Store, customer_id: str, now: dt.datetime) -> CustomerOverview:
    """Profile, derived fields (exactly as rules see them), segments with since/why and
    status, and user groups with their sources."""
    store.require_schema()
    schema = store.rule_schema()
    profiles = store.load_profiles([customer_id])
    if customer_id not in profiles:
        raise NotFoundError(f"error: customer {customer_id!r} does not exist")
    profile = profiles[customer_id]
    # The derived fields' defining aggregates, evaluated by the Python engine: the very
    # numbers a rule like `total_spent >= 100` compares.
    derived = {name: evaluate_node(node, profile, now, schema) for name, node in DERIVED.items()}
    segments = _customer_segments(store, customer_id, now)
    explicit = [str(g) for g in (profile.fields.get("user_groups") or [])]
    return CustomerOverview(
        id=customer_id,
        profile=dict(profile.fields),
        attributes=dict(profile.attributes),
        derived=derived,
        segments=segments,
        user_groups=_merge(explicit, segments),
    )
