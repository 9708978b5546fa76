"""``segmint rules check|sql|json``, ``segmint match`` and ``segmint explain``."""

from __future__ import annotations

import click

from segmint.bootstrap import store_may_exist
from segmint.cli.forward import Server
from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import dumps, format_option, render_rows, resolve_format
from segmint.rules.schema import DEFAULT_SCHEMA, FieldType, Schema
from segmint.services import discovery
from segmint.services import rules as rule_service
from segmint.services.discovery import RuleWarning


def _schema(app: AppContext) -> Schema:
    """The store's schema (with its custom attributes) when there is one, else built-ins;
    from the server holding the file, if one does."""
    if not store_may_exist(app.db_url):
        return DEFAULT_SCHEMA
    server = app.server()
    if server is not None:
        data = server.get("/v1/rules/schema")
        attributes = {name: FieldType(t) for name, t in data["attributes"].items()}
        return Schema(attributes=attributes, timezone=str(data["timezone"]))
    store = app.store()
    if store.schema_version() is None:
        return DEFAULT_SCHEMA
    return store.rule_schema()


@click.group("rules")
def rules_group() -> None:
    """Check a rule, and show its SQL or JSON form."""


@rules_group.command("check")
@click.argument("rule")
@pass_app
def rules_check(app: AppContext, rule: str) -> None:
    """Print ok, or the positioned error (exit status 2); then a warning for each value
    the store has for no customer or line (exit status still 0)."""
    server = app.server() if store_may_exist(app.db_url) else None
    if server is not None:
        data = server.post("/v1/rules/check", {"rule": rule})
        realtime = bool(data["realtime"])
        warnings = [RuleWarning(**w) for w in data["warnings"]]
    else:
        checked = rule_service.check_rule(rule, _schema(app))
        realtime = checked.realtime
        warnings = _warnings(app, rule)
    click.echo(f"ok ({'real-time' if realtime else 'materializable'})")
    for warning in warnings:
        click.echo(warning.render())


def _warnings(app: AppContext, rule: str) -> list[RuleWarning]:
    """The data warnings of a checked rule, when there is a store to read."""
    if not store_may_exist(app.db_url):
        return []
    store = app.store()
    if store.schema_version() is None:
        return []
    return discovery.rule_warnings(store, rule)


@rules_group.command("sql")
@click.argument("rule")
@click.option(
    "--dialect",
    type=click.Choice(rule_service.DIALECTS),
    default="duckdb",
    show_default=True,
)
@pass_app
def rules_sql(app: AppContext, rule: str, dialect: str) -> None:
    """The SQL a rule compiles to, with its bound parameters."""
    query = rule_service.rule_sql(rule, dialect, app.now, _schema(app))
    click.echo(query.sql + ";")
    if query.params:
        click.echo("-- parameters:")
        for name, value in query.params.items():
            click.echo(f"--   {name} = {value!r}")


@rules_group.command("json")
@click.argument("rule")
@pass_app
def rules_json(app: AppContext, rule: str) -> None:
    """The rule's JSON tree form."""
    import json

    click.echo(json.dumps(rule_service.rule_json(rule, _schema(app)), indent=2, ensure_ascii=False))


@click.command("match")
@click.argument("rule")
@click.option("--engine", type=click.Choice(("sql", "python")), default="sql", show_default=True)
@format_option()
@pass_app
def match_command(app: AppContext, rule: str, engine: str, fmt: str | None) -> None:
    """List every customer matching RULE (as of --as-of), sorted by id."""
    server = app.server()
    if server is not None:
        result = _match_through(server, rule, engine)
    else:
        result = rule_service.match(app.store(), rule, app.now, engine)
    fmt = resolve_format(fmt)
    if fmt == "json":
        click.echo(dumps(result.to_dict()))
    elif fmt == "csv":
        click.echo(render_rows(["customer_id"], [[c] for c in result.customers], "csv"))
    else:
        click.echo(render_rows(["customer_id"], [[c] for c in result.customers], "table"))
        click.echo(f"({result.count} customers)")


@click.command("explain")
@click.argument("customer_id")
@click.argument("rule")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text")
@pass_app
def explain_command(app: AppContext, customer_id: str, rule: str, fmt: str) -> None:
    """Why CUSTOMER_ID does or does not match RULE: every sub-expression and its value."""
    server = app.server()
    if server is not None:
        data = dict(server.post("/v1/explain", {"customer_id": customer_id, "rule": rule}))
        rendered = str(data.pop("rendered"))
        click.echo(dumps(data) if fmt == "json" else rendered)
        return
    explanation = rule_service.explain(app.store(), customer_id, rule, app.now)
    click.echo(dumps(explanation.to_dict()) if fmt == "json" else explanation.render())


#: Ids per match request when a server answers (its largest page).
MATCH_PAGE = 100_000


def _match_through(server: Server, rule: str, engine: str) -> rule_service.MatchResult:
    ids: list[str] = []
    while True:
        body = {"rule": rule, "engine": engine, "limit": MATCH_PAGE, "offset": len(ids)}
        page = server.post("/v1/rules/match", body)
        ids += page["customers"]
        if len(ids) >= int(page["count"]) or not page["customers"]:
            return rule_service.MatchResult(int(page["count"]), ids)


COMMANDS: list[click.Command] = [rules_group, match_command, explain_command]
