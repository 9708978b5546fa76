"""The cart simulator: an evaluate request (TARGETING.md §3) from the simulator's query
parameters — a customer or an anonymous visitor, context, cart lines, shipping, codes, an
instant — always with ``explain``, and its answer shaped for the template: the priced
lines with every discount by promotion, the totals, the promotions applied, what did not
apply and why, the near misses, and what each placement shows (content as JSON text,
never markup).

The lines come as repeated ``sku`` / ``quantity`` / ``unit_price`` parameters, one of each
per row, in order. A row with neither a sku nor a price is empty and left out, so the rows
the page shows after pricing are the request's ``cart.lines`` in order: an error naming
``cart.lines[1].quantity`` is shown beside the second row's quantity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from segmint.errors import ConfigError
from segmint.services.targeting import TargetingAnswer
from segmint.web._see_as import PlacementView, ShownItem
from segmint.web._see_as import request_document as visitor_document

#: The simulator's single-valued parameters (kept in the form that shows it).
PARAMS = (
    "who",
    "customer_id",
    "logged_in",
    "view",
    "store",
    "channel",
    "currency",
    "shipping",
    "codes",
    "as_of",
)
LINE_FIELDS = ("sku", "quantity", "unit_price")
#: The most rows a form may carry (a cart takes up to 1,000 lines through the API).
MAX_ROWS = 200
_LINE_PATH = re.compile(r"cart\.lines\[(\d+)\](?:\.(\w+))?")


@dataclass
class LineRow:
    """One row of the form as typed; ``problems``: field -> what the error says of it."""

    sku: str = ""
    quantity: str = "1"
    unit_price: str = ""
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.sku.strip() and not self.unit_price.strip()


@dataclass(frozen=True)
class NearView:
    promotion: str
    missing: list[tuple[str, str]]  # (path, how much more), e.g. ("cart.subtotal", "6.00")


@dataclass
class Simulation:
    """The form's values and rows, and (when asked) the answer or what is wrong."""

    values: dict[str, str]
    rows: list[LineRow]
    asked: bool = False
    error: str | None = None
    customer: dict[str, Any] | None = None
    segments: list[str] = field(default_factory=list)
    user_groups: list[str] = field(default_factory=list)
    as_of: str | None = None
    cart: dict[str, Any] | None = None
    promotions: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # promotions and codes
    price_lists: list[dict[str, Any]] = field(default_factory=list)  # price lists not applied
    near: list[NearView] = field(default_factory=list)
    placements: list[PlacementView] = field(default_factory=list)


def _rows(params: Mapping[str, list[str]]) -> list[LineRow]:
    """The rows typed, in order (a missing field in a row is empty)."""
    columns = [params.get(name, []) for name in LINE_FIELDS]
    count = max((len(c) for c in columns), default=0)
    rows = []
    for i in range(count):
        sku, quantity, price = (c[i] if i < len(c) else "" for c in columns)
        rows.append(LineRow(sku, quantity, price))
    return rows


def _codes(text: str) -> list[str]:
    return [code.strip() for code in re.split(r"[,\n]", text) if code.strip()]


def request_document(values: Mapping[str, str], rows: list[LineRow]) -> dict[str, Any]:
    """The evaluate request the form describes (``rows``: the non-empty ones)."""
    document = visitor_document(values, None)  # as "see it as" reads them; explain on
    lines: list[dict[str, Any]] = []
    for row in rows:
        line: dict[str, Any] = {}
        if row.sku.strip():
            line["sku"] = row.sku.strip()
        if row.quantity.strip():
            line["quantity"] = row.quantity.strip()
        if row.unit_price.strip():
            line["unit_price"] = row.unit_price.strip()
        lines.append(line)
    cart: dict[str, Any] = {"lines": lines}
    if values.get("currency", "").strip():
        cart["currency"] = values["currency"].strip()
    if values.get("shipping", "").strip():
        cart["shipping"] = {"amount": values["shipping"].strip()}
    document["cart"] = cart
    codes = _codes(values.get("codes", ""))
    if codes:
        document["codes"] = codes
    return document


def _mark(rows: list[LineRow], error: str) -> None:
    """Each row an error names gets the field it names (or its sku) marked, with what
    the error says of it."""
    for part in error.split("; "):
        found = _LINE_PATH.search(part)
        if found is None:
            continue
        index = int(found.group(1))
        if index < len(rows):
            name = found.group(2) if found.group(2) in LINE_FIELDS else "sku"
            said = part[found.end() :].removeprefix(":").strip()
            rows[index].problems[name] = said or part


def _message(error: ConfigError) -> str:
    return str(error).removeprefix("error: ").removeprefix("request: ")


def _near(entry: dict[str, Any]) -> NearView:
    missing = [(path, str(amount)) for path, amount in entry["missing"].items()]
    return NearView(entry["promotion"], missing)


def read_form(params: Mapping[str, list[str]]) -> tuple[Simulation, dict[str, Any] | None]:
    """The simulator for the query parameters (every value of each): the form to show,
    and the request document to answer (None: nothing to price yet, or an error)."""
    values = {name: (params.get(name) or [""])[-1] for name in PARAMS}
    values["who"] = values["who"] or "customer"
    action = (params.get("action") or [""])[-1]
    rows = _rows(params)
    if action == "add":
        # "Add a line" without script: the form again, one more row, nothing priced.
        return Simulation(values, [*rows, LineRow()][:MAX_ROWS]), None
    if action != "price":
        return Simulation(values, rows or [LineRow()]), None
    lines = [row for row in rows if not row.empty]
    simulation = Simulation(values, lines or [LineRow()], asked=True)
    if len(rows) > MAX_ROWS:
        simulation.error = f"cart.lines: at most {MAX_ROWS} rows in this form, not {len(rows)}"
        return simulation, None
    try:
        document = request_document(values, lines)
    except ConfigError as error:
        simulation.error = _message(error)
        return simulation, None
    return simulation, document


def failed(simulation: Simulation, error: ConfigError) -> Simulation:
    """The simulation with the request's error shown and its rows marked."""
    simulation.error = _message(error)
    _mark(simulation.rows, simulation.error)
    return simulation


def finish(simulation: Simulation, answer: TargetingAnswer) -> Simulation:
    """The simulation with ``answer`` shaped for the template."""
    data = answer.to_dict()
    simulation.customer = data["customer"]
    simulation.segments = [s["code"] for s in data["segments"]]
    simulation.user_groups = [g["group"] for g in data["user_groups"]]
    simulation.as_of = data["as_of"]
    simulation.cart = data["cart"]
    simulation.promotions = data["promotions"]
    for entry in data["rejected"]:
        if "price_list" in entry:
            simulation.price_lists.append(entry)
        elif "placement" not in entry:  # placement items are shown with their placement
            simulation.rejected.append(entry)
    simulation.near = [_near(entry) for entry in data["near"]]
    for p in answer.placements:
        shown = []
        for encoded in p.shown_json:
            entry = json.loads(encoded)
            content = json.dumps(entry["content"], indent=2, ensure_ascii=False)
            shown.append(ShownItem(entry["item"], content))
        simulation.placements.append(PlacementView(p.code, shown, p.rejected))
    return simulation
