"""API keys, admin web users and their sessions (tables of migration 3).

Secrets are never stored: an API key token is ``sk_<id>_<secret>`` where the secret is
32 random bytes; only SHA-256 of the secret is stored (a high-entropy secret needs no
slow hash) and compared with :func:`hmac.compare_digest`. Passwords are argon2id hashes
(argon2-cffi's defaults). A session token is random; only its SHA-256 is stored, with a
CSRF token the web pages put in their forms.

A web user can be disabled (migration 12): they cannot log in and their sessions end at
once, as when they are deleted. The last enabled admin can be neither disabled nor
deleted. Logins from the web are throttled (services/login.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from segmint.errors import ConfigError, ConflictError, NotFoundError
from segmint.store.base import Store

ROLES = ("admin", "marketer", "ingest", "storefront")
#: Roles a web user may have (the pages are for people who build segments).
USER_ROLES = ("admin", "marketer")

TOKEN_PREFIX = "sk_"
HASHER = PasswordHasher()
#: Verified when the user is unknown, so the answer takes about as long either way.
DUMMY_HASH = HASHER.hash("segmint-dummy-password")
#: The PostgreSQL advisory lock taken by changes that count enabled admins (DuckDB: no-op).
USERS_LOCK = 19_003


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str | None
    role: str


@dataclass(frozen=True)
class ApiKeyInfo:
    """A stored key as listed (never its secret)."""

    id: str
    name: str | None
    role: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


@dataclass(frozen=True)
class User:
    id: str
    username: str
    role: str


@dataclass(frozen=True)
class UserInfo:
    """A web user as listed (never the password hash)."""

    username: str
    role: str
    created_at: dt.datetime
    disabled_at: dt.datetime | None = None


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def needs_rehash(stored: str) -> bool:
    return HASHER.check_needs_rehash(stored)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_role(role: str, allowed: tuple[str, ...] = ROLES) -> None:
    if role not in allowed:
        raise ConfigError(f"error: --role: {role!r} is not one of {', '.join(allowed)}")


# ---- API keys ---------------------------------------------------------------------------


def create_api_key(
    store: Store, role: str, now: dt.datetime, name: str | None = None
) -> tuple[str, str]:
    """A new key with ``role``: (key id, token). The token is shown once; only the hash
    of its secret is stored."""
    _check_role(role)
    store.require_schema()
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    store._x(
        "INSERT INTO api_keys (id, name, role, secret_hash, created_at) "
        "VALUES ($id, $name, $role, $hash, $now)",
        {"id": key_id, "name": name, "role": role, "hash": _sha256(secret), "now": now},
    )
    return key_id, f"{TOKEN_PREFIX}{key_id}_{secret}"


def parse_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    key_id, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not key_id or not secret or len(token) > 200:
        return None
    return key_id, secret


def verify_api_key(
    store: Store, token: str, now: dt.datetime, *, touch: bool = True
) -> ApiKey | None:
    """The key a token names if it is valid and not revoked, else None. Records
    ``last_used_at`` (at most once a minute per key, to keep reads cheap)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    rows = store._q(
        "SELECT name, role, secret_hash, revoked_at, last_used_at FROM api_keys WHERE id = $id",
        {"id": key_id},
    )
    if not rows:
        return None
    name, role, stored, revoked_at, last_used = rows[0]
    if not hmac.compare_digest(_sha256(secret), str(stored)) or revoked_at is not None:
        return None
    if touch and (last_used is None or now - last_used >= dt.timedelta(minutes=1)):
        store._x(
            "UPDATE api_keys SET last_used_at = $now WHERE id = $id", {"now": now, "id": key_id}
        )
    return ApiKey(id=key_id, name=None if name is None else str(name), role=str(role))


def revoke_api_key(store: Store, key_id: str, now: dt.datetime) -> bool:
    """Revoke a key; False if it was already revoked. Unknown id: NotFoundError."""
    store.require_schema()
    rows = store._q("SELECT revoked_at FROM api_keys WHERE id = $id", {"id": key_id})
    if not rows:
        raise NotFoundError(f"error: API key {key_id!r} does not exist")
    if rows[0][0] is not None:
        return False
    store._x("UPDATE api_keys SET revoked_at = $now WHERE id = $id", {"now": now, "id": key_id})
    return True


def list_api_keys(store: Store) -> list[ApiKeyInfo]:
    store.require_schema()
    rows = store._q(
        "SELECT id, name, role, created_at, revoked_at, last_used_at FROM api_keys "
        "ORDER BY created_at, id"
    )
    return [
        ApiKeyInfo(str(i), None if n is None else str(n), str(r), c, rv, lu)
        for i, n, r, c, rv, lu in rows
    ]


# ---- users and sessions -------------------------------------------------------------------


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise ConfigError("error: password: at least 8 characters")
    if len(password) > 1000:
        raise ConfigError("error: password: at most 1000 characters")


def create_user(
    store: Store, username: str, password: str, now: dt.datetime, role: str = "admin"
) -> User:
    """A web user with an argon2id password hash. Refuses a taken username."""
    _check_role(role, USER_ROLES)
    name = username.strip()
    if not name or len(name) > 100:
        raise ConfigError("error: username: 1 to 100 characters")
    _check_password(password)
    store.require_schema()
    hashed = HASHER.hash(password)  # slow: before the transaction, not inside it
    with store.transaction():
        if store._q("SELECT 1 FROM users WHERE username = $u", {"u": name}):
            raise ConfigError(f"error: username: {name!r} already exists")
        user = User(id=uuid.uuid4().hex, username=name, role=role)
        store._x(
            "INSERT INTO users (id, username, password_hash, role, created_at) "
            "VALUES ($id, $u, $h, $r, $now)",
            {"id": user.id, "u": name, "h": hashed, "r": role, "now": now},
        )
    return user


def list_users(store: Store) -> list[UserInfo]:
    store.require_schema()
    rows = store._q("SELECT username, role, created_at, disabled_at FROM users ORDER BY username")
    return [UserInfo(str(u), str(r), c, d) for u, r, c, d in rows]


def authenticate_user(store: Store, username: str, password: str) -> User | None:
    """The user if the password is right and the user enabled, else None (an unknown
    user costs the same argon2 verification as a wrong password). Not throttled, and it
    holds ``store`` during the check: the web login goes through services/login.py."""
    rows = store._q(
        "SELECT id, password_hash, role FROM users WHERE username = $u AND disabled_at IS NULL",
        {"u": username.strip()},
    )
    stored = str(rows[0][1]) if rows else DUMMY_HASH
    try:
        HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if not rows:
        return None
    user_id, password_hash, role = rows[0]
    if HASHER.check_needs_rehash(str(password_hash)):
        store._x(
            "UPDATE users SET password_hash = $h WHERE id = $id",
            {"h": HASHER.hash(password), "id": user_id},
        )
    return User(id=str(user_id), username=username.strip(), role=str(role))


def create_session(
    store: Store, user: User, now: dt.datetime, ttl: dt.timedelta = dt.timedelta(hours=12)
) -> tuple[str, str]:
    """(session token, CSRF token); only the session token's hash is stored."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    store._x(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) "
        "VALUES ($h, $u, $c, $now, $exp)",
        {"h": _sha256(token), "u": user.id, "c": csrf, "now": now, "exp": now + ttl},
    )
    return token, csrf


def session_user(store: Store, token: str, now: dt.datetime) -> tuple[User, str] | None:
    """The session's user and CSRF token, or None (unknown, expired, or its user disabled
    or deleted: read on every request, so such a session ends at once)."""
    if not token or len(token) > 200:
        return None
    rows = store._q(
        "SELECT u.id, u.username, u.role, s.csrf_token, s.expires_at FROM sessions AS s "
        "JOIN users AS u ON u.id = s.user_id "
        "WHERE s.token_hash = $h AND u.disabled_at IS NULL",
        {"h": _sha256(token)},
    )
    if not rows:
        return None
    user_id, username, role, csrf, expires_at = rows[0]
    if expires_at <= now:
        return None
    return User(id=str(user_id), username=str(username), role=str(role)), str(csrf)


def end_session(store: Store, token: str) -> None:
    """Log out: forget the session (no error if there was none)."""
    store._x("DELETE FROM sessions WHERE token_hash = $h", {"h": _sha256(token)})


def set_password(store: Store, username: str, password: str) -> User:
    """Replace a user's password and end their sessions; their failed logins are
    forgotten (``segmint demo`` resets its admin's on every run)."""
    _check_password(password)
    hashed = HASHER.hash(password)
    with store.transaction():
        user = _user_row(store, username)
        store._x("UPDATE users SET password_hash = $h WHERE id = $id", {"h": hashed, "id": user.id})
        store._x("DELETE FROM sessions WHERE user_id = $id", {"id": user.id})
        _clear_failures(store, user.username)
    return user


def reset_password(
    store: Store, username: str, password: str | None = None
) -> tuple[User, str | None]:
    """:func:`set_password` with ``password``, or with a generated one, returned (shown
    once: only its hash is kept)."""
    generated = secrets.token_urlsafe(12) if password is None else None
    user = set_password(store, username, password or generated or "")
    return user, generated


def find_user(store: Store, username: str) -> User | None:
    rows = store._q("SELECT id, role FROM users WHERE username = $u", {"u": username.strip()})
    if not rows:
        return None
    return User(id=str(rows[0][0]), username=username.strip(), role=str(rows[0][1]))


def _user_row(store: Store, username: str) -> User:
    store.require_schema()
    user = find_user(store, username)
    if user is None:
        raise NotFoundError(f"error: user {username.strip()!r} does not exist")
    return user


def _clear_failures(store: Store, username: str) -> None:
    store._x(
        "DELETE FROM login_failures WHERE scope = 'username' AND subject = $u",
        {"u": username.strip()},
    )


def _refuse_last_admin(store: Store, user: User, action: str) -> None:
    if user.role != "admin":
        return
    others = store._count(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> $id",
        {"id": user.id},
    )
    if others == 0:
        raise ConflictError(
            f"error: user {user.username!r} is the last enabled admin: cannot {action} them "
            "(create or enable another admin first)"
        )


def disable_user(store: Store, username: str, now: dt.datetime) -> bool:
    """Disable a user: they cannot log in and their sessions end now. False if they were
    already disabled; the last enabled admin is refused (ConflictError)."""
    with store.transaction():
        store.lock_keys(USERS_LOCK, ["admins"])
        user = _user_row(store, username)
        rows = store._q("SELECT disabled_at FROM users WHERE id = $id", {"id": user.id})
        if rows[0][0] is not None:
            return False
        _refuse_last_admin(store, user, "disable")
        store._x("UPDATE users SET disabled_at = $now WHERE id = $id", {"now": now, "id": user.id})
        store._x("DELETE FROM sessions WHERE user_id = $id", {"id": user.id})
    return True


def enable_user(store: Store, username: str) -> bool:
    """Enable a disabled user again (their failed logins forgotten); False if enabled."""
    with store.transaction():
        user = _user_row(store, username)
        rows = store._q("SELECT disabled_at FROM users WHERE id = $id", {"id": user.id})
        if rows[0][0] is None:
            return False
        store._x("UPDATE users SET disabled_at = NULL WHERE id = $id", {"id": user.id})
        _clear_failures(store, user.username)
    return True


def delete_user(store: Store, username: str) -> User:
    """Delete a user and their sessions; the last enabled admin is refused."""
    with store.transaction():
        store.lock_keys(USERS_LOCK, ["admins"])
        user = _user_row(store, username)
        enabled = store._q("SELECT disabled_at FROM users WHERE id = $id", {"id": user.id})
        if enabled[0][0] is None:
            _refuse_last_admin(store, user, "delete")
        store._x("DELETE FROM sessions WHERE user_id = $id", {"id": user.id})
        store._x("DELETE FROM users WHERE id = $id", {"id": user.id})
        _clear_failures(store, user.username)
    return user
