"""Segments core on both stores: definitions and versions, validation, references and
cycles, preview, manual members, history at an instant, the change feed, user groups,
targetability and purchase requirements."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from segmint.errors import ConfigError, NotFoundError, RuleError
from segmint.importing.api import import_file
from segmint.model.segment import (
    DefinitionError,
    PurchaseRequirements,
    SegmentDefinition,
    SegmentKind,
)
from segmint.services import segments as svc
from segmint.services import user_groups as ug
from segmint.store.base import Store

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)

CUSTOMERS = (
    "id,email,store,user_groups\n"
    "c1,a@x.io,eu,\nc2,b@x.io,eu,\nc3,c@x.io,us,\nc4,,us,\nc5,,eu,wholesale\n"
)
ORDERS = (
    "order_id,customer_id,placed_at,status,total,sku,brand,amount\n"
    "o1,c1,2024-04-25T10:00:00Z,paid,120,S1,Acme,120\n"
    "o2,c2,2024-04-28T10:00:00Z,paid,250,S1,Acme,50\n"
    "o2,c2,2024-04-28T10:00:00Z,paid,250,S2,Other,200\n"
    "o3,c3,2024-04-20T10:00:00Z,paid,300,S1,Acme,300\n"
    "o4,c4,2024-04-30T10:00:00Z,cancelled,150,S1,Acme,150\n"
)


@pytest.fixture()
def shop(store: Store, tmp_path: Path) -> Store:
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "orders.csv").write_text(ORDERS)
    import_file(store, "customers", tmp_path / "customers.csv")
    import_file(store, "orders", tmp_path / "orders.csv")
    return store


def rule(code: str, text: str, **kw: Any) -> SegmentDefinition:
    return SegmentDefinition(
        code=code, name=code.title(), kind=SegmentKind.RULE, rule_text=text, **kw
    )


def manual(code: str, **kw: Any) -> SegmentDefinition:
    return SegmentDefinition(code=code, name=code.title(), kind=SegmentKind.MANUAL, **kw)


def test_create_update_keeps_versions(shop: Store) -> None:
    created = svc.create_segment(shop, rule("buyers", "orders_count >= 1"), NOW)
    assert (created.version, created.entered, created.exited) == (1, 3, 0)
    assert svc.members(shop, "buyers") == ["c1", "c2", "c3"]
    updated = svc.update_segment(shop, rule("buyers", "total_spent >= 200"), LATER)
    assert (updated.version, updated.entered, updated.exited) == (2, 0, 1)
    assert svc.members(shop, "buyers") == ["c2", "c3"]
    details = svc.show_segment(shop, "buyers", LATER)
    assert [v.version for v in details.versions] == [1, 2]
    assert details.versions[0].definition.rule_text == "orders_count >= 1"
    assert [s.record.code for s in svc.list_segments(shop, LATER)] == ["buyers"]
    with pytest.raises(ConfigError, match="already exists"):
        svc.create_segment(shop, rule("buyers", "orders_count >= 1"), NOW)
    with pytest.raises(NotFoundError, match="'nope'"):
        svc.update_segment(shop, rule("nope", "orders_count >= 1"), NOW)


def test_validation_errors_name_the_field(shop: Store) -> None:
    for kwargs, field in (
        ({"code": "Bad Code", "name": "x", "kind": "manual"}, "code"),
        ({"code": "ok", "name": " ", "kind": "manual"}, "name"),
        ({"code": "ok", "name": "x", "kind": "rule"}, "rule"),
        ({"code": "ok", "name": "x", "kind": "odd"}, "kind"),
        ({"code": "ok", "name": "x", "kind": "manual", "user_group": "Not OK"}, "user_group"),
        (
            {"code": "ok", "name": "x", "kind": "manual", "starts_at": LATER, "ends_at": NOW},
            "ends_at",
        ),
    ):
        with pytest.raises(DefinitionError) as info:
            SegmentDefinition(**kwargs)
        assert info.value.field == field and f"segment {field}" in str(info.value)
    with pytest.raises(DefinitionError, match="window"):
        PurchaseRequirements(min_spend=Decimal(10))
    with pytest.raises(RuleError, match=r"real-time segment \(--realtime\)"):
        svc.create_segment(shop, rule("ctx", "context.logged_in = true"), NOW)
    realtime = SegmentDefinition(
        code="rt", name="x", kind=SegmentKind.REALTIME, rule_text="orders_count > 1"
    )
    with pytest.raises(ConfigError, match="must read request context"):
        svc.create_segment(shop, realtime, NOW)
    with pytest.raises(RuleError, match="unknown field"):
        svc.create_segment(shop, rule("typo", "ordrs_count > 1"), NOW)
    with pytest.raises(NotFoundError, match="'ghost'"):
        svc.create_segment(shop, rule("refs", "IN SEGMENT 'ghost'"), NOW)
    assert svc.list_segments(shop, NOW) == []


def test_realtime_segment_is_stored_not_materialized(shop: Store) -> None:
    rt = SegmentDefinition(
        code="b2b-new",
        name="x",
        kind=SegmentKind.REALTIME,
        rule_text="context.view = 'business' AND orders_count = 0",
    )
    result = svc.create_segment(shop, rt, NOW)
    assert (result.version, result.entered) == (1, 0)
    assert svc.members(shop, "b2b-new") == []
    with pytest.raises(ConfigError, match="real-time"):
        svc.create_segment(shop, rule("refs-rt", "IN SEGMENT 'b2b-new'"), NOW)
    with pytest.raises(ConfigError, match="real-time"):
        svc.add_members(shop, "b2b-new", ["c1"], NOW)


def test_cycles_rejected_naming_the_cycle(shop: Store) -> None:
    svc.create_segment(shop, rule("a", "orders_count >= 1"), NOW)
    svc.create_segment(shop, rule("b", "IN SEGMENT 'a' AND total_spent > 200"), NOW)
    with pytest.raises(ConfigError, match="cycle: a -> b -> a"):
        svc.update_segment(shop, rule("a", "IN SEGMENT 'b'"), NOW)
    with pytest.raises(ConfigError, match="cycle: c -> c"):
        svc.create_segment(shop, rule("c", "IN SEGMENT 'c'"), NOW)
    assert svc.members(shop, "b") == ["c2", "c3"]


def test_update_refreshes_dependents(shop: Store) -> None:
    svc.create_segment(shop, rule("a", "orders_count >= 1"), NOW)
    svc.create_segment(shop, rule("b", "IN SEGMENT 'a'"), NOW)
    result = svc.update_segment(shop, rule("a", "total_spent >= 250"), LATER)
    assert result.dependents == ("b",)
    assert svc.members(shop, "b") == ["c2", "c3"]


def test_delete_refused_names_referrers_then_removes_members_keeps_history(shop: Store) -> None:
    svc.create_segment(shop, rule("base", "orders_count >= 1"), NOW)
    svc.create_segment(shop, rule("x1", "IN SEGMENT 'base'"), NOW)
    svc.create_segment(shop, rule("x2", "NOT IN SEGMENT 'base'"), NOW)
    with pytest.raises(ConfigError, match="referenced by segments x1, x2"):
        svc.delete_segment(shop, "base", LATER)
    assert svc.members(shop, "base") == ["c1", "c2", "c3"]
    svc.delete_segment(shop, "x1", LATER)
    svc.delete_segment(shop, "x2", LATER)
    assert svc.delete_segment(shop, "base", LATER) == 3
    with pytest.raises(NotFoundError):
        svc.get_segment(shop, "base")
    assert svc.members(shop, "base", NOW) == ["c1", "c2", "c3"]
    assert svc.members(shop, "base", LATER) == []
    exits = [c for c in svc.history(shop, "base") if c.change == "exit"]
    assert {c.trigger for c in exits} == {"definition"} and len(exits) == 3
    # the code can be reused; versions continue after the deleted ones
    assert svc.create_segment(shop, manual("base"), LATER).version == 2


def test_preview_count_sample_and_edit_diff(shop: Store) -> None:
    new = svc.preview_segment(shop, rule("big", "total_spent >= 120"), NOW, sample=2)
    assert (new.count, new.sample, new.current_count, new.entering) == (
        3,
        ["c1", "c2"],
        0,
        ["c1", "c2", "c3"],
    )
    assert svc.list_segments(shop, NOW) == []  # nothing saved
    svc.create_segment(shop, rule("big", "total_spent >= 120"), NOW)
    edit = svc.preview_segment(shop, rule("big", "total_spent >= 250 OR email = 'a@x.io'"), NOW)
    assert (edit.count, edit.entering, edit.leaving) == (3, [], [])
    edit = svc.preview_segment(
        shop, rule("big", "total_spent >= 250 OR city IS NULL AND orders_count = 0"), NOW
    )
    assert edit.entering == ["c4", "c5"] and edit.leaving == ["c1"]
    assert svc.members(shop, "big") == ["c1", "c2", "c3"]  # still unsaved


def test_manual_many_to_one_and_one_to_many(shop: Store, tmp_path: Path) -> None:
    for code in ("m1", "m2", "m3"):
        svc.create_segment(shop, manual(code), NOW)
    ids_file = tmp_path / "ids.csv"
    ids_file.write_text("customer_id,note\nc1,x\nc2,y\nc3,\n")
    ids = svc.read_ids_file(ids_file)
    assert ids == ["c1", "c2", "c3"]
    assert svc.add_members(shop, "m1", ids, NOW) == svc.ManualResult(3, 3, 0)
    assert svc.add_members(shop, "m1", ["c1", "c4"], LATER) == svc.ManualResult(2, 1, 0)
    for code in ("m1", "m2", "m3"):
        svc.add_members(shop, code, ["c5"], NOW)
    assert sorted(s.code for s in ug.customer_overview(shop, "c5", NOW).segments) == [
        "m1",
        "m2",
        "m3",
    ]
    with pytest.raises(NotFoundError, match="2 unknown customer ids, nothing was changed: x1, x2"):
        svc.add_members(shop, "m2", ["c1", "x2", "x1"], NOW)
    assert svc.members(shop, "m2") == ["c5"]
    assert svc.remove_members(shop, "m1", ["c2", "c3"], LATER) == svc.ManualResult(2, 0, 2)
    assert svc.members(shop, "m1") == ["c1", "c4", "c5"]
    overview = {s.code: s for s in ug.customer_overview(shop, "c4", LATER).segments}
    assert overview["m1"].reason == "manual" and overview["m1"].since == LATER
    plain = tmp_path / "plain.txt"
    plain.write_text("c1\n\n c2 \n")
    assert svc.read_ids_file(plain) == ["c1", "c2"]


def test_rule_with_manual_include_and_exclude(shop: Store) -> None:
    svc.create_segment(shop, rule("buyers", "orders_count >= 1"), NOW)
    svc.add_members(shop, "buyers", ["c4"], NOW)
    svc.remove_members(shop, "buyers", ["c1"], NOW)
    assert svc.members(shop, "buyers") == ["c2", "c3", "c4"]
    # a re-save recomputes: the include still adds, the exclude still wins over the rule
    svc.update_segment(shop, rule("buyers", "orders_count >= 1 OR email IS NULL"), LATER)
    assert svc.members(shop, "buyers") == ["c2", "c3", "c4", "c5"]
    details = svc.show_segment(shop, "buyers", LATER)
    assert (details.includes, details.excludes) == (1, 1)


def test_members_and_segments_at_an_instant(shop: Store) -> None:
    from segmint.store.segments import SegmentRepository

    t1, t2, t3 = NOW, NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=2)
    svc.create_segment(shop, manual("s"), t1)
    svc.create_segment(shop, manual("u"), t1)
    svc.add_members(shop, "s", ["c1", "c2"], t1)
    svc.add_members(shop, "u", ["c1"], t2)
    svc.remove_members(shop, "s", ["c1"], t2)
    svc.add_members(shop, "s", ["c1", "c3"], t3)
    assert svc.members(shop, "s", t1 - dt.timedelta(seconds=1)) == []
    assert svc.members(shop, "s", t1) == ["c1", "c2"]
    assert svc.members(shop, "s", t2) == ["c2"]
    assert svc.members(shop, "s", t3) == ["c1", "c2", "c3"] == svc.members(shop, "s")
    repo = SegmentRepository(shop)
    assert repo.segments_at("c1", t1) == ["s"]
    assert repo.segments_at("c1", t2 + dt.timedelta(hours=1)) == ["u"]
    assert repo.segments_at("c1", t3) == ["s", "u"]


def test_change_feed_resumes_from_cursor(shop: Store) -> None:
    svc.create_segment(shop, manual("s"), NOW)
    svc.add_members(shop, "s", ["c1", "c2", "c3"], NOW)
    first = svc.changes(shop, 0, 2)
    assert [(c.customer_id, c.change) for c in first.changes] == [("c1", "enter"), ("c2", "enter")]
    svc.remove_members(shop, "s", ["c1"], LATER)
    rest = svc.changes(shop, first.cursor, 10)
    assert [(c.customer_id, c.change, c.trigger) for c in rest.changes] == [
        ("c3", "enter", "manual"),
        ("c1", "exit", "manual"),
    ]
    assert rest.changes[-1].at == LATER and rest.cursor == rest.changes[-1].seq
    empty = svc.changes(shop, rest.cursor, 10)
    assert (empty.changes, empty.cursor) == ([], rest.cursor)


def test_user_group_five_cases(shop: Store) -> None:
    def groups(cid: str) -> dict[str, list[str]]:
        return {g.group: g.sources for g in ug.user_groups(shop, cid, NOW)}

    svc.create_segment(shop, manual("vip", user_group="gold"), NOW)
    svc.create_segment(shop, manual("fans"), NOW)
    svc.add_members(shop, "vip", ["c1"], NOW)
    svc.add_members(shop, "fans", ["c1"], NOW)
    # 1. inherits the group of every segment
    assert groups("c1") == {"fans": ["segment:fans"], "gold": ["segment:vip"]}
    # 2. inherited, then assigned explicitly: not duplicated
    assert ug.assign_group(shop, "c1", "gold", NOW) is True
    assert ug.assign_group(shop, "c1", "gold", NOW) is False
    assert groups("c1")["gold"] == ["explicit", "segment:vip"]
    # 3. explicit (c5 has wholesale), then inherited: not duplicated
    svc.create_segment(shop, manual("wholesale"), NOW)
    svc.add_members(shop, "wholesale", ["c5"], NOW)
    assert groups("c5") == {"wholesale": ["explicit", "segment:wholesale"]}
    # 4. removing the explicit assignment keeps the inherited group
    assert ug.unassign_group(shop, "c1", "gold", NOW) is True
    assert groups("c1")["gold"] == ["segment:vip"]
    # 5. leaving the segment keeps the explicit group
    svc.remove_members(shop, "wholesale", ["c5"], NOW)
    assert groups("c5") == {"wholesale": ["explicit"]}


def test_inactive_and_dated_segments_keep_members_but_are_not_targetable(shop: Store) -> None:
    svc.create_segment(shop, manual("off", active=False), NOW)
    svc.create_segment(shop, manual("later", starts_at=LATER), NOW)
    svc.create_segment(shop, manual("over", ends_at=NOW), NOW)
    for code in ("off", "later", "over"):
        svc.add_members(shop, code, ["c1"], NOW)
        assert svc.members(shop, code) == ["c1"]
    assert ug.user_groups(shop, "c1", NOW) == []
    status = {
        s.code: (s.status, s.targetable) for s in ug.customer_overview(shop, "c1", NOW).segments
    }
    assert status == {
        "off": ("inactive", False),
        "later": ("scheduled", False),
        "over": ("ended", False),
    }
    assert [g.group for g in ug.user_groups(shop, "c1", LATER)] == ["later"]
    svc.update_segment(shop, manual("off"), NOW)  # re-activated
    assert [g.group for g in ug.user_groups(shop, "c1", NOW)] == ["off"]


def test_purchase_requirements_compiled_and_evaluated(shop: Store) -> None:
    acme = PurchaseRequirements(min_spend=Decimal(100), items="brand = 'ACME'", last_days=7)
    assert acme.to_rule_text() == (
        "SUM(lines.amount WHERE (brand = 'ACME') AND status NOT IN ('cancelled', 'refunded', "
        "'failed') AND placed_at WITHIN 7d) >= 100"
    )

    def make(code: str, p: PurchaseRequirements) -> SegmentDefinition:
        return SegmentDefinition(code=code, name=code, kind=SegmentKind.PURCHASE, purchase=p)

    svc.create_segment(shop, make("acme", acme), NOW)
    assert svc.members(shop, "acme") == ["c1"]
    orders = PurchaseRequirements(min_spend=Decimal(100), last_days=7)
    svc.create_segment(shop, make("spenders", orders), NOW)
    assert svc.members(shop, "spenders") == ["c1", "c2"]
    april = PurchaseRequirements(
        min_spend=Decimal(0),
        item_field="brand",
        item_value="Acme",
        date_from=dt.date(2024, 4, 1),
        date_to=dt.date(2024, 4, 30),
    )
    assert april.to_rule_text().startswith("EXISTS(lines WHERE (brand = 'Acme')")
    svc.create_segment(shop, make("april", april), NOW)
    assert svc.members(shop, "april") == ["c1", "c2", "c3"]
    stored = svc.get_segment(shop, "april").definition
    assert stored.purchase == april and stored.effective_rule == april.to_rule_text()
    with pytest.raises(RuleError):
        bad = PurchaseRequirements(min_spend=Decimal(1), items="brnd = 'x'", last_days=7)
        svc.create_segment(shop, make("bad", bad), NOW)


def test_many_customers_to_one_segment_in_bulk(store: Store, tmp_path: Path) -> None:
    ids = [f"k{i:05d}" for i in range(3000)]
    (tmp_path / "customers.csv").write_text("id\n" + "\n".join(ids) + "\n")
    import_file(store, "customers", tmp_path / "customers.csv")
    (tmp_path / "ids.csv").write_text("id\n" + "\n".join(ids) + "\n")
    svc.create_segment(store, manual("crowd"), NOW)
    added = svc.add_members(store, "crowd", svc.read_ids_file(tmp_path / "ids.csv"), NOW)
    assert added == svc.ManualResult(3000, 3000, 0)
    assert svc.members(store, "crowd") == ids
    assert len(svc.changes(store, 0, 10_000).changes) == 3000
    removed = svc.remove_members(store, "crowd", ids[:1000], LATER)
    assert removed == svc.ManualResult(1000, 0, 1000)
    assert svc.members(store, "crowd", NOW) == ids
    assert svc.members(store, "crowd") == ids[1000:]


def test_definition_json_round_trip_and_status_copy() -> None:
    from segmint.model import segment
    from segmint.rules.schema import UNSUCCESSFUL_STATUSES

    assert segment.UNSUCCESSFUL_STATUSES == UNSUCCESSFUL_STATUSES
    definition = SegmentDefinition(
        code="q1-acme",
        name=" Q1 Acme ",
        kind=SegmentKind.PURCHASE,
        description="first quarter",
        user_group="acme-q1",
        active=False,
        starts_at=NOW,
        ends_at=LATER,
        stores=("eu", "eu", "us"),
        purchase=PurchaseRequirements(
            min_spend=Decimal("99.50"),
            item_field="category",
            item_value="it's",
            date_from=dt.date(2024, 1, 1),
        ),
    )
    assert definition.name == "Q1 Acme" and definition.stores == ("eu", "us")
    assert SegmentDefinition.loads(definition.dumps()) == definition
    assert definition.effective_rule == (
        "SUM(lines.amount WHERE (category = 'it''s') AND status NOT IN ('cancelled', "
        "'refunded', 'failed') AND placed_at >= 2024-01-01) >= 99.50"
    )
    active = definition.with_changes(active=True)
    assert not active.is_targetable(NOW - dt.timedelta(seconds=1))
    assert active.is_targetable(NOW) and not active.is_targetable(LATER)
    assert active.is_targetable(NOW, "EU") and not active.is_targetable(NOW, "asia")
    assert definition.group == "acme-q1" and manual("plain").group == "plain"


def test_kind_changes_and_identical_update(shop: Store) -> None:
    svc.create_segment(shop, rule("s", "orders_count >= 1"), NOW)
    svc.add_members(shop, "s", ["c4"], NOW)
    same = svc.update_segment(shop, rule("s", "orders_count >= 1"), LATER)
    assert (same.changed, same.version) == (False, 1)
    to_manual = svc.update_segment(shop, manual("s"), LATER)
    assert (to_manual.version, to_manual.entered, to_manual.exited) == (2, 0, 3)
    assert svc.members(shop, "s") == ["c4"]
    realtime = SegmentDefinition(
        code="s", name="S", kind=SegmentKind.REALTIME, rule_text="cart.quantity > 2"
    )
    assert svc.update_segment(shop, realtime, LATER).exited == 1
    assert svc.members(shop, "s") == []
    back = svc.update_segment(shop, rule("s", "orders_count >= 2"), LATER)
    assert (back.version, back.entered) == (4, 1)  # c4 is still included
    assert [c.trigger for c in svc.history(shop, "s", customer_id="c1")] == [
        "refresh",
        "definition",
    ]


def test_dependents_and_group_rules_follow_manual_changes_at_once(shop: Store) -> None:
    svc.create_segment(shop, manual("m"), NOW)
    svc.create_segment(shop, rule("m-buyers", "IN SEGMENT 'm' AND orders_count >= 1"), NOW)
    svc.create_segment(shop, rule("golden", "user_groups CONTAINS 'gold'"), NOW)
    svc.add_members(shop, "m", ["c1", "c4"], LATER)
    assert svc.members(shop, "m-buyers") == ["c1"]
    svc.remove_members(shop, "m", ["c1"], LATER)
    assert svc.members(shop, "m-buyers") == []
    ug.assign_group(shop, "c2", "gold", LATER)
    assert svc.members(shop, "golden") == ["c2"]
    ug.unassign_group(shop, "c2", "gold", LATER)
    assert svc.members(shop, "golden") == []


def test_purchase_window_member_leaves_at_the_exact_instant(shop: Store) -> None:
    from segmint.services.membership import run_worker

    acme = PurchaseRequirements(
        min_spend=Decimal(100), item_field="brand", item_value="acme", last_days=7
    )
    definition = SegmentDefinition(
        code="acme", name="Acme", kind=SegmentKind.PURCHASE, purchase=acme
    )
    svc.create_segment(shop, definition, NOW)
    run_worker(shop, NOW + dt.timedelta(days=10))
    exit_ = svc.history(shop, "acme")[-1]
    assert (exit_.customer_id, exit_.change, exit_.trigger) == ("c1", "exit", "window")
    assert exit_.at == dt.datetime(2024, 5, 2, 10, tzinfo=dt.UTC)  # o1 + 7 days
    assert svc.members(shop, "acme", exit_.at - dt.timedelta(microseconds=1)) == ["c1"]
    assert svc.members(shop, "acme", exit_.at) == []
