"""Bounded ingest (issue 19, points 2 and 6), on both stores: every limit refuses with
422 over HTTP and the same message from ``segmint import``, fast, naming what and where;
what import must not accept (ids that are not strings or integers, NUL bytes, broken CSV,
a file that is not Parquet) is refused naming row and column; nothing is half-written."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cli_run import run_cli as cli
from cli_run import url_of
from segmint.api.app import create_app
from segmint.errors import ImportError_
from segmint.importing import import_file, limits
from segmint.services import auth
from segmint.store.base import Store

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
AT = "2024-04-01T00:00:00Z"


@pytest.fixture()
def api(store: Store, store_url: str) -> TestClient:
    _, token = auth.create_api_key(store, "ingest", NOW)
    client = TestClient(create_app(store_url, clock=lambda: NOW))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def refused(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["type"] == "ImportError"
    return body


def jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def nothing_stored(store: Store) -> None:
    counts = store.stats()
    assert counts["customers"] == counts["events"] == counts["attributes"] == 0, counts


def event(**properties: Any) -> dict[str, Any]:
    return {"customer_id": "c1", "type": "page_view", "at": AT, "properties": properties}


# ---- point 2: bounds -------------------------------------------------------------------


def test_an_event_with_5000_properties_is_refused_fast(
    api: TestClient,
    store: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # ~550 KB, as in the issue: before, validation held the store for over ten minutes.
    big = event(**{f"p{i}": "x" * 100 for i in range(5000)})
    started = time.perf_counter()
    body = refused(api.post("/v1/events", json=big))
    assert time.perf_counter() - started < 10
    row = body["details"]["bad_rows"][0]
    assert (row["row"], row["column"]) == (1, "properties")
    assert row["reason"] == "more than 50 properties on one event"
    assert "5000 properties" in body["message"]

    # the same event in a file: the same bad row, from the CLI
    path = jsonl(tmp_path / "events.jsonl", [{"id": "e0", **event()}, {"id": "e1", **big}])
    started = time.perf_counter()
    code, _, err = cli(capsys, "--db", url_of(store), "import", "events", str(path))
    assert time.perf_counter() - started < 10
    assert code == 1
    assert "row 2, column 'properties': '5000 properties' — more than 50 properties" in err
    nothing_stored(store)


def test_fifty_properties_pass_and_the_fifty_first_is_refused(
    api: TestClient, store: Store
) -> None:
    ok = api.post("/v1/events", json=event(**{f"p{i}": "v" for i in range(50)}))
    assert ok.status_code == 200, ok.text
    body = refused(api.post("/v1/events", json=event(**{f"p{i}": "v" for i in range(51)})))
    assert body["details"]["bad_rows"][0]["value"] == "51 properties"
    assert store.stats()["events"] == 1


def test_property_names_and_values_are_bounded(
    api: TestClient, store: Store, tmp_path: Path
) -> None:
    body = refused(api.post("/v1/events", json=event(**{"k" * 41: "v"})))
    assert "longer than 40 characters" in body["message"] and "k" * 41 in body["message"]
    body = refused(api.post("/v1/events", json=event(short="v" * 500, long="v" * 501)))
    row = body["details"]["bad_rows"]
    assert [(r["row"], r["column"], r["reason"]) for r in row] == [
        (1, "properties.long", "longer than 500 characters")
    ]
    # a CSV of events: one property per column; a row with 51 given values is refused
    header = ",".join(["customer_id", "type", "at"] + [f"properties.p{i}" for i in range(60)])
    rows = ["c1,view," + AT + "," + ",".join(["a"] * 10 + [""] * 50)]
    rows.append("c2,view," + AT + "," + ",".join(["a"] * 51 + [""] * 9))
    path = tmp_path / "events.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(ImportError_) as caught:
        import_file(store, "events", path)
    assert caught.value.bad_rows[0].row == 2
    assert caught.value.bad_rows[0].column == "properties"
    assert store.stats()["events"] == 0


def test_distinct_property_names_per_call_are_bounded(api: TestClient, store: Store) -> None:
    # 21 events of 50 properties each, every name new: 1,050 names in one call
    batch = [{**event(**{f"e{e}_p{i}": "v" for i in range(50)}), "id": f"ev{e}"} for e in range(21)]
    body = refused(api.post("/v1/events/batch", json=batch))
    assert "1050 distinct property names, at most 1000" in body["message"]
    nothing_stored(store)


def test_many_properties_across_a_file_validate_in_bounded_time(
    store: Store, tmp_path: Path
) -> None:
    # 1,000 distinct properties over 40 events: a check per column, validated in chunks;
    # the single query took minutes at this width.
    rows = [{"id": f"e{e}", **event(**{f"n{e}_{i}": str(i) for i in range(25)})} for e in range(40)]
    started = time.perf_counter()
    report = import_file(store, "events", jsonl(tmp_path / "wide.jsonl", rows))
    assert time.perf_counter() - started < 60
    assert report.inserted == 40
    stored = store._q("SELECT properties FROM events WHERE id = 'e39'")[0][0]
    parsed = json.loads(stored) if isinstance(stored, str) else stored
    assert parsed == {f"n39_{i}": str(i) for i in range(25)}


def test_attributes_are_bounded_per_call_new_and_in_total(
    api: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    wide = {"attributes": {f"a{i}": 1 for i in range(101)}}
    body = refused(api.put("/v1/customers/c1", json=wide))
    assert "101 attributes, at most 100 per call" in body["message"]
    wide = {"attributes": {f"a{i}": 1 for i in range(51)}}
    body = refused(api.put("/v1/customers/c1", json=wide))
    assert "51 new attributes" in body["message"] and "at most 50" in body["message"]
    nothing_stored(store)
    fifty = {f"a{i}": i for i in range(50)}
    assert api.put("/v1/customers/c1", json={"attributes": fifty}).status_code == 200
    assert len(store.attributes()) == 50
    # the total, with a small bound so the test stays fast
    monkeypatch.setattr(limits, "ATTRIBUTES_TOTAL", 52)
    assert api.put("/v1/customers/c2", json={"attributes": {"b1": 1, "b2": 2}}).status_code == 200
    body = refused(api.put("/v1/customers/c3", json={"attributes": {"b3": 1}}))
    assert "would make 53 registered, at most 52" in body["message"]
    assert "segmint attributes drop" in body["message"]
    assert store._count("SELECT COUNT(*) FROM customers") == 2
    # text attribute values are bounded like properties
    body = refused(api.put("/v1/customers/c1", json={"attributes": {"a1": 1, "a2": "x" * 501}}))
    (row,) = body["details"]["bad_rows"]
    assert (row["row"], row["column"], row["reason"]) == (
        1,
        "attributes.a2",
        "longer than 500 characters",
    )


# ---- point 6: what import must not accept --------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"), [({"nested": 1}, '{"nested":1}'), (True, "true"), (1.5, "1.5")]
)
def test_ids_must_be_strings_or_integers(
    store: Store, tmp_path: Path, value: Any, shown: str
) -> None:
    path = jsonl(tmp_path / "c.jsonl", [{"id": "c1"}, {"id": 7}, {"id": value}])
    with pytest.raises(ImportError_) as caught:
        import_file(store, "customers", path)
    (bad,) = caught.value.bad_rows
    assert (bad.row, bad.column, bad.value) == (3, "id", shown)
    assert bad.reason == "not an id (an id is a string or an integer)"
    # a reference to a customer likewise
    path = jsonl(tmp_path / "e.jsonl", [{"customer_id": value, "type": "view", "at": AT}])
    with pytest.raises(ImportError_) as caught:
        import_file(store, "events", path)
    assert (caught.value.bad_rows[0].row, caught.value.bad_rows[0].column) == (1, "customer_id")
    nothing_stored(store)
    import_file(store, "customers", jsonl(tmp_path / "ok.jsonl", [{"id": "c1"}, {"id": 7}]))
    assert store.customer_ids() == ["7", "c1"]


def test_a_nul_byte_is_refused_naming_row_and_column(store: Store, tmp_path: Path) -> None:
    csv_path = tmp_path / "c.csv"
    csv_path.write_bytes(b"id,email\nc1,a@x\nc2,b\x00@x\n")
    with pytest.raises(ImportError_) as caught:
        import_file(store, "customers", csv_path)
    (bad,) = caught.value.bad_rows
    assert (bad.row, bad.column, bad.value) == (2, "email", "b\\0@x")
    assert "NUL byte" in bad.reason
    path = jsonl(tmp_path / "c.jsonl", [{"id": "c1", "tags": ["ok", "b\u0000d"]}])
    with pytest.raises(ImportError_) as caught:
        import_file(store, "customers", path)
    assert (caught.value.bad_rows[0].row, caught.value.bad_rows[0].column) == (1, "tags")
    nothing_stored(store)


def test_csv_syntax_errors_say_what_and_where(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('id,email\nc1,a@x\nc2,"b@x\nc3,c@x\n')
    with pytest.raises(ImportError_) as caught:
        import_file(store, "customers", path)
    (bad,) = caught.value.bad_rows
    assert bad.row == 2 and bad.value == 'c2,"b@x'
    assert bad.reason == 'unterminated quoted value (the " opened on line 3 is never closed)'
    assert "unknown column" not in str(caught.value)
    path.write_text('id,email\nc1,"a"x\n')
    with pytest.raises(ImportError_) as caught:
        import_file(store, "customers", path)
    assert caught.value.bad_rows[0].row == 1
    assert "text after a closing quote" in caught.value.bad_rows[0].reason
    # quoting still works: doubled quotes, delimiters and newlines inside quotes
    path.write_text('id,email\nc1,"a ""b"", c\nd"\n')
    import_file(store, "customers", path)
    assert store._q("SELECT email FROM customers")[0][0] == 'a "b", c\nd'


def test_a_file_that_is_not_parquet_gets_a_message(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    path.write_text("order_id,customer_id\no1,c1\n")
    with pytest.raises(ImportError_) as caught:
        import_file(store, "orders", path)
    assert caught.value.note.startswith("not a Parquet file")
    assert "SELECT" not in str(caught.value) and "read_parquet" not in str(caught.value)
    nothing_stored(store)
