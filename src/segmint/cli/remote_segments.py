"""``segmint segments …`` and ``segmint customers …`` through a running server's API.

Each function mirrors the service call the command makes locally and answers the same
dataclass, rebuilt from the API's JSON, so that the command prints exactly what it prints
locally (cli/commands_segments.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from segmint.cli.forward import RemoteError, Server
from segmint.engine.runs import RefreshReport
from segmint.model.segment import SegmentDefinition
from segmint.services import segments as service
from segmint.services.user_groups import CustomerOverview, CustomerSegment, UserGroup
from segmint.store.segments import Change, SegmentRecord, SegmentVersion

#: Member ids read per request.
PAGE = 100_000


def instant(value: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def maybe_instant(value: Any) -> dt.datetime | None:
    return None if value is None else instant(value)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _path(code: str) -> str:
    return "/v1/segments/" + quote(code, safe="")


def segment_in(definition: SegmentDefinition) -> dict[str, Any]:
    """A definition as the API's ``SegmentIn`` body."""
    data = definition.to_json()
    data["rule"] = data.pop("rule_text")
    return data


def _definition(data: dict[str, Any]) -> SegmentDefinition:
    return SegmentDefinition.from_json({**data, "rule_text": data.get("rule")})


def _record(data: dict[str, Any]) -> SegmentRecord:
    return SegmentRecord(
        definition=_definition(data),
        version=int(data["version"]),
        created_at=instant(data["created_at"]),
        updated_at=instant(data["updated_at"]),
    )


def _saved(data: dict[str, Any]) -> service.SaveResult:
    segment = data["segment"]
    return service.SaveResult(
        definition=_definition(segment),
        version=int(segment["version"]),
        entered=int(data["entered"]),
        exited=int(data["exited"]),
        dependents=tuple(data["dependents"]),
        changed=bool(data["changed"]),
    )


def find_segment(server: Server, code: str) -> SegmentRecord | None:
    try:
        return _record(server.get(_path(code)))
    except RemoteError as error:
        if error.status == 404:
            return None
        raise


def get_segment(server: Server, code: str) -> SegmentRecord:
    return _record(server.get(_path(code)))


def create_segment(server: Server, definition: SegmentDefinition) -> service.SaveResult:
    return _saved(server.post("/v1/segments", segment_in(definition)))


def update_segment(
    server: Server, definition: SegmentDefinition, base_version: int
) -> service.SaveResult:
    """Update the version the change was built on (If-Match: a concurrent change in
    between is refused, not overwritten)."""
    data = server.request(
        "PUT",
        _path(definition.code),
        body=segment_in(definition),
        headers={"If-Match": f'"{base_version}"'},
    )
    return _saved(data)


def delete_segment(server: Server, code: str) -> int:
    return int(server.request("DELETE", _path(code))["exited"])


def list_segments(server: Server) -> list[service.SegmentSummary]:
    return [
        service.SegmentSummary(_record(s), str(s["status"]), int(s["members"]))
        for s in server.get("/v1/segments")
    ]


def show_segment(server: Server, code: str) -> service.SegmentDetails:
    data = server.get(_path(code))
    return service.SegmentDetails(
        record=_record(data),
        status=str(data["status"]),
        members=int(data["members"]),
        includes=int(data["includes"]),
        excludes=int(data["excludes"]),
        references=list(data["references"]),
        referrers=list(data["referrers"]),
        versions=[
            SegmentVersion(
                version=int(v["version"]),
                definition=SegmentDefinition.from_json(v["definition"]),
                created_at=instant(v["created_at"]),
            )
            for v in data["versions"]
        ],
    )


def preview_segment(
    server: Server, definition: SegmentDefinition, sample: int
) -> tuple[service.Preview, int, int]:
    """The preview (at most 1,000 entering and leaving ids) and the full counts of who
    would enter and who would leave."""
    data = server.post(
        "/v1/segments/preview", {"segment": segment_in(definition), "sample": sample}
    )
    preview = service.Preview(
        count=int(data["count"]),
        sample=list(data["sample"]),
        current_count=int(data["current_count"]),
        entering=list(data["entering"]),
        leaving=list(data["leaving"]),
    )
    return preview, int(data["entering_count"]), int(data["leaving_count"])


def refresh(server: Server, codes: list[str] | None) -> RefreshReport:
    data = server.post("/v1/segments/refresh", {"codes": codes})["report"]
    return RefreshReport(
        run_id=int(data["run_id"]),
        segments=list(data["segments"]),
        entered=int(data["entered"]),
        exited=int(data["exited"]),
        resumed=bool(data["resumed"]),
        per_segment={
            k: (int(v["entered"]), int(v["exited"])) for k, v in data["per_segment"].items()
        },
        as_of=maybe_instant(data.get("as_of")),
    )


def members(server: Server, code: str, at: dt.datetime | None) -> list[str]:
    ids: list[str] = []
    after: str | None = None
    while True:
        page = server.get(_path(code) + "/members", limit=PAGE, after=after, at=_iso(at))
        ids += page["items"]
        after = page["next_cursor"]
        if after is None:
            return ids


def _manual(server: Server, code: str, ids: list[str], verb: str) -> service.ManualResult:
    data = server.post(_path(code) + f"/members/{verb}", {"ids": ids})
    return service.ManualResult(int(data["requested"]), int(data["entered"]), int(data["exited"]))


def add_members(server: Server, code: str, ids: list[str]) -> service.ManualResult:
    return _manual(server, code, ids, "add")


def remove_members(server: Server, code: str, ids: list[str]) -> service.ManualResult:
    return _manual(server, code, ids, "remove")


def _change(c: dict[str, Any]) -> Change:
    return Change(
        seq=int(c["seq"]),
        segment_code=str(c["segment_code"]),
        customer_id=str(c["customer_id"]),
        change=str(c["change"]),
        at=instant(c["at"]),
        reason=str(c["reason"]),
        trigger=str(c["trigger"]),
        run_id=None if c.get("run_id") is None else int(c["run_id"]),
    )


def history(server: Server, code: str, customer_id: str | None, limit: int | None) -> list[Change]:
    data = server.get(_path(code) + "/history", customer_id=customer_id, limit=limit or 100_000)
    return [_change(c) for c in data["changes"]]


def changes(server: Server, since: int, limit: int) -> service.ChangePage:
    data = server.get("/v1/changes", since=since, limit=limit)
    return service.ChangePage([_change(c) for c in data["changes"]], int(data["cursor"]))


# ---- customers ---------------------------------------------------------------------------


def _customer_path(customer_id: str) -> str:
    return "/v1/customers/" + quote(customer_id, safe="")


def customer_overview(server: Server, customer_id: str) -> CustomerOverview:
    data = server.get(_customer_path(customer_id))
    return CustomerOverview(
        id=str(data["id"]),
        profile=dict(data["profile"]),
        attributes=dict(data["attributes"]),
        derived=dict(data["derived"]),
        segments=[
            CustomerSegment(
                code=s["code"],
                name=s["name"],
                since=instant(s["since"]),
                reason=s["reason"],
                status=s["status"],
                targetable=bool(s["targetable"]),
                user_group=s["user_group"],
            )
            for s in data["segments"]
        ],
        user_groups=[
            UserGroup(
                group=g["group"],
                explicit="explicit" in g["sources"],
                segments=[s.removeprefix("segment:") for s in g["sources"] if s != "explicit"],
            )
            for g in data["user_groups"]
        ],
    )


def segments_of(server: Server, customer_id: str, at: dt.datetime | None) -> list[str]:
    data = server.get(_customer_path(customer_id) + "/segments", at=_iso(at))
    return list(data["segments"])


def set_group(server: Server, customer_id: str, group: str, assign: bool) -> bool:
    path = _customer_path(customer_id) + "/groups/" + quote(group, safe="")
    return bool(server.request("PUT" if assign else "DELETE", path)["changed"])
