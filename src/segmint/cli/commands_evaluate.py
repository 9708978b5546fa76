"""``segmint evaluate --request FILE``: what a visitor sees, as ``POST /v1/evaluate``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from segmint.cli.main import AppContext, pass_app
from segmint.errors import ConfigError
from segmint.services.evaluate import Evaluator
from segmint.services.evaluate_request import read_request
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
    for code, items in answer["placements"].items():
        shown = ", ".join(str(i["item"]) for i in items) or "(nothing)"
        lines.append(f"placement {code}: {shown}")
        for r in (r for r in rejected if r.get("placement") == code):
            lines.append(f"  not shown: {r['item']} ({r['reason']}: {r['detail']})")
            for part in r.get("false", []):
                lines.append(f"    false: {part['text']}  ({part['sentence']})")
    return "\n".join(lines)


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
    name = "standard input" if str(request_file) == "-" else str(request_file)
    if str(request_file) == "-":
        text = sys.stdin.read()
    else:
        try:
            text = request_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{name}: cannot read ({exc.strerror})") from None
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


COMMANDS = [evaluate_command]
