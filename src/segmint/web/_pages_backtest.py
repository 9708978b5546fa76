""" "Simulate on past orders" on a promotion's page (issue 21): a period form (and other
promotions to compare with, and whether to price it alone) starts the same in-process job
as ``POST /v1/promotions/simulate``; the job's page polls its progress (htmx, once a
second) and shows the report side by side with the chart of discount per week."""

from __future__ import annotations

import datetime as dt
import re

from fastapi import APIRouter, Request
from fastapi.responses import Response

from segmint.api.routes_backtest import pool_lender
from segmint.errors import NotFoundError, SegmintError
from segmint.services import backtest
from segmint.services.backtest_jobs import SimulationJob, jobs_on
from segmint.services.backtest_report import SUMMARY_ROWS
from segmint.services.levers import default_currency
from segmint.store.base import Store
from segmint.web import _lever_pages as pages_
from segmint.web._backtest_chart import week_chart
from segmint.web._deps import FormDep, NowDep, StoreDep, guard
from segmint.web._session import WebSession
from segmint.web._templates import not_found, redirect, render, urlpart

router = APIRouter()
PAGES = pages_.LeverPages("promotions", "promotion", "/promotions")


def default_period(store: Store) -> tuple[str, str]:
    """The last 30 days with orders (the form's default)."""
    rows = store._q("SELECT MAX(placed_at) FROM orders")
    last = rows[0][0] if rows and isinstance(rows[0][0], dt.datetime) else None
    if last is None:
        return "", ""
    end = last.date()
    return (end - dt.timedelta(days=29)).isoformat(), end.isoformat()


def _job_page(
    request: Request, session: WebSession, code: str, job: SimulationJob, status_code: int = 200
) -> Response:
    data = job.to_dict()
    report = data["report"]
    return render(
        request,
        "promotion_simulation.html"
        if not request.headers.get("HX-Request")
        else "_simulation.html",
        session,
        status_code=status_code,
        code=code,
        job=data,
        report=report,
        rows=SUMMARY_ROWS,
        chart=week_chart(report) if report else None,
    )


@router.post("/promotions/{code}/simulate")
def start(request: Request, code: str, store: StoreDep, now: NowDep, form: FormDep) -> Response:
    session = pages_.writer(PAGES, request, store, now, form)
    if isinstance(session, Response):
        return session
    others = [c for c in re.split(r"[\s,]+", form.get("compare")) if c and c != code]
    try:
        first, last = backtest.period(form.get("from"), form.get("to"))
        alone = form.get("alone") == "on"
        variants = backtest.build_variants(store, [code, *others], alone=alone)
    except NotFoundError as error:
        return not_found(request, session, str(error).removeprefix("error: "))
    except SegmintError as error:
        return render(
            request,
            "error.html",
            session,
            status_code=400,
            title="Cannot simulate",
            message=str(error).removeprefix("error: "),
        )
    job = jobs_on(request.app.state).start(
        pool_lender(request),
        variants,
        first,
        last,
        alone=alone,
        currency=default_currency(store),
        now=now,
    )
    return redirect(f"/promotions/{urlpart(code)}/simulate/{job.id}", "Simulation started")


@router.get("/promotions/{code}/simulate/{job_id}")
def show(request: Request, code: str, job_id: str, store: StoreDep, now: NowDep) -> Response:
    session = guard(request, store, now)
    if isinstance(session, Response):
        return session
    job = jobs_on(request.app.state).get(job_id)
    if job is None or code not in job.promotions:
        return not_found(request, session, f"no simulation {job_id!r} of promotion {code!r}")
    return _job_page(request, session, code, job)
