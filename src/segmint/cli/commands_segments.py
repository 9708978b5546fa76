"""``segmint segments …``: define segments, read their members, history and changes.

Every change happens at the global ``--as-of`` instant (AppContext.now), and every action
says what it did, e.g. "Segment updated: vip (version 3); memberships recalculated: +12 / −3".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import click

from segmint.cli import remote_segments as remote
from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import dumps, format_option, render_rows, resolve_format, to_jsonable
from segmint.clock import parse_instant
from segmint.errors import ConfigError
from segmint.model.segment import PurchaseRequirements, SegmentDefinition, SegmentKind
from segmint.services import member_table
from segmint.services import segments as service

F = TypeVar("F", bound=Callable[..., Any])


def _definition_options(create: bool) -> Callable[[F], F]:
    """The definition options shared by create, update and preview."""
    options = [
        click.option("--name", help="Display name (required by create)."),
        click.option("--description", help="Free text ('' clears it)."),
        click.option("--rule", "rule", help="A rule (RULES.md): a rule segment."),
        click.option(
            "--rule-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Read the rule from a file.",
        ),
        click.option("--manual", is_flag=True, help="A customer set (use segments add/remove)."),
        click.option("--realtime", is_flag=True, help="With --rule: a real-time segment."),
        click.option("--min-spend", help="Purchase requirements: minimum spend."),
        click.option(
            "--items", help="Purchase requirements: condition on lines, e.g. \"brand = 'Acme'\"."
        ),
        click.option(
            "--last-days", type=int, help="Purchase requirements: rolling window in days."
        ),
        click.option("--from", "date_from", help="Purchase requirements: first day (YYYY-MM-DD)."),
        click.option("--to", "date_to", help="Purchase requirements: last day (YYYY-MM-DD)."),
        click.option("--user-group", help="Group given to members (default: the code; '' resets)."),
        click.option("--starts-at", help="Targetable from this instant ('none' clears)."),
        click.option("--ends-at", help="Targetable until this instant, exclusive ('none' clears)."),
        click.option("--store", "stores", multiple=True, help="Limit to a store (repeatable)."),
        click.option("--all-stores", is_flag=True, help="Remove the store limits (update)."),
    ]
    if create:
        options.append(click.option("--inactive", is_flag=True, help="Create it inactive."))
    else:
        options.append(click.option("--active/--inactive", "active", default=None))

    def decorate(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def _instant(value: str | None, option: str) -> Any:
    if value is None:
        return dataclasses.MISSING
    if value.strip().lower() in ("", "none"):
        return None
    return parse_instant(value, what=option)


def _day(value: str | None, option: str) -> Any:
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"error: {option}: {value!r} is not a date (YYYY-MM-DD)") from None


def _build(base: SegmentDefinition | None, code: str, opts: dict[str, Any]) -> SegmentDefinition:
    """A definition from options: a new one (base None) or ``base`` with changes."""
    rule = opts.get("rule")
    if opts.get("rule_file") is not None:
        if rule is not None:
            raise ConfigError("error: give --rule or --rule-file, not both")
        rule = Path(opts["rule_file"]).read_text(encoding="utf-8")
    purchase_given = any(
        opts.get(k) is not None for k in ("min_spend", "items", "last_days", "date_from", "date_to")
    )
    chosen = [
        name
        for name, given in (("--rule", rule is not None), ("--manual", opts.get("manual")))
        if given
    ]
    if purchase_given:
        chosen.append("--min-spend/--items/--last-days/--from/--to")
    if len(chosen) > 1:
        raise ConfigError(f"error: choose one kind of definition: {' or '.join(chosen)}")
    if opts.get("realtime") and rule is None:
        raise ConfigError("error: --realtime needs --rule (or --rule-file)")

    changes: dict[str, Any] = {}
    if rule is not None:
        kind = SegmentKind.REALTIME if opts.get("realtime") else SegmentKind.RULE
        changes.update(kind=kind, rule_text=rule, purchase=None)
    elif opts.get("manual"):
        changes.update(kind=SegmentKind.MANUAL, rule_text=None, purchase=None)
    elif purchase_given:
        changes.update(kind=SegmentKind.PURCHASE, rule_text=None, purchase=_purchase(base, opts))
    elif base is None:
        raise ConfigError(
            "error: say what the segment is: --rule/--rule-file, --manual, "
            "--min-spend … with --last-days or --from/--to, or --realtime --rule"
        )
    for key in ("name", "description"):
        if opts.get(key) is not None:
            changes[key] = opts[key]
    if opts.get("user_group") is not None:
        changes["user_group"] = opts["user_group"].strip() or None
    for key, option in (("starts_at", "--starts-at"), ("ends_at", "--ends-at")):
        value = _instant(opts.get(key), option)
        if value is not dataclasses.MISSING:
            changes[key] = value
    if opts.get("stores"):
        changes["stores"] = tuple(opts["stores"])
    elif opts.get("all_stores"):
        changes["stores"] = ()
    if opts.get("inactive"):
        changes["active"] = False
    elif opts.get("active") is not None:
        changes["active"] = opts["active"]
    if base is not None:
        return base.with_changes(**changes)
    changes.setdefault("name", opts.get("name"))
    return SegmentDefinition(code=code, **changes)


def _purchase(base: SegmentDefinition | None, opts: dict[str, Any]) -> PurchaseRequirements:
    previous = base.purchase if base is not None else None
    fields: dict[str, Any] = previous.to_json() if previous else {"min_spend": None}
    fields = {k: v for k, v in fields.items() if k in ("min_spend", "items", "last_days")}
    if previous is not None:
        fields.update(
            date_from=previous.date_from,
            date_to=previous.date_to,
            item_field=previous.item_field,
            item_value=previous.item_value,
        )
    if opts.get("min_spend") is not None:
        fields["min_spend"] = opts["min_spend"]
    if fields.get("min_spend") is None:
        raise ConfigError("error: --min-spend is required for purchase requirements")
    try:
        fields["min_spend"] = Decimal(str(fields["min_spend"]))
    except InvalidOperation:
        raise ConfigError(f"error: --min-spend: {fields['min_spend']!r} is not a number") from None
    if opts.get("items") is not None:
        fields.update(items=opts["items"] or None, item_field=None, item_value=None)
    if opts.get("last_days") is not None:
        fields.update(last_days=opts["last_days"], date_from=None, date_to=None)
    if opts.get("date_from") is not None or opts.get("date_to") is not None:
        fields.update(
            last_days=None,
            date_from=_day(opts.get("date_from"), "--from"),
            date_to=_day(opts.get("date_to"), "--to"),
        )
    return PurchaseRequirements(**fields)


def _changes_text(entered: int, exited: int) -> str:
    return f"+{entered} / −{exited}"


def _echo_save(verb: str, result: service.SaveResult) -> None:
    d = result.definition
    head = f"Segment {verb}: {d.code} (version {result.version})"
    if not result.changed:
        click.echo(f"Segment unchanged: {d.code} (version {result.version})")
        return
    if d.kind is SegmentKind.REALTIME:
        click.echo(f"{head}; real-time: evaluated per request, no stored members")
    else:
        done = "calculated" if verb == "created" else "recalculated"
        click.echo(f"{head}; memberships {done}: {_changes_text(result.entered, result.exited)}")
    if result.dependents:
        click.echo(f"Also recalculated (IN SEGMENT '{d.code}'): {', '.join(result.dependents)}")


@click.group("segments")
def segments_group() -> None:
    """Define segments and read their members, history and changes."""


@segments_group.command("create")
@click.argument("code")
@_definition_options(create=True)
@pass_app
def create_command(app: AppContext, /, code: str, **opts: Any) -> None:
    """Create segment CODE (a rule, a customer set, purchase requirements or real-time)."""
    if not opts.get("name"):
        raise ConfigError("error: segment name: --name is required")
    definition = _build(None, code, opts)
    server = app.server()
    if server is not None:
        _echo_save("created", remote.create_segment(server, definition))
        return
    _echo_save("created", service.create_segment(app.store(), definition, app.now))


@segments_group.command("update")
@click.argument("code")
@_definition_options(create=False)
@pass_app
def update_command(app: AppContext, /, code: str, **opts: Any) -> None:
    """Change segment CODE (a new version; the old definition is kept)."""
    server = app.server()
    if server is not None:
        record = remote.get_segment(server, code)
        changed = _build(record.definition, code, opts)
        _echo_save("updated", remote.update_segment(server, changed, record.version))
        return
    store = app.store()
    base = service.get_segment(store, code).definition
    _echo_save("updated", service.update_segment(store, _build(base, code, opts), app.now))


@segments_group.command("delete")
@click.argument("code")
@pass_app
def delete_command(app: AppContext, code: str) -> None:
    """Delete segment CODE (refused while another segment references it)."""
    server = app.server()
    if server is not None:
        exited = remote.delete_segment(server, code)
    else:
        exited = service.delete_segment(app.store(), code, app.now)
    click.echo(f"Segment deleted: {code}; {exited} members exited (history kept)")


@segments_group.command("list")
@format_option()
@pass_app
def list_command(app: AppContext, fmt: str | None) -> None:
    """Every segment with its kind, status and member count."""
    server = app.server()
    summaries = (
        remote.list_segments(server)
        if server is not None
        else service.list_segments(app.store(), app.now)
    )
    rows = [
        [
            s.record.code,
            s.record.definition.name,
            s.record.definition.kind.value,
            s.status,
            s.members,
            s.record.definition.group,
            s.record.version,
        ]
        for s in summaries
    ]
    columns = ["code", "name", "kind", "status", "members", "user_group", "version"]
    click.echo(render_rows(columns, rows, resolve_format(fmt)))


@segments_group.command("show")
@click.argument("code")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text")
@pass_app
def show_command(app: AppContext, code: str, fmt: str) -> None:
    """Definition, status, members, references and versions of CODE."""
    server = app.server()
    if server is not None:
        d = remote.show_segment(server, code)
    else:
        d = service.show_segment(app.store(), code, app.now)
    definition = d.record.definition
    data = {
        **definition.to_json(),
        "user_group": definition.group,
        "effective_rule": definition.effective_rule,
        "status": d.status,
        "version": d.record.version,
        "members": d.members,
        "includes": d.includes,
        "excludes": d.excludes,
        "references": d.references,
        "referenced_by": d.referrers,
        "versions": [{"version": v.version, "created_at": v.created_at} for v in d.versions],
        "created_at": d.record.created_at,
        "updated_at": d.record.updated_at,
    }
    if fmt == "json":
        click.echo(dumps(data))
        return
    for key, value in to_jsonable(data).items():
        if key == "versions":
            value = ", ".join(f"{v['version']} ({v['created_at']})" for v in value)
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = dumps(value)
        click.echo(f"{key}: {'' if value is None else value}")


@segments_group.command("preview")
@click.argument("code")
@_definition_options(create=False)
@click.option("--sample", type=int, default=10, show_default=True, help="Ids to show.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text")
@pass_app
def preview_command(app: AppContext, /, code: str, sample: int, fmt: str, **opts: Any) -> None:
    """Who a definition would select, without saving; for an existing CODE, also who
    would enter and who would leave."""
    server = app.server()
    existing = (
        remote.find_segment(server, code)
        if server is not None
        else service.find_segment(app.store(), code)
    )
    base = existing.definition if existing else None
    if base is None:
        opts["name"] = opts.get("name") or code
    definition = _build(base, code, opts)
    if server is not None:
        p, entering, leaving = remote.preview_segment(server, definition, sample)
    else:
        p = service.preview_segment(app.store(), definition, app.now, sample=sample)
        entering, leaving = len(p.entering), len(p.leaving)
    if fmt == "json":
        click.echo(dumps(dataclasses.asdict(p)))
        return
    click.echo(f"{p.count} customers would be members (now {p.current_count})")
    click.echo(f"sample: {', '.join(p.sample)}")
    if existing is not None:
        click.echo(f"would enter ({entering}): {', '.join(p.entering[:sample])}")
        click.echo(f"would leave ({leaving}): {', '.join(p.leaving[:sample])}")


@segments_group.command("refresh")
@click.argument("codes", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every materialized segment.")
@pass_app
def refresh_command(app: AppContext, codes: tuple[str, ...], all_: bool) -> None:
    """Recompute memberships in one fused pass (resumes an interrupted run)."""
    if bool(codes) == all_:
        raise ConfigError("error: give segment codes or --all (not both)")
    server = app.server()
    if server is not None:
        report = remote.refresh(server, list(codes) or None)
    else:
        report = service.refresh(app.store(), list(codes) or None, app.now)
    resumed = " (resumed an interrupted run)" if report.resumed else ""
    click.echo(
        f"Refreshed {len(report.segments)} segments (run {report.run_id}){resumed}: "
        f"{_changes_text(report.entered, report.exited)}"
    )
    for code, (entered, exited) in sorted(report.per_segment.items()):
        click.echo(f"  {code}: {_changes_text(entered, exited)}")


@segments_group.command("members")
@click.argument("code")
@click.option("--at", "at", help="Members at this instant, from history.")
@format_option()
@pass_app
def members_command(app: AppContext, code: str, at: str | None, fmt: str | None) -> None:
    """Member ids of CODE, sorted; JSON is {"count": N, "customers": [ids]}. CSV (without
    --at) is the readable table: id, name, e-mail, orders, total spent, currency, last
    order, member since and why, ids in natural order — the admin page's download."""
    instant = parse_instant(at, what="--at") if at else None
    server = app.server()
    if resolve_format(fmt) == "csv" and instant is None:
        if server is not None:
            text = server.get_text(f"/v1/segments/{quote(code, safe='')}/members/export")
        else:
            text = member_table.to_csv(member_table.member_rows(app.store(), code))
        click.echo(text, nl=False)
        return
    if server is not None:
        ids = remote.members(server, code, instant)
    else:
        ids = service.members(app.store(), code, instant)
    fmt = resolve_format(fmt)
    if fmt == "json":
        click.echo(dumps({"count": len(ids), "customers": ids}))
    else:
        click.echo(render_rows(["customer_id"], [[c] for c in ids], fmt))
        if fmt == "table":
            click.echo(f"({len(ids)} customers)")


def _ids(ids: tuple[str, ...], file: Path | None) -> list[str]:
    found = list(ids)
    if file is not None:
        found += service.read_ids_file(file)
    if not found:
        raise ConfigError("error: give customer ids or --file")
    return found


_file_option = click.option(
    "--file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Ids one per line, or CSV with an id/customer_id column.",
)


@segments_group.command("add")
@click.argument("code")
@click.argument("ids", nargs=-1)
@_file_option
@pass_app
def add_command(app: AppContext, code: str, ids: tuple[str, ...], file: Path | None) -> None:
    """Add customers to CODE (manual members, or includes on top of a rule)."""
    wanted = _ids(ids, file)
    server = app.server()
    if server is not None:
        r = remote.add_members(server, code, wanted)
    else:
        r = service.add_members(app.store(), code, wanted, app.now)
    click.echo(f"Added {r.requested} customers to {code}: {_changes_text(r.entered, r.exited)}")


@segments_group.command("remove")
@click.argument("code")
@click.argument("ids", nargs=-1)
@_file_option
@pass_app
def remove_command(app: AppContext, code: str, ids: tuple[str, ...], file: Path | None) -> None:
    """Remove customers from CODE (from the set, or as excludes of a rule)."""
    wanted = _ids(ids, file)
    server = app.server()
    if server is not None:
        r = remote.remove_members(server, code, wanted)
    else:
        r = service.remove_members(app.store(), code, wanted, app.now)
    click.echo(f"Removed {r.requested} customers from {code}: {_changes_text(r.entered, r.exited)}")


_CHANGE_COLUMNS = ["seq", "segment", "customer_id", "change", "at", "reason", "trigger"]


def _change_rows(rows: list[service.Change]) -> list[list[Any]]:
    return [
        [c.seq, c.segment_code, c.customer_id, c.change, c.at, c.reason, c.trigger] for c in rows
    ]


@segments_group.command("history")
@click.argument("code")
@click.option("--customer", help="Only this customer.")
@click.option("--limit", type=int, help="At most this many rows (oldest first).")
@format_option()
@pass_app
def history_command(
    app: AppContext, code: str, customer: str | None, limit: int | None, fmt: str | None
) -> None:
    """Entries and exits of CODE with instant, reason and trigger."""
    server = app.server()
    if server is not None:
        rows = remote.history(server, code, customer, limit)
    else:
        rows = service.history(app.store(), code, customer_id=customer, limit=limit)
    click.echo(render_rows(_CHANGE_COLUMNS, _change_rows(rows), resolve_format(fmt)))


@segments_group.command("changes")
@click.option("--since", type=int, default=0, show_default=True, help="Cursor to resume from.")
@click.option("--limit", type=int, default=1000, show_default=True)
@format_option()
@pass_app
def changes_command(app: AppContext, since: int, limit: int, fmt: str | None) -> None:
    """The change feed: entries and exits in order, then the cursor to resume from."""
    server = app.server()
    if server is not None:
        page = remote.changes(server, since, limit)
    else:
        page = service.changes(app.store(), since, limit)
    fmt = resolve_format(fmt)
    if fmt == "json":
        items = [dict(zip(_CHANGE_COLUMNS, r, strict=True)) for r in _change_rows(page.changes)]
        click.echo(dumps({"changes": items, "cursor": page.cursor}))
        return
    click.echo(render_rows(_CHANGE_COLUMNS, _change_rows(page.changes), fmt))
    # CSV stays pure data on stdout; the cursor goes to stderr there.
    click.echo(f"next cursor: {page.cursor}", err=fmt == "csv")


COMMANDS: list[click.Command] = [segments_group]
