"""The "see it as" panel: an evaluate request from the panel's query parameters (a
customer or an anonymous visitor, context, query parameters, an instant), answered by the
targeting service with ``explain``, and the answer shaped for the templates — each
placement's items shown (content as JSON text, never markup) and why every other item
did not show."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from segmint.errors import ConfigError
from segmint.services.evaluate_request import read_request
from segmint.services.targeting import Targeting
from segmint.store.base import Store
from segmint.web._lever_form import instant_text

CONTEXT_FIELDS = ("view", "store", "channel", "path")
#: The panel's parameter names (kept in the links and forms that show it).
PARAMS = ("see", "who", "customer_id", "logged_in", *CONTEXT_FIELDS, "query", "as_of")


@dataclass(frozen=True)
class ShownItem:
    item: str
    content: str  # pretty JSON text, escaped when rendered


@dataclass(frozen=True)
class PlacementView:
    code: str
    shown: list[ShownItem]
    rejected: list[dict[str, Any]]


@dataclass
class SeeAs:
    """The panel's values, and (when asked) the answer or what is wrong with the request."""

    values: dict[str, str]
    asked: bool = False
    error: str | None = None
    placements: list[PlacementView] = field(default_factory=list)
    customer: dict[str, Any] | None = None
    segments: list[str] = field(default_factory=list)
    user_groups: list[str] = field(default_factory=list)
    as_of: str | None = None


def _query(text: str) -> dict[str, str]:
    """``key=value`` lines (a line without ``=`` is refused, naming it)."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"query parameters, line {number}: expected key=value, not {line!r}")
        out[key.strip()] = value.strip()
    return out


def request_document(values: Mapping[str, str], placement: str | None) -> dict[str, Any]:
    """The evaluate request (TARGETING.md §3) the panel describes."""
    context: dict[str, Any] = {}
    logged_in = values.get("logged_in", "")
    if logged_in in ("true", "false"):
        context["logged_in"] = logged_in == "true"
    for name in CONTEXT_FIELDS:
        if values.get(name, "").strip():
            context[name] = values[name].strip()
    query = _query(values.get("query", ""))
    if query:
        context["query"] = query
    document: dict[str, Any] = {"context": context, "explain": True}
    if values.get("who") != "anonymous":
        customer = values.get("customer_id", "").strip()
        if not customer:
            raise ConfigError("customer id: give one, or choose an anonymous visitor")
        document["customer_id"] = customer
    as_of = instant_text(values.get("as_of", ""))
    if as_of is not None:
        document["as_of"] = as_of
    if placement is not None:
        document["placements"] = [placement]
    return document


def see_as(
    store: Store,
    targeting: Targeting,
    values: Mapping[str, str],
    now: dt.datetime,
    placement: str | None = None,
) -> SeeAs:
    """The panel for ``values`` (query parameters): answered when ``see`` is set."""
    kept = {name: values.get(name, "") for name in PARAMS}
    kept["who"] = kept["who"] or "customer"
    result = SeeAs(kept)
    if not kept["see"]:
        return result
    result.asked = True
    try:
        request = read_request(request_document(kept, placement), "request")
    except ConfigError as error:
        result.error = str(error).removeprefix("error: ")
        return result
    answer = targeting.answer(store, request, now)
    data = answer.to_dict()
    result.customer = data["customer"]
    result.segments = [s["code"] for s in data["segments"]]
    result.user_groups = [g["group"] for g in data["user_groups"]]
    result.as_of = data["as_of"]
    for p in answer.placements:
        shown = []
        for encoded in p.shown_json:
            entry = json.loads(encoded)
            content = json.dumps(entry["content"], indent=2, ensure_ascii=False)
            shown.append(ShownItem(entry["item"], content))
        result.placements.append(PlacementView(p.code, shown, p.rejected))
    return result
