"""The lever catalog on both stores: apply a document whole or not at all, export and
round trip, versions with who and when, prune, references kept whole, and the segment
guard (services, CLI)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from segmint.cli.main import _register, cli
from segmint.errors import ConfigError
from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.services import levers, segments
from segmint.store.base import Store
from segmint.targeting.document import DocumentError

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

DOCUMENT: dict[str, Any] = {
    "campaigns": [{"code": "winter", "name": "Winter", "budget": {"spend": "1000.00"}}],
    "promotions": [
        {
            "code": "vip10",
            "name": "VIP 10%",
            "audience": "IN SEGMENT 'vip'",
            "campaign": "winter",
            "benefit": {"type": "order", "percentage": "10"},
        },
        {
            "code": "summer",
            "trigger": "code",
            "codes": ["SUMMER10"],
            "benefit": {"type": "items", "allocation": "across", "amount": "5.00"},
        },
    ],
    "price_lists": [
        {
            "code": "b2b",
            "currency": "USD",
            "audience": "business_account IS NOT NULL",
            "prices": [{"sku": "A-1", "price": "9.00"}],
        }
    ],
    "placements": [
        {
            "code": "home-feed",
            "type": "news_feed",
            "max_items": 5,
            "items": [
                {
                    "code": "gold",
                    "audience": "user_groups CONTAINS 'gold'",
                    "content": {"title": "Gold"},
                },
                {"code": "all", "audience": None, "content": {"title": "News"}},
                {"code": "nudge", "when_near": "vip10", "content": {"title": "{{missing}}"}},
            ],
        }
    ],
    "accounts": [{"id": "acme", "portal": {"global_promotions": False}}],
}


@pytest.fixture()
def shop(store: Store) -> Store:
    for code, group in (("vip", "vip"), ("goldies", "gold"), ("other", "other")):
        segments.create_segment(
            store,
            SegmentDefinition(code=code, name=code, kind=SegmentKind.MANUAL, user_group=group),
            NOW,
        )
    return store


def test_apply_export_round_trip_and_versions(shop: Store) -> None:
    report = levers.apply_document(shop, DOCUMENT, NOW, who="test:ada")
    assert report.counts() == {"create": 6, "update": 0, "delete": 0, "unchanged": 0}
    exported = levers.export_document(shop)
    again = levers.apply_document(shop, exported, NOW, who="test:bob")
    assert again.changes == [] and again.unchanged == 6
    assert levers.export_document(shop) == exported
    changed = copy.deepcopy(DOCUMENT)
    changed["promotions"][0]["benefit"]["percentage"] = "15"
    later = NOW + dt.timedelta(hours=1)
    report = levers.apply_document(shop, changed, later, who="test:bob")
    assert [(c.kind, c.code, c.change, c.version) for c in report.changes] == [
        ("promotions", "vip10", "update", 2)
    ]
    history = levers.lever_history(shop, "promotions", "vip10")
    assert [(v.version, v.change, v.changed_by) for v in history] == [
        (1, "create", "test:ada"),
        (2, "update", "test:bob"),
    ]
    assert history[0].data is not None and history[0].data["benefit"]["percentage"] == "10"
    assert history[1].changed_at == later


def test_a_bad_document_lists_every_problem_and_writes_nothing(shop: Store) -> None:
    levers.apply_document(shop, DOCUMENT, NOW, who=None)
    before = levers.export_document(shop)
    bad = copy.deepcopy(DOCUMENT)
    bad["promotions"][0]["benefit"]["percentage"] = "150"
    bad["promotions"][1]["audience"] = "ordrs_count > 1"
    bad["placements"][0]["items"][0]["audience"] = "IN SEGMENT 'nope'"
    bad["price_lists"][0]["prices"][0]["price"] = "9.001"
    with pytest.raises(DocumentError) as caught:
        levers.apply_document(shop, bad, NOW, who=None)
    paths = sorted(path for path, _ in caught.value.errors)
    assert paths == [
        "placements[0].items[0].audience",
        "price_lists[0].prices[0].price",
        "promotions[0].benefit.percentage",
        "promotions[1].audience",
    ]
    assert levers.export_document(shop) == before


def test_prune_deletes_what_the_document_omits_but_keeps_references_whole(
    shop: Store,
) -> None:
    levers.apply_document(shop, DOCUMENT, NOW, who=None)
    smaller = copy.deepcopy(DOCUMENT)
    smaller["price_lists"] = []
    report = levers.apply_document(shop, smaller, NOW, who=None, dry_run=True)
    assert report.changes == []  # without --prune an omitted lever stays
    report = levers.apply_document(shop, smaller, NOW, who=None, prune=True, dry_run=True)
    assert [(c.kind, c.code, c.change) for c in report.changes] == [
        ("price_lists", "b2b", "delete")
    ]
    assert levers.show_lever(shop, "price_lists", "b2b").version == 1  # dry run: kept
    levers.apply_document(shop, smaller, NOW, who=None, prune=True)
    assert [s.code for s in levers.list_levers(shop, "price_lists")] == []
    # The campaign is named by vip10: pruning it while vip10 stays is refused.
    no_campaign = copy.deepcopy(smaller)
    no_campaign["campaigns"] = []
    with pytest.raises(DocumentError, match="campaign"):
        levers.apply_document(shop, no_campaign, NOW, who=None, prune=True)
    with pytest.raises(ConfigError, match="promotion 'vip10' names it"):
        levers.delete_lever(shop, "campaigns", "winter", NOW, who=None)
    with pytest.raises(ConfigError, match="placement 'home-feed' names it"):
        levers.delete_lever(shop, "promotions", "vip10", NOW, who=None)


def test_promo_codes_are_unique_over_the_stored_promotions(shop: Store) -> None:
    levers.apply_document(shop, DOCUMENT, NOW, who=None)
    other = {
        "code": "copycat",
        "trigger": "code",
        "codes": [" summer10 "],
        "benefit": {"type": "order", "amount": "1.00"},
    }
    with pytest.raises(DocumentError, match="already a code of promotion 'summer'"):
        levers.put_lever(shop, "promotions", "copycat", other, NOW, who=None)


def test_put_lever_versions_create_only_and_check(shop: Store) -> None:
    from segmint.errors import ConflictError

    feed = DOCUMENT["placements"][0]
    plain = {**feed, "items": [feed["items"][1]]}  # names no promotion
    # version 0: create only
    _, change = levers.put_lever(
        shop, "placements", "home-feed", plain, NOW, who="t", expected_version=0
    )
    assert change is not None and (change.change, change.version) == ("create", 1)
    with pytest.raises(ConflictError, match="already exists"):
        levers.put_lever(shop, "placements", "home-feed", plain, NOW, who="t", expected_version=0)
    with pytest.raises(ConflictError, match="is at version 1, not version 3"):
        levers.put_lever(shop, "placements", "home-feed", plain, NOW, who="t", expected_version=3)
    # check_lever validates as put_lever does and writes nothing
    broken = {**plain, "items": [{**feed["items"][1], "audience": "IN SEGMENT 'nope'"}]}
    with pytest.raises(DocumentError) as caught:
        levers.check_lever(shop, "placements", "home-feed", broken)
    assert caught.value.errors[0][0] == "items[0].audience"
    assert "items[0].audience" in caught.value.rule_errors
    assert levers.show_lever(shop, "placements", "home-feed").version == 1
    assert levers.audience_problem(shop, "IN SEGMENT 'vip'") is None
    problem = levers.audience_problem(shop, "IN SEGMENT 'vpi'")
    assert problem is not None and "unknown segment 'vpi'" in str(problem)


def test_a_segment_read_by_a_lever_cannot_be_deleted(shop: Store) -> None:
    levers.apply_document(shop, DOCUMENT, NOW, who=None)
    with pytest.raises(ConfigError, match="promotion 'vip10'"):
        segments.delete_segment(shop, "vip", NOW)
    with pytest.raises(ConfigError, match="placement 'home-feed', item 'gold'"):
        segments.delete_segment(shop, "goldies", NOW)  # through the group it gives
    segments.delete_segment(shop, "other", NOW)
    assert segments.find_segment(shop, "vip") is not None


def test_cli_apply_dry_run_export_and_errors(shop: Store, store_url: str, tmp_path: Path) -> None:
    _register()
    runner = CliRunner()
    file = tmp_path / "levers.json"
    file.write_text(json.dumps(DOCUMENT))
    base = ["--db", store_url, "--as-of", "2026-12-01T00:00:00Z"]
    dry = runner.invoke(
        cli, [*base, "levers", "apply", str(file), "--dry-run", "--format", "table"]
    )
    assert dry.exit_code == 0, dry.output
    assert "Dry run: would create 6" in dry.output
    assert levers.list_levers(shop) == []
    done = runner.invoke(cli, [*base, "levers", "apply", str(file), "--format", "json"])
    assert done.exit_code == 0 and json.loads(done.output)["create"] == 6
    exported = tmp_path / "export.yaml"
    out = runner.invoke(cli, [*base, "levers", "export", "-o", str(exported)])
    assert out.exit_code == 0
    again = runner.invoke(cli, [*base, "levers", "apply", str(exported), "--format", "json"])
    assert json.loads(again.output)["unchanged"] == 6
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"promotions": [{"code": "x", "benefit": {"type": "order"}}]}))
    refused = runner.invoke(cli, [*base, "levers", "apply", str(bad)])
    assert refused.exit_code == 2
    assert "promotions[0].benefit" in refused.output and "nothing was written" in refused.output
    shown = runner.invoke(
        cli, [*base, "levers", "history", "promotions", "vip10", "--format", "csv"]
    )
    assert shown.exit_code == 0 and shown.output.startswith("version,change,changed_at")
