"""The store's own clock (``segmint clock``): commands evaluate at it unless ``--as-of``
or ``SEGMINT_NOW`` says otherwise, on both stores."""

from __future__ import annotations

import json

import pytest

from segmint.cli.main import main
from segmint.services import store_clock
from segmint.services.customers import ingest
from segmint.store.base import Store


def run(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(["--db", url, *args])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_commands_evaluate_at_the_stores_clock(
    store: Store,
    store_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SEGMINT_NOW", raising=False)
    import datetime as dt

    then = dt.datetime(2017, 12, 20, tzinfo=dt.UTC)
    orders = [
        {"order_id": "o1", "customer_id": "c1", "placed_at": "2017-12-10T00:00:00Z", "total": "40"},
        {"order_id": "o2", "customer_id": "c2", "placed_at": "2016-01-10T00:00:00Z", "total": "40"},
    ]
    ingest(store, "orders", orders, then)
    store.close()
    rule = "EXISTS(orders WHERE placed_at WITHIN 30d)"

    def members(*extra: str) -> list[str]:
        code, out, err = run(capsys, store_url, *extra, "match", rule, "--format", "json")
        assert code == 0, err
        return sorted(json.loads(out)["customers"])

    assert members() == []  # real time: 2017 is long ago
    code, out, err = run(capsys, store_url, "clock", "set", "2018-01-01")
    assert (code, out) == (0, "clock fixed at 2018-01-01T00:00:00Z\n"), err
    assert members() == ["c1"]
    assert members("--as-of", "2019-01-01") == []  # --as-of wins
    monkeypatch.setenv("SEGMINT_NOW", "2016-01-20")
    assert members() == ["c2"]  # and so does SEGMINT_NOW
    monkeypatch.delenv("SEGMINT_NOW")
    code, out, _ = run(capsys, store_url, "clock", "show", "--format", "json")
    shown = json.loads(out)
    assert shown == {"clock": "2018-01-01T00:00:00Z", "evaluating_at": "2018-01-01T00:00:00Z"}
    code, out, _ = run(capsys, store_url, "clock", "unset")
    assert out == "the store follows real time\n"
    assert members() == []
    code, out, _ = run(capsys, store_url, "clock", "unset")
    assert out == "the store follows real time (no clock was set)\n"
    code, _, err = run(capsys, store_url, "clock", "set", "yesterday-ish")
    assert code != 0 and "INSTANT: 'yesterday-ish' is not a timestamp" in err


def test_the_clock_is_kept_with_the_store(store: Store) -> None:
    import datetime as dt

    assert store_clock.stored_clock(store) is None
    at = dt.datetime(2018, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert store_clock.set_clock(store, at) == dt.datetime(2018, 1, 1, 10, tzinfo=dt.UTC)
    assert store_clock.stored_clock(store) == dt.datetime(2018, 1, 1, 10, tzinfo=dt.UTC)
    assert store_clock.unset_clock(store) and store_clock.stored_clock(store) is None
