"""Account management on both stores: ``segmint users list|disable|enable|delete|
reset-password``, the same on ``/admin/users`` and through ``/v1/users…``. A disabled or
deleted user's session ends at once (their next page is the login); the last enabled
admin can be neither disabled nor deleted; only admins may do any of it."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from test_api_cli import run
from test_web_pages import PASSWORD, csrf_of, flash, login_csrf

from segmint.api.app import create_app
from segmint.services import auth
from segmint.store.base import Store

NOW = dt.datetime.now(dt.UTC)


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    data = {"login_csrf": login_csrf(client), "username": username, "password": password}
    answer = client.post("/login", data=data)
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/segments").text)


def logged_out(client: TestClient) -> bool:
    answer = client.get("/segments")
    return answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_cli_lists_disables_enables_resets_and_deletes(store: Store, store_url: str) -> None:
    auth.create_user(store, "ada", PASSWORD, NOW, role="admin")
    mark = auth.create_user(store, "mark", PASSWORD, NOW, role="marketer")
    token, _ = auth.create_session(store, mark, NOW)
    code, out, _ = run(store_url, "users", "list", "--format", "json")
    listed = {u["username"]: u for u in json.loads(out)}
    assert code == 0 and set(listed) == {"ada", "mark"}
    assert listed["mark"]["role"] == "marketer" and listed["mark"]["disabled_at"] is None
    assert listed["mark"]["failed_logins"] == 0 and "password_hash" not in listed["mark"]

    assert run(store_url, "users", "disable", "mark")[1].strip() == "user mark disabled"
    assert auth.session_user(store, token, NOW) is None  # the session ended at once
    assert auth.authenticate_user(store, "mark", PASSWORD) is None
    assert "already disabled" in run(store_url, "users", "disable", "mark")[1]
    listed = {
        u["username"]: u for u in json.loads(run(store_url, "users", "list", "--format", "json")[1])
    }
    assert listed["mark"]["disabled_at"] is not None and listed["ada"]["disabled_at"] is None
    assert run(store_url, "users", "enable", "mark")[1].strip() == "user mark enabled"
    assert auth.authenticate_user(store, "mark", PASSWORD) is not None

    code, out, err = run(store_url, "users", "reset-password", "mark")
    new = out.strip()
    assert code == 0 and "not shown again" in err and len(new) >= 12
    assert auth.authenticate_user(store, "mark", PASSWORD) is None
    assert auth.authenticate_user(store, "mark", new) is not None
    assert new not in str(store.query("SELECT password_hash FROM users"))
    code, out, _ = run(store_url, "users", "reset-password", "mark", "--password", "typed pw 1")
    assert code == 0 and out.strip() == "password of mark replaced"
    assert auth.authenticate_user(store, "mark", "typed pw 1") is not None
    assert run(store_url, "users", "reset-password", "mark", "--password", "short")[0] != 0

    # The last enabled admin: refused, with the reason; mark (a marketer) does not count.
    for action in ("disable", "delete"):
        code, _, err = run(store_url, "users", action, "ada")
        assert code != 0 and "last enabled admin" in err and "ada" in err
    assert [u.disabled_at for u in auth.list_users(store) if u.username == "ada"] == [None]
    code, _, err = run(store_url, "users", "disable", "nobody")
    assert code != 0 and "'nobody' does not exist" in err

    token, _ = auth.create_session(store, mark, NOW)
    assert run(store_url, "users", "delete", "mark")[1].strip() == "user mark deleted"
    assert auth.session_user(store, token, NOW) is None
    assert [u.username for u in auth.list_users(store)] == ["ada"]
    assert store.query("SELECT COUNT(*) FROM sessions")[0][0] == 0


def test_a_disabled_admin_is_not_counted(store: Store) -> None:
    auth.create_user(store, "ada", PASSWORD, NOW, role="admin")
    auth.create_user(store, "bea", PASSWORD, NOW, role="admin")
    assert auth.disable_user(store, "bea", NOW)
    with pytest.raises(Exception, match="last enabled admin"):
        auth.disable_user(store, "ada", NOW)
    auth.delete_user(store, "bea")  # a disabled admin can go
    assert auth.enable_user(store, "ada") is False  # already enabled


@pytest.fixture()
def client(store: Store, store_url: str) -> Iterator[TestClient]:
    auth.create_user(store, "ada", PASSWORD, NOW, role="admin")
    auth.create_user(store, "mark", PASSWORD, NOW, role="marketer")
    with TestClient(create_app(store_url), follow_redirects=False) as c:
        yield c


def test_the_admin_page_manages_users(store: Store, store_url: str, client: TestClient) -> None:
    csrf = log_in(client, "ada")
    with TestClient(client.app, follow_redirects=False) as other:
        log_in(other, "mark")
        page = client.get("/admin/users").text
        assert "enabled" in page and 'action="/admin/users/disable"' in page
        answer = client.post("/admin/users/disable", data={"csrf_token": csrf, "username": "mark"})
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/users"
        assert flash(client.get("/admin/users").text) == "User mark disabled; their sessions ended."
        assert logged_out(other)  # the very next request
        assert "disabled since" in client.get("/admin/users").text
        refused = other.post(
            "/login",
            data={"login_csrf": login_csrf(other), "username": "mark", "password": PASSWORD},
        )
        assert refused.status_code == 401 and "Wrong username or password" in refused.text
        assert (
            client.post(
                "/admin/users/enable", data={"csrf_token": csrf, "username": "mark"}
            ).headers["location"]
            == "/admin/users"
        )
        assert flash(client.get("/admin/users").text) == "User mark enabled."
        log_in(other, "mark")

        reset = client.post("/admin/users/password", data={"csrf_token": csrf, "username": "mark"})
        assert reset.status_code == 200 and "has a new password" in reset.text
        found = re.search(r'<pre class="token">([^<]+)</pre>', reset.text)
        assert found
        new = html.unescape(found.group(1))
        assert new not in client.get("/admin/users").text  # shown once
        assert logged_out(other)  # a reset ends the sessions too
        log_in(other, "mark", new)

        for action in ("disable", "delete"):
            last = client.post(
                f"/admin/users/{action}", data={"csrf_token": csrf, "username": "ada"}
            )
            assert last.status_code == 409 and "last enabled admin" in last.text
        missing = client.post("/admin/users/delete", data={"csrf_token": csrf, "username": "zed"})
        assert missing.status_code == 404 and "does not exist" in missing.text
        gone = client.post("/admin/users/delete", data={"csrf_token": csrf, "username": "mark"})
        assert gone.status_code == 303
        assert logged_out(other)
    assert [u.username for u in auth.list_users(store)] == ["ada"]


def test_only_admins_change_users_and_only_with_the_csrf_token(
    store: Store, client: TestClient
) -> None:
    auth.create_user(store, "bea", PASSWORD, NOW, role="admin")
    csrf = log_in(client, "mark")
    actions = ("disable", "enable", "delete", "password")
    for action in actions:
        data = {"csrf_token": csrf, "username": "ada"}
        assert client.post(f"/admin/users/{action}", data=data).status_code == 403
    client.post("/logout", data={"csrf_token": csrf})
    log_in(client, "ada")
    for action in actions:
        forged = {"csrf_token": "forged", "username": "bea"}
        assert client.post(f"/admin/users/{action}", data=forged).status_code == 403
        assert client.post(f"/admin/users/{action}", data={"username": "bea"}).status_code == 403
    assert [(u.username, u.disabled_at) for u in auth.list_users(store)] == [
        ("ada", None),
        ("bea", None),
        ("mark", None),
    ]
    assert auth.authenticate_user(store, "bea", PASSWORD) is not None


def test_the_api_manages_users(store: Store, client: TestClient) -> None:
    _, admin = auth.create_api_key(store, "admin", NOW)
    _, marketer = auth.create_api_key(store, "marketer", NOW)
    h = {"Authorization": f"Bearer {admin}"}
    assert client.post("/v1/users/mark/disable", headers=h).json() == {
        "username": "mark",
        "changed": True,
    }
    listed = {u["username"]: u for u in client.get("/v1/users", headers=h).json()}
    assert listed["mark"]["disabled_at"] is not None
    assert client.post("/v1/users/mark/enable", headers=h).json()["changed"] is True
    answer = client.post("/v1/users/mark/password", headers=h)
    new = answer.json()["password"]
    assert answer.status_code == 200 and auth.authenticate_user(store, "mark", new) is not None
    typed = client.post("/v1/users/mark/password", json={"password": "typed pw 2"}, headers=h)
    assert typed.json()["password"] is None
    last = client.delete("/v1/users/ada", headers=h)
    assert last.status_code == 409 and "last enabled admin" in last.json()["error"]["message"]
    m = {"Authorization": f"Bearer {marketer}"}
    assert client.delete("/v1/users/mark", headers=m).status_code == 403
    assert client.delete("/v1/users/mark", headers=h).json() == {
        "username": "mark",
        "deleted": True,
    }
    assert [u.username for u in auth.list_users(store)] == ["ada"]
