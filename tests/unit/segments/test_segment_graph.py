"""The segments graph of saves: IN SEGMENT and user-group edges, dependents, and cycles
refused with the path and the group named."""

from __future__ import annotations

from typing import Any

from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.services.segment_graph import SegmentGraph, cycle_message


def rule(code: str, text: str, **kw: Any) -> SegmentDefinition:
    return SegmentDefinition(code=code, name=code, kind=SegmentKind.RULE, rule_text=text, **kw)


def manual(code: str, **kw: Any) -> SegmentDefinition:
    return SegmentDefinition(code=code, name=code, kind=SegmentKind.MANUAL, **kw)


def realtime(code: str, text: str, **kw: Any) -> SegmentDefinition:
    return SegmentDefinition(code=code, name=code, kind=SegmentKind.REALTIME, rule_text=text, **kw)


def message(graph: SegmentGraph, code: str) -> str | None:
    cycle = graph.find_cycle(code)
    return None if cycle is None else cycle_message(cycle)


def test_group_edges_go_to_the_materialized_segments_giving_the_group() -> None:
    graph = SegmentGraph.of(
        [
            manual("vip", user_group="gold"),
            manual("gold"),  # default group: its code
            manual("silver"),
            realtime("rt", "context.view = 'b2b'", user_group="gold"),  # no members: no edge
            rule("golden", "user_groups CONTAINS 'GOLD'"),
            rule("nulls", "tags IS NULL AND NOT IN SEGMENT 'silver'"),
        ]
    )
    assert [(e.target, e.group) for e in graph.edges("golden")] == [
        ("gold", "gold"),
        ("vip", "gold"),
    ]
    assert [(e.target, e.group) for e in graph.edges("nulls")] == [("silver", None)]
    assert graph.dependents("vip") == ["golden"]
    assert graph.dependents("silver") == ["nulls"]
    assert graph.referrers("vip") == [] and graph.referrers("silver") == ["nulls"]


def test_dependents_follow_groups_then_in_segment_in_order() -> None:
    graph = SegmentGraph.of(
        [
            manual("vip", user_group="gold"),
            rule("golden", "user_groups CONTAINS 'gold'"),
            rule("golden-buyers", "IN SEGMENT 'golden' AND orders_count > 0"),
        ]
    )
    assert graph.dependents("vip") == ["golden", "golden-buyers"]


def test_a_rule_reading_its_own_group_is_a_cycle_naming_the_group() -> None:
    graph = SegmentGraph.of([rule("golden", "user_groups CONTAINS 'gold'", user_group="gold")])
    assert message(graph, "golden") == (
        "error: segment rule: user groups make a cycle: golden -> golden (golden reads user "
        "group 'gold', which golden gives its members); a segment's answer cannot depend on "
        "itself"
    )


def test_a_cycle_through_a_group_and_in_segment() -> None:
    # a reads the group of b, b reads a through IN SEGMENT
    graph = SegmentGraph.of(
        [rule("a", "user_groups CONTAINS 'bees'"), rule("b", "IN SEGMENT 'a'", user_group="bees")]
    )
    assert message(graph, "b") == (
        "error: segment rule: user groups make a cycle: b -> a -> b (b has IN SEGMENT 'a'; "
        "a reads user group 'bees', which b gives its members); a segment's answer cannot "
        "depend on itself"
    )


def test_saving_a_group_that_closes_a_cycle_is_seen_from_the_source() -> None:
    graph = SegmentGraph.of(
        [rule("reader", "user_groups CONTAINS 'vip'"), rule("s", "IN SEGMENT 'reader'")]
    )
    assert graph.find_cycle("s") is None
    changed = graph.with_definition(rule("s", "IN SEGMENT 'reader'", user_group="vip"))
    assert "s -> reader -> s" in (message(changed, "s") or "")
    assert "reads user group 'vip', which s gives its members" in (message(changed, "s") or "")


def test_reading_every_group_reaches_every_materialized_segment() -> None:
    graph = SegmentGraph.of([rule("nogroups", "user_groups IS NULL")])
    text = message(graph, "nogroups") or ""
    assert "nogroups -> nogroups" in text and "reads every user group" in text
    # a real-time segment gives no inherited group: reading every group is no cycle there
    rt = SegmentGraph.of([realtime("rt", "user_groups IS NULL AND context.view = 'x'")])
    assert rt.find_cycle("rt") is None


def test_in_segment_cycles_keep_their_message() -> None:
    graph = SegmentGraph.of([rule("a", "IN SEGMENT 'b'"), rule("b", "IN SEGMENT 'a'")])
    assert message(graph, "a") == "error: segment rule: IN SEGMENT makes a cycle: a -> b -> a"
