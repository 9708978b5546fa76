"""The rule field ``user_groups`` is the EFFECTIVE groups, on both stores: explicit groups
plus the group of every targetable segment the customer is a member of. Memberships of
the readers follow the sources at once (incremental), at segment boundaries (the worker,
at the exact instant), on group/active/date changes and deletes; the SQL refresh and the
Python engine agree; cycles through groups are refused at save; /v1/evaluate's real-time
rules see the inherited groups."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from segmint.api.app import create_app
from segmint.engine import incremental
from segmint.engine import match as match_engine
from segmint.errors import ConfigError
from segmint.importing.api import import_file
from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.rules import check, parse
from segmint.services import auth
from segmint.services import rules as rules_service
from segmint.services import segments as svc
from segmint.services import user_groups as ug
from segmint.services.ingest import import_and_update
from segmint.services.membership import refresh_segments, run_worker
from segmint.store.base import Store
from segmint.store.memberships import apply_changes

UTC = dt.UTC
NOW = dt.datetime(2024, 5, 1, tzinfo=UTC)
LATER = NOW + dt.timedelta(hours=1)
US = dt.timedelta(microseconds=1)

CUSTOMERS = "id,user_groups\nc1,\nc2,Gold\nc3,staff|x\nc4,\nc5,\nc6,\n"


@pytest.fixture()
def shop(store: Store, tmp_path: Path) -> Store:
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    import_file(store, "customers", tmp_path / "customers.csv")
    return store


def rule(code: str, text: str, **kw: Any) -> SegmentDefinition:
    return SegmentDefinition(code=code, name=code, kind=SegmentKind.RULE, rule_text=text, **kw)


def manual(code: str, **kw: Any) -> SegmentDefinition:
    return SegmentDefinition(code=code, name=code, kind=SegmentKind.MANUAL, **kw)


def changes(store: Store, code: str) -> list[tuple[str, str, dt.datetime, str]]:
    """(customer, enter|exit, instant, trigger) of a segment, in order."""
    return [(c.customer_id, c.change, c.at, c.trigger) for c in svc.history(store, code)]


def test_a_rule_gets_the_members_of_a_segment_giving_its_group_and_loses_them_at_once(
    shop: Store,
) -> None:
    svc.create_segment(shop, manual("vip", user_group="gold"), NOW)
    svc.create_segment(shop, rule("golden", "user_groups CONTAINS 'gold'"), NOW)
    assert svc.members(shop, "golden") == ["c2"]  # explicit 'Gold' (case-insensitive)
    svc.add_members(shop, "vip", ["c1", "c2"], LATER)
    assert svc.members(shop, "golden") == ["c1", "c2"]
    later = LATER + dt.timedelta(minutes=5)
    svc.remove_members(shop, "vip", ["c1", "c2"], later)
    assert svc.members(shop, "golden") == ["c2"]  # c2 keeps the explicit group
    assert changes(shop, "golden") == [
        ("c2", "enter", NOW, "refresh"),
        ("c1", "enter", LATER, "incremental"),
        ("c1", "exit", later, "incremental"),
    ]


def test_explicit_and_inherited_groups_together(shop: Store) -> None:
    svc.create_segment(shop, manual("crew", user_group="staff"), NOW)
    svc.create_segment(shop, manual("vip", user_group="gold"), NOW)
    svc.create_segment(
        shop,
        rule("staff-gold", "user_groups CONTAINS 'staff' AND user_groups CONTAINS 'gold'"),
        NOW,
    )
    svc.add_members(shop, "vip", ["c3", "c4"], NOW)  # c3 has 'staff' explicitly
    svc.add_members(shop, "crew", ["c4"], NOW)  # c4 inherits both
    assert svc.members(shop, "staff-gold") == ["c3", "c4"]
    ug.unassign_group(shop, "c3", "staff", LATER)
    assert svc.members(shop, "staff-gold") == ["c4"]
    # explain shows the effective list and where it comes from
    explanation = rules_service.explain(shop, "c4", "user_groups CONTAINS 'gold'", LATER)
    assert explanation.result is True
    assert "inherited from targetable segments: 'gold', 'staff'" in explanation.steps[0].sentence


def test_the_worker_applies_segment_boundaries_at_their_exact_instants(shop: Store) -> None:
    starts, ends = NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=3, microseconds=7)
    svc.create_segment(
        shop, manual("promo", user_group="gold", starts_at=starts, ends_at=ends), NOW
    )
    svc.create_segment(shop, rule("golden", "user_groups CONTAINS 'gold'"), NOW)
    svc.add_members(shop, "promo", ["c1", "c2"], NOW)
    assert svc.members(shop, "golden") == ["c2"]  # promo not targetable yet
    first = run_worker(shop, NOW + dt.timedelta(days=2))
    assert first.boundaries == 2 and (first.entered, first.exited) == (1, 0)  # c1 and c2 at starts
    assert svc.members(shop, "golden") == ["c1", "c2"]
    second = run_worker(shop, NOW + dt.timedelta(days=5))
    assert second.boundaries == 2 and (second.entered, second.exited) == (0, 1)
    assert run_worker(shop, NOW + dt.timedelta(days=5)).boundaries == 0  # recorded: not twice
    assert changes(shop, "golden") == [
        ("c2", "enter", NOW, "refresh"),
        ("c1", "enter", starts, "window"),
        ("c1", "exit", ends, "window"),
    ]
    assert svc.members(shop, "golden", ends - US) == ["c1", "c2"]
    assert svc.members(shop, "golden", ends) == ["c2"]


def test_changing_group_active_or_dates_and_deleting_reevaluate_the_readers(shop: Store) -> None:
    svc.create_segment(shop, manual("vip", user_group="gold"), NOW)
    svc.create_segment(shop, rule("golden", "user_groups CONTAINS 'gold'"), NOW)
    svc.create_segment(shop, rule("silvery", "user_groups CONTAINS 'silver'"), NOW)
    svc.add_members(shop, "vip", ["c1"], NOW)
    t = [NOW + dt.timedelta(minutes=m) for m in range(1, 6)]
    svc.update_segment(shop, manual("vip", user_group="silver"), t[0])
    assert (svc.members(shop, "golden"), svc.members(shop, "silvery")) == (["c2"], ["c1"])
    svc.update_segment(shop, manual("vip", user_group="silver", active=False), t[1])
    assert svc.members(shop, "silvery") == []
    svc.update_segment(shop, manual("vip", user_group="silver"), t[2])
    assert svc.members(shop, "silvery") == ["c1"]
    svc.update_segment(shop, manual("vip", user_group="silver", ends_at=t[3]), t[3])
    assert svc.members(shop, "silvery") == []  # ended: ends_at is exclusive
    svc.update_segment(shop, manual("vip", user_group="silver"), t[4] - US)
    assert svc.members(shop, "silvery") == ["c1"]
    svc.delete_segment(shop, "vip", t[4])
    assert svc.members(shop, "silvery") == []
    assert [(c, ch, at) for c, ch, at, _ in changes(shop, "silvery")] == [
        ("c1", "enter", t[0]),
        ("c1", "exit", t[1]),
        ("c1", "enter", t[2]),
        ("c1", "exit", t[3]),
        ("c1", "enter", t[4] - US),
        ("c1", "exit", t[4]),
    ]


def test_a_rule_segment_giving_a_group_moves_its_readers_in_the_same_import(
    shop: Store,
) -> None:
    svc.create_segment(shop, rule("buyers", "orders_count >= 1", user_group="buyer"), NOW)
    svc.create_segment(shop, rule("buyer-club", "user_groups CONTAINS 'buyer'"), NOW)
    orders = pa.table(
        {
            "order_id": ["o1"],
            "customer_id": ["c5"],
            "placed_at": ["2024-04-30T10:00:00Z"],
            "status": ["paid"],
            "total": ["10"],
        }
    )
    _, update = import_and_update(shop, "orders", orders, LATER)
    assert update.per_segment == {"buyers": (1, 0), "buyer-club": (1, 0)}
    assert changes(shop, "buyer-club") == [("c5", "enter", LATER, "incremental")]


def test_sql_refresh_and_python_engine_agree(shop: Store) -> None:
    svc.create_segment(shop, manual("vip", user_group="gold"), NOW)
    svc.create_segment(shop, manual("old", user_group="gold", ends_at=LATER), NOW)
    svc.create_segment(shop, manual("soon", user_group="gold", starts_at=LATER), NOW)
    svc.create_segment(shop, manual("off", user_group="gold", active=False), NOW)
    svc.create_segment(shop, manual("crew", user_group="staff"), NOW)
    for code, ids in {
        "vip": ["c1"],
        "old": ["c2", "c4"],
        "soon": ["c5"],
        "off": ["c6"],
        "crew": ["c4", "c6"],
    }.items():
        svc.add_members(shop, code, ids, NOW)
    texts = {
        "golden": "user_groups CONTAINS 'gold'",
        "not-gold-staff": "NOT user_groups CONTAINS 'GOLD' AND user_groups CONTAINS 'staff'",
    }
    for code, text in texts.items():
        svc.create_segment(shop, rule(code, text), NOW)
    schema = shop.rule_schema()
    for at in (NOW, LATER - US, LATER, LATER + US):
        refresh_segments(shop, list(texts), at)
        for code, text in texts.items():
            checked = check(parse(text), schema)
            sql = match_engine.match(shop, checked, at, "sql")
            assert svc.members(shop, code) == sql, (code, at)
            assert match_engine.match(shop, checked, at, "python") == sql, (code, at)
            # the incremental Python path computes the same members from none
            members = svc.members(shop, code)
            apply_changes(shop, code, [], members, at, "definition")
            incremental.reevaluate(
                shop, shop.customer_ids(), at, changed=None, codes=[code], engine="python"
            )
            assert svc.members(shop, code) == sql, (code, at)
    # at LATER `old` has ended and `soon` started: c5 has gold, c2 only its explicit Gold
    assert svc.members(shop, "golden") == ["c1", "c2", "c5"]
    assert svc.members(shop, "not-gold-staff") == ["c3", "c4", "c6"]


def test_cycles_through_user_groups_are_refused_at_save(shop: Store) -> None:
    with pytest.raises(
        ConfigError, match=r"cycle: golden -> golden \(golden reads user group 'gold'"
    ):
        svc.create_segment(
            shop, rule("golden", "user_groups CONTAINS 'gold'", user_group="gold"), NOW
        )
    svc.create_segment(shop, rule("a", "user_groups CONTAINS 'bees'"), NOW)
    with pytest.raises(
        ConfigError, match=r"cycle: b -> a -> b \(b has IN SEGMENT 'a'; a reads user group 'bees'"
    ):
        svc.create_segment(shop, rule("b", "IN SEGMENT 'a'", user_group="bees"), NOW)
    # saving the source: a group that would close the cycle is refused too
    svc.create_segment(shop, rule("b", "IN SEGMENT 'a'"), NOW)
    with pytest.raises(ConfigError, match="b -> a -> b"):
        svc.update_segment(shop, rule("b", "IN SEGMENT 'a'", user_group="bees"), LATER)
    with pytest.raises(ConfigError, match="reads every user group"):
        svc.create_segment(shop, rule("nogroups", "user_groups IS NULL"), NOW)
    assert [s.record.code for s in svc.list_segments(shop, NOW)] == ["a", "b"]


def test_evaluate_gives_real_time_rules_the_inherited_groups(shop: Store, store_url: str) -> None:
    _, token = auth.create_api_key(shop, "admin", NOW)
    api = TestClient(create_app(store_url, clock=lambda: NOW))
    api.headers["Authorization"] = f"Bearer {token}"
    svc.create_segment(shop, manual("vip", user_group="gold"), NOW)
    svc.create_segment(shop, manual("past", user_group="old", ends_at=NOW), NOW)
    svc.add_members(shop, "vip", ["c1"], NOW)
    svc.add_members(shop, "past", ["c1"], NOW)
    realtime = {
        "gold-view": ("user_groups CONTAINS 'gold' AND context.view = 'b'", None),
        "old-view": ("user_groups CONTAINS 'old' AND context.view = 'b'", None),
        "no-groups": ("user_groups IS NULL AND context.view = 'b'", None),
        "rt-giver": ("context.view = 'b'", "rtg"),
        "rt-reader": ("user_groups CONTAINS 'rtg' AND context.view = 'b'", None),
    }
    for code, (text, group) in realtime.items():
        definition = SegmentDefinition(
            code=code, name=code, kind=SegmentKind.REALTIME, rule_text=text, user_group=group
        )
        svc.create_segment(shop, definition, NOW)

    def matched(customer_id: str) -> list[str]:
        body = {"customer_id": customer_id, "context": {"view": "b"}}
        response = api.post("/v1/evaluate", json=body)
        assert response.status_code == 200, response.text
        return [s["code"] for s in response.json()["segments"]]

    # c1 inherits gold (vip); `past` has ended, so no 'old'; a real-time segment's group
    # is not visible to the other real-time rules
    assert matched("c1") == ["gold-view", "rt-giver", "vip"]
    assert matched("c4") == ["no-groups", "rt-giver"]  # no explicit list, nothing inherited
    assert matched("c2") == ["gold-view", "rt-giver"]  # explicit 'Gold', case-insensitive


def test_a_group_cycle_saved_before_inheritance_does_not_stop_refreshes(shop: Store) -> None:
    from test_membership_refresh import add_segment, members

    # As a store upgraded from schema 3 may hold it (saves refuse it now): the rule reads
    # every group, its own included. It is evaluated against the memberships as stored.
    add_segment(shop, "nogroups", "rule", "user_groups IS NULL")
    report = refresh_segments(shop, None, NOW)
    assert report.segments == ["nogroups"]
    assert sorted(members(shop, "nogroups")) == ["c1", "c4", "c5", "c6"]
