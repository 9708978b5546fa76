"""Bodies of the administration endpoints (worker, users, stats, rule schema) and of the
file imports (api/routes_admin.py, api/routes_import.py)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from segmint.api.models import Strict


class WorkerReportOut(BaseModel):
    processed: int = Field(description="customer wake-ups (due window instants)")
    instants: int
    boundaries: int
    entered: int
    exited: int
    outbox: int = Field(description="customers of interrupted writes brought up to date")
    refresh: dict[str, Any] | None = Field(description="the reconciling or resumed refresh")


class WorkerStatus(BaseModel):
    enabled: bool = Field(description="passes run on a schedule inside the server")
    running: bool
    interval_seconds: float
    reconcile_every_seconds: float | None
    passes: int
    failures: int
    last_started_at: str | None
    last_finished_at: str | None
    last_as_of: str | None = Field(description="the instant the last pass evaluated")
    last_report: WorkerReportOut | None
    last_error: str | None
    last_error_at: str | None


class WorkerRunIn(Strict):
    reconcile_every_seconds: Annotated[float, Field(ge=1, le=10**9)] | None = Field(
        default=None, description="run the reconciling refresh if this long has passed"
    )


class WorkerRunOut(BaseModel):
    as_of: str
    report: WorkerReportOut


class UserCreate(Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    password: Annotated[str, StringConstraints(min_length=8, max_length=1000)]
    role: Literal["admin", "marketer"] = "admin"


class UserOut(BaseModel):
    username: str
    role: str
    created_at: dt.datetime
    disabled_at: dt.datetime | None = Field(default=None, description="set: cannot log in")
    failed_logins: int = Field(default=0, description="recent failed logins (docs/web.md)")
    blocked_until: dt.datetime | None = Field(
        default=None, description="logins of this username are refused (429) until then"
    )


class UserChanged(BaseModel):
    username: str
    changed: bool = Field(description="false: the user already was in that state")


class UserDeleted(BaseModel):
    username: str
    deleted: bool


class PasswordReset(Strict):
    password: Annotated[str, StringConstraints(min_length=8, max_length=1000)] | None = Field(
        default=None, description="the new password; omitted: one is generated and returned"
    )


class PasswordResetOut(BaseModel):
    username: str
    password: str | None = Field(description="the generated password (shown this once)")


class StatsOut(BaseModel):
    schema_version: int
    counts: dict[str, int] = Field(description="rows per table: customers, orders, …")


class RuleSchemaOut(BaseModel):
    attributes: dict[str, str] = Field(description="custom attributes and their types")
    timezone: str


class ImportOut(BaseModel):
    report: dict[str, Any] = Field(description="rows read, inserted, updated per table")
    memberships: dict[str, Any] = Field(description="the incremental membership update")
    summary: str = Field(description="the report as `segmint import` prints it")
