"""``segmint segments …`` and ``segmint customers …`` end to end, on both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_segments_service import shop  # noqa: F401 - the fixture shared with the service suite

from segmint.cli.main import main
from segmint.store.base import Store

AS_OF = ("--as-of", "2024-05-01T00:00:00Z")


def run(
    capsys: pytest.CaptureFixture[str], url: str, *args: str, as_of: str = AS_OF[1]
) -> tuple[int, str, str]:
    code = 0
    try:
        main(["--db", url, "--as-of", as_of, *args])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_segments_cli(
    shop: Store,  # noqa: F811
    store_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def ok(*args: str, as_of: str = AS_OF[1]) -> str:
        code, out, err = run(capsys, store_url, *args, as_of=as_of)
        assert code == 0, err
        return out

    out = ok("segments", "create", "buyers", "--name", "Buyers", "--rule", "orders_count >= 1")
    assert out == "Segment created: buyers (version 1); memberships calculated: +3 / −0\n"
    rule_file = tmp_path / "rule.txt"
    rule_file.write_text("total_spent >= 200  # big\n")
    out = ok(
        "segments",
        "update",
        "buyers",
        "--rule-file",
        str(rule_file),
        "--user-group",
        "big",
        as_of="2024-05-01T01:00:00Z",
    )
    assert out == "Segment updated: buyers (version 2); memberships recalculated: +0 / −1\n"
    members = json.loads(ok("segments", "members", "buyers", "--format", "json"))
    assert members == {"count": 2, "customers": ["c2", "c3"]}
    assert "c1" in ok("segments", "members", "buyers", "--format", "csv", "--at", "2024-05-01")

    out = ok(
        "segments",
        "create",
        "acme",
        "--name",
        "Acme fans",
        "--min-spend",
        "100",
        "--items",
        "brand = 'Acme'",
        "--last-days",
        "7",
    )
    assert "+1 / −0" in out
    shown = json.loads(ok("segments", "show", "acme", "--format", "json"))
    assert shown["kind"] == "purchase" and shown["members"] == 1
    assert shown["effective_rule"].startswith("SUM(lines.amount WHERE (brand = 'Acme')")

    ok("segments", "create", "vip", "--name", "VIP", "--manual", "--store", "eu", "--store", "us")
    ids = tmp_path / "ids.txt"
    ids.write_text("c1\nc2\n")
    assert ok("segments", "add", "vip", "c3", "--file", str(ids)) == (
        "Added 3 customers to vip: +3 / −0\n"
    )
    assert ok("segments", "remove", "vip", "c2") == "Removed 1 customers from vip: +0 / −1\n"
    code, _, err = run(capsys, store_url, "segments", "add", "vip", "nobody")
    assert code == 1 and "unknown customer id" in err and "nobody" in err

    out = ok("segments", "preview", "buyers", "--rule", "orders_count >= 1", "--format", "json")
    assert json.loads(out)["entering"] == ["c1"]
    out = ok("segments", "preview", "newbies", "--rule", "orders_count = 0")
    assert out.startswith("2 customers would be members (now 0)")

    ok(
        "segments",
        "create",
        "vip-buyers",
        "--name",
        "x",
        "--rule",
        "IN SEGMENT 'vip' AND orders_count >= 1",
    )
    code, _, err = run(capsys, store_url, "segments", "delete", "vip")
    assert code == 1 and "referenced by segment vip-buyers" in err
    code, _, err = run(
        capsys, store_url, "segments", "update", "vip-buyers", "--rule", "IN SEGMENT 'vip-buyers'"
    )
    assert code == 1 and "cycle: vip-buyers -> vip-buyers" in err
    code, _, err = run(
        capsys, store_url, "segments", "create", "ctx", "--name", "x", "--rule", "cart.subtotal > 1"
    )
    assert code == 2 and "--realtime" in err
    ok("segments", "create", "ctx", "--name", "x", "--realtime", "--rule", "cart.subtotal > 1")

    listing = json.loads(ok("segments", "list", "--format", "json"))
    assert [s["code"] for s in listing] == ["acme", "buyers", "ctx", "vip", "vip-buyers"]
    assert "Refreshed" in ok("segments", "refresh", "--all")

    out = ok("segments", "changes", "--since", "0", "--limit", "3", "--format", "table")
    assert out.rstrip().splitlines()[-1] == "next cursor: 3"
    feed = json.loads(ok("segments", "changes", "--since", "3", "--format", "json"))
    assert feed["changes"][0]["seq"] == 4 and feed["cursor"] == feed["changes"][-1]["seq"]
    history = json.loads(ok("segments", "history", "vip", "--format", "json"))
    assert [(h["customer_id"], h["change"]) for h in history][-1] == ("c2", "exit")

    assert ok("customers", "groups", "add", "c1", "gold") == "c1: group gold assigned\n"
    out = ok("customers", "show", "c1")
    assert "total_spent: 120" in out and "vip since 2024-05-01T00:00:00Z (manual)" in out
    assert "gold (explicit)" in out and "vip (segment:vip)" in out
    overview = json.loads(ok("customers", "show", "c3", "--format", "json"))
    assert {g["group"]: g["sources"] for g in overview["user_groups"]}["big"] == ["segment:buyers"]
    assert ok("customers", "groups", "remove", "c1", "gold") == "c1: group gold unassigned\n"
    segs = json.loads(ok("customers", "segments", "c2", "--at", "2024-05-01", "--format", "json"))
    assert segs == {"count": 1, "segments": ["buyers"]}
    segs = json.loads(ok("customers", "segments", "c2", "--format", "json"))
    assert segs["segments"] == ["buyers"]
    out = ok("segments", "delete", "vip-buyers")
    assert out == "Segment deleted: vip-buyers; 2 members exited (history kept)\n"
