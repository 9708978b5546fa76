"""The store's own clock (``segmint_meta.clock``): a fixed evaluation instant kept with the
store, for a store whose world is in the past (the demo's data ends in 2017). Commands
and ``segmint serve`` read it when neither ``--as-of`` nor ``SEGMINT_NOW`` says otherwise;
``segmint clock set|unset`` change it."""

from __future__ import annotations

import datetime as dt

from segmint.clock import parse_instant
from segmint.store.base import Store

KEY = "clock"


def stored_clock(store: Store) -> dt.datetime | None:
    """The instant the store's clock is fixed at, or None (the store follows real time)."""
    if not store.table_exists("segmint_meta"):
        return None
    rows = store._q("SELECT value FROM segmint_meta WHERE key = $k", {"k": KEY})
    return parse_instant(str(rows[0][0]), what="the store's clock") if rows else None


def set_clock(store: Store, at: dt.datetime) -> dt.datetime:
    """Fix the store's clock at ``at`` (UTC); returns it."""
    store.init()
    value = at.astimezone(dt.UTC)
    text = value.isoformat().replace("+00:00", "Z")
    with store.writer_lock(), store.transaction():
        store._x("DELETE FROM segmint_meta WHERE key = $k", {"k": KEY})
        store._x("INSERT INTO segmint_meta (key, value) VALUES ($k, $v)", {"k": KEY, "v": text})
    return value


def unset_clock(store: Store) -> bool:
    """Let the store follow real time again; whether a clock was set."""
    if stored_clock(store) is None:
        return False
    with store.writer_lock(), store.transaction():
        store._x("DELETE FROM segmint_meta WHERE key = $k", {"k": KEY})
    return True
