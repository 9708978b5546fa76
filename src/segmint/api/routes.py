"""The ``/v1`` endpoints: each translates JSON to a service call and back (docs/api.md).

Every route carries the :func:`authorize` dependency (roles from ``access.ACCESS``).
Handlers that use the database are plain ``def`` (FastAPI runs them in its thread pool
with a store of their own); ``/v1/evaluate`` and ``/v1/health`` are ``async`` and answer
from in-process caches when they can.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from segmint.api import models as m
from segmint.api.deps import AppState, app_state, authorize, get_now, get_store
from segmint.api.problems import ApiProblem
from segmint.errors import ConfigError
from segmint.model.segment import PurchaseRequirements, SegmentDefinition
from segmint.rules import to_text
from segmint.services import auth, customers, discovery, segments, user_groups
from segmint.services import rules as rules_service
from segmint.services.evaluate_request import to_request
from segmint.services.targeting import TargetingAnswer
from segmint.store.base import Store
from segmint.store.segments import SegmentRecord

StoreDep = Annotated[Store, Depends(get_store)]
NowDep = Annotated[dt.datetime, Depends(get_now)]
CustomerId = Annotated[str, Path(min_length=1, max_length=200)]
Code = Annotated[str, Path(min_length=1, max_length=64)]
T = TypeVar("T")
#: A batch: 1 to 1000 records.
Batch = Annotated[list[T], Body(min_length=1, max_length=1000)]

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(authorize)],
    responses={
        400: {"model": m.ErrorBody, "description": "malformed request"},
        401: {"model": m.ErrorBody, "description": "no or an invalid API key"},
        403: {"model": m.ErrorBody, "description": "the key's role may not call this"},
        413: {"model": m.ErrorBody, "description": "body too large"},
        422: {"model": m.ErrorBody, "description": "invalid input (rules: positioned)"},
        503: {"model": m.ErrorBody, "description": "database unavailable; retry"},
    },
)


def _state(request: Request) -> AppState:
    return app_state(request)


# ---- health and keys ---------------------------------------------------------------------


@router.get("/health", response_model=m.Health)
async def health() -> m.Health:
    """A trivial endpoint (no database): the service is up and the key is valid."""
    return m.Health(status="ok")


# ---- evaluate (first: routes are matched in order and this is the hot one) ------------


@router.post("/evaluate", response_model=m.EvaluateOut)
async def evaluate(body: m.EvaluateIn, request: Request) -> Response:
    """What the visitor sees: their current segments (materialized and real-time), user
    groups and each placement's items (TARGETING.md §3, §6). Without ``customer_id`` (an
    anonymous visitor) only audiences that read nothing but the request context and cart
    can match. With ``explain``, every placement item that did not show is listed with
    its reason and, for an audience, the parts that were false."""
    state = _state(request)
    now = state.clock()
    ask = to_request(body)
    targeting = state.targeting
    result = targeting.answer_cached(ask, now)
    if result is None:

        def run() -> TargetingAnswer:
            store = state.pool.acquire()
            try:
                return targeting.answer(store, ask, now)
            finally:
                state.pool.release(store)

        result = await anyio.to_thread.run_sync(run)
    return Response(result.to_json(), media_type="application/json")


@router.get("/keys", response_model=list[m.KeyInfo])
def list_keys(store: StoreDep) -> list[m.KeyInfo]:
    return [m.KeyInfo(**k.__dict__) for k in auth.list_api_keys(store)]


@router.post("/keys", response_model=m.KeyCreated, status_code=201)
def create_key(body: m.KeyCreate, store: StoreDep, now: NowDep) -> m.KeyCreated:
    key_id, token = auth.create_api_key(store, body.role, now, body.name)
    return m.KeyCreated(id=key_id, role=body.role, name=body.name, token=token)


@router.delete("/keys/{key_id}", response_model=m.Revoked)
def revoke_key(
    key_id: Annotated[str, Path(min_length=1, max_length=100)],
    request: Request,
    store: StoreDep,
    now: NowDep,
) -> m.Revoked:
    revoked = auth.revoke_api_key(store, key_id, now)
    _state(request).forget_key(key_id)
    return m.Revoked(id=key_id, revoked=revoked)


# ---- customers ------------------------------------------------------------------------------


@router.get("/customers", response_model=m.CustomerPage)
def list_customers(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(max_length=200)] = None,
) -> m.CustomerPage:
    ids = customers.list_customers(store, limit=limit, after=after)
    return m.CustomerPage(items=ids, next_cursor=ids[-1] if len(ids) == limit else None)


@router.get("/customers/{customer_id}", response_model=m.CustomerOut)
def get_customer(customer_id: CustomerId, store: StoreDep, now: NowDep) -> Any:
    return user_groups.customer_overview(store, customer_id, now).to_dict()


@router.get("/customers/{customer_id}/segments", response_model=m.CustomerSegments)
def customer_segments(
    customer_id: CustomerId, store: StoreDep, at: dt.datetime | None = None
) -> m.CustomerSegments:
    instant = _aware(at)
    codes = user_groups.segments_of(store, customer_id, instant)
    return m.CustomerSegments(customer_id=customer_id, at=instant, segments=codes)


def _ingest(
    request: Request, store: Store, kind: str, records: list[dict[str, Any]], now: dt.datetime
) -> m.IngestResult:
    report, update = customers.ingest(store, kind, records, now)
    state = _state(request)
    state.evaluator.invalidate_customers(report.customer_ids)
    if kind == "products":
        state.targeting.invalidate_products()  # cart lines take omitted fields from them
    return m.IngestResult(
        kind=kind,
        received=len(records),
        inserted=report.inserted,
        updated=report.updated,
        customers_reevaluated=update.customers,
        memberships_entered=update.entered,
        memberships_exited=update.exited,
    )


def _customer_record(customer_id: str, body: m.CustomerFields) -> dict[str, Any]:
    return {"id": customer_id, **body.model_dump(exclude_unset=True)}


@router.put("/customers/{customer_id}", response_model=m.IngestResult)
def upsert_customer(
    customer_id: CustomerId, body: m.CustomerFields, request: Request, store: StoreDep, now: NowDep
) -> m.IngestResult:
    """Create or update one customer: given fields are set (null clears), others kept."""
    return _ingest(request, store, "customers", [_customer_record(customer_id, body)], now)


@router.post("/customers/batch", response_model=m.IngestResult)
def upsert_customers(
    body: Batch[m.CustomerIn],
    request: Request,
    store: StoreDep,
    now: NowDep,
) -> m.IngestResult:
    records = [c.model_dump(exclude_unset=True) for c in body]
    return _ingest(request, store, "customers", records, now)


@router.delete("/customers/{customer_id}", response_model=m.CustomerDeleted)
def delete_customer(
    customer_id: CustomerId, request: Request, store: StoreDep
) -> m.CustomerDeleted:
    """Erase the profile and personal data; memberships and history stay, anonymised."""
    result = customers.delete_customer(store, customer_id)
    _state(request).evaluator.invalidate_customers([customer_id])
    return m.CustomerDeleted(
        id=customer_id,
        pseudonym=result.pseudonym,
        orders_erased=result.orders,
        events_erased=result.events,
        memberships_kept=result.memberships,
        history_kept=result.history,
    )


@router.put("/customers/{customer_id}/groups/{group}", response_model=m.GroupChange)
def assign_group(
    customer_id: CustomerId,
    group: Annotated[str, Path(min_length=1, max_length=200)],
    request: Request,
    store: StoreDep,
    now: NowDep,
) -> m.GroupChange:
    changed = user_groups.assign_group(store, customer_id, group, now)
    _state(request).evaluator.invalidate_customers([customer_id])
    return m.GroupChange(customer_id=customer_id, group=group, changed=changed)


@router.delete("/customers/{customer_id}/groups/{group}", response_model=m.GroupChange)
def unassign_group(
    customer_id: CustomerId,
    group: Annotated[str, Path(min_length=1, max_length=200)],
    request: Request,
    store: StoreDep,
    now: NowDep,
) -> m.GroupChange:
    changed = user_groups.unassign_group(store, customer_id, group, now)
    _state(request).evaluator.invalidate_customers([customer_id])
    return m.GroupChange(customer_id=customer_id, group=group, changed=changed)


# ---- ingestion --------------------------------------------------------------------------------


def _order_rows(order: m.OrderIn) -> list[dict[str, Any]]:
    head = order.model_dump(exclude={"lines", "id"})
    head["order_id"] = order.id
    if not order.lines:
        return [head]
    return [{**head, **line.model_dump()} for line in order.lines]


def _event_row(event: m.EventIn) -> dict[str, Any]:
    row = event.model_dump(exclude_none=True)
    return row


@router.post("/orders", response_model=m.IngestResult)
def ingest_order(body: m.OrderIn, request: Request, store: StoreDep, now: NowDep) -> m.IngestResult:
    """One order with its lines; posting the same id again replaces it (idempotent)."""
    return _ingest(request, store, "orders", _order_rows(body), now)


@router.post("/orders/batch", response_model=m.IngestResult)
def ingest_orders(
    body: Batch[m.OrderIn], request: Request, store: StoreDep, now: NowDep
) -> m.IngestResult:
    rows = [row for order in body for row in _order_rows(order)]
    result = _ingest(request, store, "orders", rows, now)
    return result.model_copy(update={"received": len(body)})


@router.post("/events", response_model=m.IngestResult)
def ingest_event(body: m.EventIn, request: Request, store: StoreDep, now: NowDep) -> m.IngestResult:
    """One event; idempotent by id (without one, by a hash of its content)."""
    return _ingest(request, store, "events", [_event_row(body)], now)


@router.post("/events/batch", response_model=m.IngestResult)
def ingest_events(
    body: Batch[m.EventIn], request: Request, store: StoreDep, now: NowDep
) -> m.IngestResult:
    return _ingest(request, store, "events", [_event_row(e) for e in body], now)


@router.post("/products/batch", response_model=m.IngestResult)
def ingest_products(
    body: Batch[m.ProductIn], request: Request, store: StoreDep, now: NowDep
) -> m.IngestResult:
    return _ingest(request, store, "products", [p.model_dump() for p in body], now)


@router.post("/accounts/batch", response_model=m.IngestResult)
def ingest_accounts(
    body: Batch[m.AccountIn], request: Request, store: StoreDep, now: NowDep
) -> m.IngestResult:
    return _ingest(request, store, "accounts", [a.model_dump() for a in body], now)


# ---- segments ----------------------------------------------------------------------------------


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise ConfigError(f"error: {value.isoformat()} is out of range") from None


def _definition(body: m.SegmentIn) -> SegmentDefinition:
    purchase = None
    if body.purchase is not None:
        p = body.purchase
        purchase = PurchaseRequirements(
            min_spend=Decimal(p.min_spend),
            last_days=p.last_days,
            date_from=p.date_from,
            date_to=p.date_to,
            item_field=p.item_field,
            item_value=p.item_value,
            items=p.items,
        )
    return SegmentDefinition(
        code=body.code,
        name=body.name,
        kind=body.kind,  # type: ignore[arg-type]  # validated to a SegmentKind value
        description=body.description,
        user_group=body.user_group,
        active=body.active,
        starts_at=_aware(body.starts_at),
        ends_at=_aware(body.ends_at),
        stores=tuple(body.stores),
        rule_text=body.rule,
        purchase=purchase,
    )


def _segment_out(record: SegmentRecord, status: str, members: int) -> dict[str, Any]:
    definition = record.definition
    data = definition.to_json()
    data["rule"] = data.pop("rule_text")
    return {
        **data,
        "effective_rule": definition.effective_rule,
        "version": record.version,
        "status": status,
        "members": members,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _saved(store: Store, result: segments.SaveResult, now: dt.datetime) -> dict[str, Any]:
    record = segments.get_segment(store, result.definition.code)
    members = (
        len(segments.members(store, record.code)) if record.definition.kind.materialized else 0
    )
    return {
        "segment": _segment_out(record, record.definition.status(now), members),
        "changed": result.changed,
        "entered": result.entered,
        "exited": result.exited,
        "dependents": list(result.dependents),
        "warnings": [w.to_dict() for w in discovery.segment_warnings(store, record.definition)],
    }


def _etag(version: int) -> str:
    """A segment version as a strong entity tag."""
    return f'"{version}"'


def _if_match(request: Request) -> int | None:
    """The version an ``If-Match`` header names (None: no header, or ``*``)."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise ApiProblem(
            400,
            "MalformedRequest",
            f'If-Match: expected one segment version as an ETag, e.g. "3" (got {header!r})',
        )
    return int(tag)


@router.get("/segments", response_model=list[m.SegmentOut])
def list_segments(store: StoreDep, now: NowDep) -> Any:
    return [_segment_out(s.record, s.status, s.members) for s in segments.list_segments(store, now)]


@router.post("/segments", response_model=m.SaveOut, status_code=201)
def create_segment(
    body: m.SegmentIn, request: Request, response: Response, store: StoreDep, now: NowDep
) -> Any:
    """Validate and store a new segment, then compute its members at once (409 if the
    code exists). The answer's ``ETag`` is its version."""
    result = segments.create_segment(store, _definition(body), now)
    _state(request).evaluator.invalidate_catalog()
    response.headers["ETag"] = _etag(result.version)
    return _saved(store, result, now)


@router.post("/segments/preview", response_model=m.PreviewOut)
def preview_segment(body: m.PreviewIn, store: StoreDep, now: NowDep) -> m.PreviewOut:
    """Who the definition would select, and (for an existing code) who would enter and
    who would leave — nothing is saved."""
    preview = segments.preview_segment(store, _definition(body.segment), now, sample=body.sample)
    return m.PreviewOut(
        count=preview.count,
        sample=preview.sample,
        current_count=preview.current_count,
        entering_count=len(preview.entering),
        leaving_count=len(preview.leaving),
        entering=preview.entering[:1000],
        leaving=preview.leaving[:1000],
    )


@router.post("/segments/refresh", response_model=m.RefreshOut)
def refresh_segments(
    request: Request, store: StoreDep, now: NowDep, body: m.RefreshIn | None = None
) -> m.RefreshOut:
    codes = (body.codes if body else None) or None
    report = segments.refresh(store, codes, now)
    _state(request).evaluator.invalidate_catalog()
    return m.RefreshOut(report=report.to_dict())


@router.get("/segments/{code}", response_model=m.SegmentDetail)
def show_segment(code: Code, response: Response, store: StoreDep, now: NowDep) -> Any:
    """The segment, its references and versions; the ``ETag`` header is its version
    (send it back as ``If-Match`` to update or delete only that version)."""
    details = segments.show_segment(store, code, now)
    response.headers["ETag"] = _etag(details.record.version)
    return {
        **_segment_out(details.record, details.status, details.members),
        "includes": details.includes,
        "excludes": details.excludes,
        "references": details.references,
        "referrers": details.referrers,
        "versions": [
            {"version": v.version, "created_at": v.created_at, "definition": v.definition.to_json()}
            for v in details.versions
        ],
    }


@router.put("/segments/{code}", response_model=m.SaveOut)
def update_segment(
    code: Code,
    body: m.SegmentUpdate,
    request: Request,
    response: Response,
    store: StoreDep,
    now: NowDep,
) -> Any:
    """Store the whole new definition as the next version; memberships follow at once.
    With ``If-Match: "<version>"`` only that version is updated (409 otherwise, nothing
    written); concurrent updates are applied one after the other."""
    if body.code != code:
        raise ConfigError(f"error: segment code: the body says {body.code!r}, the path {code!r}")
    expected = _if_match(request)
    result = segments.update_segment(store, _definition(body), now, expected_version=expected)
    _state(request).evaluator.invalidate_catalog()
    response.headers["ETag"] = _etag(result.version)
    return _saved(store, result, now)


@router.delete("/segments/{code}", response_model=m.DeletedSegment)
def delete_segment(code: Code, request: Request, store: StoreDep, now: NowDep) -> m.DeletedSegment:
    """Delete the segment (its members exit); ``If-Match`` as for an update."""
    exited = segments.delete_segment(store, code, now, expected_version=_if_match(request))
    _state(request).evaluator.invalidate_catalog()
    return m.DeletedSegment(code=code, exited=exited)


@router.get("/segments/{code}/members", response_model=m.MembersPage)
def segment_members(
    code: Code,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    after: Annotated[str | None, Query(max_length=200, description="cursor")] = None,
    q: Annotated[str | None, Query(max_length=200, description="id contains")] = None,
    at: dt.datetime | None = None,
) -> m.MembersPage:
    """Members sorted by id: a page by ``offset`` or after the cursor ``after``;
    ``q`` keeps ids containing it; ``at`` gives the members at that instant."""
    ids = segments.members(store, code, _aware(at))
    if q:
        needle = q.lower()
        ids = [i for i in ids if needle in i.lower()]
    total = len(ids)
    if after is not None:
        ids = [i for i in ids if i > after]
    page = ids[offset : offset + limit]
    more = len(ids) > offset + limit
    return m.MembersPage(code=code, total=total, items=page, next_cursor=page[-1] if more else None)


@router.post("/segments/{code}/members/add", response_model=m.ManualOut)
def add_members(
    code: Code, body: m.IdsIn, request: Request, store: StoreDep, now: NowDep
) -> m.ManualOut:
    result = segments.add_members(store, code, body.ids, now)
    _state(request).evaluator.invalidate_catalog()
    return m.ManualOut(code=code, **result.__dict__)


@router.post("/segments/{code}/members/remove", response_model=m.ManualOut)
def remove_members(
    code: Code, body: m.IdsIn, request: Request, store: StoreDep, now: NowDep
) -> m.ManualOut:
    result = segments.remove_members(store, code, body.ids, now)
    _state(request).evaluator.invalidate_catalog()
    return m.ManualOut(code=code, **result.__dict__)


@router.get("/segments/{code}/history", response_model=m.HistoryOut)
def segment_history(
    code: Code,
    store: StoreDep,
    customer_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> Any:
    rows = segments.history(store, code, customer_id=customer_id, limit=limit)
    return {"code": code, "changes": [c.__dict__ for c in rows]}


@router.get("/changes", response_model=m.ChangesOut)
def change_feed(
    store: StoreDep,
    since: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Any:
    """Entries and exits after cursor ``since`` in order; continue from ``cursor``."""
    page = segments.changes(store, since, limit)
    return {"changes": [c.__dict__ for c in page.changes], "cursor": page.cursor}


# ---- rules -----------------------------------------------------------------------------------


@router.post("/rules/check", response_model=m.RuleChecked)
def check_rule(body: m.RuleIn, store: StoreDep) -> m.RuleChecked:
    """Parse and type-check a rule: 200, or 422 with line, column and caret."""
    store.require_schema()
    checked = rules_service.check_rule(body.rule, store.rule_schema(), allow_realtime=body.realtime)
    warnings = discovery.rule_warnings(store, body.rule)
    return m.RuleChecked(
        ok=True,
        realtime=checked.realtime,
        segments=sorted(checked.segments),
        collections=sorted(checked.collections),
        customer_fields=sorted(checked.customer_fields),
        attributes=sorted(checked.attributes),
        text=to_text(checked.rule),
        warnings=[m.RuleWarningOut(**w.to_dict()) for w in warnings],
    )


@router.post("/rules/match", response_model=m.MatchOut)
def match_rule(body: m.MatchIn, store: StoreDep, now: NowDep) -> m.MatchOut:
    """Who matches the rule now: the count, and the sorted ids from ``offset``."""
    result = rules_service.match(store, body.rule, now, body.engine)
    page = result.customers[body.offset : body.offset + body.limit]
    return m.MatchOut(count=result.count, customers=page)


@router.post("/explain", response_model=m.ExplainOut)
def explain(body: m.ExplainIn, store: StoreDep, now: NowDep) -> Any:
    explanation = rules_service.explain(store, body.customer_id, body.rule, now)
    return {**explanation.to_dict(), "rendered": explanation.render()}


__all__ = ["ApiProblem", "router"]
