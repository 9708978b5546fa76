"""``segmint evaluate --request FILE``: what a visitor sees and pays, as ``POST
/v1/evaluate``; ``segmint checkout --request FILE --order-id ID``: the same, redeemed, as
``POST /v1/checkout``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from segmint.cli.main import AppContext, pass_app
from segmint.errors import ConfigError
from segmint.services.checkout import checkout
from segmint.services.evaluate import Evaluator
from segmint.services.evaluate_request import read_checkout, read_request
from segmint.services.targeting import Targeting


def _requests(text: str, name: str) -> tuple[list[tuple[str, Any]], bool]:
    """(where, document) of each request, and whether the file is JSON Lines: one JSON
    document, or one per non-empty line."""
    try:
        return [(name, json.loads(text))], False
    except json.JSONDecodeError:
        pass
    found: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name}, line {number}"
        try:
            found.append((where, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
    if not found:
        raise ConfigError(f"{name}: no request (expected a JSON object, or one per line)")
    return found, True


def _table(answer: dict[str, Any]) -> str:
    """An answer document (``TargetingAnswer.to_dict``, or the API's) as lines."""
    who = f"customer {answer['customer_id']}" if answer["customer_id"] else "anonymous visitor"
    lines = [
        f"{who} ({'known' if answer['known'] else 'not known'}) as of {answer['as_of']}",
        "segments: " + (", ".join(s["code"] for s in answer["segments"]) or "(none)"),
        "user groups: " + (", ".join(g["group"] for g in answer["user_groups"]) or "(none)"),
    ]
    rejected = answer.get("rejected", [])
    lines += _cart_lines(answer)
    for code, items in answer["placements"].items():
        shown = ", ".join(str(i["item"]) for i in items) or "(nothing)"
        lines.append(f"placement {code}: {shown}")
        for r in (r for r in rejected if r.get("placement") == code):
            lines.append(f"  not shown: {r['item']} ({r['reason']}: {r['detail']})")
            for part in r.get("false", []):
                lines.append(f"    false: {part['text']}  ({part['sentence']})")
    return "\n".join(lines)


def _cart_lines(answer: dict[str, Any]) -> list[str]:
    cart = answer.get("cart")
    if not cart:
        return []
    out: list[str] = []
    for ln in cart["lines"]:
        listed = ""
        if ln["price_list"]:
            listed = f" (list {ln['price_list']}, was {ln['list_unit_price']})"
        out.append(
            f"line {ln['id']}: {ln['quantity']} x {ln['sku']} at {ln['unit_price']}{listed}"
            f" = {ln['subtotal']}, less {ln['discount']} = {ln['total']}"
        )
        out += [f"  {d['promotion']}: -{d['amount']}" for d in ln["discounts"]]
    shipping = cart["shipping"]
    if shipping is not None:
        out.append(f"shipping: {shipping['amount']}, less {shipping['discount']}")
    out.append(
        f"cart ({cart['currency']}): subtotal {cart['subtotal']}, discount {cart['discount']}, "
        f"total {cart['total']}"
    )
    for p in answer.get("promotions", []):
        via = f" via {p['via_code']}" if p["via_code"] else ""
        out.append(f"promotion {p['code']}{via}: -{p['amount']} lines, -{p['shipping']} shipping")
    for r in _rejected_pricing(answer):
        what = r.get("promotion") or r.get("price_list") or "(no promotion)"
        code = f" code {r['code']}" if r.get("code") else ""
        out.append(f"  not applied: {what}{code} ({r['reason']}: {r['detail']})")
    for n in answer.get("near", []):
        missing = ", ".join(f"{k} {v}" for k, v in n["missing"].items())
        out.append(f"near: {n['promotion']} (missing {missing})")
    return out


def _rejected_pricing(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in answer.get("rejected", []) if "placement" not in r]


def _read_text(request_file: Path) -> tuple[str, str]:
    name = "standard input" if str(request_file) == "-" else str(request_file)
    if str(request_file) == "-":
        return sys.stdin.read(), name
    try:
        return request_file.read_text(encoding="utf-8"), name
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read ({exc.strerror})") from None


@click.command("evaluate")
@click.option(
    "--request",
    "request_file",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    required=True,
    help="A request document as POST /v1/evaluate takes it (JSON), or a JSON Lines file of "
    "many ('-': standard input).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "table"]),
    default="json",
    show_default=True,
    help="json: the API's answer (one line per request for JSON Lines).",
)
@pass_app
def evaluate_command(app: AppContext, request_file: Path, fmt: str) -> None:
    """Answer requests: segments, user groups and what each placement shows."""
    text, name = _read_text(request_file)
    documents, many = _requests(text, name)
    requests = [read_request(doc, where) for where, doc in documents]  # all, before answering
    server = app.server()
    if server is not None:
        # The same documents to the server holding the database, answered at its clock.
        for _, document in documents:
            _echo(server.post("/v1/evaluate", document), fmt, many)
        return
    store = app.store()
    store.require_schema()
    targeting = Targeting(Evaluator())
    now = app.now
    for request in requests:
        answer = targeting.answer(store, request, now)
        if many and fmt != "table":
            click.echo(answer.to_json().decode())
        else:
            _echo(answer.to_dict(), fmt, many)


def _echo(answer: dict[str, Any], fmt: str, many: bool) -> None:
    if fmt == "table":
        click.echo(_table(answer))
    elif many:
        click.echo(json.dumps(answer, ensure_ascii=False, separators=(",", ":")))
    else:
        click.echo(json.dumps(answer, indent=2, ensure_ascii=False))


@click.command("checkout")
@click.option(
    "--request",
    "request_file",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    required=True,
    help="A request document as POST /v1/evaluate takes it (JSON; '-': standard input).",
)
@click.option("--order-id", required=True, help="The order the redemptions are recorded for.")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "table"]), default="json", show_default=True
)
@pass_app
def checkout_command(app: AppContext, request_file: Path, order_id: str, fmt: str) -> None:
    """Price a cart and redeem its codes and limits for an order (POST /v1/checkout).

    A repeat of an order id answers the recorded checkout and counts nothing."""
    text, name = _read_text(request_file)
    documents, many = _requests(text, name)
    if many:
        raise ConfigError(f"{name}: one request per checkout, not JSON Lines")
    where, document = documents[0]
    if not isinstance(document, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    given = document.get("order_id")
    if given is not None and given != order_id:
        raise ConfigError(f"{where}: order_id {given!r} differs from --order-id {order_id!r}")
    document = {**document, "order_id": order_id}
    request, _ = read_checkout(document, where)
    server = app.server()
    if server is not None:
        _echo(server.post("/v1/checkout", document), fmt, False)
        return
    store = app.store()
    store.require_schema()
    result = checkout(store, Targeting(Evaluator()), request, order_id, app.now)
    if result.repeated:
        click.echo(f"order {order_id} was checked out before: its recorded answer", err=True)
    _echo(result.to_dict(), fmt, False)


COMMANDS = [evaluate_command, checkout_command]
