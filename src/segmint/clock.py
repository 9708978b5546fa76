"""The evaluation instant (``--as-of`` / ``SEGMINT_NOW``) and parsing of user-given times."""

from __future__ import annotations

import datetime as dt
import os

from segmint.errors import ConfigError


def parse_instant(text: str, *, what: str = "--as-of") -> dt.datetime:
    """Parse an ISO timestamp (offset or ``Z``; naive means UTC), a date (midnight UTC) or
    ``now``, returning an aware UTC datetime."""
    raw = text.strip()
    if raw.lower() == "now":
        return dt.datetime.now(dt.UTC)
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{what}: {text!r} is not a timestamp (expected e.g. 2024-05-01T00:00:00Z)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def resolve_now(as_of: str | None) -> dt.datetime:
    """``--as-of`` if given, else ``SEGMINT_NOW`` if set, else the current instant."""
    if as_of:
        return parse_instant(as_of)
    env = os.environ.get("SEGMINT_NOW")
    if env:
        return parse_instant(env, what="SEGMINT_NOW")
    return dt.datetime.now(dt.UTC)
