"""Which user groups a rule observes through ``user_groups`` (the membership engine's
dependencies on the segments giving those groups)."""

from __future__ import annotations

import pytest

from segmint.rules import parse
from segmint.rules.groups import observed_groups, reads_user_groups


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        ("orders_count > 1", set()),
        ("tags CONTAINS 'vip'", set()),
        ("user_groups CONTAINS 'gold'", {"gold"}),
        ("user_groups CONTAINS 'GOLD'", {"gold"}),  # rules compare groups ignoring case
        ("user_groups NOT CONTAINS 'vip'", {"vip"}),
        ("NOT (user_groups CONTAINS 'a' OR user_groups CONTAINS 'B') AND city = 'x'", {"a", "b"}),
        ("user_groups CONTAINS 'a' AND IN SEGMENT 's'", {"a"}),
        ("EXISTS(orders WHERE status = 'user_groups') AND user_groups CONTAINS 'z'", {"z"}),
        ("user_groups CONTAINS null", set()),  # false whatever the groups
    ],
)
def test_literal_membership_tests_observe_their_groups(text: str, groups: set[str]) -> None:
    assert observed_groups(parse(text)) == frozenset(groups)


@pytest.mark.parametrize(
    "text",
    [
        "user_groups IS NULL",
        "user_groups IS NOT NULL",
        "user_groups CONTAINS first_name",
        "user_groups CONTAINS 'gold' OR user_groups IS NULL",
        "NOT user_groups CONTAINS attributes.tier",
    ],
)
def test_any_other_use_observes_every_group(text: str) -> None:
    assert observed_groups(parse(text)) is None
    assert reads_user_groups(parse(text))


def test_reads_user_groups() -> None:
    assert reads_user_groups(parse("user_groups CONTAINS 'a'"))
    assert reads_user_groups(parse("user_groups CONTAINS null"))
    assert not reads_user_groups(parse("tags CONTAINS 'a' AND IN SEGMENT 'b'"))
