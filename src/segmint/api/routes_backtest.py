"""Simulating promotions on past orders over HTTP (issue 21): ``POST
/v1/promotions/simulate`` checks the request and starts a job (202, ``Location`` the
job); ``GET /v1/promotions/simulate/{job_id}`` answers its progress and, once done, the
report (the CLI's JSON). Jobs run in the server's process (services/backtest_jobs.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from segmint.api import models as m
from segmint.api.deps import app_state, authorize, get_now, get_store
from segmint.api.problems import ApiProblem
from segmint.services import backtest
from segmint.services.backtest_jobs import SimulationJobs, jobs_on
from segmint.services.levers import default_currency
from segmint.store.base import Store

StoreDep = Annotated[Store, Depends(get_store)]
NowDep = Annotated[Any, Depends(get_now)]

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(authorize)],
    responses={
        401: {"model": m.ErrorBody, "description": "no or an invalid API key"},
        403: {"model": m.ErrorBody, "description": "the key's role may not call this"},
        404: {"model": m.ErrorBody, "description": "no such promotion or job"},
        422: {"model": m.ErrorBody, "description": "an invalid period or document"},
        503: {"model": m.ErrorBody, "description": "database unavailable; retry"},
    },
)


class SimulateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    promotions: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=20,
        description="promotion codes, stored or drafted in document (none: every draft)",
    )
    from_: str = Field(alias="from", description="first day (YYYY-MM-DD) or instant")
    to: str = Field(description="last day (inclusive) or the instant the period ends")
    document: dict[str, Any] | None = Field(
        default=None, description="a targeting document of drafts, not applied"
    )
    alone: bool = Field(default=False, description="without the live promotions")


def jobs_of(request: Request) -> SimulationJobs:
    return jobs_on(request.app.state)


def pool_lender(request: Request) -> backtest.Lender:
    """Lends a store of the app's pool for one chunk of a job's reads at a time."""
    pool = app_state(request).pool

    @contextmanager
    def lend() -> Iterator[Store]:
        borrowed = pool.acquire()
        try:
            yield borrowed
        finally:
            pool.release(borrowed)

    return lend


@router.post("/promotions/simulate", status_code=202)
def start_simulation(
    body: SimulateIn, request: Request, response: Response, store: StoreDep, now: NowDep
) -> dict[str, Any]:
    """Simulate promotions on the successful orders of a past period, as a job."""
    start, end = backtest.period(body.from_, body.to)
    drafts = backtest.read_drafts(store, body.document) if body.document is not None else None
    variants = backtest.build_variants(store, body.promotions, drafts, alone=body.alone)
    job = jobs_of(request).start(
        pool_lender(request),
        variants,
        start,
        end,
        alone=body.alone,
        currency=default_currency(store),
        now=now,
    )
    response.headers["Location"] = f"/v1/promotions/simulate/{job.id}"
    return job.to_dict()


@router.get("/promotions/simulate/{job_id}")
def get_simulation(
    job_id: Annotated[str, Path(min_length=1, max_length=64)], request: Request
) -> dict[str, Any]:
    """A simulation job: its progress, and its report once done."""
    job = jobs_of(request).get(job_id)
    if job is None:
        raise ApiProblem(404, "NotFound", f"error: no simulation job {job_id!r}")
    return job.to_dict()
