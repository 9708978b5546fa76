"""The segment pages: the list, the builder (new, live validation, preview, save), a
segment's page (members, chart), the edit review, delete, and manual bulk add/remove."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from segmint.errors import NotFoundError, RuleError, SegmintError
from segmint.model.segment import SegmentKind
from segmint.services import discovery, member_table
from segmint.services import levers as levers_service
from segmint.services import segments as segments_service
from segmint.services.rules import check_rule
from segmint.store.base import Store
from segmint.store.segments import SegmentRecord
from segmint.web._chart import chart
from segmint.web._deps import FormDep, NowDep, StoreDep, guard
from segmint.web._forms import (
    Form,
    FormErrors,
    definition_from_form,
    form_errors,
    form_values,
    rule_error,
)
from segmint.web._session import WebSession
from segmint.web._templates import (
    SECURITY_HEADERS,
    instant,
    not_found,
    plural,
    redirect,
    render,
    segment_url,
)

SAMPLE_SIZE = 10
#: At most this many ids of who enters/leaves are listed on an edit review (then "…").
DIFF_LISTED = 50

router = APIRouter(include_in_schema=False)


def _page_size() -> int:
    """Members per page: the public, tunable ``segmint.web.routes.PAGE_SIZE``, read per
    request (so that changing it takes effect without re-importing anything)."""
    from segmint.web import routes

    return routes.PAGE_SIZE


# ---- segment list ------------------------------------------------------------------------


def _last_change(record: SegmentRecord, last: dict[str, dt.datetime]) -> dt.datetime:
    """The later of the definition's last save and the last membership change."""
    return max(record.updated_at, last.get(record.code, record.updated_at))


def _freshness(record: SegmentRecord, last: dict[str, dt.datetime]) -> str:
    # Saves, imports, ingestion and the worker keep memberships exact as they happen
    # (docs/membership.md), so a materialized segment is exact as of its last change.
    if not record.definition.kind.materialized:
        return "real-time (evaluated per request)"
    return f"exact — updated at {instant(_last_change(record, last))}"


#: The segment list's sort keys (``-`` before one: descending).
LIST_SORTS = ("code", "name", "kind", "members", "share", "last_change", "status")


@router.get("/segments")
def segment_list(
    request: Request,
    store: StoreDep,
    now: NowDep,
    q: str = "",
    kind: str = "",
    status: str = "",
    sort: str = "code",
) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    summaries = segments_service.list_segments(store, now)
    last = segments_service.last_changes(store)
    customers = member_table.customer_count(store)
    readers = levers_service.levers_by_segment(
        store, {s.record.code: s.record.definition.group for s in summaries}
    )
    every = [
        {
            "code": s.record.code,
            "name": s.record.definition.name,
            "kind": s.record.definition.kind.value,
            "members": s.members if s.record.definition.kind.materialized else None,
            "share": (s.members / customers if customers else 0.0)
            if s.record.definition.kind.materialized
            else None,
            "last_change": _last_change(s.record, last),
            "freshness": _freshness(s.record, last),
            "status": s.status,
            "used_by": readers.get(s.record.code, []),
        }
        for s in summaries
    ]
    needle = q.strip().lower()
    rows = [
        r
        for r in every
        if (not needle or needle in str(r["code"]).lower() or needle in str(r["name"]).lower())
        and (not kind or r["kind"] == kind)
        and (not status or r["status"] == status)
    ]
    if sort.removeprefix("-") not in LIST_SORTS:
        sort = "code"
    key = sort.removeprefix("-")
    rows.sort(key=lambda r: member_table.natural_key(str(r["code"])))
    present = [r for r in rows if r[key] is not None]
    present.sort(key=lambda r: _list_key(r[key]), reverse=sort.startswith("-"))
    rows = present + [r for r in rows if r[key] is None]
    return render(
        request,
        "segments.html",
        session,
        rows=rows,
        total=len(every),
        customers=customers,
        q=q.strip(),
        kind=kind,
        status=status,
        sort=sort,
        kinds=[k.value for k in SegmentKind],
        statuses=sorted({str(r["status"]) for r in every}),
    )


def _list_key(value: object) -> Any:
    """A segment list cell as it sorts: text lower-cased, numbers and instants as such."""
    return value.lower() if isinstance(value, str) else value


# ---- builder pages -----------------------------------------------------------------------


def _builder(
    request: Request,
    session: WebSession,
    *,
    values: dict[str, str],
    errors: FormErrors | None = None,
    editing: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "builder.html",
        session,
        status_code=status_code,
        values=values,
        errors=errors or FormErrors({}),
        editing=editing,
        kinds=[k.value for k in SegmentKind],
    )


@router.get("/segments/new")
def new_segment(request: Request, store: StoreDep, now: NowDep, copy: str = "") -> Response:
    """The builder; ``?copy=CODE`` opens it on a copy of that segment (a new code)."""
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    source = segments_service.find_segment(store, copy) if copy else None
    if source is None:
        return _builder(request, session, values=form_values(None))
    values = form_values(source.definition)
    taken = {s.record.code for s in segments_service.list_segments(store, now)}
    values["code"] = next(
        c
        for n in range(1, 1000)
        if (c := f"{copy}-copy" + ("" if n == 1 else f"-{n}")) not in taken
    )
    values["name"] = f"Copy of {source.definition.name}"
    values["user_group"] = ""  # a copy gives its own group, not the original's
    return _builder(request, session, values=values)


@router.post("/segments/validate")
def validate_rule(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    """The live validation fragment under the rule textarea (htmx, on input)."""
    session = guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    text = form.get("rule_text")
    error: dict[str, object] | None = None
    message: str | None = None
    warnings: list[discovery.RuleWarning] = []
    if text.strip():
        try:
            check_rule(text, store.rule_schema(), allow_realtime=form.get("kind") == "realtime")
            warnings = discovery.rule_warnings(store, text)
        except RuleError as e:
            error = rule_error(e)
        except SegmintError as e:
            message = str(e)
    return render(
        request,
        "_validation.html",
        session,
        rule_error=error,
        message=message,
        text=text,
        warnings=warnings,
    )


@router.post("/segments/preview")
def preview(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    """The preview fragment: count and sample (and, for an edit, who enters and leaves)."""
    session = guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    editing = form.get("editing") or None
    try:
        base = segments_service.get_segment(store, editing).definition if editing else None
        definition = definition_from_form(_draft(store, form) if base is None else form, base)
        if definition.kind is SegmentKind.MANUAL and base is None:
            result = None
        else:
            result = segments_service.preview_segment(store, definition, now, sample=SAMPLE_SIZE)
    except SegmintError as error:
        return render(request, "_preview.html", session, errors=form_errors(error), result=None)
    return render(
        request,
        "_preview.html",
        session,
        errors=FormErrors({}),
        result=result,
        editing=editing,
        listed=DIFF_LISTED,
    )


#: The code and name a preview uses while the builder's are still empty.
DRAFT_CODE = "draft"


def _draft(store: Store, form: Form) -> Form:
    """The form with a placeholder code and name where none is typed yet: a preview
    shows who would be members before the segment has a code (nothing is saved). The
    placeholder is a code no segment has, so the preview compares with nothing."""
    fields = dict(form.fields)
    if not fields.get("code", "").strip():
        candidates = (DRAFT_CODE + ("" if n == 1 else f"-{n}") for n in range(1, 1000))
        fields["code"] = next(
            c for c in candidates if segments_service.find_segment(store, c) is None
        )
    if not fields.get("name", "").strip():
        fields["name"] = fields["code"]
    return Form(fields, form.files)


@router.post("/segments/new")
def create(request: Request, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    try:
        definition = definition_from_form(form)
        result = segments_service.create_segment(store, definition, now)
    except SegmintError as error:
        return _builder(
            request,
            session,
            values=form_values(None, form),
            errors=form_errors(error),
            status_code=400,
        )
    code = result.definition.code
    if result.definition.kind.materialized:
        flash = f"Segment created: {code}; {plural(result.entered, 'member')}"
    else:
        flash = f"Segment created: {code} (real-time: evaluated per request)"
    warnings = discovery.segment_warnings(store, result.definition)
    if warnings:
        flash += ". Warning: " + "; ".join(w.message for w in warnings)
    return redirect(segment_url(code), flash)


# ---- detail ------------------------------------------------------------------------------


@router.get("/segments/{code}")
def detail(
    request: Request,
    code: str,
    store: StoreDep,
    now: NowDep,
    q: str = "",
    page: int = 1,
    sort: str = "customer_id",
) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    try:
        details = segments_service.show_segment(store, code, now)
    except NotFoundError as error:
        return not_found(request, session, str(error))
    definition = details.record.definition
    materialized = definition.kind.materialized
    if sort.removeprefix("-") not in member_table.SORTABLE:
        sort = "customer_id"
    query = q.strip()
    rows = member_table.member_rows(store, code, sort=sort, q=query) if materialized else []
    page_size = _page_size()
    pages = max(1, -(-len(rows) // page_size))
    page = min(max(1, page), pages)
    shown = rows[(page - 1) * page_size : page * page_size]
    why = member_table.explain_members(
        store, code, [r.customer_id for r in shown if r.why == "matches the rule"], now
    )
    members_chart = chart(segments_service.history(store, code), now) if materialized else None
    return render(
        request,
        "detail.html",
        session,
        d=details,
        definition=definition,
        rule=definition.effective_rule,
        rows=shown,
        why=why,
        sort=sort,
        sortable=member_table.SORTABLE,
        matching=len(rows),
        q=query,
        page=page,
        pages=pages,
        chart=members_chart,
        freshness=_freshness(details.record, segments_service.last_changes(store)),
        levers=levers_service.levers_reading_segment(store, code, definition.group),
    )


@router.get("/segments/{code}/members.csv")
def members_csv(request: Request, code: str, store: StoreDep, now: NowDep, q: str = "") -> Response:
    """The members table as CSV (what ``segmint segments members --format csv`` prints)."""
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    try:
        rows = member_table.member_rows(store, code, q=q.strip())
    except NotFoundError as error:
        return not_found(request, session, str(error))
    filename = re.sub(r"[^A-Za-z0-9_.-]", "_", code) + "-members.csv"
    return Response(
        member_table.to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


# ---- edit --------------------------------------------------------------------------------


@router.get("/segments/{code}/edit")
def edit_form(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    record = segments_service.find_segment(store, code)
    if record is None:
        return not_found(request, session, f"segment {code!r} does not exist")
    # The version the form was opened on: saving over a newer one is refused (409 in
    # the API), so two editors never silently undo each other's change.
    values = {**form_values(record.definition), "version": str(record.version)}
    return _builder(request, session, values=values, editing=code)


@router.post("/segments/{code}/edit")
def edit(request: Request, code: str, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    """First submit: the review page (who enters, who leaves). Confirmed: save."""
    session = guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    record = segments_service.find_segment(store, code)
    if record is None:
        return not_found(request, session, f"segment {code!r} does not exist")
    if form.get("confirm") == "back":  # from the review page, with the draft kept
        return _builder(request, session, values=form_values(None, form), editing=code)
    try:
        definition = definition_from_form(form, record.definition)
        if form.get("confirm") != "yes":
            result = (
                segments_service.preview_segment(store, definition, now, sample=SAMPLE_SIZE)
                if definition.kind.materialized
                else None
            )
            hidden = {k: v for k, v in form.fields.items() if k not in ("csrf_token", "confirm")}
            return render(
                request,
                "review.html",
                session,
                code=code,
                definition=definition,
                result=result,
                hidden=hidden,
                listed=DIFF_LISTED,
            )
        version = form.get("version", "")
        expected = int(version) if version.isdigit() else None
        saved = segments_service.update_segment(store, definition, now, expected_version=expected)
    except SegmintError as error:
        return _builder(
            request,
            session,
            values=form_values(None, form),
            errors=form_errors(error),
            editing=code,
            status_code=400,
        )
    if not saved.changed:
        flash = "Nothing changed: the definition is the same as the stored one."
    else:
        flash = (
            f"Segment updated (version {saved.version}); memberships recalculated: "
            f"+{saved.entered} / −{saved.exited}"
        )
        if saved.dependents:
            flash += f"; dependents refreshed: {', '.join(saved.dependents)}"
    return redirect(segment_url(code), flash)


# ---- delete ------------------------------------------------------------------------------


@router.get("/segments/{code}/delete")
def delete_confirm(request: Request, code: str, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    try:
        details = segments_service.show_segment(store, code, now)
    except NotFoundError as error:
        return not_found(request, session, str(error))
    definition = details.record.definition
    levers = levers_service.levers_reading_segment(store, code, definition.group)
    return render(request, "delete.html", session, d=details, definition=definition, levers=levers)


@router.post("/segments/{code}/delete")
def delete(request: Request, code: str, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    try:
        exited = segments_service.delete_segment(store, code, now)
    except NotFoundError as error:
        return not_found(request, session, str(error))
    except SegmintError as error:
        return redirect(segment_url(code) + "/delete", str(error))
    return redirect("/segments", f"Segment deleted: {code}; {plural(exited, 'member')} left it")


# ---- manual members ----------------------------------------------------------------------


def _ids_from(form: Form) -> list[str]:
    ids = [line for line in form.get("ids").replace(",", "\n").splitlines() if line.strip()]
    upload = form.files.get("file")
    if upload is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ids.txt"
            path.write_bytes(upload[1])
            ids += segments_service.read_ids_file(path)
    return ids


@router.post("/segments/{code}/members/{action}")
def manual_members(
    request: Request, code: str, action: str, store: StoreDep, now: NowDep, form: FormDep
) -> Response:
    session = guard(request, store, now, form)
    if isinstance(session, Response):
        return session
    if action not in ("add", "remove"):
        return not_found(request, session, f"no such action {action!r}")
    change = segments_service.add_members if action == "add" else segments_service.remove_members
    try:
        result = change(store, code, _ids_from(form), now)
    except NotFoundError as error:
        if segments_service.find_segment(store, code) is None:
            return not_found(request, session, str(error))
        return redirect(segment_url(code), str(error))
    except SegmintError as error:
        return redirect(segment_url(code), str(error))
    verb = "added" if action == "add" else "removed"
    flash = (
        f"{result.requested} customer{'s' if result.requested != 1 else ''} {verb}; "
        f"memberships: +{result.entered} / −{result.exited}"
    )
    return redirect(segment_url(code), flash)
