"""``segmint levers …`` through a running server's API (``/v1/levers`` and one resource
per kind): each function answers what the service call of the local command answers, so
the command prints the same. Versions written this way name the server's local key
(``key:cli``) as their author."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from segmint.cli.forward import RemoteError, Server
from segmint.cli.output import to_jsonable
from segmint.cli.remote_segments import instant
from segmint.services import levers as service
from segmint.store.levers import LeverVersion
from segmint.targeting.document import DocumentError
from segmint.targeting.model import LeverKind

#: Lever kind -> its resource path under /v1.
PATHS = {
    LeverKind.CAMPAIGN.value: "campaigns",
    LeverKind.PROMOTION.value: "promotions",
    LeverKind.PRICE_LIST.value: "price-lists",
    LeverKind.PLACEMENT.value: "placements",
    LeverKind.ACCOUNT.value: "account-portals",
}


def _one(kind: str, code: str) -> str:
    return f"/v1/{PATHS[kind]}/{quote(code, safe='')}"


def _document_error(error: RemoteError) -> DocumentError | RemoteError:
    details = error.error.get("details")
    if error.type == "DocumentError" and isinstance(details, list):
        return DocumentError([(str(d["path"]), str(d["message"])) for d in details])
    return error


def apply_document(server: Server, data: Any, *, dry_run: bool, prune: bool) -> service.ApplyReport:
    params = {"dry_run": str(dry_run).lower(), "prune": str(prune).lower()}
    try:
        answer = server.request("PUT", "/v1/levers", body=to_jsonable(data), params=params)
    except RemoteError as error:
        raise _document_error(error) from None
    changes = [
        service.LeverChange(c["kind"], c["code"], c["change"], int(c["version"]))
        for c in answer["changes"]
    ]
    return service.ApplyReport(changes, int(answer["unchanged"]), bool(answer["dry_run"]))


def export_document(server: Server) -> dict[str, Any]:
    data: dict[str, Any] = server.get("/v1/levers")
    return data


def list_levers(server: Server, kind: str | None) -> list[service.LeverSummary]:
    kinds = [kind] if kind is not None else sorted(PATHS)
    return [
        service.LeverSummary(
            kind=k,
            code=s["code"],
            name=s["name"],
            version=int(s["version"]),
            updated_at=instant(s["updated_at"]),
            updated_by=s["updated_by"],
            active=bool(s["active"]),
        )
        for k in kinds
        for s in server.get(f"/v1/{PATHS[k]}")
    ]


def show_lever(server: Server, kind: str, code: str) -> dict[str, Any]:
    data: dict[str, Any] = server.get(_one(kind, code))["lever"]
    return data


def lever_history(server: Server, kind: str, code: str) -> list[LeverVersion]:
    return [
        LeverVersion(
            kind=kind,
            code=code,
            version=int(v["version"]),
            change=v["change"],
            data=v["lever"],
            changed_at=instant(v["changed_at"]),
            changed_by=v["changed_by"],
        )
        for v in server.get(_one(kind, code) + "/history")
    ]


def delete_lever(server: Server, kind: str, code: str) -> int:
    return int(server.request("DELETE", _one(kind, code))["version"])
