"""Promo codes on both stores: generated unique over every promotion's codes, from an
alphabet without look-alikes, one per segment member when asked, listed with their uses
(services and CLI); bad options name the option and write nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from click.testing import CliRunner

from segmint.cli.main import _register, cli
from segmint.errors import ConfigError, NotFoundError
from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.services import codes, levers, segments
from segmint.services.customers import ingest
from segmint.store.base import Store
from segmint.store.redemptions import RedemptionRepository

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
DOCUMENT = {
    "promotions": [
        {
            "code": "summer",
            "trigger": "code",
            "codes": [" Summer10 "],
            "benefit": {"type": "order", "percentage": "10"},
        },
        {"code": "auto", "benefit": {"type": "order", "percentage": "5"}},
    ]
}


@pytest.fixture()
def shop(store: Store) -> Store:
    levers.apply_document(store, DOCUMENT, NOW, who="test")
    return store


def test_generated_codes_are_unique_and_readable(shop: Store) -> None:
    made = codes.generate_codes(shop, "summer", NOW, count=300, prefix="sum-", length=6)
    texts = [c.code for c in made]
    assert len(set(texts)) == 300
    assert all(re.fullmatch(r"SUM-[A-HJKMNP-Z2-9]{6}", t) for t in texts)  # no 0 O 1 I L
    more = codes.generate_codes(shop, "summer", NOW, count=300, prefix="sum-", length=6)
    assert not {c.code for c in more} & set(texts)
    listed = codes.list_codes(shop, "summer")
    assert listed[0].code == "SUMMER10" and listed[0].listed
    assert len(listed) == 601 and all(c.used == 0 for c in listed)
    assert {c.uses for c in listed if not c.listed} == {1}


def test_one_code_per_segment_member_bound_to_them(shop: Store) -> None:
    ingest(shop, "customers", [{"id": f"c{i}"} for i in range(5)], NOW)
    definition = SegmentDefinition(code="vip", name="VIP", kind=SegmentKind.MANUAL)
    segments.create_segment(shop, definition, NOW)
    segments.add_members(shop, "vip", ["c1", "c3"], NOW)
    made = codes.generate_codes(shop, "summer", NOW, segment="vip", uses=None)
    assert sorted(c.customer_id or "" for c in made) == ["c1", "c3"]
    assert all(c.uses is None for c in made)


def test_bad_options_write_nothing(shop: Store) -> None:
    for kwargs, message in (
        ({"count": 0}, "--count"),
        ({"count": 5, "length": 3}, "--length"),
        ({"count": 5, "prefix": "a b"}, "--prefix"),
        ({"count": 5, "uses": 0}, "--uses"),
    ):
        with pytest.raises(ConfigError, match=message):
            codes.generate_codes(shop, "summer", NOW, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="automatic"):
        codes.generate_codes(shop, "auto", NOW, count=1)
    with pytest.raises(NotFoundError):
        codes.generate_codes(shop, "nope", NOW, count=1)
    assert len(codes.list_codes(shop, "summer")) == 1


def test_the_cli_writes_csv_and_lists_uses(shop: Store, store_url: str) -> None:
    _register()
    runner = CliRunner()
    base = ["--db", store_url, "codes"]
    result = runner.invoke(cli, [*base, "generate", "summer", "--count", "3", "--uses", "2"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["uses"] for r in rows] == ["2", "2", "2"]
    listing = runner.invoke(cli, [*base, "list", "summer", "--format", "json"])
    assert listing.exit_code == 0, listing.output
    assert {r["code"] for r in rows} <= set(listing.output.replace('"', " ").split())


def test_the_api_generates_and_lists(shop: Store, store_url: str) -> None:
    from fastapi.testclient import TestClient

    from segmint.api.app import create_app
    from segmint.services import auth

    _, token = auth.create_api_key(shop, "marketer", NOW)
    client = TestClient(create_app(store_url, clock=lambda: NOW))
    client.headers["Authorization"] = f"Bearer {token}"
    made = client.post("/v1/promotions/summer/codes", json={"count": 4, "prefix": "W-"})
    assert made.status_code == 201, made.text
    assert all(c["code"].startswith("W-") and c["uses"] == 1 for c in made.json())
    listed = client.get("/v1/promotions/summer/codes").json()
    assert [c["origin"] for c in listed] == ["listed"] + ["generated"] * 4
    bad = client.post("/v1/promotions/summer/codes", json={"count": 0})
    assert bad.status_code == 422 and "count" in bad.text
    auto = client.post("/v1/promotions/auto/codes", json={"count": 1})
    assert auto.status_code == 400 or auto.status_code == 422, auto.text


def test_deleting_a_promotion_deletes_its_generated_codes(store: Store) -> None:
    levers.apply_document(store, DOCUMENT, NOW, who="test")
    generated = codes.generate_codes(store, "summer", NOW, count=3)

    def generated_codes() -> list[str]:
        return [c.code for c in codes.list_codes(store, "summer") if not c.listed]

    assert sorted(generated_codes()) == sorted(c.code for c in generated)
    levers.delete_lever(store, "promotions", "summer", NOW, who="test")
    levers.apply_document(store, DOCUMENT, NOW, who="test")  # created again under its code
    assert generated_codes() == []
    assert RedemptionRepository(store).find_codes([generated[0].code]) == {}
