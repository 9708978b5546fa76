"""Web logins, throttled per username and per client address (docs/web.md, "Login
throttling").

Each failed login counts against two subjects: the username typed and the client address.
A subject has a number of free failures (:data:`BY_USERNAME` 5, :data:`BY_ADDRESS` 20);
every further failure blocks it for a delay that doubles from 1 s up to 15 minutes.
While either subject is blocked, a login is refused (the web answers 429 with
``Retry-After``) WITHOUT checking the password: a blocked guess costs no argon2 work and
learns nothing. A subject is forgotten 15 minutes after its last failure or the end of
its block, whichever is later; a successful login forgets its username (not its address:
a guesser with an account of their own could otherwise reset it).

The argon2 check (~0.5 s of CPU here) runs while NO store is held: the DuckDB service
has one connection, and a flood of logins holding it starved every other request. A
login borrows a store three times, briefly: to count the attempt and read the hash
(counted BEFORE the check, so parallel guesses cannot all pass through the free
budget), then, after verifying, to push the block past the end of a failed check, or,
on success, to take the attempt back and open the session.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from segmint.services import auth
from segmint.store.base import Store

#: Lends a store for the duration of a ``with`` block (the service's StorePool).
Borrow = Callable[[], AbstractContextManager[Store]]

#: First key of the PostgreSQL advisory locks on throttle subjects (DuckDB: a no-op).
THROTTLE_LOCK = 19_012


@dataclass(frozen=True)
class ThrottleRule:
    """Free failures, then a delay doubling from ``first_delay`` up to ``max_delay``."""

    scope: str
    free: int
    first_delay: dt.timedelta = dt.timedelta(seconds=1)
    max_delay: dt.timedelta = dt.timedelta(minutes=15)
    #: A subject is forgotten this long after its last failure or its block's end.
    forget_after: dt.timedelta = dt.timedelta(minutes=15)

    def delay(self, failures: int) -> dt.timedelta:
        """The block after the ``failures``-th failure in a row."""
        extra = failures - self.free
        if extra <= 0:
            return dt.timedelta(0)
        if extra > 40:  # 2**40 s is far past any cap
            return self.max_delay
        delay: dt.timedelta = self.first_delay * (2 ** (extra - 1))
        return min(delay, self.max_delay)


BY_USERNAME = ThrottleRule("username", free=5)
BY_ADDRESS = ThrottleRule("address", free=20)


def wall_clock() -> dt.datetime:
    # Not the app's clock: that one may be fixed (--as-of, SEGMINT_NOW, the demo), and a
    # block must end in real time.
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class LoginOutcome:
    """A session (user, token, CSRF token), or a refusal: wrong credentials, or blocked
    (``retry_after`` seconds)."""

    user: auth.User | None = None
    token: str | None = None
    csrf: str | None = None
    retry_after: int | None = None


@dataclass(frozen=True)
class _Attempt:
    user_row: tuple[str, str, str] | None  # id, password hash, role (enabled users only)


def _seconds_until(until: dt.datetime, now: dt.datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


class LoginThrottle:
    """Logins of one service: the store keeps the counts (every process of a PostgreSQL
    service shares them); this object remembers blocks it has seen, so a blocked guess
    is refused without touching the store at all."""

    def __init__(
        self,
        rules: tuple[ThrottleRule, ThrottleRule] = (BY_USERNAME, BY_ADDRESS),
        clock: Callable[[], dt.datetime] = wall_clock,
    ) -> None:
        self.by_username, self.by_address = rules
        self.clock = clock
        self._blocked: dict[tuple[str, str], dt.datetime] = {}
        self._lock = threading.Lock()
        self._pruned_at: dt.datetime | None = None

    def _subjects(self, username: str, address: str) -> tuple[tuple[ThrottleRule, str], ...]:
        return ((self.by_username, username.strip()[:200]), (self.by_address, address[:200]))

    def blocked(self, username: str, address: str) -> int | None:
        """Seconds until a login of ``username`` from ``address`` may be tried, from the
        blocks this process has seen (None: ask the store)."""
        now = self.clock()
        with self._lock:
            waits = []
            for rule, subject in self._subjects(username, address):
                until = self._blocked.get((rule.scope, subject))
                if until is not None and until > now:
                    waits.append(_seconds_until(until, now))
                elif until is not None:
                    del self._blocked[(rule.scope, subject)]
            return max(waits) if waits else None

    def _remember(self, scope: str, subject: str, until: dt.datetime | None) -> None:
        with self._lock:
            if until is None:
                self._blocked.pop((scope, subject), None)
                return
            if len(self._blocked) > 10_000:
                self._blocked.clear()  # bounded; the store still has every block
            self._blocked[(scope, subject)] = until

    def forget(self, username: str) -> None:
        """Drop this process's memory of a username's block (the store's count is cleared
        by services.auth when an operator enables the user or resets the password)."""
        self._remember(self.by_username.scope, username.strip()[:200], None)

    def log_in(
        self,
        borrow: Borrow,
        username: str,
        password: str,
        address: str,
        session_now: dt.datetime,
    ) -> LoginOutcome:
        """Check a login and open a session (created at ``session_now``, the app's clock)."""
        subjects = self._subjects(username, address)
        began = self.clock()
        with borrow() as store:
            found = self._count_attempt(store, subjects, username.strip(), began)
        if isinstance(found, int):
            return LoginOutcome(retry_after=found)
        row = found.user_row
        ok = _verify(row[1] if row else auth.DUMMY_HASH, password) and row is not None
        ended = self.clock()
        if not ok or row is None:
            with borrow() as store:
                self._block_after_failure(store, subjects, ended)
            return LoginOutcome()
        user_id, stored, role = row
        rehash = auth.hash_password(password) if auth.needs_rehash(stored) else None
        user = auth.User(id=user_id, username=username.strip(), role=role)
        with borrow() as store, store.transaction():
            self._forgive(store, subjects)
            if rehash is not None:
                store._x(
                    "UPDATE users SET password_hash = $h WHERE id = $id",
                    {"h": rehash, "id": user_id},
                )
            token, csrf = auth.create_session(store, user, session_now)
        return LoginOutcome(user=user, token=token, csrf=csrf)

    # ---- the store's counts ---------------------------------------------------------------

    def _count_attempt(
        self,
        store: Store,
        subjects: tuple[tuple[ThrottleRule, str], ...],
        username: str,
        now: dt.datetime,
    ) -> _Attempt | int:
        """Seconds to wait if a subject is blocked; else the attempt counted as a failure
        (taken back on success) and the user's hash."""
        store.require_schema()
        with store.transaction():
            store.lock_keys(THROTTLE_LOCK, sorted(f"{r.scope}:{s}" for r, s in subjects))
            self._prune(store, now)
            counts: list[tuple[ThrottleRule, str, int]] = []
            waits: list[int] = []
            for rule, subject in subjects:
                failures, until = _state(store, rule, subject, now)
                if until is not None and until > now:
                    self._remember(rule.scope, subject, until)
                    waits.append(_seconds_until(until, now))
                counts.append((rule, subject, failures))
            if waits:
                return max(waits)
            for rule, subject, failures in counts:
                _write(store, rule, subject, failures + 1, now, now + rule.delay(failures + 1))
            rows = store._q(
                "SELECT id, password_hash, role FROM users "
                "WHERE username = $u AND disabled_at IS NULL",
                {"u": username},
            )
        user_row = (str(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if rows else None
        return _Attempt(user_row)

    def _block_after_failure(
        self, store: Store, subjects: tuple[tuple[ThrottleRule, str], ...], now: dt.datetime
    ) -> None:
        # The block counts from the end of the (slow) check, not from its start.
        with store.transaction():
            store.lock_keys(THROTTLE_LOCK, sorted(f"{r.scope}:{s}" for r, s in subjects))
            for rule, subject in subjects:
                failures, until = _state(store, rule, subject, now)
                delay = rule.delay(failures)
                if failures and delay and (until is None or until < now + delay):
                    _write(store, rule, subject, failures, now, now + delay)
                    self._remember(rule.scope, subject, now + delay)

    def _forgive(self, store: Store, subjects: tuple[tuple[ThrottleRule, str], ...]) -> None:
        (user_rule, username), (address_rule, address) = subjects
        store._x(
            "DELETE FROM login_failures WHERE scope = $s AND subject = $k",
            {"s": user_rule.scope, "k": username},
        )
        self._remember(user_rule.scope, username, None)
        store._x(
            "UPDATE login_failures SET failures = failures - 1 "
            "WHERE scope = $s AND subject = $k AND failures > 0",
            {"s": address_rule.scope, "k": address},
        )

    def _prune(self, store: Store, now: dt.datetime) -> None:
        """Forget stale subjects, at most once a minute per process."""
        if self._pruned_at is not None and now - self._pruned_at < dt.timedelta(minutes=1):
            return
        self._pruned_at = now
        for rule in (self.by_username, self.by_address):
            cutoff = now - rule.forget_after
            store._x(
                "DELETE FROM login_failures WHERE scope = $s AND last_failed_at < $c "
                "AND (blocked_until IS NULL OR blocked_until < $c)",
                {"s": rule.scope, "c": cutoff},
            )


def _verify(stored: str, password: str) -> bool:
    try:
        return bool(auth.HASHER.verify(stored, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _state(
    store: Store, rule: ThrottleRule, subject: str, now: dt.datetime
) -> tuple[int, dt.datetime | None]:
    """(failures, blocked until) of a subject; (0, None) if unknown or forgotten."""
    rows = store._q(
        "SELECT failures, last_failed_at, blocked_until FROM login_failures "
        "WHERE scope = $s AND subject = $k",
        {"s": rule.scope, "k": subject},
    )
    if not rows:
        return 0, None
    failures, last, until = rows[0]
    if max(last, until or last) + rule.forget_after <= now:
        return 0, None
    return int(failures), until


def _write(
    store: Store,
    rule: ThrottleRule,
    subject: str,
    failures: int,
    now: dt.datetime,
    until: dt.datetime,
) -> None:
    store._x(
        "INSERT INTO login_failures (scope, subject, failures, last_failed_at, blocked_until) "
        "VALUES ($s, $k, $f, $now, $until) ON CONFLICT (scope, subject) DO UPDATE SET "
        "failures = excluded.failures, last_failed_at = excluded.last_failed_at, "
        "blocked_until = excluded.blocked_until",
        {"s": rule.scope, "k": subject, "f": failures, "now": now, "until": until},
    )


def failed_logins(
    store: Store, now: dt.datetime, rule: ThrottleRule = BY_USERNAME
) -> dict[str, tuple[int, dt.datetime | None]]:
    """Per username with recent failures: (failures, blocked until or None)."""
    rows = store._q(
        "SELECT subject, failures, last_failed_at, blocked_until FROM login_failures "
        "WHERE scope = $s",
        {"s": rule.scope},
    )
    found: dict[str, tuple[int, dt.datetime | None]] = {}
    for subject, failures, last, until in rows:
        if max(last, until or last) + rule.forget_after > now and int(failures) > 0:
            found[str(subject)] = (int(failures), until if until and until > now else None)
    return found


@dataclass(frozen=True)
class Account:
    """A web user as an operator sees them: the user, and their recent failed logins
    (counted under the username; 0 once forgotten) with the block they caused."""

    username: str
    role: str
    created_at: dt.datetime
    disabled_at: dt.datetime | None
    failed_logins: int
    blocked_until: dt.datetime | None


def accounts(store: Store, now: dt.datetime | None = None) -> list[Account]:
    """Every web user with their failed logins as of ``now`` (the wall clock)."""
    failures = failed_logins(store, now or wall_clock())
    return [
        Account(
            u.username, u.role, u.created_at, u.disabled_at, *failures.get(u.username, (0, None))
        )
        for u in auth.list_users(store)
    ]
