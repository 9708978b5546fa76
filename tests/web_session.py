"""Logging in to the admin pages in a test, and reading what they say."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"


def log_in(
    client: TestClient, username: str = "ada", *, page: str = "/", password: str = PASSWORD
) -> str:
    """Log ``username`` in through the login form; the CSRF token ``page`` carries."""
    form = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert token
    response = client.post(
        "/login",
        data={"login_csrf": token.group(1), "username": username, "password": password},
    )
    assert response.status_code == 303, response.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    assert found
    return found.group(1)


def flash(page: str) -> str:
    """The flash message a page shows."""
    found = re.search(r'class="flash"[^>]*>(.*?)</div>', page, re.S)
    assert found, page
    return html.unescape(found.group(1)).strip()
