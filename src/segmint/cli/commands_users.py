"""``segmint users …``: the web users of the admin pages — create, list, disable, enable,
delete, reset-password. With DuckDB served, each goes through the server's API
(``/v1/users…``, admin only) like ``segmint keys``; the admin page ``/admin/users`` does
the same. A disabled or deleted user's sessions end at once; the last enabled admin can
be neither disabled nor deleted (services/auth.py)."""

from __future__ import annotations

from urllib.parse import quote

import click

from segmint.cli.main import AppContext, pass_app
from segmint.cli.output import format_option, render_rows, resolve_format
from segmint.cli.remote_segments import maybe_instant
from segmint.services import auth, login

COLUMNS = ["username", "role", "created_at", "disabled_at", "failed_logins", "blocked_until"]
_TIMES = ("created_at", "disabled_at", "blocked_until")


def _path(username: str, action: str = "") -> str:
    return "/v1/users/" + quote(username.strip(), safe="") + action


@click.group("users")
def users_group() -> None:
    """Web users of the admin pages (argon2id password hashes): create, list, disable,
    enable, delete, reset-password."""


@users_group.command("create")
@click.argument("username")
@click.option("--password", default=None, help="Default: prompt (hidden, confirmed).")
@click.option("--role", type=click.Choice(auth.USER_ROLES), default="admin", show_default=True)
@pass_app
def users_create_command(app: AppContext, username: str, password: str | None, role: str) -> None:
    """Create a user who can log in to the admin pages."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    server = app.server()
    if server is not None:
        body = {"username": username.strip(), "password": str(password), "role": role}
        created = server.post("/v1/users", body)
        click.echo(f"created user {created['username']} ({created['role']})")
        return
    store = app.store()
    store.init()
    user = auth.create_user(store, username, str(password), app.now, role=role)
    click.echo(f"created user {user.username} ({user.role})")


@users_group.command("list")
@format_option()
@pass_app
def users_list_command(app: AppContext, fmt: str | None) -> None:
    """Every web user: role, creation, whether disabled, recent failed logins and the
    block they caused (never a password hash)."""
    server = app.server()
    if server is not None:
        rows = [
            [maybe_instant(u[c]) if c in _TIMES else u[c] for c in COLUMNS]
            for u in server.get("/v1/users")
        ]
    else:
        rows = [[getattr(a, c) for c in COLUMNS] for a in login.accounts(app.store())]
    click.echo(render_rows(COLUMNS, rows, resolve_format(fmt)))


@users_group.command("disable")
@click.argument("username")
@pass_app
def users_disable_command(app: AppContext, username: str) -> None:
    """The user cannot log in any more; their sessions end now. Refused for the last
    enabled admin."""
    server = app.server()
    if server is not None:
        changed = bool(server.post(_path(username, "/disable"))["changed"])
    else:
        changed = auth.disable_user(app.store(), username, app.now)
    click.echo(f"user {username.strip()} {'disabled' if changed else 'was already disabled'}")


@users_group.command("enable")
@click.argument("username")
@pass_app
def users_enable_command(app: AppContext, username: str) -> None:
    """A disabled user may log in again (their failed logins are forgotten)."""
    server = app.server()
    if server is not None:
        changed = bool(server.post(_path(username, "/enable"))["changed"])
    else:
        changed = auth.enable_user(app.store(), username)
    click.echo(f"user {username.strip()} {'enabled' if changed else 'was already enabled'}")


@users_group.command("delete")
@click.argument("username")
@pass_app
def users_delete_command(app: AppContext, username: str) -> None:
    """Delete a user and their sessions. Refused for the last enabled admin."""
    server = app.server()
    if server is not None:
        server.request("DELETE", _path(username))
    else:
        auth.delete_user(app.store(), username)
    click.echo(f"user {username.strip()} deleted")


@users_group.command("reset-password")
@click.argument("username")
@click.option("--password", default=None, help="The new password. Default: generate one.")
@pass_app
def users_reset_password_command(app: AppContext, username: str, password: str | None) -> None:
    """Give a user a new password: the one given, or a generated one printed once (only
    its hash is kept). Their sessions end and their failed logins are forgotten."""
    server = app.server()
    if server is not None:
        answer = server.post(_path(username, "/password"), {"password": password})
        generated = answer["password"]
    else:
        generated = auth.reset_password(app.store(), username, password)[1]
    if generated is None:
        click.echo(f"password of {username.strip()} replaced")
        return
    click.echo(
        f"new password of {username.strip()}; give it to them now, it is not shown again",
        err=True,
    )
    click.echo(generated)


COMMANDS: list[click.Command] = [users_group]
