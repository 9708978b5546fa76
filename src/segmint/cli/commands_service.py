"""``segmint serve``, ``segmint keys …``, ``segmint users …`` and ``segmint demo``.

``serve`` initialises (or upgrades) the schema, then runs the app with uvicorn, one
worker process. The evaluation instant is ``--as-of`` / ``SEGMINT_NOW`` when given (a
fixed clock), else the current time. With DuckDB the server holds the database file, so
it runs the worker's schedule in-process (``--worker``, the default there) and writes a
runtime file next to the database (segmint/runtime.py) through which other commands send
their work to it (cli/forward.py); ``keys`` and ``users`` go through it too.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import quote

import click

from segmint.api.worker import WorkerSettings
from segmint.bootstrap import duckdb_path
from segmint.cli.commands_membership import schedule_options
from segmint.cli.forward import ServedElsewhere
from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import format_option, render_rows, resolve_format
from segmint.cli.remote_segments import maybe_instant
from segmint.cli.serving import serve
from segmint.clock import parse_instant
from segmint.model.segment import PurchaseRequirements, SegmentDefinition, SegmentKind
from segmint.services import auth, store_clock
from segmint.store.base import Store

#: The Complete Journey data ends here: the demo evaluates every rule as of this instant.
DEMO_AS_OF = "2018-01-01T00:00:00Z"
DEMO_USER = "admin"
#: The last weeks of the demo data are replayed a week at a time (segments' history moves).
REPLAY = dt.timedelta(weeks=8)


def _as_of(app: AppContext) -> dt.datetime | None:
    return parse_instant(app.as_of) if app.as_of else None


def _host_option(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option(
        "--port",
        type=click.IntRange(0, 65535),
        default=8000,
        show_default=True,
        help="0: any free port (the runtime file and the log say which).",
    )(fn)
    fn = click.option("--host", default="127.0.0.1", show_default=True)(fn)
    fn = schedule_options(fn)
    return click.option(
        "--worker/--no-worker",
        "worker",
        default=None,
        help="Run the worker's schedule (window exits and entries, interrupted writes) "
        "inside the server. Default: on with DuckDB (no other process can open the file "
        "while it serves), off with PostgreSQL (run `segmint worker` beside it).",
    )(fn)


def _worker_settings(
    db_url: str, worker: bool | None, interval: float, reconcile_every: float | None
) -> WorkerSettings:
    enabled = worker if worker is not None else duckdb_path(db_url) is not None
    every = dt.timedelta(seconds=reconcile_every) if reconcile_every else None
    return WorkerSettings(enabled=enabled, interval=interval, reconcile_every=every)


@click.command("serve")
@_host_option
@pass_app
def serve_command(
    app: AppContext,
    host: str,
    port: int,
    worker: bool | None,
    interval: float,
    reconcile_every: float | None,
) -> None:
    """Serve the JSON API (/v1, OpenAPI at /openapi.json) and the admin pages (/)."""
    try:
        store = app.store()
    except ServedElsewhere as error:
        raise ServedElsewhere(error.held, "serve", advice="it is already being served") from None
    store.init()
    as_of = _as_of(app) or store_clock.stored_clock(store)  # the store's clock, if set
    app.close()
    settings = _worker_settings(app.db_url, worker, interval, reconcile_every)
    serve(app.db_url, host, port, as_of, settings)


# ---- keys ---------------------------------------------------------------------------------


@click.group("keys")
def keys_group() -> None:
    """API keys: create (the token is printed once), list, revoke."""


@keys_group.command("create")
@click.option("--role", type=click.Choice(auth.ROLES), required=True)
@click.option("--name", default=None, help="What the key is for.")
@pass_app
def keys_create_command(app: AppContext, role: str, name: str | None) -> None:
    """Create a key: its token goes to stdout (shown this once; only a hash is kept)."""
    server = app.server()
    if server is not None:
        created = server.post("/v1/keys", {"role": role, "name": name})
        key_id, token = str(created["id"]), str(created["token"])
    else:
        store = app.store()
        store.init()
        key_id, token = auth.create_api_key(store, role, app.now, name)
    click.echo(
        f"created key {key_id} ({role}); store the token now, it is not shown again", err=True
    )
    click.echo(token)


@keys_group.command("list")
@format_option()
@pass_app
def keys_list_command(app: AppContext, fmt: str | None) -> None:
    """Every key (never its secret)."""
    columns = ["id", "name", "role", "created_at", "revoked_at", "last_used_at"]
    server = app.server()
    if server is not None:
        times = ("created_at", "revoked_at", "last_used_at")
        rows = [
            [maybe_instant(k[c]) if c in times else k[c] for c in columns]
            for k in server.get("/v1/keys")
        ]
    else:
        rows = [
            [k.id, k.name, k.role, k.created_at, k.revoked_at, k.last_used_at]
            for k in auth.list_api_keys(app.store())
        ]
    click.echo(render_rows(columns, rows, resolve_format(fmt)))


@keys_group.command("revoke")
@click.argument("key_id")
@pass_app
def keys_revoke_command(app: AppContext, key_id: str) -> None:
    """Revoke a key (a running server stops accepting it within 5 seconds; at once when
    the command goes through it)."""
    server = app.server()
    if server is not None:
        revoked = bool(server.request("DELETE", "/v1/keys/" + quote(key_id, safe=""))["revoked"])
    else:
        revoked = auth.revoke_api_key(app.store(), key_id, app.now)
    click.echo(f"key {key_id} {'revoked' if revoked else 'was already revoked'}")


# ---- demo -------------------------------------------------------------------------------------


def demo_segments() -> list[SegmentDefinition]:
    """The demo's segments over Complete Journey (evaluated as of 2018-01-01)."""
    return [
        SegmentDefinition(
            code="married-big-spenders",
            name="Married households, over $500 in the last 90 days",
            kind=SegmentKind.RULE,
            rule_text="attributes.marital_status = 'Married' AND "
            "SUM(orders.total WHERE placed_at WITHIN 90d) > 500",
        ),
        SegmentDefinition(
            code="lapsed-frequent",
            name="Lapsed frequent shoppers",
            description="20+ baskets, none in the last 30 days",
            kind=SegmentKind.RULE,
            rule_text="orders_count >= 20 AND NOT EXISTS(orders WHERE placed_at WITHIN 30d)",
        ),
        SegmentDefinition(
            code="private-beer",
            name="Private-label beer buyers (last 365 days)",
            kind=SegmentKind.PURCHASE,
            purchase=PurchaseRequirements(
                min_spend=Decimal(0),
                last_days=365,
                items="brand = 'Private' AND category = 'BEERS/ALES'",
            ),
        ),
        SegmentDefinition(
            code="high-value",
            name="High value households",
            kind=SegmentKind.RULE,
            rule_text="total_spent > 5000",
            user_group="vip",
        ),
        SegmentDefinition(
            code="business-big-cart",
            name="Business view with a large cart (real time)",
            kind=SegmentKind.REALTIME,
            rule_text="context.view = 'business' AND cart.subtotal >= 200",
        ),
    ]


def _demo_setup(store: Store, now: dt.datetime) -> tuple[int, list[str], str | None]:
    """Load the data if needed, define the segments that are missing, fix the store's
    clock at ``now``, create the admin user once; (customers, segments created, the new
    admin's password or None when it existed)."""
    from segmint.importing.report import terminal_progress
    from segmint.services import demo_data
    from segmint.services import segments as segments_service

    demo_data.require_complete_journey()
    store.init()
    created = []
    if not demo_data.complete_journey_loaded(store):
        # Load all but the last weeks, define the segments there, then replay those weeks
        # one at a time: the segments' history then has the shape of those weeks.
        start = now - REPLAY
        click.echo("loading Complete Journey (a minute or two, once)…", err=True)
        demo_data.load_complete_journey(store, progress=terminal_progress(), before=start)
        for definition in demo_segments():
            segments_service.create_segment(store, definition, start)
            created.append(definition.code)

        def shown(week: demo_data.ReplayedWeek) -> None:
            click.echo(
                f"  week to {week.until:%Y-%m-%d}: {week.orders:,} orders, "
                f"+{week.entered} / −{week.exited} memberships",
                err=True,
            )

        click.echo(f"replaying the {REPLAY.days // 7} weeks to {now:%Y-%m-%d}…", err=True)
        demo_data.replay_complete_journey(store, start, now, on_week=shown)
    for definition in demo_segments():
        if segments_service.find_segment(store, definition.code) is None:
            segments_service.create_segment(store, definition, now)
            created.append(definition.code)
    demo_data.apply_demo_levers(store, now)
    store_clock.set_clock(store, now)
    password = None
    if auth.find_user(store, DEMO_USER) is None:
        password = secrets.token_urlsafe(12)
        auth.create_user(store, DEMO_USER, password, now, role="admin")
    return store.stats()["customers"], created, password


@click.command("demo")
@_host_option
@click.option("--no-serve", is_flag=True, help="Set everything up, but do not serve.")
@pass_app
def demo_command(
    app: AppContext,
    host: str,
    port: int,
    worker: bool | None,
    interval: float,
    reconcile_every: float | None,
    no_serve: bool,
) -> None:
    """Load Complete Journey, define demo segments, create an admin user (its password is
    printed once, when it is created) and serve the admin page. The store's clock is fixed
    at 2018-01-01 (the data ends there; `segmint clock`), or at --as-of."""
    as_of = app.as_of or DEMO_AS_OF
    now = parse_instant(as_of)
    try:
        store = app.store()
    except ServedElsewhere as error:
        raise ServedElsewhere(error.held, "demo", advice="it is already being served") from None
    customers, created, password = _demo_setup(store, now)
    app.close()
    defined = f"created: {', '.join(created)}" if created else "already defined"
    click.echo(f"{customers} households; demo segments {defined}")
    click.echo(
        f"the store's clock is fixed at {as_of} (the Complete Journey data ends there; "
        "`segmint clock unset` lets it follow real time)"
    )
    shown = password or f"unchanged (`segmint users reset-password {DEMO_USER}` sets a new one)"
    click.echo(f"admin page: http://{host}:{port}/   user: {DEMO_USER}   password: {shown}")
    if not no_serve:
        settings = _worker_settings(app.db_url, worker, interval, reconcile_every)
        serve(app.db_url, host, port, now, settings)


COMMANDS: list[click.Command] = [serve_command, keys_group, demo_command]
