"""The admin pages for API keys, users and the worker (web/_pages_admin.py) on both
stores: an admin lists, creates (the token or generated password shown once) and revokes;
a marketer and a forged form are refused and change nothing."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from test_web_pages import PASSWORD, csrf_of, flash, login_csrf

from segmint.api.app import create_app
from segmint.services import auth
from segmint.store.base import Store

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture()
def client(store: Store, store_url: str) -> Iterator[TestClient]:
    auth.create_user(store, "ada", PASSWORD, NOW, role="admin")
    auth.create_user(store, "mark", PASSWORD, NOW, role="marketer")
    with TestClient(create_app(store_url), follow_redirects=False) as c:
        yield c


def log_in(client: TestClient, username: str) -> str:
    data = {"login_csrf": login_csrf(client), "username": username, "password": PASSWORD}
    assert client.post("/login", data=data).status_code == 303
    return csrf_of(client.get("/segments").text)


def shown_secret(page: str) -> str:
    found = re.search(r'<pre class="token">([^<]+)</pre>', page)
    assert found, page
    return html.unescape(found.group(1))


def test_an_admin_creates_lists_and_revokes_keys(store: Store, client: TestClient) -> None:
    csrf = log_in(client, "ada")
    assert 'href="/admin"' in client.get("/segments").text
    page = client.get("/admin/keys")
    assert page.status_code == 200 and "No API keys yet" in page.text
    form = {"csrf_token": csrf, "role": "ingest", "name": "shop"}
    created = client.post("/admin/keys", data=form)
    assert created.status_code == 200
    token = shown_secret(created.text)
    key = auth.verify_api_key(store, token, NOW)
    assert key is not None and (key.role, key.name) == ("ingest", "shop")
    listed = client.get("/admin/keys").text
    assert key.id in listed and "shop" in listed and token not in listed  # shown once
    h = {"Authorization": f"Bearer {token}"}
    assert client.post("/v1/customers/batch", json=[{"id": "c1"}], headers=h).status_code == 200
    revoked = client.post(f"/admin/keys/{key.id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303 and revoked.headers["location"] == "/admin/keys"
    assert flash(client.get("/admin/keys").text) == f"Key {key.id} revoked."
    assert auth.verify_api_key(store, token, NOW) is None
    # Refused at once by the API, not after its key cache expires.
    assert client.post("/v1/customers/batch", json=[{"id": "c2"}], headers=h).status_code == 401
    bad = client.post("/admin/keys", data={"csrf_token": csrf, "role": "root"})
    assert bad.status_code == 400 and "root" in bad.text
    missing = client.post("/admin/keys/nosuch/revoke", data={"csrf_token": csrf})
    assert missing.status_code == 404


def test_an_admin_creates_users(store: Store, client: TestClient) -> None:
    csrf = log_in(client, "ada")
    page = client.get("/admin/users").text
    assert "ada" in page and "mark" in page and "$argon2" not in page
    form = {"csrf_token": csrf, "username": "zoe", "role": "marketer", "password": ""}
    created = client.post("/admin/users", data=form)
    assert created.status_code == 200
    password = shown_secret(created.text)
    zoe = auth.authenticate_user(store, "zoe", password)
    assert zoe is not None and zoe.role == "marketer"
    assert password not in client.get("/admin/users").text
    typed = {**form, "username": "yan", "password": "chosen password"}
    answer = client.post("/admin/users", data=typed)
    assert answer.status_code == 200 and '<pre class="token">' not in answer.text
    assert auth.authenticate_user(store, "yan", "chosen password") is not None
    again = client.post("/admin/users", data=typed)
    assert again.status_code == 400 and "already exists" in again.text
    assert client.get("/admin").status_code == 200


def test_a_marketer_and_a_forged_form_are_refused(store: Store, client: TestClient) -> None:
    csrf = log_in(client, "mark")
    assert 'href="/admin"' not in client.get("/segments").text
    for path in ("/admin", "/admin/keys", "/admin/users"):
        assert client.get(path).status_code == 403
    key_id = auth.create_api_key(store, "storefront", NOW)[0]
    posts = {
        "/admin/keys": {"role": "admin"},
        f"/admin/keys/{key_id}/revoke": {},
        "/admin/users": {"username": "eve", "password": "long enough", "role": "admin"},
    }
    for path, data in posts.items():
        assert client.post(path, data={"csrf_token": csrf, **data}).status_code == 403
    client.post("/logout", data={"csrf_token": csrf})
    csrf = log_in(client, "ada")
    for path, data in posts.items():
        assert client.post(path, data={"csrf_token": "forged", **data}).status_code == 403
        assert client.post(path, data=data).status_code == 403
    assert [k.id for k in auth.list_api_keys(store)] == [key_id]
    assert auth.list_api_keys(store)[0].revoked_at is None
    assert [u.username for u in auth.list_users(store)] == ["ada", "mark"]
