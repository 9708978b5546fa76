"""Value discovery (services/discovery.py) on both stores: fields with attribute counts,
distinct values with hand-computed customer counts, the prefix, the cache and its
refresh by an import, and the data warnings — through the service, the CLI and the API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cli_run import run_cli as run
from segmint.errors import ConfigError
from segmint.services import auth, discovery
from segmint.services.ingest import import_and_update
from segmint.store.base import Store

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
CUSTOMERS = (
    "id,email,country,business_account,tags,attributes.tier,attributes.score\n"
    "c1,a@x.io,US,acme,vip|newsletter,gold,1\n"
    "c2,b@x.io,US,globex,newsletter,silver,2\n"
    "c3,c@x.io,DE,,vip,,\n"
    "c4,d@x.io,,,,gold,\n"
)
PRODUCTS = "sku,product_name,brand,category\nB-1,Ale One,National,BEERS/ALES\nX-9,Extra,Acme,X\n"
ACCOUNTS = "id,name\nacme,Acme Corporation\nglobex,Globex Inc\n"
# c1 buys BEERS/ALES twice (one customer), c2 once; BEERS/ALES: 2 customers, 3 lines
ORDERS = (
    "order_id,customer_id,placed_at,status,sku,product_name,brand,category,quantity,unit_price\n"
    "o1,c1,2024-04-20T10:00:00Z,paid,B-1,Ale One,National,BEERS/ALES,1,5\n"
    "o2,c1,2024-04-21T10:00:00Z,paid,B-1,Ale One,National,BEERS/ALES,1,5\n"
    "o3,c2,2024-04-22T10:00:00Z,paid,B-2,Ale Two,Private,BEERS/ALES,1,5\n"
    "o4,c2,2024-04-22T11:00:00Z,paid,W-1,Red Wine,Private,WINE,1,9\n"
    "o5,c3,2024-04-23T10:00:00Z,paid,C-1,Coffee,Nationwide,COFFEE,1,3\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def shop(store: Store, tmp_path: Path) -> Store:
    files = {"accounts": ACCOUNTS, "products": PRODUCTS, "customers": CUSTOMERS, "orders": ORDERS}
    for kind, text in files.items():
        import_and_update(store, kind, _write(tmp_path, f"{kind}.csv", text), NOW)
    return store


def _pairs(page: discovery.ValuesPage) -> list[tuple[object, int]]:
    return [(v.value, v.count) for v in page.values]


def test_values_count_customers_most_frequent_first(shop: Store) -> None:
    brands = discovery.values(shop, "lines.brand")  # ties: by value
    assert _pairs(brands) == [("National", 1), ("Nationwide", 1), ("Private", 1)]
    categories = discovery.values(shop, "lines.category")
    assert _pairs(categories) == [("BEERS/ALES", 2), ("COFFEE", 1), ("WINE", 1)]
    assert (categories.distinct, categories.matched, categories.counts) == (3, 3, "customers")
    assert _pairs(discovery.values(shop, "tags")) == [("newsletter", 2), ("vip", 2)]
    assert _pairs(discovery.values(shop, "country")) == [("US", 2), ("DE", 1)]
    assert _pairs(discovery.values(shop, "attributes.tier")) == [("gold", 2), ("silver", 1)]


def test_prefix_is_case_insensitive_and_matches_labels(shop: Store) -> None:
    page = discovery.values(shop, "lines.brand", prefix="nat")
    assert sorted(v.value for v in page.values) == ["National", "Nationwide"]
    assert page.matched == 2 and page.distinct == 3
    assert [v.value for v in discovery.values(shop, "lines.brand", prefix="nat", limit=1).values]
    skus = discovery.values(shop, "lines.sku", prefix="ale")  # by product name
    assert [(v.value, v.label) for v in skus.values] == [("B-1", "Ale One"), ("B-2", "Ale Two")]
    accounts = discovery.values(shop, "business_account", prefix="glob")
    assert [(v.value, v.count, v.label) for v in accounts.values] == [("globex", 1, "Globex Inc")]
    catalog = discovery.values(shop, "cart.lines.sku")
    assert catalog.counts == "products" and catalog.distinct == 2
    assert catalog.values[0].label == "Ale One"


def test_unknown_fields_are_refused_with_a_pointer(shop: Store) -> None:
    with pytest.raises(ConfigError, match=r"use lines\.brand or cart\.lines\.brand"):
        discovery.values(shop, "brand")
    with pytest.raises(ConfigError, match="did you mean 'country'"):
        discovery.values(shop, "contry")
    with pytest.raises(ConfigError, match=r"attributes\.score is number"):
        discovery.values(shop, "attributes.score")
    with pytest.raises(ConfigError, match="--limit"):
        discovery.values(shop, "country", limit=0)


def test_fields_list_types_scopes_and_attribute_counts(shop: Store) -> None:
    listed = {f.name: f for f in discovery.fields(shop)}
    assert listed["attributes.tier"].customers == 3
    assert listed["attributes.score"].customers == 2
    assert listed["attributes.score"].values is False
    assert (listed["lines.brand"].scope, listed["lines.brand"].values) == ("lines", True)
    assert listed["total_spent"].type == "number" and listed["total_spent"].scope == "derived"
    assert listed["cart.lines.sku"].realtime and listed["context.view"].realtime
    assert listed["segment"].values


def test_cache_is_kept_until_an_import_of_its_table(shop: Store, tmp_path: Path) -> None:
    assert discovery.values(shop, "lines.brand", prefix="acme").matched == 0
    # a write that bypasses the import is not seen: the answer is the cached one
    shop.execute("UPDATE order_lines SET brand = 'Acme' WHERE order_id = 'o5'")
    assert discovery.values(shop, "lines.brand", prefix="acme").matched == 0
    # a customers import leaves the lines' values cached
    import_and_update(shop, "customers", _write(tmp_path, "more.csv", "id\nc9\n"), NOW)
    assert discovery.values(shop, "lines.brand", prefix="acme").matched == 0
    # an orders import refreshes them
    extra = "order_id,customer_id,placed_at,brand\no9,c4,2024-04-25T10:00:00Z,Acme Gold\n"
    import_and_update(shop, "orders", _write(tmp_path, "o.csv", extra), NOW)
    page = discovery.values(shop, "lines.brand", prefix="acme")
    assert sorted(_pairs(page)) == [("Acme", 1), ("Acme Gold", 1)]


def test_warnings_name_the_value_and_the_closest_one(shop: Store) -> None:
    text = "EXISTS(lines WHERE category = 'BEER/ALE') AND country IN ('us', 'FR')"
    warnings = discovery.rule_warnings(shop, text)
    assert [w.message for w in warnings] == [
        "no line has category 'BEER/ALE' — did you mean 'BEERS/ALES'?",
        "no customer has country 'FR'",
    ]
    first = warnings[0]
    assert text[first.start : first.end] == "'BEER/ALE'"
    assert (first.line, first.column, first.suggestion) == (1, 31, "BEERS/ALES")
    # values the data has, in any case, warn of nothing; nor do substring tests
    clean = (
        "EXISTS(lines WHERE brand = 'private') AND tags CONTAINS 'VIP' "
        "AND email CONTAINS 'nobody' AND attributes.tier != 'GOLD'"
        # excluding a value the data lacks is deliberate (and always true): no warning
        " AND EXISTS(orders WHERE status NOT IN ('lost', 'failed')) AND country != 'XX'"
        " AND NOT tags CONTAINS 'zzz' AND NOT EXISTS(lines WHERE brand = 'Nobody')"
    )
    assert discovery.rule_warnings(shop, clean) == []
    assert [w.message for w in discovery.rule_warnings(shop, "tags CONTAINS 'vpi'")] == [
        "no customer has tags 'vpi' — did you mean 'vip'?"
    ]


# ---- CLI and API ---------------------------------------------------------------------------


def test_cli_fields_values_and_rules_check(
    shop: Store, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--db", store_url, "values", "lines.category", "--format", "csv")
    assert code == 0, err
    assert out.splitlines() == ["value,count,label", "BEERS/ALES,2,", "COFFEE,1,", "WINE,1,"]
    code, out, _ = run(
        capsys, "--db", store_url, "fields", "--scope", "attribute", "--format", "csv"
    )
    assert out.splitlines()[1:] == [
        "attributes.score,number,attribute,False,False,2",
        "attributes.tier,string,attribute,False,True,3",
    ]
    code, out, _ = run(
        capsys, "--db", store_url, "rules", "check", "EXISTS(lines WHERE category = 'BEER/ALE')"
    )
    assert code == 0
    assert out.splitlines() == [
        "ok (materializable)",
        "warning: no line has category 'BEER/ALE' — did you mean 'BEERS/ALES'? at 1:31",
    ]
    code, _, err = run(capsys, "--db", store_url, "values", "brand")
    assert code == 1 and "use lines.brand" in err


@pytest.fixture()
def api(shop: Store, store_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    from segmint.api.app import create_app

    token = auth.create_api_key(shop, "marketer", NOW, name="m")[1]
    with TestClient(create_app(store_url, clock=lambda: NOW)) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def test_api_schema_values_and_warnings(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    schema = client.get("/v1/schema", headers=headers).json()
    tier = next(f for f in schema["fields"] if f["name"] == "attributes.tier")
    assert tier == {
        "name": "attributes.tier",
        "type": "string",
        "scope": "attribute",
        "realtime": False,
        "values": True,
        "customers": 3,
    }
    page = client.get(
        "/v1/values", params={"field": "lines.sku", "prefix": "B", "limit": 1}, headers=headers
    ).json()
    assert page["values"] == [{"value": "B-1", "count": 1, "label": "Ale One"}]
    assert (page["matched"], page["distinct"]) == (2, 4)
    refused = client.get("/v1/values", params={"field": "brand"}, headers=headers)
    assert refused.status_code == 422 and "lines.brand" in refused.text
    rule = "EXISTS(lines WHERE category = 'BEER/ALE')"
    checked = client.post("/v1/rules/check", json={"rule": rule}, headers=headers).json()
    expected = "no line has category 'BEER/ALE' — did you mean 'BEERS/ALES'?"
    assert [w["message"] for w in checked["warnings"]] == [expected]
    body = {"code": "beer", "name": "Beer", "kind": "rule", "rule": rule}
    saved = client.post("/v1/segments", json=body, headers=headers)
    assert saved.status_code == 201
    assert [w["message"] for w in saved.json()["warnings"]] == [expected]
